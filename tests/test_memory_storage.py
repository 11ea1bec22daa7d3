"""Memory storage behaviour, the same tests against every storage mode:
SQLite + embedded Chroma, PostgreSQL + embedded Chroma, SQLite + a `chroma run` server."""

from __future__ import annotations

import numpy as np
import pytest

from aios import lexical
from aios.errors import InvalidArgument, NotFound
from aios.kernel import Kernel
from memory import NewNote, SearchFilters

FACTS = [
    "Alice's cat is called Miso and sleeps on the radiator",
    "The quarterly report is due on the first Friday of March",
    "Bob prefers green tea over coffee in the morning",
    "The staging database runs PostgreSQL 15 on port 5432",
    "Paris is the capital of France",
]


def _agent(kernel: Kernel, name: str) -> str:
    agent, _ = kernel.agents.create(name)
    return agent.id


def test_add_get_search_delete(kernel: Kernel) -> None:
    a = _agent(kernel, "a")
    notes = kernel.memory.add(a, [NewNote(f, {"i": str(i)}) for i, f in enumerate(FACTS)])
    assert [n.content for n in notes] == FACTS
    got = kernel.memory.get(a, notes[2].id)
    assert got.content == FACTS[2] and got.metadata == {"i": "2"} and got.agent_id == a

    hits = kernel.memory.search(a, "what does Bob drink?", k=3)
    assert hits[0].note.id == notes[2].id
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
    assert kernel.memory.search(a, "which port does the database use", k=1)[0].note.id == notes[3].id

    kernel.memory.delete(a, notes[2].id)
    with pytest.raises(NotFound):
        kernel.memory.get(a, notes[2].id)
    with pytest.raises(NotFound):
        kernel.memory.delete(a, notes[2].id)
    assert notes[2].id not in {h.note.id for h in kernel.memory.search(a, "Bob tea coffee", k=5)}
    assert kernel.memory.count(a) == 4


def test_unicode_round_trip(kernel: Kernel) -> None:
    a = _agent(kernel, "u")
    text = "Rendez-vous à 9h — 東京で会いましょう 🚀"
    (note,) = kernel.memory.add(a, [NewNote(text, {"ключ": "значение"})])
    assert kernel.memory.get(a, note.id).content == text
    assert kernel.memory.get(a, note.id).metadata == {"ключ": "значение"}


@pytest.mark.parametrize(
    "batch, message",
    [
        ([NewNote("ok"), NewNote("   ")], "note 1: content must not be empty"),
        ([NewNote("ok"), NewNote("nul\x00byte")], "NUL"),
        ([NewNote("x" * 40_000)], "limit is 32768"),
        ([NewNote("ok", {"": "v"})], "metadata keys"),
        ([NewNote("ok", {f"k{i}": "v" for i in range(65)})], "metadata entries"),
        ([NewNote("ok")] * 1001, "at most 1000 notes"),
        ([], "at least one note"),
    ],
)
def test_bad_batches_change_nothing(kernel: Kernel, batch: list[NewNote], message: str) -> None:
    a = _agent(kernel, "b")
    kernel.memory.add(a, [NewNote("existing note")])
    with pytest.raises(InvalidArgument, match=message):
        kernel.memory.add(a, batch)
    assert kernel.memory.count(a) == 1
    assert len(kernel.memory.search(a, "ok", k=10)) == 1


def test_bad_search_and_ids(kernel: Kernel) -> None:
    a = _agent(kernel, "c")
    for query, k in [("", 5), ("q", 0), ("q", 201), ("nul\x00", 5)]:
        with pytest.raises(InvalidArgument):
            kernel.memory.search(a, query, k)
    with pytest.raises(InvalidArgument):
        kernel.memory.get(a, "")
    with pytest.raises(NotFound):
        kernel.memory.get(a, "0" * 32)


def test_agents_see_only_their_own_notes(kernel: Kernel) -> None:
    a, b = _agent(kernel, "alice"), _agent(kernel, "bob")
    (secret,) = kernel.memory.add(a, [NewNote("alice's launch code is 1234")])
    kernel.memory.add(b, [NewNote("bob likes sailing")])
    with pytest.raises(NotFound):
        kernel.memory.get(b, secret.id)
    with pytest.raises(NotFound):
        kernel.memory.delete(b, secret.id)
    assert all(h.note.agent_id == b for h in kernel.memory.search(b, "launch code", k=10))
    assert kernel.memory.get(a, secret.id).content == secret.content


def test_lexical_top_is_exact_when_other_agents_rank_higher(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    # On SQLite the best matches of the whole FTS table are read first and filtered after; when another
    # agent's notes fill that pool, the full query must still give this agent's own best matches.
    a, b = _agent(kernel, "alice"), _agent(kernel, "bob")
    kernel.memory.add(b, [NewNote(f"tomato tomato tomato harvest number {i}") for i in range(12)])
    mine = kernel.memory.add(a, [NewNote("one tomato in the salad"), NewNote("tomato soup with tomato sauce"),
                                 NewNote("a note about sailing")])  # fmt: skip
    memory = kernel.memory

    def best(pool: int) -> list[tuple[str, float]]:
        monkeypatch.setattr(lexical, "_POOL", pool)
        with memory._engine.connect() as conn:
            return memory._lexical.search(conn, memory._where(a, SearchFilters()), "tomato", 2)

    small, whole = best(1), best(10_000)
    assert {i for i, _ in small} == {mine[0].id, mine[1].id}
    assert small == whole


def test_reconcile_repairs_missing_and_extra_vectors(kernel: Kernel) -> None:
    a = _agent(kernel, "r")
    notes = kernel.memory.add(a, [NewNote(f) for f in FACTS])
    collection = f"notes_{a}"
    # A crash after the SQL commit of an add (vector missing) and after the SQL delete (vector left over):
    kernel.vectors.delete(collection, [notes[0].id])
    kernel.vectors.upsert(collection, ["ghost"], np.ones((1, 384), dtype=np.float32) / np.sqrt(384))
    assert notes[0].id not in kernel.vectors.ids(collection)

    report = kernel.memory.reconcile()
    assert (report.added, report.removed) == (1, 1)
    assert kernel.vectors.ids(collection) == {n.id for n in notes}
    assert kernel.memory.search(a, "cat radiator Miso", k=1)[0].note.id == notes[0].id
    assert kernel.memory.reconcile() == type(report)(0, 0)


def test_reindex_rebuilds_from_sql(kernel: Kernel) -> None:
    a, b = _agent(kernel, "x"), _agent(kernel, "y")
    kernel.memory.add(a, [NewNote(f) for f in FACTS])
    kernel.memory.add(b, [NewNote("bob's note")])
    kernel.vectors.drop(f"notes_{a}")
    steps: list[tuple[int, int]] = []
    assert kernel.memory.reindex(progress=lambda done, total: steps.append((done, total))) == 6
    assert steps[-1] == (6, 6)
    assert kernel.memory.search(a, "capital of France", k=1)[0].note.content == FACTS[4]
    assert len(kernel.vectors.ids(f"notes_{b}")) == 1
