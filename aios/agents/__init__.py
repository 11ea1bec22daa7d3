"""The kernel's view of client agents: identity, credentials and revocation."""

from aios.agents.service import Agent, AgentService, Principal

__all__ = ["Agent", "AgentService", "Principal"]
