"""Conversions between protobuf messages and domain objects, for the whole gRPC face.

Kept in one module so servicers stay a readable line per step (chroma's proto/convert.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from agents import Agent
from aios._proto.aios.v1 import admin_pb2, llm_pb2, memory_pb2
from aios.errors import InvalidArgument
from aios.llm import ChatMessage, Completion, ModelInfo, RunEvent, SamplingParams, SchedulerState
from memory import Link, MemoryStats, NewNote, Note, NoteUpdate, NoteVersion, SearchFilters, SearchHit
from syscalls.limits import MAX_CHAT_MESSAGES, MAX_NOTE_CONTEXT_CHARS, MAX_SHARE_AGENTS, check_count, check_length
from syscalls.records import AgentMetrics, SyscallRecord, SyscallStatus

__all__ = [
    "from_proto_filters",
    "from_proto_messages",
    "from_proto_new_note",
    "from_proto_update",
    "from_timestamp",
    "to_proto_link",
    "to_proto_memory_stats",
    "to_proto_version",
    "from_proto_params",
    "to_proto_completion",
    "to_proto_last_chunk",
    "to_proto_model_info",
    "to_proto_run_event",
    "to_proto_scheduler_state",
    "to_proto_agent",
    "to_proto_agent_metrics",
    "to_proto_note",
    "to_proto_search_hit",
    "to_proto_syscall",
    "to_timestamp",
]


def to_timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def to_proto_agent(agent: Agent) -> admin_pb2.Agent:
    return admin_pb2.Agent(
        id=agent.id,
        name=agent.name,
        created_at=to_timestamp(agent.created_at),
        revoked_at=to_timestamp(agent.revoked_at),
        revoked=agent.revoked,
    )


_STATUS = {
    SyscallStatus.QUEUED: admin_pb2.SYSCALL_STATUS_QUEUED,
    SyscallStatus.RUNNING: admin_pb2.SYSCALL_STATUS_RUNNING,
    SyscallStatus.DONE: admin_pb2.SYSCALL_STATUS_DONE,
    SyscallStatus.FAILED: admin_pb2.SYSCALL_STATUS_FAILED,
    SyscallStatus.CANCELLED: admin_pb2.SYSCALL_STATUS_CANCELLED,
    SyscallStatus.REJECTED: admin_pb2.SYSCALL_STATUS_REJECTED,
}


def to_proto_syscall(record: SyscallRecord) -> admin_pb2.Syscall:
    return admin_pb2.Syscall(
        id=record.id,
        agent_id=record.agent_id,
        kind=record.kind,
        resource=record.resource,
        priority=record.priority,
        deadline=to_timestamp(record.deadline),
        created_at=to_timestamp(record.created_at),
        started_at=to_timestamp(record.started_at),
        finished_at=to_timestamp(record.finished_at),
        status=_STATUS[record.status],
        error=record.error,
    )


def to_proto_agent_metrics(m: AgentMetrics) -> admin_pb2.AgentSyscallStats:
    return admin_pb2.AgentSyscallStats(
        agent_id=m.agent_id,
        syscalls=m.syscalls,
        failed=m.failed,
        mean_waiting_ms=m.mean_waiting_ms,
        mean_turnaround_ms=m.mean_turnaround_ms,
        p95_turnaround_ms=m.p95_turnaround_ms,
    )


# The range a Timestamp may hold (0001-01-01 to 9999-12-31): beyond it the reply could not carry the time back.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
# The last float before year 10000: 9999-12-31T23:59:59.999999999 as a float rounds up to year 10000, which
# datetime cannot hold (a search with that as_of answered INTERNAL).
_LAST_SECOND = math.nextafter(_MAX_SECONDS + 1, 0)


def from_timestamp(msg: Any, field: str) -> float | None:
    if not msg.HasField(field):
        return None
    ts = getattr(msg, field)
    if not (_MIN_SECONDS <= ts.seconds <= _MAX_SECONDS and 0 <= ts.nanos < 1_000_000_000):
        raise InvalidArgument(f"{field} is not a valid timestamp (years 1-9999, nanos 0-999999999)")
    return min(ts.ToNanoseconds() / 1e9, _LAST_SECOND)


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


# -- llm -------------------------------------------------------------------------------------------


def from_proto_messages(messages: Sequence[llm_pb2.ChatMessage]) -> list[ChatMessage]:
    check_count(messages, "messages", MAX_CHAT_MESSAGES)
    return [ChatMessage(m.role, m.content) for m in messages]


def from_proto_params(p: llm_pb2.SamplingParams) -> SamplingParams:
    defaults = SamplingParams()
    return SamplingParams(
        max_tokens=p.max_tokens or defaults.max_tokens,
        temperature=p.temperature if p.HasField("temperature") else defaults.temperature,
        top_p=p.top_p if p.HasField("top_p") else defaults.top_p,
        top_k=p.top_k if p.HasField("top_k") else defaults.top_k,
        min_p=p.min_p if p.HasField("min_p") else defaults.min_p,
        repeat_penalty=p.repeat_penalty if p.HasField("repeat_penalty") else defaults.repeat_penalty,
        seed=p.seed if p.HasField("seed") else None,
        stop=tuple(p.stop),
        grammar=p.grammar or None,
        json_schema=p.json_schema or None,
    )


def _usage_timing(c: Completion) -> dict[str, object]:
    return {
        "usage": llm_pb2.Usage(prompt_tokens=c.usage.prompt_tokens, completion_tokens=c.usage.completion_tokens,
                               cached_tokens=c.usage.cached_tokens),
        "timing": llm_pb2.Timing(queue_s=c.queue_s, ttft_s=c.ttft_s, total_s=c.total_s, preemptions=c.preemptions,
                                 context_switches=c.context_switches),
    }  # fmt: skip


def to_proto_completion(c: Completion) -> llm_pb2.Completion:
    return llm_pb2.Completion(text=c.text, finish_reason=c.finish_reason, **_usage_timing(c))  # type: ignore[arg-type]


def to_proto_last_chunk(c: Completion) -> llm_pb2.CompletionChunk:
    return llm_pb2.CompletionChunk(finish_reason=c.finish_reason, **_usage_timing(c))  # type: ignore[arg-type]


def to_proto_model_info(info: ModelInfo) -> llm_pb2.ModelInfo:
    kv, w, mem = info.kv, info.weights, info.memory
    weights = llm_pb2.WeightsInfo()
    if w is not None:
        weights = llm_pb2.WeightsInfo(
            model_bytes=w.model_bytes, budget_bytes=w.budget_bytes or 0, pinned_bytes=w.pinned_bytes,
            streamed_bytes=w.streamed_bytes, prefetch=w.prefetch_enabled,
        )  # fmt: skip
    if mem is not None:
        weights.rss_anon, weights.rss_file, weights.peak_rss = mem.rss_anon, mem.rss_file, mem.peak_rss
        weights.read_bytes, weights.major_faults = mem.read_bytes, mem.major_faults
    return llm_pb2.ModelInfo(
        weights=weights,
        backend=info.backend, model=info.model, path=info.path, n_ctx=info.n_ctx, policy=info.policy,
        quantum=info.quantum, context_switches=info.context_switches,
        kv=llm_pb2.KVCacheInfo(
            saves=kv.saves, restores=kv.restores, bytes_saved=kv.bytes_saved, bytes_restored=kv.bytes_restored,
            save_s=kv.save_s, restore_s=kv.restore_s, spills=kv.spills, ram_bytes=kv.ram_bytes,
            disk_bytes=kv.disk_bytes, sessions=kv.sessions, resident_sessions=kv.resident_sessions,
            resident_tokens=kv.resident_tokens, kv_cells=kv.kv_cells, max_batch=kv.max_batch,
        ),
    )  # fmt: skip


def to_proto_run_event(e: RunEvent) -> llm_pb2.SchedulerEvent:
    return llm_pb2.SchedulerEvent(
        request_id=e.request_id, agent_id=e.agent_id, job_class=e.job_class, start_s=e.start, end_s=e.end,
        prefilled=e.prefilled, generated=e.generated, switched=e.switched, finished=e.finished,
    )  # fmt: skip


def to_proto_scheduler_state(s: SchedulerState) -> llm_pb2.SchedulerState:
    def waiting(row: tuple[int, str, str, int, float]) -> llm_pb2.WaitingRequest:
        return llm_pb2.WaitingRequest(id=row[0], agent_id=row[1], job_class=row[2], priority=row[3], waited_s=row[4])

    agents = [
        llm_pb2.AgentLLMStats(
            agent_id=a.agent_id, requests=a.requests, prompt_tokens=a.prompt_tokens,
            completion_tokens=a.completion_tokens, cached_tokens=a.cached_tokens, mean_queue_s=a.mean(a.queue_s),
            mean_ttft_s=a.mean(a.ttft_s), mean_tpot_s=a.mean(a.tpot_s), mean_turnaround_s=a.mean(a.turnaround_s),
            preemptions=a.preemptions, virtual_counter=s.counters.get(a.agent_id, 0.0),
            quota_tokens_per_minute=s.quotas.get(a.agent_id, 0),
        )
        for a in s.agents
    ]  # fmt: skip
    return llm_pb2.SchedulerState(
        policy=s.policy, quantum=s.quantum,
        running=[llm_pb2.WaitingRequest(id=r[0], agent_id=r[1]) for r in s.running],
        waiting=[waiting(w) for w in s.waiting], agents=agents, jain_fairness=s.jain_fairness,
        tokens_per_s=s.tokens_per_s,
    )  # fmt: skip
