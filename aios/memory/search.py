"""Hybrid search over notes: dense (Chroma) and lexical (FTS5 / tsvector) rankings, computed side by side
and fused by reciprocal rank, one optional hop over links, blended with the forgetting curve and, when the
query names a time, with the closeness of each note's event time to it. A recall counts as a review: recalls
are buffered here and written by `flush_recalls`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aios.embeddings import Embedder
from aios.lexical import rrf
from aios.memory._schema import note_links, note_shares, notes
from aios.memory.forgetting import strengthened
from aios.memory.models import SearchFilters, SearchHit
from aios.memory.store import NoteStore, SqlRow
from aios.memory.temporal import proximity, windows_of
from aios.memory.validation import Validator
from aios.vectors import VectorIndex

__all__ = ["CANDIDATES", "PREFIX", "TIME_WEIGHT", "NoteSearch", "collection"]

PREFIX = "notes_"
"""Each agent's notes are the vector collection `notes_<agent id>`."""
# Small k: a note ranked first by one signal beats one ranked 50th by both (k=60 flattened the fusion;
# on LongMemEval dev turn recall@5 went 0.705 -> 0.770 with k=5).
CANDIDATES = 50
"""Candidates each ranking (dense, lexical) gives the fusion, at least."""
# How much a query's time expression re-ranks: a note far from the named time keeps (1 - this) of its score.
# LongMemEval dev (the 12 of 93 questions that name a time, as_of = question_date): turn recall@5 unchanged
# (0.3 and 0.5 alike), NDCG@10 +0.003. A third RRF ranking of the named period's notes was tried and dropped:
# it cost 0.005 of overall recall@5.
TIME_WEIGHT = 0.5
# Searches whose lexical rankings run at once (more wait their turn); the memory queue runs 2 syscalls at a time.
_SEARCH_THREADS = 4
# What ranking reads of each candidate (retention, time); whole rows are read for the hits only.
_RANKING = (notes.c.id, notes.c.agent_id, notes.c.created_at, notes.c.event_at, notes.c.last_accessed,
            notes.c.strength_s, notes.c.importance, notes.c.pinned)  # fmt: skip


def collection(agent_id: str) -> str:
    return PREFIX + agent_id


