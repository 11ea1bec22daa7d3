"""Hybrid search over notes: dense (Chroma) and lexical (FTS5 / tsvector) rankings, computed side by side
and fused by reciprocal rank, one optional hop over links, blended with the forgetting curve and, when the
query names a time, with the closeness of each note's event time to it. A recall counts as a review: recalls
are batched in memory and written by `flush_recalls`.

`NoteSearch` is a part of `MemoryService` (which inherits it); it reads the service's storage attributes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aios.config import LimitsConfig
from aios.embeddings import Embedder
from aios.errors import InvalidArgument
from aios.lexical import Lexical, rrf
from aios.vectors import VectorIndex
from memory._schema import note_links, note_shares, notes
from memory.forgetting import ForgettingConfig, retention, strengthened
from memory.models import Note, SearchFilters, SearchHit
from memory.temporal import proximity, windows_of

__all__ = ["NoteSearch"]

_PREFIX = "notes_"
# Small k: a note ranked first by one signal beats one ranked 50th by both (k=60 flattened the fusion;
# on LongMemEval dev turn recall@5 went 0.705 -> 0.770 with k=5).
_CANDIDATES = 50
_SCOPES = ("own", "shared", "all")
# How much a query's time expression re-ranks: a note far from the named time keeps (1 - this) of its score.
# LongMemEval dev (the 12 of 93 questions that name a time, as_of = question_date): turn recall@5 unchanged
# (0.3 and 0.5 alike), NDCG@10 +0.003. A third RRF ranking of the named period's notes was tried and dropped:
# it cost 0.005 of overall recall@5.
_TIME_WEIGHT = 0.5
# What ranking reads of each candidate (retention, time); whole rows are read for the hits only.
_RANKING = (notes.c.id, notes.c.agent_id, notes.c.created_at, notes.c.event_at, notes.c.last_accessed,
            notes.c.strength_s, notes.c.importance, notes.c.pinned)  # fmt: skip


def _collection(agent_id: str) -> str:
    return _PREFIX + agent_id


class NoteSearch:
    _engine: Engine
    _embedder: Embedder
    _vectors: VectorIndex
    _lexical: Lexical
    _limits: LimitsConfig
    _clock: Callable[[], float]
    _recalls: dict[str, tuple[int, float]]
    _recall_lock: threading.Lock
    _search_pool: ThreadPoolExecutor
    forgetting: ForgettingConfig
    time_weight: float
    _check_enrichment: Callable[[list[str] | None, list[str] | None, float | None], None]

    def search(
        self, agent_id: str, query: str, k: int = 10, filters: SearchFilters | None = None, expand_links: bool = False,
        as_of: float | None = None,
    ) -> list[SearchHit]:  # fmt: skip
        """Hybrid search: dense and lexical rankings fused (RRF), optionally one hop over links,
        blended with retention and, when the query names a time ("last week", "in May"; relative to `as_of`,
        default now), with the closeness of each note's event time to it (memory/temporal.py). Each hit says
        which signals scored it; returned notes count as recalled."""
        filters = filters or SearchFilters()
        if as_of is not None and not math.isfinite(as_of):
            raise InvalidArgument("as_of must be a finite time")
        if not query.strip():
            raise InvalidArgument("query must not be empty")
        self._check_text(query, "query")
        if not 1 <= k <= self._limits.max_top_k:
            raise InvalidArgument(f"k must be between 1 and {self._limits.max_top_k}, got {k}")
        if filters.scope not in _SCOPES:
            raise InvalidArgument(f"scope must be one of {', '.join(_SCOPES)}")
        self._check_enrichment(None, filters.tags, None)  # a tag filter holds what a note may hold
        where = self._where(agent_id, filters)
        depth = max(_CANDIDATES, k * 3)
        # The lexical ranking needs no query vector: it runs on a helper thread, on its own connection, while
        # this one encodes the query and asks Chroma (sqlite3, psycopg and torch release the GIL).
        lexical_job = self._search_pool.submit(self._lexical_search, agent_id, where, query, depth)
        vector = self._embedder.encode([query])[0]
        dense: dict[str, float] = {}
        if filters.scope != "shared":
            dense.update(self._vectors.query(_collection(agent_id), vector, depth))
        lexical = lexical_job.result()  # before taking a connection: never hold one while waiting for another
        with self._engine.connect() as conn:
            if filters.scope != "own":
                dense.update(self._shared_dense(conn, agent_id, vector))
            candidates = list(dict.fromkeys([*dense, *lexical]))
            rows = self._rows(conn, candidates, where, _RANKING)  # full rows for the hits only, below
            now = self._clock()
            windows = windows_of(query, now if as_of is None else as_of)
            fused = rrf(
                dense={i: dense[i] for i in dense if i in rows},
                lexical={i: lexical[i] for i in lexical if i in rows},
            )
            hits = {}
            for note_id, (score, signals) in fused.items():
                row = rows[note_id]
                r = self._retention(row, now)
                w = self.forgetting.rank_weight
                hits[note_id] = (score * (1 - w + w * r), {**signals, "retention": r})
                if windows:
                    t = proximity(row.event_at if row.event_at is not None else row.created_at, windows)
                    tw = self.time_weight
                    hits[note_id] = (hits[note_id][0] * (1 - tw + tw * t), {**hits[note_id][1], "time": t})
            top = sorted(hits, key=lambda i: -hits[i][0])[:k]
            if expand_links:  # the top k, then up to k notes linked to them
                top += self._expand(conn, hits, rows, where, top)[:k]
            shared = self._shares(conn, top)
            full = {r.id: r for r in conn.execute(sa.select(notes).where(notes.c.id.in_(top)))}
        result = [SearchHit(self._note(full[i], shared.get(i, []), now), hits[i][0], hits[i][1])
                  for i in top if i in full]  # fmt: skip
        self._recalled([h.note.id for h in result if h.note.agent_id == agent_id], now)
        return result

    def _lexical_search(self, agent_id: str, where: sa.ColumnElement[bool], query: str, limit: int) -> dict[str, float]:
        with self._engine.connect() as conn:  # bm25 statistics of the notes this agent may see only
            return dict(self._lexical.search(conn, where, query, limit, scopes=[agent_id]))

    def _expand(
        self,
        conn: Connection,
        hits: dict[str, tuple[float, dict[str, float]]],
        rows: dict[str, sa.Row],
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
        for row in self._rows(conn, list(extra), where, _RANKING).values():
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
            for note_id, embedding in self._vectors.embeddings(_collection(owner), ids).items():
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
        with self._engine.begin() as conn:
            rows = conn.execute(
                sa.select(notes.c.id, notes.c.strength_s, notes.c.access_count).where(notes.c.id.in_(list(pending)))
            ).all()
            changes = []
            for row in rows:
                count, at = pending[row.id]
                strength = row.strength_s
                for _ in range(count):
                    strength = strengthened(strength, self.forgetting)
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

    def _retention(self, row: sa.Row, now: float) -> float:
        return retention(now - row.last_accessed, row.strength_s, row.importance, row.pinned, self.forgetting)

    def _visible(self, agent_id: str) -> sa.ColumnElement[bool]:
        shared = sa.select(note_shares.c.note_id).where(note_shares.c.agent_id == agent_id)
        return sa.or_(notes.c.agent_id == agent_id, notes.c.id.in_(shared))

    def _where(self, agent_id: str, f: SearchFilters) -> sa.ColumnElement[bool]:
        shared = sa.select(note_shares.c.note_id).where(note_shares.c.agent_id == agent_id)
        scope = {
            "own": notes.c.agent_id == agent_id,
            "shared": notes.c.id.in_(shared),
            "all": sa.or_(notes.c.agent_id == agent_id, notes.c.id.in_(shared)),
        }[f.scope]
        clauses = [scope]
        if not f.include_archived:
            clauses.append(notes.c.archived_at.is_(None))
        if f.category:
            clauses.append(notes.c.category == f.category)
        for column, low, high in (
            (notes.c.created_at, f.created_after, f.created_before),
            (notes.c.event_at, f.event_after, f.event_before),
        ):
            if low is not None:
                clauses.append(column >= low)
            if high is not None:
                clauses.append(column < high)
        if f.tags:
            # JSON containment differs per engine; a LIKE on the serialised list is portable and exact
            # because tags are quoted in it.
            clauses.append(sa.or_(*[sa.cast(notes.c.tags, sa.Text).like(f'%"{t}"%') for t in f.tags]))
        return sa.and_(*clauses)

    @staticmethod
    def _rows(
        conn: Connection, ids: Sequence[str], where: sa.ColumnElement[bool], columns: Sequence[Any] = (notes,)
    ) -> dict[str, sa.Row]:
        """The notes among `ids` that match `where`, by id (`columns` of them). The filter is evaluated per
        row, not in the WHERE clause: there SQLite walked every note of the agent by the (agent_id,
        archived_at) index instead of looking the few ids up by primary key."""
        out: dict[str, sa.Row] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            for row in conn.execute(sa.select(*columns, where.label("_ok")).where(notes.c.id.in_(chunk))):
                if row._ok:
                    out[row.id] = row
        return out

    @staticmethod
    def _shares(conn: Connection, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if ids:
            for note_id, agent in conn.execute(sa.select(note_shares).where(note_shares.c.note_id.in_(ids))):
                out.setdefault(note_id, []).append(agent)
        return out

    def _note(self, row: sa.Row, shared_with: list[str], now: float) -> Note:
        return Note(
            row.id,
            row.agent_id,
            row.content,
            dict(row.metadata),
            row.created_at,
            list(row.keywords),
            row.context,
            list(row.tags),
            row.category,
            row.event_at,
            row.last_accessed,
            row.access_count,
            row.strength_s,
            row.importance,
            row.pinned,
            row.archived_at,
            row.enrichment,
            row.version,
            sorted(shared_with),
            self._retention(row, now),
            list(row.user_fields),
        )

    @staticmethod
    def _check_text(text: str, what: str) -> None:
        if "\x00" in text:
            raise InvalidArgument(f"{what} must not contain NUL characters")
