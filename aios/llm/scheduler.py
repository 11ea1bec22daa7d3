"""Who runs next on the model, and for how many tokens: FIFO, round-robin, fair share (VTC).

Pure logic with an injectable clock, so policies are tested deterministically. The core thread asks
`pick()` for the next request and a token quantum (again for each further sequence of a batch), runs them,
then calls `ran()` for each; an unfinished request is re-queued (preempted). Background requests (the
kernel's own jobs) run only when no agent request waits, unless one has waited longer than
`background_max_wait_s` (aging), so neither class starves.
"""

from __future__ import annotations

import enum
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from aios.llm.types import JobClass, LLMRequest

__all__ = ["Policy", "Scheduler", "SchedulerConfig", "jain_index"]


class Policy(enum.Enum):
    FIFO = "fifo"
    """Arrival order; each request runs to completion."""
    ROUND_ROBIN = "rr"
    """Each request runs for a quantum of tokens, then goes to the back of the queue."""
    FAIR = "fair"
    """Virtual token counters per agent (VTC, OSDI '24), weighted by priority: the least-served agent runs."""


@dataclass(frozen=True)
class SchedulerConfig:
    policy: Policy = Policy.FAIR
    quantum: int = 16
    """Tokens a request may generate before it can be preempted (round-robin and fair share)."""
    prompt_weight: float = 0.5
    """VTC cost of a prefilled prompt token relative to a generated one."""
    aging_s: float = 10.0
    """Fair share: each second waited lowers a request's effective counter by `aging_tokens_per_s`."""
    aging_tokens_per_s: float = 8.0
    background_max_wait_s: float = 30.0


def weight(priority: int) -> float:
    """Priority 0-9 to a fair-share weight; 5 (the default) is 1.0, each step is x1.25."""
    return 1.25 ** (priority - 5)


def jain_index(values: list[float]) -> float:
    """Jain's fairness index: 1 when all equal, 1/n when one takes everything."""
    if not values or not any(values):
        return 1.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


class Scheduler:
    def __init__(self, config: SchedulerConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or SchedulerConfig()
        self._clock = clock
        self._waiting: list[LLMRequest] = []
        self._counters: dict[str, float] = defaultdict(float)
        self._seq = 0
        self._order: dict[int, int] = {}  # request id -> position for FIFO / round-robin

    @property
    def policy(self) -> Policy:
        return self.config.policy

    def set_policy(self, policy: Policy, quantum: int | None = None) -> None:
        self.config = SchedulerConfig(**{**self.config.__dict__, "policy": policy,
                                         "quantum": quantum or self.config.quantum})  # fmt: skip

    def waiting(self) -> list[LLMRequest]:
        return list(self._waiting)

    def counters(self) -> dict[str, float]:
        return dict(self._counters)

    def add(self, request: LLMRequest) -> None:
        if request.job_class is JobClass.AGENT and request.agent_id not in self._backlogged():
            # VTC's lift: an agent returning from idle starts at the least-served backlogged agent's
            # counter, so it cannot bank credit while it was away.
            active = [self._counters[a] for a in self._backlogged()]
            if active:
                self._counters[request.agent_id] = max(self._counters[request.agent_id], min(active))
        self._enqueue(request)

    def _enqueue(self, request: LLMRequest) -> None:
        self._seq += 1
        self._order[request.id] = self._seq
        self._waiting.append(request)

    def _backlogged(self) -> set[str]:
        return {r.agent_id for r in self._waiting if r.job_class is JobClass.AGENT}

    def remove(self, request: LLMRequest) -> None:
        if request in self._waiting:
            self._waiting.remove(request)
            self._order.pop(request.id, None)

    def pick(self, admit: Callable[[LLMRequest], bool] | None = None) -> tuple[LLMRequest, int] | None:
        """The next request and how many tokens it may generate now; None when nothing waits.

        `admit` narrows the choice to the requests it accepts: the core fills a batch by picking again with
        one that refuses a session already in the batch or a request the model's KV cells cannot hold."""
        waiting = [r for r in self._waiting if admit is None or admit(r)]
        agents = [r for r in waiting if r.job_class is JobClass.AGENT]
        background = [r for r in waiting if r.job_class is JobClass.BACKGROUND]
        now = self._clock()
        aged = [r for r in background if now - r.arrival > self.config.background_max_wait_s]
        pool = agents if agents and not aged else (aged or background)
        if not pool:
            return None
        if self.policy is Policy.FAIR and pool is agents:
            chosen = min(pool, key=lambda r: (self._effective(r, now), self._order[r.id]))
        else:
            chosen = min(pool, key=lambda r: self._order[r.id])
        self.remove(chosen)
        remaining = chosen.params.max_tokens - len(chosen.generated)
        quantum = remaining if self.policy is Policy.FIFO else min(self.config.quantum, remaining)
        return chosen, max(1, quantum)

    def _effective(self, request: LLMRequest, now: float) -> float:
        waited = max(0.0, now - request.arrival - self.config.aging_s)
        return self._counters[request.agent_id] - waited * self.config.aging_tokens_per_s

    def ran(self, request: LLMRequest, prefilled: int, generated: int, finished: bool) -> None:
        """Charge the service a request received; re-queue it (at the back) if it is not finished."""
        if request.job_class is JobClass.AGENT:
            cost = generated + self.config.prompt_weight * prefilled
            self._counters[request.agent_id] += cost / weight(request.priority)
        if not finished:
            request.preemptions += 1
            self._enqueue(request)
