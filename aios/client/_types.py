"""Result types of the SDK: plain frozen dataclasses, no protobuf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "ConsolidationReport",
    "MemoryStats",
    "NoteLink",
    "NoteVersion",
    "Completion",
    "CompletionChunk",
    "LLMAgentStats",
    "ModelInfo",
    "SchedulerEvent",
    "SchedulerState",
    "Timing",
    "Usage",
    "WaitingRequest",
    "Agent",
    "AgentCredentials",
    "AgentStats",
    "Identity",
    "KernelStats",
    "Note",
    "QueueStats",
    "ReindexProgress",
    "SearchHit",
    "SubsystemStatus",
    "Syscall",
]


@dataclass(frozen=True)
class Note:
    id: str
    agent_id: str
    content: str
    metadata: dict[str, str]
    created_at: datetime
    keywords: list[str]
    context: str
    tags: list[str]
    category: str
    event_at: datetime | None
    last_accessed: datetime | None
    access_count: int
    strength_s: float
    importance: float
    pinned: bool
    archived_at: datetime | None
    enrichment: str
    version: int
    shared_with: list[str]
    retention: float
    """Retention on the forgetting curve when the note was read."""


@dataclass(frozen=True)
class SearchHit:
    note: Note
    score: float
    """The fused score hits are ranked by."""
    signals: dict[str, float]
    """What scored it: dense (cosine), lexical, link (weight), retention."""


@dataclass(frozen=True)
class NoteLink:
    from_id: str
    to_id: str
    kind: str
    reason: str
    weight: float
    created_at: datetime


@dataclass(frozen=True)
class NoteVersion:
    version: int
    content: str
    context: str
    keywords: list[str]
    tags: list[str]
    category: str
    cause: str
    created_at: datetime


@dataclass(frozen=True)
class ConsolidationReport:
    groups: int
    summary_ids: list[str]
    archived: int
    profile_id: str


@dataclass(frozen=True)
class MemoryStats:
    notes: int
    archived: int
    pinned: int
    links: int
    shared_with_me: int
    mean_retention: float


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
