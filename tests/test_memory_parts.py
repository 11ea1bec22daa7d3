"""Agentic memory's parts, each alone (tests/test_agentic_memory.py tests the service they make up): extractive
enrichment and the parsing of the model's enrichment reply, the retention curve's properties, the embedder's
batching, the search's lexical ranking on a helper thread, and the decay job in its persistent store. Real
SQLite/PostgreSQL, real Chroma, the real embedding model.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aios.config import LimitsConfig
from aios.embeddings import Embedder
from aios.memory import ForgettingConfig, MemoryService, NewNote, retention, strengthened
from aios.text import context_of, keywords_of
from tests.conftest import Storage


def test_extractive_enrichment() -> None:
    text = "The staging database runs PostgreSQL 15. The staging database is backed up nightly."
    keywords = keywords_of(text)
    assert "staging database" in keywords and "postgresql" in keywords and "the" not in keywords
    assert context_of(text) == "The staging database runs PostgreSQL 15."


def test_search_waits_for_its_lexical_ranking_without_holding_a_connection(any_storage: Storage) -> None:
    # The lexical ranking runs on a helper thread with a connection of its own: with one connection in the
    # pool, a search that held its connection while waiting for the helper's would time out. The helpers are
    # kept busy for a moment so that the search is the first to ask for the connection.
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import sqlalchemy as sa

    from aios.memory.search import NoteSearch
    from aios.memory.store import NoteStore
    from aios.memory.validation import Validator

    s = any_storage
    a = s.new_agent("one-connection")
    writer = MemoryService(s.engine, s.embedder, s.vectors, agents=s.agents)
    writer.add(a, [NewNote("The lighthouse keeper logs storms in a blue notebook")])
    writer.close()
    url = s.engine.url
    threads = {"check_same_thread": False} if url.get_backend_name() == "sqlite" else {}
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, pool_timeout=5, connect_args=threads)
    pool = ThreadPoolExecutor(4)
    store = NoteStore(engine, s.agents, time.time, ForgettingConfig())
    search = NoteSearch(store, s.embedder, s.vectors, Validator(LimitsConfig()), pool)
    try:
        gate = threading.Event()
        for _ in range(16):
            pool.submit(gate.wait, 5)
        threading.Timer(0.5, gate.set).start()
        (hit,) = search.search(a, "lighthouse notebook", k=1)
        assert hit.note.agent_id == a and {"dense", "lexical"} <= set(hit.signals)
    finally:
        search.close()
        engine.dispose()
    with pytest.raises(RuntimeError):
        search.search(a, "lighthouse", k=1)  # closed: its helper threads are gone


def test_one_text_encodes_like_a_batch_and_keeps_the_thread_count(embedder: Embedder) -> None:
    import numpy as np
    import torch

    threads = torch.get_num_threads()
    texts = ["Where did I park the car?", "The car is on level three of the garage"]
    alone, batch = embedder.encode(texts[:1]), embedder.encode(texts)
    assert alone.shape == (1, embedder.dimension)
    np.testing.assert_allclose(alone[0], batch[0], atol=1e-5)
    assert torch.get_num_threads() == threads


def test_decay_job_is_scheduled_in_a_persistent_store(storage: Storage) -> None:
    import sqlalchemy as sa

    from aios.memory.jobs import MemoryJobs

    memory = MemoryService(storage.engine, storage.embedder, storage.vectors, agents=storage.agents)
    config = storage.config
    jobs = MemoryJobs(str(config.data_dir), memory, storage.engine, config.decay_interval_s,
                      config.consolidate_interval_s)  # fmt: skip
    jobs.start()
    try:
        assert "memory.decay" in jobs.next_runs()
        with storage.engine.connect() as conn:
            ids = list(conn.execute(sa.text("SELECT id FROM apscheduler_jobs")).scalars())
        assert sorted(ids) == ["memory.consolidate", "memory.decay"]
    finally:
        jobs.stop()
        memory.close()


@given(st.floats(0, 1e8), st.floats(1, 1e8), st.floats(1, 1e8), st.floats(0, 1))
def test_stronger_memories_decay_slower(elapsed: float, s1: float, s2: float, importance: float) -> None:
    weak, strong = sorted((s1, s2))
    assert retention(elapsed, strong, importance) >= retention(elapsed, weak, importance)
    assert retention(elapsed, weak, 1.0) >= retention(elapsed, weak, 0.0)  # importance slows decay


@given(st.floats(0, 1e8), st.floats(0, 1e8), st.floats(1, 1e8))
def test_retention_is_monotone_in_time(t1: float, t2: float, strength: float) -> None:
    early, late = sorted((t1, t2))
    assert retention(late, strength) <= retention(early, strength) <= 1.0
    assert retention(0, strength) == 1.0 and retention(late, strength, pinned=True) == 1.0


@given(st.floats(1, 1e9))
def test_recall_strengthens(strength: float) -> None:
    config = ForgettingConfig()
    grown = strengthened(strength, config)
    assert grown >= strength or math.isclose(grown, config.max_strength_s)


def test_enrichment_parsing_is_validated() -> None:
    from aios.memory.enrichment import parse_enrichment

    good = parse_enrichment(
        '{"keywords": ["Tea ", "tea", "green tea"], "context": "Bob likes tea.", "tags": ["drinks"]}'
    )
    assert good is not None and good.keywords == ["tea", "green tea"] and good.tags == ["drinks"]
    # A part left empty is no proposal for that part; the grounding judges the rest.
    partial = parse_enrichment('{"keywords": [], "context": "Bob likes tea.", "tags": ["", " "]}')
    assert partial is not None and (partial.keywords, partial.context, partial.tags) == ([], "Bob likes tea.", [])
    assert parse_enrichment('{"keywords": ["a\nb"], "context": "ab"}\n') == parse_enrichment(
        '{"keywords": ["a b"], "context": ""}'
    )  # raw newlines in strings are read, a too short context dropped
    bad_replies = ["not json", "[]", '{"keywords": [], "context": "x", "tags": [""]}', '{"context": "\u0000abc"}']
    for bad in bad_replies:
        assert parse_enrichment(bad) is None, bad
