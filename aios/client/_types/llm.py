"""Results of the LLM syscalls: completions, usage and timing, the model, the scheduler."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Completion",
    "CompletionChunk",
    "LLMAgentStats",
    "ModelInfo",
    "SchedulerEvent",
    "SchedulerState",
    "Timing",
    "Usage",
    "WaitingRequest",
]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    """Prompt tokens whose KV state was reused instead of prefilled."""


@dataclass(frozen=True)
class Timing:
    queue_s: float
    ttft_s: float
    total_s: float
    preemptions: int
    context_switches: int


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    """stop, length or cancelled."""
    usage: Usage
    timing: Timing


@dataclass(frozen=True)
class CompletionChunk:
    delta: str
    finish_reason: str
    """Empty except on the last chunk, which also carries usage and timing."""
    usage: Usage | None
    timing: Timing | None


@dataclass(frozen=True)
class ModelInfo:
    backend: str
    model: str
    path: str
    n_ctx: int
    policy: str
    quantum: int
    context_switches: int
    kv: dict[str, float]
    weights: dict[str, float]
    """model_bytes, budget_bytes, pinned_bytes, streamed_bytes, prefetch, rss_anon, rss_file, peak_rss,
    read_bytes, major_faults."""


@dataclass(frozen=True)
class LLMAgentStats:
    agent_id: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    mean_queue_s: float
    mean_ttft_s: float
    mean_tpot_s: float
    mean_turnaround_s: float
    preemptions: int
    virtual_counter: float
    quota_tokens_per_minute: int


@dataclass(frozen=True)
class WaitingRequest:
    id: int
    agent_id: str
    job_class: str
    priority: int
    waited_s: float


@dataclass(frozen=True)
class SchedulerEvent:
    """One scheduling slice; times in seconds since the kernel's LLM core started."""

    request_id: int
    agent_id: str
    job_class: str
    start_s: float
    end_s: float
    prefilled: int
    generated: int
    switched: bool
    finished: bool


@dataclass(frozen=True)
class SchedulerState:
    policy: str
    quantum: int
    running: list[WaitingRequest]
    waiting: list[WaitingRequest]
    agents: list[LLMAgentStats]
    jain_fairness: float
    tokens_per_s: float
