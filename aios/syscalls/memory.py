"""MemoryService: notes, search, links, history, decay and consolidation; with its conversions.

(Inside the `syscalls` package this module is `syscalls.memory`; `from memory import ...` is the memory package.)
"""

from __future__ import annotations

from typing import Any

from aios._proto.aios.v1 import memory_pb2, memory_pb2_grpc
from aios.errors import InvalidArgument
from aios.memory import (
    Link,
    MemoryService,
    MemoryStats,
    NewNote,
    Note,
    NoteUpdate,
    NoteVersion,
    SearchFilters,
    SearchHit,
)
from aios.syscalls.convert import from_timestamp, require, to_timestamp
from aios.syscalls.dispatch import unary
from aios.syscalls.limits import (
    MAX_LINK_REASON_CHARS,
    MAX_NOTE_CONTEXT_CHARS,
    MAX_QUERY_CHARS,
    MAX_SHARE_AGENTS,
    check_count,
    check_length,
)
from aios.syscalls.runtime import Caller, SyscallRuntime

__all__ = [
    "MemoryServicer",
    "from_proto_filters",
    "from_proto_new_note",
    "from_proto_update",
    "to_proto_link",
    "to_proto_memory_stats",
    "to_proto_note",
    "to_proto_search_hit",
    "to_proto_version",
]

