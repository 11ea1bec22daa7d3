"""Result types of the SDK: plain frozen dataclasses, no protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "FileChange",
    "FileChangeRecord",
    "FileEvent",
    "FileGroup",
    "FileHit",
    "FileInfo",
    "FileSummary",
    "FileTree",
    "FileVersion",
    "Passage",
    "PassagePair",
    "TransferProgress",
    "Agent",
    "AgentCredentials",
    "AgentStats",
    "AssembledContext",
    "Completion",
    "CompletionChunk",
    "ConsolidationReport",
    "ContextChunk",
    "ContextEvent",
    "ContextMessage",
    "ContextReply",
    "ContextSection",
    "ContextStats",
    "ContextUpdate",
    "CoreBlock",
    "Identity",
    "KVSwap",
    "KernelStats",
    "LLMAgentStats",
    "MemoryStats",
    "ModelInfo",
    "Note",
    "NoteLink",
    "NoteVersion",
    "Pressure",
    "QueueStats",
    "RecallHit",
    "RecalledItem",
    "ReindexProgress",
    "SchedulerEvent",
    "SchedulerState",
    "SearchHit",
    "SubsystemStatus",
    "Syscall",
    "Timing",
    "Usage",
    "WaitingRequest",
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
    user_fields: list[str] = field(default_factory=list)
    """Which of keywords, context, tags, category the user set: the kernel's background jobs never rewrite
    them (enrichment only fills what the user left empty)."""


@dataclass(frozen=True)
class SearchHit:
    note: Note
    score: float
    """The fused score hits are ranked by."""
    signals: dict[str, float]
    """What scored it: dense (cosine), lexical, link (weight), retention, time (closeness to a time the query
    names, 0-1)."""


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


# -- context paging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextMessage:
    id: str
    seq: int
    role: str
    content: str
    tokens: int
    """Its chunk of the chat template, turn markers included."""
    pinned: bool
    created_at: datetime
    evicted_at: datetime | None
    note_id: str
    """Its recall note once paged out."""


@dataclass(frozen=True)
class CoreBlock:
    label: str
    value: str
    limit_tokens: int
    tokens: int


@dataclass(frozen=True)
class RecalledItem:
    id: str
    """A message id (kind "message") or a note id (kind "note")."""
    kind: str
    content: str
    tokens: int
    pinned: bool
    score: float


@dataclass(frozen=True)
class ContextSection:
    name: str
    """system, core, summary, recalled, messages, reply (the generation prompt)."""
    tokens: int
    items: int


@dataclass(frozen=True)
class Pressure:
    level: str
    """ok, warning (past warn_fraction of the window) or flushed (this call paged messages out)."""
    fraction: float
    tokens: int
    window: int
    budget: int
    warn_fraction: float
    flush_tokens: int
    peak_tokens: int
    """Tokens outside the recalled section before this call's evictions."""


@dataclass(frozen=True)
class ContextUpdate:
    pressure: Pressure
    messages: list[ContextMessage]
    """Added by the call."""
    evicted_ids: list[str]
    recalled: list[RecalledItem]


@dataclass(frozen=True)
class ContextReply:
    completion: Completion
    update: ContextUpdate
    prompt_tokens: int

    @property
    def text(self) -> str:
        return self.completion.text


@dataclass(frozen=True)
class ContextChunk:
    delta: str
    reply: ContextReply | None
    """Set on the last chunk only."""


@dataclass(frozen=True)
class AssembledContext:
    system_prompt: str
    core: list[CoreBlock]
    summary: str
    recalled: list[RecalledItem]
    messages: list[ContextMessage]
    prompt: list[tuple[str, str]]
    """What the model sees, (role, content) in order."""
    sections: list[ContextSection]
    tokens: int
    """The tokenizer's count of the rendered prompt; the sum of the sections."""
    exact: bool
    pressure: Pressure


@dataclass(frozen=True)
class RecallHit:
    note_id: str
    message_id: str
    role: str
    content: str
    score: float
    created_at: datetime


@dataclass(frozen=True)
class ContextStats:
    page_outs: int
    flushes: int
    page_ins: int
    recall_queries: int
    recall_hits: int
    hit_rate: float
    summary_tokens: int
    active_messages: int
    evicted_messages: int
    tokens: int
    window: int
    warnings: int
    kv_swaps: int


@dataclass(frozen=True)
class ContextEvent:
    id: int
    kind: str
    """pressure_warning, flush, page_in, summary, kv_swap."""
    at: datetime
    fraction: float
    tokens: int
    detail: str


@dataclass(frozen=True)
class KVSwap:
    where: str
    """disk, dropped, or none (nothing saved in RAM: on disk already, absent, or still in the model)."""
    bytes: int


# -- files ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    tree: str
    path: str
    is_dir: bool
    version: int
    size: int
    sha256: str
    mime: str
    created_at: datetime
    modified_at: datetime
    deleted: bool
    change_id: int
    """The change that made this version (0 where the reply does not say)."""


@dataclass(frozen=True)
class FileChange:
    """What a delete or a rollback did: one change and the new versions it made."""

    change_id: int
    files: list[FileInfo]


@dataclass(frozen=True)
class FileVersion:
    path: str
    version: int
    change_id: int
    op: str
    size: int
    sha256: str
    deleted: bool
    agent_id: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class FileChangeRecord:
    """One change in a directory's history (`file_history` of a directory lists one per change)."""

    change_id: int
    """Pass it to `rollback(change_id=...)` to bring the directory back to its state right after this change."""
    op: str
    """What was done: write, append, delete, move, copy, rollback, mkdir or import."""
    path: str
    """The path it was done to (a move's destination, a rollback's target path)."""
    agent_id: str
    detail: str
    """A rollback's target, e.g. "to change 12"."""
    at: datetime
    files: list[FileVersion]
    """The versions it made below the directory asked about (a write can also create parent directories)."""


@dataclass(frozen=True)
class Passage:
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class FileHit:
    file: FileInfo
    score: float
    passages: list[Passage]


@dataclass(frozen=True)
class FileSummary:
    path: str
    version: int
    text: str
    method: str
    cached: bool


@dataclass(frozen=True)
class FileGroup:
    name: str
    keywords: list[str]
    files: list[FileInfo]


@dataclass(frozen=True)
class PassagePair:
    a: Passage
    b: Passage
    score: float


@dataclass(frozen=True)
class FileEvent:
    change_id: int
    op: str
    tree: str
    path: str
    version: int
    agent_id: str
    at: datetime


@dataclass(frozen=True)
class FileTree:
    name: str
    owner_id: str
    kind: str
    grants: dict[str, str]
    access: str


@dataclass(frozen=True)
class TransferProgress:
    done: int
    total: int
    bytes: int
    path: str
