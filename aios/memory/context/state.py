"""One agent's context as the paging policy sees it while a call runs (loaded from the store, changed by the
policy, saved in one transaction), and the per-agent locks that serialise those calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from aios.memory.context.models import ContextMessage, CoreBlock, RecalledItem

__all__ = ["COUNTERS", "AgentLocks", "Change", "State"]

COUNTERS = ("page_outs", "flushes", "page_ins", "recall_queries", "recall_hits", "warnings", "kv_swaps")


@dataclass
class State:
    agent_id: str
    exists: bool
    """A row for this context is stored (else the first save inserts it)."""
    system_prompt: str
    summary: str
    summary_version: int
    recalled: list[RecalledItem]
    anchor: int | None
    """The seq of the user message the recalled section was retrieved for (it goes just before it)."""
    next_seq: int
    level: str
    stats: dict[str, int]
    blocks: list[CoreBlock]
    messages: list[ContextMessage]
    """The active (not evicted) messages, oldest first."""
    events: list[tuple[str, str]] = field(default_factory=list)
    """(kind, detail) of the events this call records."""

    @classmethod
    def new(cls, agent_id: str, system_prompt: str) -> State:
        return cls(agent_id, False, system_prompt, "", 0, [], None, 1, "ok", dict.fromkeys(COUNTERS, 0), [], [])


@dataclass
class Change:
    """What one call changes, written in one transaction."""

    added: list[ContextMessage] = field(default_factory=list)
    evicted: list[ContextMessage] = field(default_factory=list)
    pinned: dict[str, bool] = field(default_factory=dict)
    peak: int = 0
    """The base tokens (all but the recalled section) at their highest during the call."""


class AgentLocks:
    """One lock per agent: an agent's calls (and the summary worker's write) run one at a time."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, agent_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(agent_id, threading.Lock())
