"""Links judged by the LLM and the neighbour evolution it proposes (memory/linking.py), after the write, in
the background class. The real SmolLM2 model through the kernel's scheduler; a scripted fake only for the
state machine (bad replies fall back to the similarity decision; LLM evolution is undone like any other)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from aios.config import LimitsConfig
from aios.kernel import Kernel
from memory import MemoryService, NewNote
from memory.linking import LLM_REASON_PREFIX, link_schema, parse_links

OLD = "Our staging database runs PostgreSQL 15 on port 5432."
NEW = "The staging database PostgreSQL server was upgraded to version 16 last night."
UNRELATED = "My dentist appointment is on the 14th at noon."


@pytest.fixture
def memory(sqlite_kernel: Kernel) -> Iterator[MemoryService]:
    service = MemoryService(sqlite_kernel.memory._engine, sqlite_kernel.memory._embedder, sqlite_kernel.vectors,
                            LimitsConfig())  # fmt: skip
    yield service
    service.stop_enrichment()


def _wait(memory: MemoryService, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while memory.enrichment_backlog() and time.time() < deadline:
        time.sleep(0.1)
    assert memory.enrichment_backlog() == 0, "the background LLM step did not finish"


def _note(content: str) -> NewNote:
    """Given keywords: no enrichment call, so the only LLM work is the link judgement."""
    return NewNote(content, keywords=["staging database", "postgresql"] if "PostgreSQL" in content else ["dentist"])


def test_link_reply_parsing_is_validated() -> None:
    good = parse_links(json.dumps({"related": [
        {"candidate": 2, "reason": " Same  database. ", "tags": ["Ops Team", "ops-team", "db"], "context": "The "
         "staging database was upgraded."},
        {"candidate": 2, "reason": "duplicate", "tags": [], "context": ""},
        {"candidate": 1, "reason": "also related", "tags": [], "context": "short"},
    ]}), 2)  # fmt: skip
    assert good is not None and [j.candidate for j in good] == [1, 0]
    assert good[0].reason == "Same database" and good[0].tags == ["ops-team", "db"]
    assert good[0].context == "The staging database was upgraded." and good[1].context is None
    assert parse_links('{"related": []}', 3) == []  # the model may judge nothing related
    bad_replies = [
        "not json",
        "[]",
        '{"links": []}',
        '{"related": [{"candidate": 3, "reason": "out of range", "tags": [], "context": ""}]}',
        '{"related": [{"candidate": true, "reason": "a boolean", "tags": [], "context": ""}]}',
        '{"related": [{"candidate": 1, "reason": "", "tags": [], "context": ""}]}',
        '{"related": ["1"]}',
    ]
    for bad in bad_replies:
        assert parse_links(bad, 2) is None, bad
    schema = link_schema(3)["properties"]["related"]
    assert schema["maxItems"] == 3 and schema["items"]["properties"]["candidate"]["enum"] == [1, 2, 3]


class ScriptedLLM:
    """Replies in order; records the prompts it saw."""

    available = True

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.prompts, self.kw = list(replies), [], []

    def chat(self, agent_id: str, messages: list[Any], params: Any, **kw: Any) -> Any:
        self.prompts.append(messages[-1].content)
        self.kw.append((params, kw))
        return SimpleNamespace(text=self.replies.pop(0), finish_reason="stop")


def test_llm_links_replace_similarity_links_and_evolution_undoes(memory: MemoryService,
                                                                 sqlite_kernel: Kernel) -> None:  # fmt: skip
    a = sqlite_kernel.agents.create("judged")[0].id
    old, unrelated = memory.add(a, [_note(OLD), _note(UNRELATED)])
    llm = ScriptedLLM([json.dumps({"related": [{"candidate": 1, "reason": "both about the staging database",
                                                "tags": ["upgrade"], "context": "The staging database, now on "
                                                "PostgreSQL 16."}]})])  # fmt: skip
    memory.start_enrichment(llm)
    (new,) = memory.add(a, [_note(NEW)])
    _, links = memory.neighbours(a, new.id)
    assert [x.reason.split(" ")[0] for x in links] == ["cosine"]  # provisional, until the LLM has judged
    assert memory.get(a, old.id).version == 1  # evolution waits for the judgement too
    _wait(memory)

    (prompt,) = llm.prompts
    assert "1. " + OLD in prompt and UNRELATED not in prompt and old.id not in prompt  # numbered, no ids
    params, kw = llm.kw[0]
    assert kw["job_class"].value == "background" and json.loads(params.json_schema) == link_schema(1)
    (link,) = memory.neighbours(a, new.id)[1]
    assert (link.to_id, link.kind, link.reason) == (old.id, "related", LLM_REASON_PREFIX + "both about the "
                                                   "staging database")  # fmt: skip
    evolved = memory.get(a, old.id)
    assert evolved.version == 2 and "upgrade" in evolved.tags and evolved.context.endswith("PostgreSQL 16.")
    assert memory.history(a, old.id)[-1].cause == f"evolution:{new.id}"
    assert memory.undo_evolution(a, new.id) == 1
    reverted = memory.get(a, old.id)
    assert (reverted.tags, reverted.context, reverted.version) == (old.tags, old.context, 3)
    assert memory.get(a, unrelated.id).version == 1

    # A bad reply: the similarity decision stands and the neighbour evolves extractively.
    llm.replies = ['{"related": [{"candidate": 7, "reason": "no such candidate", "tags": [], "context": ""}]}']
    (again,) = memory.add(a, [_note(NEW.replace("last night", "this morning"))])
    _wait(memory)
    reasons = {x.to_id: x.reason for x in memory.neighbours(a, again.id)[1] if x.from_id == again.id}
    assert reasons and all(r.startswith("cosine") for r in reasons.values()) and old.id in reasons
    assert memory.history(a, old.id)[-1].cause == f"evolution:{again.id}"


def test_llm_judges_links_with_the_real_model(memory: MemoryService, sqlite_kernel: Kernel) -> None:
    assert sqlite_kernel.llm.available, sqlite_kernel.llm.unavailable_reason
    a = sqlite_kernel.agents.create("smol-linker")[0].id
    old, _ = memory.add(a, [_note(OLD), _note(UNRELATED)])
    memory.start_enrichment(sqlite_kernel.llm)
    (new,) = memory.add(a, [_note(NEW)])
    _wait(memory)
    events = [e for e in sqlite_kernel.llm.events() if e.agent_id == a]
    assert events and all(e.job_class == "background" for e in events)  # one judgement, in the background class
    links = [x for x in memory.neighbours(a, new.id)[1] if x.from_id == new.id]
    # Greedy decoding makes the reply deterministic; the model links the upgrade to the database note.
    assert [(x.to_id, x.reason.startswith(LLM_REASON_PREFIX)) for x in links] == [(old.id, True)], links
    assert len(links[0].reason) > len(LLM_REASON_PREFIX) + 2
    history = memory.history(a, old.id)
    assert history[-1].cause == f"evolution:{new.id}" and memory.get(a, old.id).version == 2
    assert memory.undo_evolution(a, new.id) == 1
    assert memory.get(a, old.id).tags == old.tags and memory.get(a, old.id).context == old.context
