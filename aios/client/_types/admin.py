"""Results of the admin syscalls: identity, agents, the syscall table, kernel stats, reindex, status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "Agent",
    "AgentCredentials",
    "AgentStats",
    "Identity",
    "KernelStats",
    "QueueStats",
    "ReindexProgress",
    "SubsystemStatus",
    "Syscall",
]


@dataclass(frozen=True)
class Identity:
    agent_id: str
    name: str
    is_admin: bool


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AgentCredentials:
    agent: Agent
    token: str
    """Shown once: the kernel stores only its hash."""


@dataclass(frozen=True)
class Syscall:
    id: int
    agent_id: str
    kind: str
    resource: str
    priority: int
    status: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline: datetime | None
    agent_name: str = ""
    """"admin" for the admin's own syscalls; empty for an agent the kernel no longer knows."""


@dataclass(frozen=True)
class QueueStats:
    resource: str
    queued: int
    running: int
    capacity: int
    workers: int


@dataclass(frozen=True)
class AgentStats:
    agent_id: str
    syscalls: int
    failed: int
    mean_waiting_ms: float
    mean_turnaround_ms: float
    p95_turnaround_ms: float
    agent_name: str = ""


@dataclass(frozen=True)
class KernelStats:
    queues: list[QueueStats]
    agents: list[AgentStats]
    notes: int
    agents_registered: int
    uptime_s: float


@dataclass(frozen=True)
class ReindexProgress:
    done: int
    total: int


@dataclass(frozen=True)
class SubsystemStatus:
    name: str
    available: bool
    detail: str
