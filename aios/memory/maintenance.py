"""Keeping the vector index in step with SQL, the notes' source of truth: `reconcile` repairs what a crash
between the two left (a missing or an extra vector) at start-up; `reindex` rebuilds it (a new embedding model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from aios.embeddings import Embedder
from aios.memory._schema import notes
from aios.memory.directory import AgentDirectory
from aios.memory.models import RepairReport
from aios.memory.search import PREFIX, collection
from aios.memory.store import NoteStore
from aios.vectors import VectorIndex

__all__ = ["IndexMaintenance", "Progress"]

Progress = Callable[[int, int], None]
_REINDEX_BATCH = 256


class IndexMaintenance:
    def __init__(self, store: NoteStore, embedder: Embedder, vectors: VectorIndex, agents: AgentDirectory) -> None:
        self._store = store
        self._embedder = embedder
        self._vectors = vectors
        self._agents = agents

    def reconcile(self) -> RepairReport:
        """Make the vector index hold exactly the notes in SQL: embed what is missing, drop extras."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.agent_id)).all()
        known_agents = set(self._agents.names())
        in_sql: dict[str, set[str]] = {}
        for row in rows:
            in_sql.setdefault(row.agent_id, set()).add(row.id)
        # Collections of agents this database does not know may belong to another kernel sharing the
        # Chroma server: leave them alone.
        indexed_agents = {name.removeprefix(PREFIX) for name in self._vectors.names(PREFIX)} & known_agents
        added = removed = 0
        for agent_id in sorted(indexed_agents | set(in_sql)):
            want = in_sql.get(agent_id, set())
            have = self._vectors.ids(collection(agent_id)) if agent_id in indexed_agents else set()
            extra = sorted(have - want)
            self._vectors.delete(collection(agent_id), extra)
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
        with self._store.engine.connect() as conn:
            rows = conn.execute(query).all()
        for target in [agent_id] if agent_id else list(self._agents.names()):
            self._vectors.drop(collection(target))
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
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.content).where(notes.c.id.in_(ids))).all()
        vectors = self._embedder.encode([row.content for row in rows])
        self._vectors.upsert(collection(agent_id), [row.id for row in rows], vectors)
