"""AdminService: agents and their tokens, `ps`, kernel stats, reindexing; with its conversions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aios._proto.aios.v1 import admin_pb2, admin_pb2_grpc
from aios.agents import Agent, AgentService
from aios.errors import FailedPrecondition, InvalidArgument
from aios.fs import FileService
from aios.memory import MemoryService
from aios.syscalls.convert import require, to_timestamp
from aios.syscalls.dispatch import server_stream, unary
from aios.syscalls.records import AgentMetrics, SyscallRecord, SyscallStatus
from aios.syscalls.runtime import Access, Caller, SyscallRuntime

__all__ = ["AdminServicer", "to_proto_agent", "to_proto_agent_metrics", "to_proto_syscall"]

_MAX_PS = 1000


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self, runtime: SyscallRuntime, agents: AgentService, memory: MemoryService, files: FileService
    ) -> None:
        self.runtime = runtime
        self._agents = agents
        self._memory = memory
        self._files = files
        self._started = time.time()

    @unary("admin.identity", "admin", Access.ANY)
    def GetIdentity(self, request: admin_pb2.GetIdentityRequest, caller: Caller) -> admin_pb2.Identity:
        p = caller.principal
        return admin_pb2.Identity(agent_id="" if p.is_admin else p.agent_id, name=p.name, is_admin=p.is_admin)

    @unary("admin.create_agent", "admin", Access.ADMIN)
    def CreateAgent(self, request: admin_pb2.CreateAgentRequest, caller: Caller) -> Any:
        agent, token = self._agents.create(request.name)
        return admin_pb2.CreateAgentResponse(agent=to_proto_agent(agent), token=token)

    @unary("admin.list_agents", "admin", Access.ADMIN)
    def ListAgents(self, request: admin_pb2.ListAgentsRequest, caller: Caller) -> Any:
        agents = self._agents.list(include_revoked=request.include_revoked)
        return admin_pb2.ListAgentsResponse(agents=[to_proto_agent(a) for a in agents])

    @unary("admin.revoke_agent", "admin", Access.ADMIN)
    def RevokeAgent(self, request: admin_pb2.RevokeAgentRequest, caller: Caller) -> admin_pb2.Agent:
        require(request.agent_id, "agent_id")
        return to_proto_agent(self._agents.revoke(request.agent_id))

    @unary("admin.reissue_token", "admin", Access.ADMIN)
    def ReissueToken(self, request: admin_pb2.ReissueTokenRequest, caller: Caller) -> Any:
        require(request.agent_id, "agent_id")
        agent, token = self._agents.reissue(request.agent_id)
        return admin_pb2.ReissueTokenResponse(agent=to_proto_agent(agent), token=token)

    @unary("admin.ps", "admin", Access.ADMIN)
    def ListSyscalls(self, request: admin_pb2.ListSyscallsRequest, caller: Caller) -> Any:
        if request.limit > _MAX_PS:
            raise InvalidArgument(f"limit must be at most {_MAX_PS}")
        records = self.runtime.table.recent(request.agent_id or None, request.limit or 50)
        syscalls = [to_proto_syscall(r) for r in records]
        _name_agents(syscalls, self._agents.names())
        return admin_pb2.ListSyscallsResponse(syscalls=syscalls)

    @unary("admin.stats", "admin", Access.ADMIN)
    def GetStats(self, request: admin_pb2.GetStatsRequest, caller: Caller) -> admin_pb2.KernelStats:
        queues = [
            admin_pb2.QueueStats(
                resource=q.name, queued=q.queued, running=q.running, capacity=q.capacity, workers=q.workers
            )
            for q in self.runtime.queues.values()
        ]
        per_agent = [to_proto_agent_metrics(m) for m in self.runtime.table.metrics()]
        _name_agents(per_agent, self._agents.names())
        return admin_pb2.KernelStats(
            queues=queues,
            agents=per_agent,
            notes=self._memory.count(),
            agents_registered=self._agents.count(),
            uptime_s=time.time() - self._started,
        )

    @server_stream("admin.reindex", "memory", Access.ADMIN)
    def Reindex(self, request: admin_pb2.ReindexRequest, caller: Caller, emit: Callable[[Any], None]) -> None:
        agent_id = request.agent_id or None
        if request.files:
            if agent_id is not None:
                raise InvalidArgument("the file index is rebuilt whole: leave agent_id empty")
            index = self._files.index
            if index is None:  # a file service built without one (the kernel always gives it one)
                raise FailedPrecondition("the file system has no semantic index to rebuild")
            index.reindex(
                lambda done, total: emit(admin_pb2.ReindexProgress(done=done, total=total)), caller.job.stopped
            )
            return
        if agent_id is not None:
            self._agents.get(agent_id)
        emit(admin_pb2.ReindexProgress(done=0, total=self._memory.count(agent_id)))
        self._memory.reindex(
            agent_id,
            progress=lambda done, total: emit(admin_pb2.ReindexProgress(done=done, total=total)),
            should_stop=caller.job.stopped,
        )


def _name_agents(messages: list[Any], names: dict[str, str]) -> None:
    """Fill each message's agent_name from its agent_id (left empty for an id no longer known)."""
    for message in messages:
        message.agent_name = names.get(message.agent_id, "")


# -- conversions -------------------------------------------------------------------------------------------------


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
