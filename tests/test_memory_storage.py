"""Memory storage behaviour, the same tests against every storage mode:
SQLite + embedded Chroma, PostgreSQL + embedded Chroma, SQLite + a `chroma run` server. The service is built on the
storage fixture directly (no kernel, no model)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from aios import lexical
from aios.errors import InvalidArgument, NotFound
from aios.memory import ForgettingConfig, MemoryService, NewNote, SearchFilters
from aios.memory.store import NoteStore
from tests.conftest import Storage

FACTS = [
    "Alice's cat is called Miso and sleeps on the radiator",
    "The quarterly report is due on the first Friday of March",
    "Bob prefers green tea over coffee in the morning",
    "The staging database runs PostgreSQL 15 on port 5432",
    "Paris is the capital of France",
]


@pytest.fixture
def memory(any_storage: Storage) -> Iterator[MemoryService]:
    s = any_storage
    service = MemoryService(s.engine, s.embedder, s.vectors, s.config.limits, agents=s.agents)
    yield service
    service.close()


def test_add_get_search_delete(memory: MemoryService, any_storage: Storage) -> None:
    a = any_storage.new_agent("a")
    notes = memory.add(a, [NewNote(f, {"i": str(i)}) for i, f in enumerate(FACTS)])
    assert [n.content for n in notes] == FACTS
    got = memory.get(a, notes[2].id)
    assert got.content == FACTS[2] and got.metadata == {"i": "2"} and got.agent_id == a

    hits = memory.search(a, "what does Bob drink?", k=3)
    assert hits[0].note.id == notes[2].id
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
    assert memory.search(a, "which port does the database use", k=1)[0].note.id == notes[3].id

    memory.delete(a, notes[2].id)
    with pytest.raises(NotFound):
        memory.get(a, notes[2].id)
    with pytest.raises(NotFound):
        memory.delete(a, notes[2].id)
    assert notes[2].id not in {h.note.id for h in memory.search(a, "Bob tea coffee", k=5)}
    assert memory.count(a) == 4


def test_unicode_round_trip(memory: MemoryService, any_storage: Storage) -> None:
    a = any_storage.new_agent("u")
    text = "Rendez-vous à 9h — 東京で会いましょう 🚀"
    (note,) = memory.add(a, [NewNote(text, {"ключ": "значение"})])
    assert memory.get(a, note.id).content == text
    assert memory.get(a, note.id).metadata == {"ключ": "значение"}


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
def test_bad_batches_change_nothing(
    memory: MemoryService, any_storage: Storage, batch: list[NewNote], message: str
) -> None:
    a = any_storage.new_agent("b")
    memory.add(a, [NewNote("existing note")])
    with pytest.raises(InvalidArgument, match=message):
        memory.add(a, batch)
    assert memory.count(a) == 1
    assert len(memory.search(a, "ok", k=10)) == 1


def test_bad_search_and_ids(memory: MemoryService, any_storage: Storage) -> None:
    a = any_storage.new_agent("c")
    for query, k in [("", 5), ("q", 0), ("q", 201), ("nul\x00", 5)]:
        with pytest.raises(InvalidArgument):
            memory.search(a, query, k)
    with pytest.raises(InvalidArgument):
        memory.get(a, "")
    with pytest.raises(NotFound):
        memory.get(a, "0" * 32)


def test_agents_see_only_their_own_notes(memory: MemoryService, any_storage: Storage) -> None:
    a, b = any_storage.new_agent("alice"), any_storage.new_agent("bob")
    (secret,) = memory.add(a, [NewNote("alice's launch code is 1234")])
    memory.add(b, [NewNote("bob likes sailing")])
    with pytest.raises(NotFound):
        memory.get(b, secret.id)
    with pytest.raises(NotFound):
        memory.delete(b, secret.id)
    assert all(h.note.agent_id == b for h in memory.search(b, "launch code", k=10))
    assert memory.get(a, secret.id).content == secret.content


def test_lexical_top_is_exact_when_other_agents_rank_higher(
    memory: MemoryService, any_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite the best matches of the whole FTS table are read first and filtered after; when another
    # agent's notes fill that pool, the full query must still give this agent's own best matches.
    a, b = any_storage.new_agent("alice"), any_storage.new_agent("bob")
    memory.add(b, [NewNote(f"tomato tomato tomato harvest number {i}") for i in range(12)])
    mine = memory.add(a, [NewNote("one tomato in the salad"), NewNote("tomato soup with tomato sauce"),
                                 NewNote("a note about sailing")])  # fmt: skip
    store = NoteStore(any_storage.engine, any_storage.agents, time.time, ForgettingConfig())

    def best(pool: int) -> list[tuple[str, float]]:
        monkeypatch.setattr(lexical, "_POOL", pool)
        with any_storage.engine.connect() as conn:
            return store.lexical.search(conn, store.matching(a, SearchFilters()), "tomato", 2)

    small, whole = best(1), best(10_000)
    assert {i for i, _ in small} == {mine[0].id, mine[1].id}
    assert small == whole


def test_reconcile_repairs_missing_and_extra_vectors(memory: MemoryService, any_storage: Storage) -> None:
    a = any_storage.new_agent("r")
    notes = memory.add(a, [NewNote(f) for f in FACTS])
    collection = f"notes_{a}"
    # A crash after the SQL commit of an add (vector missing) and after the SQL delete (vector left over):
    any_storage.vectors.delete(collection, [notes[0].id])
    any_storage.vectors.upsert(collection, ["ghost"], np.ones((1, 384), dtype=np.float32) / np.sqrt(384))
    assert notes[0].id not in any_storage.vectors.ids(collection)

    report = memory.reconcile()
    assert (report.added, report.removed) == (1, 1)
    assert any_storage.vectors.ids(collection) == {n.id for n in notes}
    assert memory.search(a, "cat radiator Miso", k=1)[0].note.id == notes[0].id
    assert memory.reconcile() == type(report)(0, 0)


def test_reindex_rebuilds_from_sql(memory: MemoryService, any_storage: Storage) -> None:
    a, b = any_storage.new_agent("x"), any_storage.new_agent("y")
    memory.add(a, [NewNote(f) for f in FACTS])
    memory.add(b, [NewNote("bob's note")])
    any_storage.vectors.drop(f"notes_{a}")
    steps: list[tuple[int, int]] = []
    assert memory.reindex(progress=lambda done, total: steps.append((done, total))) == 6
    assert steps[-1] == (6, 6)
    assert memory.search(a, "capital of France", k=1)[0].note.content == FACTS[4]
    assert len(any_storage.vectors.ids(f"notes_{b}")) == 1
