"""Per-agent LLM accounting: token quotas (a bucket per agent, refilled by the minute) and usage statistics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from aios.errors import InvalidArgument, ResourceExhausted
from aios.llm.types import Completion, JobClass

__all__ = ["Accounting", "AgentLLMStats"]


@dataclass
class AgentLLMStats:
    agent_id: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    queue_s: float = 0.0
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    turnaround_s: float = 0.0
    preemptions: int = 0

    def mean(self, total: float) -> float:
        return total / self.requests if self.requests else 0.0


class _TokenBucket:
    def __init__(self, per_minute: int, now: float) -> None:
        self.per_minute = per_minute
        self.level = float(per_minute)
        self.at = now

    def refill(self, now: float) -> float:
        self.level = min(self.per_minute, self.level + (now - self.at) * self.per_minute / 60)
        self.at = now
        return self.level


class Accounting:
    """Quotas and statistics of every agent; safe from any thread. The kernel's own jobs (JobClass.BACKGROUND)
    are counted but never refused or charged to a quota."""

    def __init__(self, default_quota: int, clock: Callable[[], float]) -> None:
        self._default_quota = default_quota
        self._clock = clock
        self._lock = threading.Lock()
        self._stats: dict[str, AgentLLMStats] = {}
        self._quotas: dict[str, int] = {}
        self._buckets: dict[str, _TokenBucket] = {}
        self._listeners: list[Callable[[str, JobClass, Completion], None]] = []

    def on_charge(self, listener: Callable[[str, JobClass, Completion], None]) -> None:
        """`listener(agent_id, job_class, completion)` runs after every completion is accounted (the metrics'
        TTFT and time-per-token histograms)."""
        self._listeners.append(listener)

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        if tokens_per_minute < 0:
            raise InvalidArgument("a quota is a number of tokens per minute, 0 for unlimited")
        with self._lock:
            self._quotas[agent_id] = tokens_per_minute
            self._buckets.pop(agent_id, None)

    def _quota(self, agent_id: str) -> int:
        return self._quotas.get(agent_id, self._default_quota)

    def check(self, agent_id: str, job_class: JobClass) -> None:
        """ResourceExhausted when the agent's quota is used up."""
        quota = self._quota(agent_id)
        if job_class is JobClass.BACKGROUND or quota == 0:
            return
        with self._lock:
            bucket = self._buckets.setdefault(agent_id, _TokenBucket(quota, self._clock()))
            if bucket.refill(self._clock()) <= 0:
                wait = -bucket.level * 60 / quota
                raise ResourceExhausted(f"token quota of {quota}/minute used up; retry in {wait:.0f}s")

    def charge(self, agent_id: str, job_class: JobClass, c: Completion) -> None:
        with self._lock:
            if job_class is JobClass.AGENT and self._quota(agent_id):
                bucket = self._buckets.setdefault(agent_id, _TokenBucket(self._quota(agent_id), self._clock()))
                bucket.refill(self._clock())
                bucket.level -= c.usage.prompt_tokens + c.usage.completion_tokens
            s = self._stats.setdefault(agent_id, AgentLLMStats(agent_id))
            s.requests += 1
            s.prompt_tokens += c.usage.prompt_tokens
            s.completion_tokens += c.usage.completion_tokens
            s.cached_tokens += c.usage.cached_tokens
            s.queue_s += c.queue_s
            s.ttft_s += c.ttft_s
            s.turnaround_s += c.total_s
            s.tpot_s += (c.total_s - c.ttft_s) / max(1, c.usage.completion_tokens - 1)
            s.preemptions += c.preemptions
        for listener in self._listeners:
            listener(agent_id, job_class, c)

    def snapshot(self) -> tuple[list[AgentLLMStats], dict[str, int]]:
        """Copies of every agent's statistics, and the quotas set per agent."""
        with self._lock:
            return [AgentLLMStats(**s.__dict__) for s in self._stats.values()], dict(self._quotas)
