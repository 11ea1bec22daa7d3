"""Context paging as plain data: messages, core blocks, the assembled window and its accounting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aios.llm.types import Completion

__all__ = [
    "AssembledContext",
    "ContextEvent",
    "ContextMessage",
    "ContextStats",
    "ContextUpdate",
    "CoreBlock",
    "Pressure",
    "RecallHit",
    "RecalledItem",
    "Section",
    "TurnResult",
]

ROLES = ("user", "assistant", "system")


@dataclass(frozen=True)
class ContextMessage:
    id: str
    seq: int
    role: str
    content: str
    tokens: int
    """Tokens of this message in the chat template (its own turn markers included)."""
    created_at: float
    pinned: bool = False
    """Never evicted while pinned."""
    evicted_at: float | None = None
    note_id: str = ""
    """The recall note that holds it once evicted."""


@dataclass(frozen=True)
class CoreBlock:
    label: str
    value: str
    limit_tokens: int
    tokens: int
    updated_at: float


@dataclass(frozen=True)
class RecalledItem:
    id: str
    """A message id (kind message) or a note id (kind note)."""
    kind: str
    content: str
    tokens: int
    pinned: bool = False
    """Kept in the recalled section across turns until unpinned."""
    score: float = 0.0
    """The hybrid-search score; 0 for an explicit page-in."""


@dataclass(frozen=True)
class Section:
    name: str
    """system, core, summary, recalled, messages, reply (the generation prompt)."""
    tokens: int
    items: int


@dataclass(frozen=True)
class Pressure:
    level: str
    """ok, warning (past warn_fraction) or flushed (messages were evicted by this call)."""
    fraction: float
    """Tokens of the assembled context / window."""
    tokens: int
    window: int
    budget: int
    """Most tokens the assembled context may hold: flush_fraction x window - reply_reserve."""
    warn_fraction: float
    flush_tokens: int
    """The flush threshold: everything but the recalled section (whose budget is reserved) past this evicts."""
    peak_tokens: int
    """Tokens outside the recalled section before this call's evictions: a flush happened iff this passed
    `flush_tokens`."""


@dataclass(frozen=True)
class AssembledContext:
    agent_id: str
    system_prompt: str
    core: list[CoreBlock]
    summary: str
    recalled: list[RecalledItem]
    messages: list[ContextMessage]
    """Active messages, oldest first."""
    prompt: list[tuple[str, str]]
    """The chat the model sees, (role, content), in order; rendered with the model's template."""
    sections: list[Section]
    tokens: int
    """Exact tokens of the rendered prompt, generation prompt included; the sum of the sections."""
    exact: bool
    """False when no local model is loaded and tokens are estimated (4 bytes a token)."""
    pressure: Pressure


@dataclass(frozen=True)
class ContextUpdate:
    """What a context syscall did to the window."""

    pressure: Pressure
    messages: list[ContextMessage] = field(default_factory=list)
    """Messages this call added."""
    evicted: list[str] = field(default_factory=list)
    """Ids of messages this call paged out."""
    recalled: list[RecalledItem] = field(default_factory=list)
    """The recalled section after this call."""


@dataclass(frozen=True)
class TurnResult:
    """Chat-with-context: the update after the reply was recorded, and the generation."""

    update: ContextUpdate
    completion: Completion
    """The generation of the reply."""
    prompt_tokens: int


@dataclass(frozen=True)
class RecallHit:
    id: str
    """The note id."""
    message_id: str
    """The evicted message it holds ("" for a note that is not a paged-out message)."""
    role: str
    content: str
    score: float
    created_at: float


@dataclass(frozen=True)
class ContextStats:
    page_outs: int
    """Messages evicted to recall storage."""
    flushes: int
    page_ins: int
    """Items inserted into the recalled section (automatic and explicit)."""
    recall_queries: int
    """User turns on which recall storage was searched."""
    recall_hits: int
    """Of those, turns on which at least one item was paged in."""
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
    """pressure_warning, flush, page_in, page_out, summary, kv_swap."""
    at: float
    fraction: float
    tokens: int
    detail: str
