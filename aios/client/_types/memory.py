"""Results of the memory syscalls: notes, links, versions, hits, consolidation, stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ConsolidationReport", "MemoryStats", "Note", "NoteLink", "NoteVersion", "SearchHit"]


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