_DEFAULT_K = 10


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, runtime: SyscallRuntime, memory: MemoryService) -> None:
        self.runtime = runtime
        self._memory = memory

    @unary("memory.add", "memory")
    def AddNote(self, request: memory_pb2.AddNoteRequest, caller: Caller) -> memory_pb2.Note:
        (note,) = self._memory.add(caller.agent_id, [from_proto_new_note(request.note)])
        return to_proto_note(note)

    @unary("memory.add_batch", "memory")
    def AddNotes(self, request: memory_pb2.AddNotesRequest, caller: Caller) -> Any:
        notes = self._memory.add(caller.agent_id, [from_proto_new_note(n) for n in request.notes])
        return memory_pb2.AddNotesResponse(notes=[to_proto_note(n) for n in notes])

    @unary("memory.get", "memory")
    def GetNote(self, request: memory_pb2.GetNoteRequest, caller: Caller) -> memory_pb2.Note:
        return to_proto_note(self._memory.get(caller.agent_id, request.id))

    @unary("memory.delete", "memory")
    def DeleteNote(self, request: memory_pb2.DeleteNoteRequest, caller: Caller) -> Any:
        self._memory.delete(caller.agent_id, request.id)
        return memory_pb2.DeleteNoteResponse()

    @unary("memory.search", "memory")
    def SearchNotes(self, request: memory_pb2.SearchNotesRequest, caller: Caller) -> Any:
        check_length(request.query, "query", MAX_QUERY_CHARS)
        filters = from_proto_filters(request)
        hits = self._memory.search(caller.agent_id, request.query, request.k or _DEFAULT_K, filters,
                                   expand_links=request.expand_links,
                                   as_of=from_timestamp(request, "as_of"))  # fmt: skip
        return memory_pb2.SearchNotesResponse(hits=[to_proto_search_hit(h) for h in hits])

    @unary("memory.update", "memory")
    def UpdateNote(self, request: memory_pb2.UpdateNoteRequest, caller: Caller) -> memory_pb2.Note:
        return to_proto_note(self._memory.update(caller.agent_id, request.id, from_proto_update(request)))

    @unary("memory.flags", "memory")
    def SetNoteFlags(self, request: memory_pb2.SetNoteFlagsRequest, caller: Caller) -> memory_pb2.Note:
        archived = request.archived if request.HasField("archived") else None
        pinned = request.pinned if request.HasField("pinned") else None
        if archived is None and pinned is None:
            raise InvalidArgument("set archived or pinned")
        return to_proto_note(self._memory.set_flags(caller.agent_id, request.id, archived=archived, pinned=pinned))

    @unary("memory.share", "memory")
    def ShareNote(self, request: memory_pb2.ShareNoteRequest, caller: Caller) -> memory_pb2.Note:
        if not request.agent_ids:
            raise InvalidArgument("agent_ids is required")
        check_count(request.agent_ids, "agent_ids", MAX_SHARE_AGENTS)
        note = self._memory.share(caller.agent_id, request.id, list(request.agent_ids), share=not request.unshare)
        return to_proto_note(note)

    @unary("memory.link", "memory")
    def LinkNotes(self, request: memory_pb2.LinkNotesRequest, caller: Caller) -> memory_pb2.NoteLink:
        weight = request.weight if request.HasField("weight") else 1.0
        if not 0.0 <= weight <= 1.0:  # it scales the score of what a search reaches over the link
            raise InvalidArgument(f"weight must be between 0 and 1, got {weight}")
        check_length(request.reason, "reason", MAX_LINK_REASON_CHARS)
        link = self._memory.link(caller.agent_id, request.from_id, request.to_id, request.kind or "related",
                                 request.reason, weight)  # fmt: skip
        return to_proto_link(link)

    @unary("memory.unlink", "memory")
    def UnlinkNotes(self, request: memory_pb2.UnlinkNotesRequest, caller: Caller) -> Any:
        self._memory.unlink(caller.agent_id, request.from_id, request.to_id)
        return memory_pb2.UnlinkNotesResponse()

    @unary("memory.neighbours", "memory")
    def GetNeighbours(self, request: memory_pb2.GetNeighboursRequest, caller: Caller) -> Any:
        notes, links = self._memory.neighbours(caller.agent_id, request.id, request.depth or 1)
        return _neighbours(notes, links)

    @unary("memory.history", "memory")
    def GetHistory(self, request: memory_pb2.GetHistoryRequest, caller: Caller) -> Any:
        versions = self._memory.history(caller.agent_id, request.id)
        return memory_pb2.HistoryResponse(versions=[to_proto_version(v) for v in versions])

    @unary("memory.undo_evolution", "memory")
    def UndoEvolution(self, request: memory_pb2.UndoEvolutionRequest, caller: Caller) -> Any:
        require(request.note_id, "note_id")
        return memory_pb2.UndoEvolutionResponse(reverted=self._memory.undo_evolution(caller.agent_id, request.note_id))

    @unary("memory.decay", "memory")
    def RunDecay(self, request: memory_pb2.RunDecayRequest, caller: Caller) -> Any:
        return memory_pb2.RunDecayResponse(archived=self._memory.decay(caller.agent_id))

    @unary("memory.consolidate", "memory")
    def Consolidate(self, request: memory_pb2.ConsolidateRequest, caller: Caller) -> Any:
        options: dict[str, Any] = {"min_group": request.min_group or 3}
        for key in ("min_age_s", "weak_below"):
            if request.HasField(key):
                options[key] = getattr(request, key)
        if options["min_group"] < 2 or options.get("min_age_s", 0) < 0 or not 0 <= options.get("weak_below", 0) <= 1:
            raise InvalidArgument("min_group must be at least 2, min_age_s >= 0 and weak_below in [0, 1]")
        report = self._memory.consolidate(caller.agent_id, **options)
        return memory_pb2.ConsolidateResponse(groups=report.groups, summary_ids=report.summaries,
                                              archived=report.archived, profile_id=report.profile_id)  # fmt: skip

    @unary("memory.graph", "memory")
    def GetGraph(self, request: memory_pb2.GetGraphRequest, caller: Caller) -> Any:
        notes, links = self._memory.graph(caller.agent_id, request.limit or 200, request.include_archived)
        return _neighbours(notes, links)

    @unary("memory.stats", "memory")
    def GetMemoryStats(self, request: memory_pb2.GetMemoryStatsRequest, caller: Caller) -> Any:
        return to_proto_memory_stats(self._memory.stats(caller.agent_id))


# -- conversions -------------------------------------------------------------------------------------------------


