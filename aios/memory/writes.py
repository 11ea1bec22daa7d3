"""Writing notes: a batch of new notes, an edit, a delete. SQL first (the source of truth), the vector in the same
transaction: a write commits the notes, their extractive enrichment, first versions, shares and full-text entries
in one transaction, then their vectors and similarity links; a vector write that fails leaves no note behind. A
crash between SQL and Chroma leaves a missing or an extra vector, which `IndexMaintenance.reconcile` repairs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from aios import text as extract
from aios.embeddings import Embedder
from aios.errors import FailedPrecondition, ResourceExhausted
from aios.memory._schema import note_link_queue, note_links, note_shares, note_versions, notes
from aios.memory.consolidation import PROFILE
from aios.memory.linker import Linker
from aios.memory.models import NewNote, Note, NoteUpdate
from aios.memory.search import collection
from aios.memory.store import USER_FIELDS, WRITE_ATTEMPTS, NoteStore, RowView, search_text
from aios.memory.validation import Validator, check_share_targets
from aios.vectors import VectorIndex

__all__ = ["NoteWriter"]


class NoteWriter:
    def __init__(self, store: NoteStore, embedder: Embedder, vectors: VectorIndex, linker: Linker,
                 validator: Validator) -> None:  # fmt: skip
        self._store = store
        self._embedder = embedder
        self._vectors = vectors
        self._linker = linker
        self._validator = validator

    def add(self, agent_id: str, new_notes: Sequence[NewNote], llm: bool) -> list[Note]:
        """Add notes in one transaction (all or none); returns them as written, once durable. With `llm` (the
        model will refine them), notes the user did not fully describe are left `llm_pending` and every note but
        a profile is queued for the model's link judgement, which then does the evolution."""
        self._validator.batch(new_notes)
        store = self._store
        now = store.clock()
        rows = [self._new_row(agent_id, n, now, llm) for n in new_notes]
        vectors = self._embedder.encode([r["content"] for r in rows])
        judged = {r["id"] for r in rows if r["category"] != PROFILE} if llm else set()
        with store.engine.begin() as conn:
            check_share_targets(agent_id, {a for n in new_notes for a in n.share_with})
            conn.execute(sa.insert(notes), rows)
            if judged:
                conn.execute(sa.insert(note_link_queue), [{"note_id": i, "queued_at": now} for i in judged])
            conn.execute(sa.insert(note_versions), [store.version_row(r, "created", now) for r in rows])
            shares = [
                {"note_id": r["id"], "agent_id": a}
                for r, n in zip(rows, new_notes, strict=True)
                for a in dict.fromkeys(n.share_with)
            ]
            if shares:
                conn.execute(sa.insert(note_shares), shares)
            store.lexical.put(conn, [(r["id"], search_text(r)) for r in rows], fresh=True)
            # In the transaction, so a vector or link write that fails (a full disk) leaves no note behind; a
            # commit that fails after it leaves only vectors SQL does not know, which search skips and a start drops.
            self._vectors.upsert(collection(agent_id), [r["id"] for r in rows], vectors)
            self._linker.link_new(conn, agent_id, rows, vectors, now, judged)
        # As written, before the worker touches them (linking never evolves a note of the same batch).
        return [store.to_note(RowView(r), list(dict.fromkeys(n.share_with)), now)
                for r, n in zip(rows, new_notes, strict=True)]  # fmt: skip

    def _new_row(self, agent_id: str, n: NewNote, now: float, llm: bool) -> dict[str, Any]:
        user_fields = [f for f in USER_FIELDS if getattr(n, f)]
        left_to_fill = {"keywords", "context", "tags"} - set(user_fields)
        keywords = n.keywords if n.keywords is not None else extract.keywords_of(n.content)
        return {
            "id": uuid.uuid4().hex,
            "agent_id": agent_id,
            "content": n.content,
            "metadata": dict(n.metadata),
            "created_at": now,
            "updated_at": now,
            "keywords": keywords,
            "context": n.context if n.context is not None else extract.context_of(n.content),
            "tags": n.tags if n.tags is not None else extract.tags_of(keywords),
            "category": n.category,
            "event_at": n.event_at,
            "last_accessed": now,
            "access_count": 0,
            "strength_s": self._store.forgetting.initial_strength_s,
            "importance": n.importance,
            "pinned": n.pinned,
            "archived_at": None,
            "enrichment": "llm_pending" if llm and left_to_fill else "extractive",
            "version": 1,
            "user_fields": user_fields,
        }

    def update(self, agent_id: str, note_id: str, change: NoteUpdate) -> None:
        """Edit an own note; a new version. Content changes re-embed it."""
        self._validator.update(change)
        changes = {k: v for k, v in change.__dict__.items() if v is not None and k != "expected_version"}
        store = self._store
        now = store.clock()
        vector = self._embedder.encode([changes["content"]]) if "content" in changes else None
        for _ in range(WRITE_ATTEMPTS):
            with store.engine.begin() as conn:
                row = store.own_row(conn, agent_id, note_id)
                if change.expected_version is not None and row.version != change.expected_version:
                    raise FailedPrecondition(
                        f"note {note_id} is at version {row.version}, not {change.expected_version}"
                    )
                mine = [*row.user_fields, *(f for f in USER_FIELDS if f in changes and f not in row.user_fields)]
                if store.write_version(conn, row, {**changes, "user_fields": mine}, "update", now) is not None:
                    if vector is not None:  # in the transaction, as in `add`: a refused vector write changes nothing
                        self._vectors.upsert(collection(agent_id), [note_id], vector)
                    return
        raise ResourceExhausted(f"note {note_id} is being changed by other writers; try again")

    def delete(self, agent_id: str, note_id: str) -> None:
        store = self._store
        with store.engine.begin() as conn:
            store.own_row(conn, agent_id, note_id)
            conn.execute(
                sa.delete(note_links).where(sa.or_(note_links.c.from_id == note_id, note_links.c.to_id == note_id))
            )
            for table in (note_shares, note_versions):
                conn.execute(sa.delete(table).where(table.c.note_id == note_id))
            store.lexical.delete(conn, [note_id])
            conn.execute(sa.delete(notes).where(notes.c.id == note_id))
        self._vectors.delete(collection(agent_id), [note_id])
