"""The kernel a fuzz run sends into, seeded: SQLite, the real embedding model and tests/fake_llm.py's backend (what is
fuzzed is the validation at the boundary, which runs before any generation); three agents with notes, a link, a
shared note, files with versions, a tree shared with a grant, a core block and messages paged out; host paths for
Import and Export (missing, a FIFO, a symlink loop ...); and the hints that point drawn fields at all of these.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from tests.conftest import ThreadedKernel, kernel_config
from tests.fake_llm import FakeBackend
from tests.fuzz_world import BugLog, World, rss


@contextlib.contextmanager
def seeded_world(base: Path, embedder: Embedder) -> Iterator[World]:
    """The seeded kernel in `base`, with a channel to it; the kernel's error log is kept while it runs."""
    # No background writers besides the file indexer (whose tables no fingerprint reads): summaries by the model
    # and idle swaps would change the context between two looks. Indexing stops at 16 KiB a file so huge drawn
    # files do not keep both cores busy embedding.
    config = kernel_config(base / "data", context={"summary_llm": 0, "idle_swap_s": 0}, fs={"index_max_bytes": 16_384})
    threaded = ThreadedKernel(config, embedder)
    threaded.kernel = Kernel(config, embedder=embedder, llm_backend=FakeBackend(eos_after=8))
    bugs = BugLog()
    loggers = [logging.getLogger(name) for name in ("aios", "grpc")]
    for logger in loggers:
        logger.addHandler(bugs)
    with threaded as kernel, Client(kernel.target, kernel.admin_token) as admin:
        creds = {name: admin.create_agent(name) for name in ("fuzzer", "peer", "victim")}
        me, peer, victim = (creds[n].agent.id for n in ("fuzzer", "peer", "victim"))
        with Client(kernel.target, creds["fuzzer"].token, timeout=60) as agent, \
                Client(kernel.target, creds["peer"].token, timeout=60) as other:  # fmt: skip
            notes = [agent.add_note(text, tags=["seed"]) for text in
                     ("the staging database moved to Riga", "Ana reviews the fuzzer on Fridays",
                      "release 1.4 ships the semantic file system")]  # fmt: skip
            agent.link_notes(notes[0].id, notes[1].id, reason="seed")
            theirs = other.add_note("a note the peer shares", share_with=[me]).id
            private = other.add_note("a note the peer keeps").id
            agent.write_file("/a.txt", "alpha\nbeta\n")
            agent.write_file("/a.txt", "alpha\ngamma\n")
            agent.write_file("/dir/b.md", "# notes\nthe staging database\n")
            shared = "fuzz-team"
            agent.create_tree(shared)
            agent.grant(shared, peer, "write")
            agent.write_file("/shared.txt", "shared words", tree=shared)
            agent.set_core_block("human", "likes short answers")
            update = agent.append_messages([("user", "hello there"), ("assistant", "hi"), ("user", "Riga it is")])
            message_ids = [m.id for m in update.messages]
            evicted = agent.page_out(ids=message_ids[:1])
        src = base / "host-in"
        (src / "sub").mkdir(parents=True)
        (src / "one.txt").write_text("imported\n")
        (src / "sub" / "two.md").write_text("# two\n")
        os.mkfifo(base / "host-fifo")
        (base / "host-loop").symlink_to(base / "host-loop")
        host_paths = [str(src), str(src / "sub"), str(src / "one.txt"), str(base / "host-missing"), "", "relative",
                      *(str(base / f"host-out-{i}") for i in range(3)), str(base / "host-in" / ".." / "host-out-9"),
                      str(base / "host-fifo"), str(base / "host-loop" / "x"), str(src / "one.txt" / "x"),
                      str(base / ("n" * 300)), str(base / "host-in" / "tail/")]  # fmt: skip
        note_ids = [n.id for n in notes] + [theirs, private, "0" * 32, ""]
        any_ids = note_ids + message_ids + [*evicted.evicted_ids]
        hints: dict[str, list[Any]] = {
            "id": any_ids, "note_id": note_ids, "from_id": note_ids, "to_id": note_ids, "ids": message_ids,
            "agent_id": [peer, me, victim], "agent_ids": [peer, me, victim], "share_with": [peer, me],
            "path": ["/", "/a.txt", "/dir", "/dir/b.md", "/new.txt", "/dir/new/c.txt", "/shared.txt"],
            "src": ["/a.txt", "/dir", "/dir/b.md"], "dst": ["/moved.txt", "/dir/copy.md", "/dir/sub"],
            "path_a": ["/a.txt"], "path_b": ["/dir/b.md"], "path_prefix": ["/", "/dir", "/dir/"], "dest": ["/", "/in"],
            "tree": ["", shared, "nosuch"], "tree_b": ["", shared], "name": [shared, "fuzz-new", "ok_name-1"],
            "role": ["user", "assistant", "system", "tool"], "policy": ["fifo", "rr", "fair"],
            "mode": ["read", "write"],
            "kind": ["related", "supports"], "scope": ["own", "shared", "all"], "label": ["human", "persona", "x"],
            "glob": ["*", "**/*.md", "*.txt"], "mime": ["text/plain", "application/json"], "mime_prefix": ["text/"],
            "query": ["staging database", "Riga", "fuzzer"], "content": ["a fresh note about Lisbon", "hello"],
            "text": ["hello", "You are terse."], "prompt": ["Once upon a time"], "session": ["", "s1"],
            "json_schema": ['{"type": "string", "maxLength": 5}', '{"type": "integer"}'],
            "grammar": ['root ::= "yes" | "no"', "root ::= [a-z]+"], "stop": ["\n", "."],
            "service": ["", "aios.v1.MemoryService", "nosuch"],
            "file_containing_symbol": ["aios.v1.MemoryService", "aios.v1.Note", "nosuch"],
            "file_by_filename": ["aios/v1/memory.proto", "nosuch.proto"],
            "list_services": ["", "*"], "host": ["", "localhost"],
        }  # fmt: skip
        # Admin RPCs that take an agent id never get the fuzzing agent's: revoking its token would end the run.
        admin_hints = {**hints, "agent_id": [victim, peer]}
        channel = grpc.insecure_channel(kernel.target, [("grpc.max_receive_message_length", -1),
                                                        ("grpc.max_send_message_length", -1)])  # fmt: skip
        w = World(
            kernel,
            channel,
            creds["fuzzer"].token,
            kernel.admin_token,
            me,
            hints,
            admin_hints,
            base,
            host_paths,
            shared,
            bugs,
            [n.id for n in notes],
        )
        w.rss_start = rss()
        try:
            yield w
        finally:
            channel.close()
            for logger in loggers:
                logger.removeHandler(bugs)
