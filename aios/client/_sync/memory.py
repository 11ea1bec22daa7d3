"""The client's memory methods: notes, search, links, history, consolidation, decay."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Unpack

from aios.client import _types as t
from aios.client._inputs import NoteChanges, NoteFields, SearchOptions
from aios.client._ops.memory import NoteInput
from aios.client._sync.caller import Caller

__all__ = ["MemoryCalls"]


class MemoryCalls(Caller):
    def add_note(self, content: str, metadata: Mapping[str, str] | None = None, **fields: Unpack[NoteFields]) -> t.Note:
        """Add a note. `fields`: keywords, context, tags (else extracted), category, event_at (datetime or
        epoch seconds), importance (0-1), pinned, share_with (agent ids)."""
        return self._call(self._ops.memory.add_note(content, metadata, fields))

    def add_notes(self, notes: Sequence[NoteInput]) -> list[t.Note]:
        """Add notes in one transaction (all or none). Each is a string, (content, metadata), a dict of
        NewNote's fields or a NewNote: everything add_note takes."""
        return self._call(self._ops.memory.add_notes(notes))

    def get_note(self, note_id: str) -> t.Note:
        return self._call(self._ops.memory.get_note(note_id))

    def delete_note(self, note_id: str) -> None:
        self._call(self._ops.memory.delete_note(note_id))

    def search(self, query: str, k: int = 10, **options: Unpack[SearchOptions]) -> list[t.SearchHit]:
        """Hybrid search. `options`: tags, category, created_after/before, event_after/before (datetime or
        epoch seconds), scope (own | shared | all), include_archived, expand_links, as_of (the reference time for
        time expressions in the query such as "last week"; default now)."""
        return self._call(self._ops.memory.search(query, k, options))

    def update_note(self, note_id: str, **fields: Unpack[NoteChanges]) -> t.Note:
        """content, context, keywords, tags, category, importance; expected_version for a conditional update."""
        return self._call(self._ops.memory.update_note(note_id, fields))

    def archive_note(self, note_id: str) -> t.Note:
        return self._call(self._ops.memory.set_flags(note_id, archived=True))

    def restore_note(self, note_id: str) -> t.Note:
        return self._call(self._ops.memory.set_flags(note_id, archived=False))

    def pin_note(self, note_id: str, pinned: bool = True) -> t.Note:
        return self._call(self._ops.memory.set_flags(note_id, pinned=pinned))

    def share_note(self, note_id: str, agent_ids: list[str], unshare: bool = False) -> t.Note:
        return self._call(self._ops.memory.share(note_id, agent_ids, unshare))

    def link_notes(self, from_id: str, to_id: str, kind: str = "related", reason: str = "",
                   weight: float | None = None) -> t.NoteLink:  # fmt: skip
        return self._call(self._ops.memory.link(from_id, to_id, kind, reason, weight))

    def unlink_notes(self, from_id: str, to_id: str) -> None:
        self._call(self._ops.memory.unlink(from_id, to_id))

    def neighbours(self, note_id: str, depth: int = 1) -> tuple[list[t.Note], list[t.NoteLink]]:
        return self._call(self._ops.memory.neighbours(note_id, depth))

    def history(self, note_id: str) -> list[t.NoteVersion]:
        return self._call(self._ops.memory.history(note_id))

    def undo_evolution(self, note_id: str) -> int:
        return self._call(self._ops.memory.undo_evolution(note_id))

    def graph(self, limit: int = 200, include_archived: bool = False) -> tuple[list[t.Note], list[t.NoteLink]]:
        """The caller's most recent notes and the links among them."""
        return self._call(self._ops.memory.graph(limit, include_archived))

    def consolidate(self, min_age_s: float | None = None, weak_below: float | None = None,
                    min_group: int = 3) -> t.ConsolidationReport:  # fmt: skip
        """Summarise old or fading related notes now (sources archived) and refresh the profile note."""
        return self._call(self._ops.memory.consolidate(min_age_s, weak_below, min_group))

    def run_decay(self) -> int:
        return self._call(self._ops.memory.run_decay())

    def memory_stats(self) -> t.MemoryStats:
        return self._call(self._ops.memory.memory_stats())