class NoteSearch:
    """Searches notes and remembers which were recalled until `flush_recalls` writes it. Each search's lexical
    ranking runs on `pool` (its own, of 4 threads, unless given), beside its dense one; `close` ends the pool."""

    def __init__(self, store: NoteStore, embedder: Embedder, vectors: VectorIndex, validator: Validator,
                 pool: ThreadPoolExecutor | None = None, time_weight: float = TIME_WEIGHT) -> None:  # fmt: skip
        self._store = store
        self._embedder = embedder
        self._vectors = vectors
        self._validator = validator
        self._pool = pool or ThreadPoolExecutor(_SEARCH_THREADS, thread_name_prefix="aios-memory-search")
        self._time_weight = time_weight
        # Recalls strengthen notes; they are written in batches, not one fsync'd transaction per search.
        self._recalls: dict[str, tuple[int, float]] = {}
        self._recall_lock = threading.Lock()

    def close(self) -> None:
        """Stop the helper threads, once nothing searches any more (a search after this fails)."""
        self._pool.shutdown(wait=True)

    def search(
        self, agent_id: str, query: str, k: int = 10, filters: SearchFilters | None = None, expand_links: bool = False,
        as_of: float | None = None,
    ) -> list[SearchHit]:  # fmt: skip
        """Hybrid search: dense and lexical rankings fused (RRF), optionally one hop over links,
        blended with retention and, when the query names a time ("last week", "in May"; relative to `as_of`,
        default now), with the closeness of each note's event time to it (aios/memory/temporal.py). Each hit says
        which signals scored it; returned notes count as recalled."""
        filters = filters or SearchFilters()
        self._validator.search(query, k, filters, as_of)
        store = self._store
        where = store.matching(agent_id, filters)
        depth = max(CANDIDATES, k * 3)
        # The lexical ranking needs no query vector: it runs on a helper thread, on its own connection, while
        # this one encodes the query and asks Chroma (sqlite3, psycopg and torch release the GIL).
        lexical_job = self._pool.submit(self._lexical_search, agent_id, where, query, depth)
        vector = self._embedder.encode([query])[0]
        dense: dict[str, float] = {}
        if filters.scope != "shared":
            dense.update(self._vectors.query(collection(agent_id), vector, depth))
        lexical = lexical_job.result()  # before taking a connection: never hold one while waiting for another
        with store.engine.connect() as conn:
            if filters.scope != "own":
                dense.update(self._shared_dense(conn, agent_id, vector))
            candidates = list(dict.fromkeys([*dense, *lexical]))
            rows = store.rows(conn, candidates, where, _RANKING)  # full rows for the hits only, below
            now = store.clock()
            windows = windows_of(query, now if as_of is None else as_of)
            fused = rrf(
                dense={i: dense[i] for i in dense if i in rows},
                lexical={i: lexical[i] for i in lexical if i in rows},
            )
            hits = {}
            for note_id, (score, signals) in fused.items():
                row = rows[note_id]
                r = store.retention(row, now)
                w = store.forgetting.rank_weight
                hits[note_id] = (score * (1 - w + w * r), {**signals, "retention": r})
                if windows:
                    t = proximity(row.event_at if row.event_at is not None else row.created_at, windows)
                    tw = self._time_weight
                    hits[note_id] = (hits[note_id][0] * (1 - tw + tw * t), {**hits[note_id][1], "time": t})
            top = sorted(hits, key=lambda i: -hits[i][0])[:k]
            if expand_links:  # the top k, then up to k notes linked to them
                top += self._expand(conn, hits, rows, where, top)[:k]
            shared = store.shares(conn, top)
            full = {r.id: r for r in conn.execute(sa.select(notes).where(notes.c.id.in_(top)))}
        result = [SearchHit(store.to_note(full[i], shared.get(i, []), now), hits[i][0], hits[i][1])
                  for i in top if i in full]  # fmt: skip
        self._recalled([h.note.id for h in result if h.note.agent_id == agent_id], now)
        return result

    def _lexical_search(self, agent_id: str, where: sa.ColumnElement[bool], query: str, limit: int) -> dict[str, float]:
        with self._store.engine.connect() as conn:  # bm25 statistics of the notes this agent may see only
            return dict(self._store.lexical.search(conn, where, query, limit, scopes=[agent_id]))

    def _expand(
        self,
        conn: Connection,
        hits: dict[str, tuple[float, dict[str, float]]],
        rows: dict[str, SqlRow],
        where: sa.ColumnElement[bool],
        top: list[str],
    ) -> list[str]:
        """Notes one link away from the top hits, best first; each scores its parent's score times the
        link weight / 2 and carries the link weight as its `link` signal."""
        links = conn.execute(
            sa.select(note_links).where(sa.or_(note_links.c.from_id.in_(top), note_links.c.to_id.in_(top)))
        ).all()
        extra: dict[str, tuple[float, float]] = {}
        for link in links:
            parent, other = (link.from_id, link.to_id) if link.from_id in top else (link.to_id, link.from_id)
            if other in top:
                continue
            score = hits[parent][0] * link.weight * 0.5
            if score > extra.get(other, (0.0, 0.0))[0]:
                extra[other] = (score, link.weight)
        if not extra:
            return []
        for row in self._store.rows(conn, list(extra), where, _RANKING).values():
            rows[row.id] = row
            signals = {**hits.get(row.id, (0.0, {}))[1], "link": extra[row.id][1]}
            hits[row.id] = (extra[row.id][0], signals)
        return sorted((i for i in extra if i in rows), key=lambda i: -hits[i][0])

    def _shared_dense(self, conn: Connection, agent_id: str, vector: np.ndarray) -> dict[str, float]:
        owners = conn.execute(
            sa.select(notes.c.agent_id, notes.c.id)
            .join(note_shares, note_shares.c.note_id == notes.c.id)
            .where(note_shares.c.agent_id == agent_id)
        ).all()
        by_owner: dict[str, list[str]] = {}
        for owner, note_id in owners:
            by_owner.setdefault(owner, []).append(note_id)
        scores = {}
        for owner, ids in by_owner.items():
            for note_id, embedding in self._vectors.embeddings(collection(owner), ids).items():
                scores[note_id] = float(np.dot(embedding, vector))
        return scores

    def _recalled(self, ids: list[str], now: float) -> None:
        with self._recall_lock:
            for note_id in ids:
                count, _ = self._recalls.get(note_id, (0, now))
                self._recalls[note_id] = (count + 1, now)

    def flush_recalls(self) -> int:
        """Write pending recalls (access count, last access, strength). Run periodically and at stop."""
        with self._recall_lock:
            pending, self._recalls = self._recalls, {}
        if not pending:
            return 0
        with self._store.engine.begin() as conn:
            rows = conn.execute(
                sa.select(notes.c.id, notes.c.strength_s, notes.c.access_count).where(notes.c.id.in_(list(pending)))
            ).all()
            changes = []
            for row in rows:
                count, at = pending[row.id]
                strength = row.strength_s
                for _ in range(count):
                    strength = strengthened(strength, self._store.forgetting)
                changes.append({"_id": row.id, "_at": at, "_count": row.access_count + count, "_strength": strength})
            if changes:  # one statement, many parameter sets: it runs beside searches and holds the GIL less
                update = (
                    sa.update(notes)
                    .where(notes.c.id == sa.bindparam("_id"))
                    .values(
                        last_accessed=sa.bindparam("_at"),
                        access_count=sa.bindparam("_count"),
                        strength_s=sa.bindparam("_strength"),
                    )
                )
                conn.execute(update, changes)
        return len(pending)
