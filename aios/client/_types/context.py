"""Results of the context-paging syscalls: the window, its sections, pressure, paging events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aios.client._types.llm import Completion

__all__ = [
    "AssembledContext",
    "ContextChunk",
    "ContextEvent",
    "ContextMessage",
    "ContextReply",
    "ContextSection",
    "ContextStats",
    "ContextUpdate",
    "CoreBlock",
    "KVSwap",
    "Pressure",
    "RecallHit",
    "RecalledItem",
]


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
