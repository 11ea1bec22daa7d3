"""Memory syscalls: request builders, and the conversions of notes, links and versions from protobuf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aios._proto.aios.v1 import memory_pb2, memory_pb2_grpc
from aios.client import _types as t
from aios.client._inputs import NewNote, NoteChanges, NoteFields, SearchOptions, check_options
from aios.client._ops.op import Op, opt_time, requests_checked, time_of, timestamp
from aios.errors import InvalidArgument

__all__ = ["MemoryOps", "NoteInput", "link_of", "note_of"]

NoteInput = str | tuple[str, Mapping[str, str]] | Mapping[str, Any] | NewNote
"""One note for add_notes: its content, (content, metadata), a dict of NewNote's fields, or a NewNote."""

_SEARCH_TIMES = ("created_after", "created_before", "event_after", "event_before", "as_of")


@requests_checked
class MemoryOps:
    def __init__(self, channel: Any) -> None:
        self.stub = memory_pb2_grpc.MemoryServiceStub(channel)

    def add_note(self, content: str, metadata: Mapping[str, str] | None, fields: Mapping[str, Any]) -> Op:
        check_options(fields, NoteFields, "add_note")
        note = _to_proto_new_note(NewNote(content, metadata, **fields))
        return Op(self.stub.AddNote, memory_pb2.AddNoteRequest(note=note), note_of)

    def add_notes(self, notes: Sequence[NoteInput]) -> Op:
        if isinstance(notes, str | bytes | Mapping | NewNote):  # one note where a list of them belongs
            raise InvalidArgument("add_notes takes a list of notes; add_note adds one")
        msgs = [_to_proto_new_note(_new_note_of(n, i)) for i, n in enumerate(notes)]
        return Op(self.stub.AddNotes, memory_pb2.AddNotesRequest(notes=msgs), lambda r: [note_of(n) for n in r.notes])

    def get_note(self, note_id: str) -> Op:
        return Op(self.stub.GetNote, memory_pb2.GetNoteRequest(id=note_id), note_of)

    def delete_note(self, note_id: str) -> Op:
        return Op(self.stub.DeleteNote, memory_pb2.DeleteNoteRequest(id=note_id), lambda r: None)

    def search(self, query: str, k: int, options: SearchOptions) -> Op:
        check_options(options, SearchOptions, "search")
        given: dict[str, Any] = {key: value for key, value in options.items() if value is not None}
        times = {key: timestamp(given.pop(key), key) for key in list(given) if key in _SEARCH_TIMES}
        request = memory_pb2.SearchNotesRequest(query=query, k=k, **given)
        for key, ts in times.items():
            getattr(request, key).CopyFrom(ts)
        return Op(
            self.stub.SearchNotes,
            request,
            lambda r: [t.SearchHit(note_of(h.note), h.score, dict(h.signals)) for h in r.hits],
        )

    def update_note(self, note_id: str, changes: NoteChanges) -> Op:
        check_options(changes, NoteChanges, "update_note")
        fields: dict[str, Any] = {key: value for key, value in changes.items() if value is not None}
        request = memory_pb2.UpdateNoteRequest(id=note_id, expected_version=fields.pop("expected_version", 0))
        for key in ("keywords", "tags"):
            if key in fields:
                getattr(request, key).extend(fields.pop(key))
                setattr(request, f"set_{key}", True)
        for key, value in fields.items():
            setattr(request, key, value)
        return Op(self.stub.UpdateNote, request, note_of)

    def set_flags(self, note_id: str, archived: bool | None = None, pinned: bool | None = None) -> Op:
        request = memory_pb2.SetNoteFlagsRequest(id=note_id)
        if archived is not None:
            request.archived = archived
        if pinned is not None:
            request.pinned = pinned
        return Op(self.stub.SetNoteFlags, request, note_of)

    def share(self, note_id: str, agent_ids: list[str], unshare: bool) -> Op:
        request = memory_pb2.ShareNoteRequest(id=note_id, agent_ids=agent_ids, unshare=unshare)
        return Op(self.stub.ShareNote, request, note_of)

    def link(self, from_id: str, to_id: str, kind: str, reason: str, weight: float | None) -> Op:
        request = memory_pb2.LinkNotesRequest(from_id=from_id, to_id=to_id, kind=kind, reason=reason)
        if weight is not None:
            request.weight = weight
        return Op(self.stub.LinkNotes, request, link_of)

    def unlink(self, from_id: str, to_id: str) -> Op:
        return Op(self.stub.UnlinkNotes, memory_pb2.UnlinkNotesRequest(from_id=from_id, to_id=to_id), lambda r: None)

    def neighbours(self, note_id: str, depth: int) -> Op:
        request = memory_pb2.GetNeighboursRequest(id=note_id, depth=depth)
        return Op(self.stub.GetNeighbours, request, _notes_and_links)

    def history(self, note_id: str) -> Op:
        return Op(
            self.stub.GetHistory,
            memory_pb2.GetHistoryRequest(id=note_id),
            lambda r: [
                t.NoteVersion(v.version, v.content, v.context, list(v.keywords), list(v.tags), v.category, v.cause,
                              time_of(v.created_at))
                for v in r.versions
            ],
        )  # fmt: skip

    def undo_evolution(self, note_id: str) -> Op:
        request = memory_pb2.UndoEvolutionRequest(note_id=note_id)
        return Op(self.stub.UndoEvolution, request, lambda r: r.reverted)

    def graph(self, limit: int, include_archived: bool) -> Op:
        request = memory_pb2.GetGraphRequest(limit=limit, include_archived=include_archived)
        return Op(self.stub.GetGraph, request, _notes_and_links)

    def consolidate(self, min_age_s: float | None, weak_below: float | None, min_group: int) -> Op:
        request = memory_pb2.ConsolidateRequest(min_group=min_group)
        if min_age_s is not None:
            request.min_age_s = min_age_s
        if weak_below is not None:
            request.weak_below = weak_below
        return Op(
            self.stub.Consolidate,
            request,
            lambda r: t.ConsolidationReport(r.groups, list(r.summary_ids), r.archived, r.profile_id),
        )

    def run_decay(self) -> Op:
        return Op(self.stub.RunDecay, memory_pb2.RunDecayRequest(), lambda r: r.archived)

    def memory_stats(self) -> Op:
        return Op(
            self.stub.GetMemoryStats,
            memory_pb2.GetMemoryStatsRequest(),
            lambda r: t.MemoryStats(r.notes, r.archived, r.pinned, r.links, r.shared_with_me, r.mean_retention),
        )


