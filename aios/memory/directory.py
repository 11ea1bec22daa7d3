"""What memory needs to know of the kernel's agents, as a port: `agents.AgentService` is one, a test may pass
anything that has these two methods. Memory never reads the agents' own tables."""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa

__all__ = ["AgentDirectory"]


class AgentDirectory(Protocol):
    def names(self) -> dict[str, str]:
        """Agent id -> name for every agent, revoked ones and the admin included."""
        ...

    def id_query(self) -> sa.Select[tuple[str]]:
        """Every agent's id as SQL on the database memory shares with the directory (for statements that keep
        to agents that exist)."""
        ...