def from_proto_new_note(msg: memory_pb2.NewNote) -> NewNote:
    check_count(msg.share_with, "share_with", MAX_SHARE_AGENTS)
    check_length(msg.context, "context", MAX_NOTE_CONTEXT_CHARS)
    return NewNote(
        content=msg.content,
        metadata=dict(msg.metadata),
        keywords=list(msg.keywords) or None,
        context=msg.context if msg.HasField("context") else None,
        tags=list(msg.tags) or None,
        category=msg.category,
        event_at=from_timestamp(msg, "event_at"),
        importance=msg.importance,
        pinned=msg.pinned,
        share_with=list(msg.share_with),
    )


def from_proto_update(msg: memory_pb2.UpdateNoteRequest) -> NoteUpdate:
    check_length(msg.context, "context", MAX_NOTE_CONTEXT_CHARS)
    return NoteUpdate(
        content=msg.content if msg.HasField("content") else None,
        context=msg.context if msg.HasField("context") else None,
        keywords=list(msg.keywords) if msg.set_keywords else None,
        tags=list(msg.tags) if msg.set_tags else None,
        category=msg.category if msg.HasField("category") else None,
        importance=msg.importance if msg.HasField("importance") else None,
        expected_version=msg.expected_version or None,
    )


def from_proto_filters(msg: memory_pb2.SearchNotesRequest) -> SearchFilters:
    return SearchFilters(
        tags=list(msg.tags),
        category=msg.category,
        created_after=from_timestamp(msg, "created_after"),
        created_before=from_timestamp(msg, "created_before"),
        event_after=from_timestamp(msg, "event_after"),
        event_before=from_timestamp(msg, "event_before"),
        scope=msg.scope or "all",
        include_archived=msg.include_archived,
    )


def to_proto_note(note: Note) -> memory_pb2.Note:
    return memory_pb2.Note(
        id=note.id,
        agent_id=note.agent_id,
        content=note.content,
        metadata=note.metadata,
        created_at=to_timestamp(note.created_at),
        keywords=note.keywords,
        context=note.context,
        tags=note.tags,
        category=note.category,
        event_at=to_timestamp(note.event_at),
        last_accessed=to_timestamp(note.last_accessed),
        access_count=note.access_count,
        strength_s=note.strength_s,
        importance=note.importance,
        pinned=note.pinned,
        archived_at=to_timestamp(note.archived_at),
        enrichment=note.enrichment,
        version=note.version,
        shared_with=note.shared_with,
        retention=note.retention,
        user_fields=note.user_fields,
    )


def to_proto_search_hit(hit: SearchHit) -> memory_pb2.SearchHit:
    return memory_pb2.SearchHit(note=to_proto_note(hit.note), score=hit.score, signals=hit.signals)


def to_proto_link(link: Link) -> memory_pb2.NoteLink:
    return memory_pb2.NoteLink(
        from_id=link.from_id,
        to_id=link.to_id,
        kind=link.kind,
        reason=link.reason,
        weight=link.weight,
        created_at=to_timestamp(link.created_at),
    )


def _neighbours(notes: list[Note], links: list[Link]) -> memory_pb2.NeighboursResponse:
    return memory_pb2.NeighboursResponse(notes=[to_proto_note(n) for n in notes],
                                         links=[to_proto_link(link) for link in links])  # fmt: skip


def to_proto_version(v: NoteVersion) -> memory_pb2.NoteVersion:
    return memory_pb2.NoteVersion(
        version=v.version,
        content=v.content,
        context=v.context,
        keywords=v.keywords,
        tags=v.tags,
        category=v.category,
        cause=v.cause,
        created_at=to_timestamp(v.created_at),
    )


def to_proto_memory_stats(s: MemoryStats) -> memory_pb2.MemoryStats:
    return memory_pb2.MemoryStats(
        notes=s.notes,
        archived=s.archived,
        pinned=s.pinned,
        links=s.links,
        shared_with_me=s.shared_with_me,
        mean_retention=s.mean_retention,
    )