def _new_note_of(item: NoteInput, i: int) -> NewNote:
    """add_notes' i-th note as a NewNote; what does not describe a note is refused, never half-read."""
    if isinstance(item, NewNote):
        return item
    if isinstance(item, str):
        return NewNote(item)
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InvalidArgument(f"note {i}: a tuple is (content, metadata), got {len(item)} items; "
                                  "pass a dict or a NewNote for more fields")  # fmt: skip
        return NewNote(item[0], item[1])
    if isinstance(item, Mapping):
        check_options(item, NewNote, f"note {i}")
        if "content" not in item:
            raise InvalidArgument(f"note {i}: content is required")
        return NewNote(**item)
    raise InvalidArgument(f"note {i}: expected a string, (content, metadata), a dict or a NewNote, "
                          f"got {type(item).__name__}")  # fmt: skip


def _to_proto_new_note(n: NewNote) -> memory_pb2.NewNote:
    note = memory_pb2.NewNote(
        content=n.content, metadata=dict(n.metadata or {}), keywords=n.keywords or [], tags=n.tags or [],
        category=n.category, importance=n.importance, pinned=n.pinned, share_with=n.share_with or [],
    )  # fmt: skip
    if n.context is not None:
        note.context = n.context
    if n.event_at is not None:
        note.event_at.CopyFrom(timestamp(n.event_at, "event_at"))
    return note


def note_of(n: memory_pb2.Note) -> t.Note:
    return t.Note(
        n.id, n.agent_id, n.content, dict(n.metadata), time_of(n.created_at), list(n.keywords), n.context,
        list(n.tags), n.category, opt_time(n, "event_at"), opt_time(n, "last_accessed"), n.access_count,
        n.strength_s, n.importance, n.pinned, opt_time(n, "archived_at"), n.enrichment, n.version,
        list(n.shared_with), n.retention, list(n.user_fields),
    )  # fmt: skip


def link_of(x: memory_pb2.NoteLink) -> t.NoteLink:
    return t.NoteLink(x.from_id, x.to_id, x.kind, x.reason, x.weight, time_of(x.created_at))


def _notes_and_links(r: Any) -> tuple[list[t.Note], list[t.NoteLink]]:
    return [note_of(n) for n in r.notes], [link_of(x) for x in r.links]
