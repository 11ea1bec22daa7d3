"""The client's admin methods: identity, agents and tokens, the syscall table, stats, status, reindex."""

from __future__ import annotations

from collections.abc import Iterator

from aios.client import _types as t
from aios.client._sync.caller import Caller

__all__ = ["AdminCalls"]


class AdminCalls(Caller):
    def whoami(self) -> t.Identity:
        return self._call(self._ops.admin.whoami())

    def create_agent(self, name: str) -> t.AgentCredentials:
        return self._call(self._ops.admin.create_agent(name))

    def list_agents(self, include_revoked: bool = False) -> list[t.Agent]:
        return self._call(self._ops.admin.list_agents(include_revoked))

    def revoke_agent(self, agent_id: str) -> t.Agent:
        return self._call(self._ops.admin.revoke_agent(agent_id))

    def reissue_token(self, agent_id: str) -> t.AgentCredentials:
        """A new token for the agent (shown once); its old token is refused from now on."""
        return self._call(self._ops.admin.reissue_token(agent_id))

    def ps(self, agent_id: str | None = None, limit: int = 50) -> list[t.Syscall]:
        return self._call(self._ops.admin.ps(agent_id, limit))

    def stats(self) -> t.KernelStats:
        return self._call(self._ops.admin.stats())

    def status(self, subsystem: str) -> t.SubsystemStatus:
        return self._call(self._ops.status(subsystem))

    def reindex(self, agent_id: str | None = None, *, files: bool = False) -> Iterator[t.ReindexProgress]:
        """Rebuild memory's vector index from SQL (all agents, or one); `files=True`: the file index instead."""
        yield from self._stream(self._ops.admin.reindex(agent_id, files), deadline=False)
