"""Recall storage: paged-out messages as notes in the memory subsystem, and the search that pages them (and the
agent's other notes) back in.

A message is committed as evicted before its note is written, so a note the memory subsystem refuses must not
fail the call nor, through start-up repair, every later start: that message is quarantined (kept in SQL, listed by
`aios admin doctor`) and the others are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from aios.errors import AiosError
from aios.memory.context.models import ContextMessage, RecalledItem, RecallHit
from aios.memory.context.store import ContextStore
from aios.memory.context.tokens import Counter
from aios.memory.models import NewNote, Note, SearchFilters, SearchHit
from aios.text import keywords_of

__all__ = ["RECALL_CATEGORY", "MemoryPort", "RecallStorage"]

log = logging.getLogger("aios.context")
RECALL_CATEGORY = "recall"
_MAX_BATCH = 1_000
_MAX_QUERY_CHARS = 1_000


class MemoryPort(Protocol):
    """What context paging uses of the memory subsystem (`MemoryService`)."""

    def add(self, agent_id: str, new_notes: Sequence[NewNote]) -> list[Note]: ...

    def get(self, agent_id: str, note_id: str) -> Note: ...

    def search(
        self, agent_id: str, query: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]: ...

    def count(self, agent_id: str | None = None) -> int: ...


class RecallStorage:
    def __init__(
        self, memory: MemoryPort, store: ContextStore, count: Counter, clock: Callable[[], float] = time.time
    ) -> None:
        self._memory = memory
        self._store = store
        self._count = count
        self._clock = clock

    def repair(self) -> None:
        """Write the recall notes a crash left unwritten (after their messages' eviction was committed)."""
        for agent_id, messages in self._store.unwritten().items():
            log.warning("context: writing %d paged-out messages of %s to recall storage", len(messages), agent_id)
            self.write(agent_id, messages)

    def write(self, agent_id: str, messages: Sequence[ContextMessage]) -> None:
        """Write evicted messages as notes (searchable, linked to the agent's other notes), in batches; the
        messages of a batch the memory subsystem refuses one by one, quarantining those it refuses alone."""
        for start in range(0, len(messages), _MAX_BATCH):
            batch = messages[start : start + _MAX_BATCH]
            try:
                self._write(agent_id, batch)
            except AiosError:
                for m in batch:
                    try:
                        self._write(agent_id, [m])
                    except AiosError as exc:
                        self._quarantine(agent_id, m, exc)

    def _write(self, agent_id: str, batch: Sequence[ContextMessage]) -> None:
        notes = self._memory.add(agent_id, [
            NewNote(m.content, {"ctx_message_id": m.id, "role": m.role, "seq": str(m.seq)},
                    keywords=keywords_of(m.content), category=RECALL_CATEGORY, event_at=m.created_at)
            for m in batch
        ])  # fmt: skip
        self._store.set_notes([(m.id, note.id) for m, note in zip(batch, notes, strict=True)])

    def _quarantine(self, agent_id: str, message: ContextMessage, exc: AiosError) -> None:
        log.warning("context: paged-out message %s of %s quarantined (no recall note): %s; `aios admin doctor` "
                    "lists it", message.id, agent_id, exc.message)  # fmt: skip
        self._store.quarantine(agent_id, message.id, f"{exc.code}: {exc.message}", self._clock())

    # -- reading ---------------------------------------------------------------------------------------

    def candidates(self, agent_id: str, query: str, k: int) -> list[RecalledItem] | None:
        """The evicted messages and notes most relevant to `query` (hybrid search over the agent's own notes),
        best first; None when the agent has no notes (nothing is searched)."""
        if self._memory.count(agent_id) == 0:
            return None
        hits = self._memory.search(agent_id, query[:_MAX_QUERY_CHARS], k, SearchFilters(scope="own"))
        return [self._item_of(h.note, h.score) for h in hits]

    def search(self, agent_id: str, query: str, k: int) -> list[RecallHit]:
        """The agent's paged-out messages that match `query`."""
        hits = self._memory.search(agent_id, query, k, SearchFilters(category=RECALL_CATEGORY, scope="own"))
        return [
            RecallHit(h.note.id, h.note.metadata.get("ctx_message_id", ""), h.note.metadata.get("role", ""),
                      h.note.content, h.score, h.note.event_at or h.note.created_at)
            for h in hits
        ]  # fmt: skip

    def item(self, agent_id: str, item_id: str, pin: bool) -> RecalledItem:
        """One of the agent's messages or a note it may read, as a recalled item; NOT_FOUND otherwise."""
        message = self._store.message(agent_id, item_id)
        if message is not None:
            content = f"[{message.role}] {message.content}"
            return RecalledItem(message.id, "message", content, self._count.text(content), pin)
        note = self._memory.get(agent_id, item_id)  # NOT_FOUND unless the agent may read it
        return replace(self._item_of(note, 0.0), pinned=pin)

    def _item_of(self, note: Note, score: float) -> RecalledItem:
        message_id = note.metadata.get("ctx_message_id", "")
        if message_id:
            content = f"[{note.metadata.get('role', 'user')}] {note.content}"
            return RecalledItem(message_id, "message", content, self._count.text(content), False, score)
        return RecalledItem(note.id, "note", note.content, self._count.text(note.content), False, score)
