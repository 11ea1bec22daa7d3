"""Isolation includes statistics: an agent's lexical scores and rankings are a function of what it may see.

FTS5's bm25 counts rows, their average length and how many rows hold each term over its whole table; before
issue 12 every agent's notes and file chunks shared one table, so another agent's writes moved this agent's
scores (and, through the fusion, its rankings). SQLite now keeps one FTS5 table per scope (aios/lexical.py).
PostgreSQL ranks with ts_rank_cd (cover density), which reads only the row and the query: the same tests pin
that it was, and stays, isolated. One kernel per backend serves the module; each test makes its own agents.

Sharing is well defined: a note shared with an agent counts in that agent's statistics exactly as the same note
of its own would (same text, so same scores), and unsharing it gives back the scores from before.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest

from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from tests.conftest import ThreadedKernel, kernel_config

TOPICS = {
    "garden": "tomato seedlings need watering every morning in the garden",
    "harbor": "the harbor master checked the boat engine before the storm",
    "train": "the night train to Berlin leaves at ten, tickets are in the drawer",
    "invoice": "the invoice for the roof repair is due at the end of the month",
    "cake": "the birthday cake recipe uses dark chocolate and fresh cream",
    "running": "new running shoes for the spring marathon, size forty-two",
}
DETAILS = ["on Monday", "with my sister", "after the meeting", "before noon", "near the old bridge"]
QUERIES = ["tomato garden watering", "harbor boat engine", "train tickets Berlin", "invoice roof payment",
           "chocolate cake recipe", "marathon running shoes"]  # fmt: skip
OTHER = ["quarterly tax forms", "piano lessons on Thursday", "the cat ate the plant", "server backup rotation",
         "a long walk in the forest", "the library book is overdue"]  # fmt: skip
_names = count()


def _own_notes() -> list[dict[str, object]]:
    """Thirty notes, five on each topic; tags set, so that no later note evolves them (their text stays put)."""
    return [{"content": f"{text} {detail}", "tags": [topic]} for topic, text in TOPICS.items() for detail in DETAILS]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Kernel]:
    database_url = request.getfixturevalue("postgres").new() if request.param == "postgres" else None
    config = kernel_config(tmp_path_factory.mktemp("lexical") / "data", database_url=database_url,
                           llm={"backend": "none"})  # fmt: skip
    with ThreadedKernel(config, embedder) as k:
        yield k


@pytest.fixture(scope="module")
def admin(kernel: Kernel) -> Iterator[Client]:
    with Client(kernel.target, kernel.admin_token) as client:
        yield client


def _agent(admin: Client, role: str) -> tuple[str, Client]:
    created = admin.create_agent(f"{role}-{next(_names)}")
    return created.agent.id, Client(admin.target, created.token)


def _lexical(agent: Client, query: str) -> dict[str, float]:
    """Content -> lexical score of every note the query matches lexically among all the agent may see."""
    hits = agent.search(query, k=200)
    return {h.note.content: h.signals["lexical"] for h in hits if "lexical" in h.signals}


def _ranking(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda c: (-scores[c], c))


def test_other_agents_notes_change_no_lexical_score(admin: Client) -> None:
    (_, a), (_, b) = _agent(admin, "a"), _agent(admin, "b")
    with a, b:
        a.add_notes(_own_notes())
        before = {q: _lexical(a, q) for q in QUERIES}
        assert all(before.values())
        # Many unrelated notes, and some that hold exactly the query terms: both moved table-wide bm25.
        b.add_notes([f"{text} number {i}" for i in range(50) for text in OTHER])
        b.add_notes([f"{q} again, note {i}" for i in range(5) for q in QUERIES])
        after = {q: _lexical(a, q) for q in QUERIES}
    assert after == before  # exact: the same floats
    assert {q: _ranking(s) for q, s in after.items()} == {q: _ranking(s) for q, s in before.items()}


def test_a_shared_note_counts_as_the_readers_own(admin: Client, kernel: Kernel) -> None:
    (a_id, a), (_, twin), (_, b) = _agent(admin, "a"), _agent(admin, "twin"), _agent(admin, "b")
    shared = {"content": "the harbor boat engine and the train to Berlin, both on one invoice", "tags": ["mixed"]}
    with a, twin, b:
        a.add_notes(_own_notes())
        twin.add_notes(_own_notes())
        note = b.add_notes([shared])[0]
        alone = {q: _lexical(a, q) for q in QUERIES}
        b.share_note(note.id, [a_id])
        with_shared = {q: _lexical(a, q) for q in QUERIES}
        twin.add_notes([shared])
        assert with_shared == {q: _lexical(twin, q) for q in QUERIES}  # exact: as if the note were a's own
        assert shared["content"] in with_shared["harbor boat engine"]
        b.share_note(note.id, [a_id], unshare=True)
        assert {q: _lexical(a, q) for q in QUERIES} == alone
    # On SQLite the shared note counts in a's bm25 statistics: the scores of a's own notes moved, for every
    # query. ts_rank_cd (PostgreSQL) reads no statistics: they stay.
    sqlite = kernel.config.database_url is None
    for q in QUERIES:
        assert ({c: with_shared[q][c] for c in alone[q]} != alone[q]) == sqlite, q


def test_other_trees_change_no_file_ranking(admin: Client, kernel: Kernel) -> None:
    (_, a), (_, b) = _agent(admin, "a"), _agent(admin, "b")
    with a, b:
        # Lexically "harbor" (twice) beats "lantern" (once) while both words are as rare; if another agent's
        # files made "harbor" common, table-wide bm25 would put the lantern file first.
        a.write_file("/harbor.txt", "Notes from the trip. The harbor was calm and the harbor lights were on.")
        a.write_file("/lantern.txt", "Notes from the trip. The lantern was old and the garden gate was open.")
        a.write_file("/misc.txt", "Shopping list: bread, milk, eggs and coffee for the weekend.")
        assert kernel.files is not None and kernel.files.index.wait_idle(60)
        query = "harbor lantern"

        def results() -> list[tuple[str, float, list[float]]]:
            return [(h.file.path, h.score, [p.score for p in h.passages]) for h in a.retrieve(query, k=3)]

        before = results()
        for i in range(40):
            b.write_file(f"/port/{i}.txt", f"The harbor, day {i}: ships in the harbor, cranes over the harbor.")
        assert kernel.files.index.wait_idle(60)
        assert results() == before
