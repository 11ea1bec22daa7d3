"""Admin syscalls: request builders, and the conversions of agents, syscalls and kernel stats from protobuf."""

from __future__ import annotations

from typing import Any

from aios._proto.aios.v1 import admin_pb2, admin_pb2_grpc
from aios.client import _types as t
from aios.client._ops.op import Op, opt_time, requests_checked, time_of

__all__ = ["AdminOps"]


@requests_checked
class AdminOps:
    def __init__(self, channel: Any) -> None:
        self.stub = admin_pb2_grpc.AdminServiceStub(channel)

    def whoami(self) -> Op:
        return Op(self.stub.GetIdentity, admin_pb2.GetIdentityRequest(), _identity)

    def create_agent(self, name: str) -> Op:
        return Op(self.stub.CreateAgent, admin_pb2.CreateAgentRequest(name=name), _credentials)

    def list_agents(self, include_revoked: bool) -> Op:
        return Op(
            self.stub.ListAgents,
            admin_pb2.ListAgentsRequest(include_revoked=include_revoked),
            lambda r: [_agent(a) for a in r.agents],
        )

    def revoke_agent(self, agent_id: str) -> Op:
        return Op(self.stub.RevokeAgent, admin_pb2.RevokeAgentRequest(agent_id=agent_id), _agent)

    def reissue_token(self, agent_id: str) -> Op:
        return Op(self.stub.ReissueToken, admin_pb2.ReissueTokenRequest(agent_id=agent_id), _credentials)

    def ps(self, agent_id: str | None, limit: int) -> Op:
        return Op(
            self.stub.ListSyscalls,
            admin_pb2.ListSyscallsRequest(agent_id=agent_id or "", limit=limit),
            lambda r: [_syscall(s) for s in r.syscalls],
        )

    def stats(self) -> Op:
        return Op(self.stub.GetStats, admin_pb2.GetStatsRequest(), _stats)

    def reindex(self, agent_id: str | None, files: bool) -> Op:
        return Op(
            self.stub.Reindex,
            admin_pb2.ReindexRequest(agent_id=agent_id or "", files=files),
            lambda r: t.ReindexProgress(r.done, r.total),
        )


def _identity(r: admin_pb2.Identity) -> t.Identity:
    return t.Identity(r.agent_id, r.name, r.is_admin)


def _agent(a: admin_pb2.Agent) -> t.Agent:
    return t.Agent(a.id, a.name, time_of(a.created_at), opt_time(a, "revoked_at"))


def _credentials(r: Any) -> t.AgentCredentials:
    return t.AgentCredentials(_agent(r.agent), r.token)


def _syscall(s: admin_pb2.Syscall) -> t.Syscall:
    status = admin_pb2.SyscallStatus.Name(s.status).removeprefix("SYSCALL_STATUS_").lower()
    return t.Syscall(
        s.id, s.agent_id, s.kind, s.resource, s.priority, status, s.error, time_of(s.created_at),
        opt_time(s, "started_at"), opt_time(s, "finished_at"), opt_time(s, "deadline"), s.agent_name,
    )  # fmt: skip


def _agent_stats(a: admin_pb2.AgentSyscallStats) -> t.AgentStats:
    return t.AgentStats(a.agent_id, a.syscalls, a.failed, a.mean_waiting_ms, a.mean_turnaround_ms,
                        a.p95_turnaround_ms, a.agent_name)  # fmt: skip


def _stats(r: admin_pb2.KernelStats) -> t.KernelStats:
    return t.KernelStats(
        queues=[t.QueueStats(q.resource, q.queued, q.running, q.capacity, q.workers) for q in r.queues],
        agents=[_agent_stats(a) for a in r.agents],
        notes=r.notes,
        agents_registered=r.agents_registered,
        uptime_s=r.uptime_s,
    )
