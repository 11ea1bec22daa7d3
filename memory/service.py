"""Basic memory: notes stored in SQL first (the source of truth), their vectors in Chroma second.

A crash between the two leaves a missing or an extra vector; `reconcile()` finds and repairs both and
the kernel runs it at start-up. Every operation is scoped to one agent's namespace.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agents._schema import agents
from aios.config import LimitsConfig
from aios.embeddings import Embedder
from aios.errors import InvalidArgument, NotFound
from aios.vectors import VectorIndex
from memory._schema import notes
from memory.models import NewNote, Note, RepairReport, SearchHit

__all__ = ["MemoryService"]

Progress = Callable[[int, int], None]
_PREFIX = "notes_"
_REINDEX_BATCH = 256
_MAX_KEY = 128
_MAX_VALUE = 4096


def _collection(agent_id: str) -> str:
    return _PREFIX + agent_id


class MemoryService:
    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        vectors: VectorIndex,
        limits: LimitsConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._embedder = embedder
        self._vectors = vectors
        self._limits = limits or LimitsConfig()
        self._clock = clock

    # -- syscalls -------------------------------------------------------------------------------

    def add(self, agent_id: str, new_notes: Sequence[NewNote]) -> list[Note]:
        """Add notes in one transaction (all or none); returns them in order once durable."""
        self._check_batch(new_notes)
        now = self._clock()
        added = [Note(uuid.uuid4().hex, agent_id, n.content, dict(n.metadata), now) for n in new_notes]
        vectors = self._embedder.encode([n.content for n in added])
        with self._engine.begin() as conn:
            conn.execute(
                sa.insert(notes),
                [
                    {"id": n.id, "agent_id": agent_id, "content": n.content, "metadata": n.metadata,
                     "created_at": now, "updated_at": now}
                    for n in added
                ],
            )  # fmt: skip
        self._vectors.upsert(_collection(agent_id), [n.id for n in added], vectors)
        return added

    def get(self, agent_id: str, note_id: str) -> Note:
        self._check_id(note_id)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(notes).where(notes.c.id == note_id, notes.c.agent_id == agent_id)).first()
        if row is None:
            raise NotFound(f"no note {note_id!r}")
        return _note(row)

    def delete(self, agent_id: str, note_id: str) -> None:
        self._check_id(note_id)
        with self._engine.begin() as conn:
            result = conn.execute(sa.delete(notes).where(notes.c.id == note_id, notes.c.agent_id == agent_id))
        if result.rowcount == 0:
            raise NotFound(f"no note {note_id!r}")
        self._vectors.delete(_collection(agent_id), [note_id])

    def search(self, agent_id: str, query: str, k: int = 10) -> list[SearchHit]:
        if not query.strip():
            raise InvalidArgument("query must not be empty")
        self._check_text(query, "query")
        if not 1 <= k <= self._limits.max_top_k:
            raise InvalidArgument(f"k must be between 1 and {self._limits.max_top_k}, got {k}")
        vector = self._embedder.encode([query])[0]
        scored = self._vectors.query(_collection(agent_id), vector, k)
        if not scored:
            return []
        with self._engine.connect() as conn:
            # By primary key only: with `agent_id = ?` too, SQLite picks the agent index and reads all of
            # the agent's notes. The owner is checked on the k rows instead.
            rows = conn.execute(sa.select(notes).where(notes.c.id.in_([id_ for id_, _ in scored])))
            by_id = {row.id: _note(row) for row in rows if row.agent_id == agent_id}
        # An id without a row is a vector whose delete did not reach the index yet: not a hit.
        return [SearchHit(by_id[id_], score) for id_, score in scored if id_ in by_id]

    def count(self, agent_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(notes)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- index maintenance ----------------------------------------------------------------------

    def reconcile(self) -> RepairReport:
        """Make the vector index hold exactly the notes in SQL: embed what is missing, drop extras."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.agent_id)).all()
            known_agents = set(conn.execute(sa.select(agents.c.id)).scalars())
        in_sql: dict[str, set[str]] = {}
        for row in rows:
            in_sql.setdefault(row.agent_id, set()).add(row.id)
        # Collections of agents this database does not know may belong to another kernel sharing the
        # Chroma server: leave them alone.
        indexed_agents = {name.removeprefix(_PREFIX) for name in self._vectors.names(_PREFIX)} & known_agents
        added = removed = 0
        for agent_id in sorted(indexed_agents | set(in_sql)):
            want = in_sql.get(agent_id, set())
            have = self._vectors.ids(_collection(agent_id)) if agent_id in indexed_agents else set()
            extra = sorted(have - want)
            self._vectors.delete(_collection(agent_id), extra)
            missing = sorted(want - have)
            self._index(agent_id, missing)
            added, removed = added + len(missing), removed + len(extra)
        return RepairReport(added=added, removed=removed)

    def reindex(
        self,
        agent_id: str | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Drop and rebuild the vectors of one agent (or all) from SQL; returns notes indexed."""
        query = sa.select(notes.c.id, notes.c.agent_id).order_by(notes.c.agent_id, notes.c.id)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            known_agents = list(conn.execute(sa.select(agents.c.id)).scalars())
        targets = [agent_id] if agent_id else known_agents
        for target in targets:
            self._vectors.drop(_collection(target))
        done = 0
        for start in range(0, len(rows), _REINDEX_BATCH):
            if should_stop():
                break
            batch = rows[start : start + _REINDEX_BATCH]
            by_agent: dict[str, list[str]] = {}
            for row in batch:
                by_agent.setdefault(row.agent_id, []).append(row.id)
            for owner, ids in by_agent.items():
                self._index(owner, ids)
            done += len(batch)
            if progress:
                progress(done, len(rows))
        return done

    def _index(self, agent_id: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.content).where(notes.c.id.in_(ids))).all()
        vectors = self._embedder.encode([row.content for row in rows])
        self._vectors.upsert(_collection(agent_id), [row.id for row in rows], vectors)

    # -- validation -----------------------------------------------------------------------------

    def _check_batch(self, new_notes: Sequence[NewNote]) -> None:
        if not new_notes:
            raise InvalidArgument("at least one note is required")
        if len(new_notes) > self._limits.max_batch:
            raise InvalidArgument(f"a batch holds at most {self._limits.max_batch} notes, got {len(new_notes)}")
        for i, note in enumerate(new_notes):
            where = f"note {i}" if len(new_notes) > 1 else "note"
            if not note.content.strip():
                raise InvalidArgument(f"{where}: content must not be empty")
            if len(note.content) > self._limits.max_note_chars:
                raise InvalidArgument(
                    f"{where}: content has {len(note.content)} characters; the limit is {self._limits.max_note_chars}"
                )
            self._check_text(note.content, f"{where} content")
            if len(note.metadata) > self._limits.max_metadata_entries:
                raise InvalidArgument(f"{where}: at most {self._limits.max_metadata_entries} metadata entries")
            for key, value in note.metadata.items():
                if not key or len(key) > _MAX_KEY or len(value) > _MAX_VALUE:
                    raise InvalidArgument(
                        f"{where}: metadata keys must be 1-{_MAX_KEY} characters and values at most "
                        f"{_MAX_VALUE}; {key[:40]!r} is not"
                    )
                self._check_text(key + value, f"{where} metadata {key[:40]!r}")

    @staticmethod
    def _check_text(text: str, what: str) -> None:
        if "\x00" in text:
            raise InvalidArgument(f"{what} must not contain NUL characters")

    @staticmethod
    def _check_id(note_id: str) -> None:
        if not note_id or len(note_id) > 64:
            raise InvalidArgument("note id must be 1-64 characters")


def _note(row: sa.Row) -> Note:
    return Note(row.id, row.agent_id, row.content, dict(row.metadata), row.created_at)
