"""The SDK and the shell are client side: importing them loads no server package and none of what the server
loads (torch, chromadb, llama.cpp, SQL), and the renderers the shell draws with work on the SDK's results."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from aios.client import Note, NoteLink, SchedulerEvent
from aios.render.graph import to_dot, to_svg
from aios.render.timeline import render_svg

SERVER = ("aios.memory", "aios.fs", "aios.syscalls", "aios.agents", "aios.kernel", "aios.llm", "aios.vectors",
          "aios._db", "aios.embeddings", "torch", "chromadb", "llama_cpp", "sentence_transformers",
          "sqlalchemy")  # fmt: skip


@pytest.mark.parametrize("module", ["aios.client", "aios.shell", "aios.render.graph", "aios.render.timeline"])
def test_importing_loads_nothing_of_the_server(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    server = [m for m in loaded if any(m == s or m.startswith(s + ".") for s in SERVER)]
    assert server == [], f"importing {module} loads {server}"


def _note(note_id: str, context: str, archived: bool = False) -> Note:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    return Note(note_id, "agent", "content", {}, at, [], context, ["ops"], "", None, None, 0, 1.0, 0.0, False,
                at if archived else None, "", 1, [], 1.0)  # fmt: skip


def test_graph_renders_the_sdk_notes_and_links() -> None:
    notes = [_note("n1", 'the "deploy" key'), _note("n2", "old", archived=True)]
    links = [NoteLink("n1", "n2", "related", "same topic", 0.75, datetime(2024, 1, 1, tzinfo=UTC))]
    dot = to_dot(notes, links)
    assert '"n1" [label="the \\"deploy\\" key\\n#ops"]' in dot and '"n1" -> "n2" [label="related 0.75"]' in dot
    assert "color=gray" in dot.split("\n")[3]  # the archived note
    assert to_svg(notes, links).rstrip().endswith("</svg>")


def test_timeline_renders_the_sdk_scheduler_events() -> None:
    events = [SchedulerEvent(1, "a", "interactive", 0.0, 0.5, 10, 4, False, True),
              SchedulerEvent(2, "b", "background", 0.5, 1.0, 0, 8, True, True)]  # fmt: skip
    svg = render_svg(events, {"a": "alice"})
    assert svg.count('class="slice"') == 2 and ">alice<" in svg and ">b<" in svg
    assert 'stroke="#000"' in svg  # the second slice followed a context switch
    assert "no scheduler events" in render_svg([])
