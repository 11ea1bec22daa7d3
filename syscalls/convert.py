"""Conversions between protobuf messages and domain objects, for the whole gRPC face.

Kept in one module so servicers stay a readable line per step (chroma's proto/convert.py).
"""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from agents import Agent
from aios._proto.aios.v1 import admin_pb2, memory_pb2
from memory import NewNote, Note, SearchHit
from syscalls.records import AgentMetrics, SyscallRecord, SyscallStatus

__all__ = [
    "from_proto_new_note",
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


def from_proto_new_note(msg: memory_pb2.NewNote) -> NewNote:
    return NewNote(content=msg.content, metadata=dict(msg.metadata))


def to_proto_note(note: Note) -> memory_pb2.Note:
    return memory_pb2.Note(
        id=note.id,
        agent_id=note.agent_id,
        content=note.content,
        metadata=note.metadata,
        created_at=to_timestamp(note.created_at),
    )


def to_proto_search_hit(hit: SearchHit) -> memory_pb2.SearchHit:
    return memory_pb2.SearchHit(note=to_proto_note(hit.note), score=hit.score)
