"""Syscall records: every RPC is admitted as one, and recent ones are kept for `ps` and metrics."""

from __future__ import annotations

import enum
import itertools
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AgentMetrics", "SyscallRecord", "SyscallStatus", "SyscallTable"]


class SyscallStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass
class SyscallRecord:
    id: int
    agent_id: str
    kind: str
    resource: str
    priority: int
    deadline: float | None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    status: SyscallStatus = SyscallStatus.QUEUED
    error: str = ""

    @property
    def waiting_s(self) -> float | None:
        return None if self.started_at is None else self.started_at - self.created_at

    @property
    def turnaround_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.created_at


@dataclass(frozen=True)
class AgentMetrics:
    agent_id: str
    syscalls: int
    failed: int
    mean_waiting_ms: float
    mean_turnaround_ms: float
    p95_turnaround_ms: float


class SyscallTable:
    """Live syscalls plus a bounded history of finished ones. Safe to use from any thread."""

    def __init__(
        self, history: int = 10_000, clock: Callable[[], float] = time.time,
        on_finished: Callable[[SyscallRecord], None] | None = None,
    ) -> None:  # fmt: skip
        """`on_finished(record)` runs once per syscall as it ends (the metrics' histograms and counters, which
        the bounded history cannot give)."""
        self._ids = itertools.count(1)
        self._on_finished = on_finished
        self._live: dict[int, SyscallRecord] = {}
        self._done: deque[SyscallRecord] = deque(maxlen=history)
        self._lock = threading.Lock()
        self._clock = clock

    def admit(self, agent_id: str, kind: str, resource: str, priority: int, timeout_s: float | None) -> SyscallRecord:
        now = self._clock()
        deadline = None if timeout_s is None else now + timeout_s
        record = SyscallRecord(next(self._ids), agent_id, kind, resource, priority, deadline, now)
        with self._lock:
            self._live[record.id] = record
        return record

    def started(self, record: SyscallRecord) -> None:
        record.started_at = self._clock()
        record.status = SyscallStatus.RUNNING

    def finished(self, record: SyscallRecord, status: SyscallStatus, error: str = "") -> None:
        if record.status not in (SyscallStatus.QUEUED, SyscallStatus.RUNNING):
            return
        record.finished_at = self._clock()
        record.status, record.error = status, error
        with self._lock:
            self._live.pop(record.id, None)
            self._done.append(record)
        if self._on_finished is not None:
            self._on_finished(record)

    def live_count(self) -> int:
        """Syscalls admitted and not yet ended."""
        with self._lock:
            return len(self._live)

    def recent(self, agent_id: str | None = None, limit: int = 50) -> list[SyscallRecord]:
        """Live syscalls first (oldest first), then finished ones, newest first."""
        with self._lock:
            live = sorted(self._live.values(), key=lambda r: r.id)
            done = list(reversed(self._done))
        rows = [r for r in live + done if agent_id is None or r.agent_id == agent_id]
        return rows[:limit]

    def metrics(self) -> list[AgentMetrics]:
        with self._lock:
            done = list(self._done)
        by_agent: dict[str, list[SyscallRecord]] = {}
        for record in done:
            by_agent.setdefault(record.agent_id, []).append(record)
        return [_metrics(agent_id, records) for agent_id, records in sorted(by_agent.items())]


def _metrics(agent_id: str, records: list[SyscallRecord]) -> AgentMetrics:
    waits = [r.waiting_s * 1e3 for r in records if r.waiting_s is not None]
    turns = sorted(r.turnaround_s * 1e3 for r in records if r.turnaround_s is not None)
    p95 = turns[min(len(turns) - 1, int(0.95 * len(turns)))] if turns else 0.0
    return AgentMetrics(
        agent_id=agent_id,
        syscalls=len(records),
        failed=sum(r.status is not SyscallStatus.DONE for r in records),
        mean_waiting_ms=statistics.fmean(waits) if waits else 0.0,
        mean_turnaround_ms=statistics.fmean(turns) if turns else 0.0,
        p95_turnaround_ms=p95,
    )
