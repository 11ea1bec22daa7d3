"""What the LLM reports about itself: the model and its memory (`ModelInfo`), the scheduler's state and the
slices it ran (from the core's event log)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from aios.llm.accounting import AgentLLMStats
from aios.llm.core import LLMCore, RunEvent
from aios.llm.flash import ProcessMemory, ResidencyStats
from aios.llm.kvcache import KVStats
from aios.llm.scheduler import jain_index
from aios.llm.types import JobClass

__all__ = ["ModelInfo", "SchedulerState", "recent_events", "scheduler_state"]

_FAIRNESS_WINDOW_S = 60.0


@dataclass(frozen=True)
class ModelInfo:
    backend: str
    model: str
    path: str
    n_ctx: int
    policy: str
    quantum: int
    context_switches: int
    kv: KVStats
    uptime_s: float
    weights: ResidencyStats | None = None
    memory: ProcessMemory | None = None


@dataclass(frozen=True)
class SchedulerState:
    policy: str
    quantum: int
    running: list[tuple[int, str, int]]  # (request id, agent, tokens generated)
    waiting: list[tuple[int, str, str, int, float]]  # (id, agent, class, priority, waited s)
    agents: list[AgentLLMStats]
    counters: dict[str, float]
    jain_fairness: float
    tokens_per_s: float
    quotas: dict[str, int] = field(default_factory=dict)


def scheduler_state(core: LLMCore, agents: list[AgentLLMStats], quotas: dict[str, int]) -> SchedulerState:
    """The core's scheduler now, with fairness and throughput over the last minute's slices."""
    now = time.monotonic()
    running = list(core.running)
    recent = [e for e in list(core.events) if now - e.end <= _FAIRNESS_WINDOW_S]
    served: dict[str, float] = defaultdict(float)
    for event in recent:
        if event.job_class == JobClass.AGENT.value:
            served[event.agent_id] += event.generated
    span = (max(e.end for e in recent) - min(e.start for e in recent)) if recent else 0.0
    return SchedulerState(
        policy=core.scheduler.policy.value,
        quantum=core.scheduler.config.quantum,
        running=[(r.id, r.agent_id, len(r.generated)) for r in running],
        waiting=[(r.id, r.agent_id, r.job_class.value, r.priority, now - r.arrival) for r in core.scheduler.waiting()],
        agents=agents,
        counters=core.scheduler.counters(),
        jain_fairness=jain_index(list(served.values())),
        tokens_per_s=sum(e.generated for e in recent) / span if span > 0 else 0.0,
        quotas=quotas,
    )


def recent_events(core: LLMCore, last_s: float = 0.0) -> list[RunEvent]:
    """The core's scheduling slices (of the last `last_s` seconds; 0: all kept), times since the core started."""
    t0, now = core.started_at, time.monotonic()
    return [
        RunEvent(**{**e.__dict__, "start": e.start - t0, "end": e.end - t0})
        for e in list(core.events)
        if not last_s or now - e.end <= last_s
    ]
