"""Admission: who is calling (the bearer token, the admin acting as an agent), with what priority, and the
syscall record, queue and open stream a call runs with.

`SyscallRuntime` holds what every servicer shares: identities, the syscall table, the per-resource queues and
the open streams. The decorators in syscalls.dispatch admit each call through it.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

import grpc

from aios.agents import AgentService, Principal
from aios.errors import FailedPrecondition, InvalidArgument, PermissionDenied, Unauthenticated
from aios.syscalls.queues import Job, ResourceQueue
from aios.syscalls.records import SyscallRecord, SyscallTable
from aios.syscalls.streams import OpenStream, Streams

__all__ = ["Access", "Caller", "SyscallRuntime"]

DEFAULT_PRIORITY = 5
ACT_AS = "x-aios-act-as"
PRIORITY = "x-aios-priority"


class Access(enum.Enum):
    AGENT = "agent"  # runs in an agent's namespace: an agent, or the admin acting as one
    ADMIN = "admin"  # admin token only
    ANY = "any"  # any valid token


@dataclass(frozen=True)
class Caller:
    principal: Principal
    job: Job
    stream: OpenStream | None = None  # streaming calls only

    @property
    def agent_id(self) -> str:
        return self.principal.agent_id


class SyscallRuntime:
    """What the decorators need: identities, the syscall table, the per-resource queues and the open streams."""

    def __init__(
        self,
        agents: AgentService,
        table: SyscallTable,
        queues: dict[str, ResourceQueue],
        max_streams_per_agent: int = 8,
    ) -> None:
        self.agents = agents
        self.table = table
        self.queues = queues
        self.streams = Streams(max_streams_per_agent)
        agents.on_token_invalid(self._token_invalid)

    def _token_invalid(self, agent_id: str) -> None:
        error = Unauthenticated("the token this call was opened with was revoked or reissued")
        self.streams.end(agent_id, error)

    async def _principal(self, metadata: dict[str, str], access: Access) -> Principal:
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        principal = self.agents.cached(token.strip()) if token else None
        if principal is None:
            principal = await asyncio.to_thread(self.agents.authenticate, token.strip())
        if access is Access.ADMIN and not principal.is_admin:
            raise PermissionDenied("this syscall needs the admin token")
        act_as = metadata.get(ACT_AS)
        if act_as and access is Access.AGENT:
            if not principal.is_admin:
                raise PermissionDenied(f"only the admin may send {ACT_AS}")
            agent = await asyncio.to_thread(self.agents.get, act_as)
            if agent.revoked:
                raise FailedPrecondition(f"agent {act_as} is revoked")
            return Principal(agent.id, agent.name)
        if access is Access.AGENT and principal.is_admin:
            raise FailedPrecondition(f"the admin has no namespace of its own: send {ACT_AS}: <agent id>")
        return principal

    async def admit(
        self, context: grpc.aio.ServicerContext, kind: str, resource: str, access: Access
    ) -> tuple[Principal, SyscallRecord, ResourceQueue]:
        metadata = _metadata(context)
        principal = await self._principal(metadata, access)
        return principal, self._record(metadata, principal, context, kind, resource), self.queues[resource]

    async def admit_stream(
        self, context: grpc.aio.ServicerContext, kind: str, resource: str, access: Access
    ) -> tuple[Principal, SyscallRecord, ResourceQueue, OpenStream]:
        """`admit` for a streaming call, which also opens its `OpenStream` (the caller closes it)."""
        metadata = _metadata(context)
        generation = self.agents.generation
        principal = await self._principal(metadata, access)
        stream = self.streams.open(principal.agent_id)
        try:
            if self.agents.generation != generation:
                # A token went since the check above, perhaps before this stream was there to be ended: check
                # again now that it is registered (a later revocation ends it).
                await self._principal(metadata, access)
            record = self._record(metadata, principal, context, kind, resource)
        except BaseException:
            self.streams.close(stream)
            raise
        return principal, record, self.queues[resource], stream

    def _record(
        self,
        metadata: dict[str, str],
        principal: Principal,
        context: grpc.aio.ServicerContext,
        kind: str,
        resource: str,
    ) -> SyscallRecord:
        priority = _priority(metadata.get(PRIORITY))
        return self.table.admit(principal.agent_id, kind, resource, priority, context.time_remaining())


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def _priority(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PRIORITY
    if not raw.isdigit() or not 0 <= int(raw) <= 9:
        raise InvalidArgument(f"{PRIORITY} must be an integer 0-9 (9 runs first), got {raw!r}")
    return int(raw)
