"""The model's enrichment of a note, applied: what the enrichment worker (aios/memory/enrichment.py) reads of a pending
note, and how its reply lands — only in the fields the user left empty, only where grounded in the note
(aios/memory/grounding.py), as a new version ("enrichment:llm") through the store's compare-and-set.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Any

import sqlalchemy as sa

from aios.memory._schema import notes
from aios.memory.enrichment import EnrichmentResult
from aios.memory.grounding import Grounding
from aios.memory.store import WRITE_ATTEMPTS, NoteRow, NoteStore
from aios.memory.validation import MAX_TAGS

__all__ = ["Refiner"]

log = logging.getLogger("aios.memory")

_MAX_KEYWORDS = 10  # after grounded model keywords join the extractive ones


class Refiner:
    def __init__(self, store: NoteStore, grounding: Grounding) -> None:
        self._store = store
        self._grounding = grounding

    def pending(self, note_id: str) -> tuple[str, str] | None:
        """(owner, content) of a note still waiting for its enrichment; None when it is gone or done."""
        with self._store.engine.connect() as conn:
            row = conn.execute(sa.select(notes.c.agent_id, notes.c.content, notes.c.enrichment)
                               .where(notes.c.id == note_id)).first()  # fmt: skip
        return (row.agent_id, row.content) if row is not None and row.enrichment == "llm_pending" else None

    def apply(self, note_id: str, content: str, result: EnrichmentResult | None) -> bool:
        """Fill what the user left empty with what the model proposed for `content`, where it is grounded in
        the note; the rest keeps its extractive enrichment. False when the note changed meanwhile: the caller
        asks the model again. A write that lands between the read and this one (a user edit, an evolution)
        makes it start over from the new state, so the user's edit always wins."""
        store = self._store
        for _ in range(WRITE_ATTEMPTS):
            with store.engine.connect() as conn:
                row = conn.execute(sa.select(notes).where(notes.c.id == note_id)).first()
            if row is None or row.enrichment != "llm_pending":
                return True
            if row.content != content:
                return False  # proposed for text the user has since replaced
            changes: dict[str, Any] = {"enrichment": "llm_failed"}
            if result is not None:
                accepted = self._grounded(row, result, set(row.user_fields))
                changes = {**accepted, "enrichment": "llm" if accepted else "llm_rejected"}
            with store.engine.begin() as conn:
                if len(changes) == 1:  # nothing accepted: only the state changes, no new version
                    stale = notes.c.version == row.version
                    if conn.execute(sa.update(notes).where(notes.c.id == note_id, stale).values(**changes)).rowcount:
                        return True
                elif store.write_version(conn, row, changes, "enrichment:llm", store.clock()) is not None:
                    return True
        log.warning("enrichment of note %s gave up: the note kept changing", note_id)
        return True

    def _grounded(self, row: NoteRow, result: EnrichmentResult, mine: Container[str]) -> dict[str, Any]:
        """The fields the model may fill: not the user's, and only with grounded proposals."""
        changes: dict[str, Any] = {}
        if "keywords" not in mine:
            keywords = self._grounding.terms("keywords", result.keywords, row.content)
            if keywords:
                changes["keywords"] = list(dict.fromkeys([*keywords, *row.keywords]))[:_MAX_KEYWORDS]
        if "tags" not in mine:
            tags = [t for t in self._grounding.terms("tags", result.tags, row.content) if t not in row.tags]
            if tags:
                changes["tags"] = [*row.tags, *tags][:MAX_TAGS]
        if (
            "context" not in mine
            and result.context
            and self._grounding.context(result.context, row.context, row.content)
        ):
            changes["context"] = result.context
        return changes
