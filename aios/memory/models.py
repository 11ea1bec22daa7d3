from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Link",
    "MemoryStats",
    "NewNote",
    "Note",
    "NoteUpdate",
    "NoteVersion",
    "RepairReport",
    "SearchFilters",
    "SearchHit",
]


@dataclass(frozen=True)
class NewNote:
    content: str
    metadata: dict[str, str] = field(default_factory=dict)
    keywords: list[str] | None = None
    """None: extracted from the content."""
    context: str | None = None
    tags: list[str] | None = None
    category: str = ""
    event_at: float | None = None
    """When what the note describes happened (epoch seconds), if not when it was written."""
    importance: float = 0.0
    """0-1: slows forgetting."""
    pinned: bool = False
    share_with: list[str] = field(default_factory=list)
    """Agent ids that may read the note."""


@dataclass(frozen=True)
class NoteUpdate:
    content: str | None = None
    context: str | None = None
    keywords: list[str] | None = None
    tags: list[str] | None = None
    category: str | None = None
    importance: float | None = None
    event_at: float | None = None
    expected_version: int | None = None
    """Refuse (FAILED_PRECONDITION) unless the note is at this version."""


@dataclass(frozen=True)
class Note:
    id: str
    agent_id: str
    content: str
    metadata: dict[str, str]
    created_at: float
    keywords: list[str] = field(default_factory=list)
    context: str = ""
    tags: list[str] = field(default_factory=list)
    category: str = ""
    event_at: float | None = None
    last_accessed: float = 0.0
    access_count: int = 0
    strength_s: float = 0.0
    importance: float = 0.0
    pinned: bool = False
    archived_at: float | None = None
    enrichment: str = "extractive"
    """extractive (no LLM involved), llm_pending (the model is yet to be asked), llm (grounded proposals of the
    model were applied), llm_rejected (none of its proposals was grounded in the note), llm_failed (no usable
    reply)."""
    version: int = 1
    shared_with: list[str] = field(default_factory=list)
    retention: float = 1.0
    """Retention now, on the forgetting curve."""
    user_fields: list[str] = field(default_factory=list)
    """Which of keywords, context, tags, category the user set: kernel jobs never rewrite these."""


@dataclass(frozen=True)
class SearchHit:
    note: Note
    score: float
    """The fused score the hits are ranked by (higher is better)."""
    signals: dict[str, float] = field(default_factory=dict)
    """What scored it: dense (cosine), lexical (engine score), link (from a hit), retention, time (how close
    its event time is to a time the query names, 0-1)."""


@dataclass(frozen=True)
class SearchFilters:
    tags: list[str] = field(default_factory=list)
    """Any of these tags."""
    category: str = ""
    created_after: float | None = None
    created_before: float | None = None
    event_after: float | None = None
    event_before: float | None = None
    scope: str = "all"
    """own (the caller's notes), shared (notes others shared with the caller), all."""
    include_archived: bool = False


@dataclass(frozen=True)
class Link:
    from_id: str
    to_id: str
    kind: str
    reason: str
    weight: float
    created_at: float


@dataclass(frozen=True)
class NoteVersion:
    note_id: str
    version: int
    content: str
    context: str
    keywords: list[str]
    tags: list[str]
    category: str
    cause: str
    created_at: float


@dataclass(frozen=True)
class RepairReport:
    """What a reconcile of the vector index against SQL found and fixed."""

    added: int = 0
    """Notes in SQL whose vector was missing (a crash between the SQL commit and the index write)."""
    removed: int = 0
    """Vectors with no note in SQL (a crash between the SQL delete and the index delete)."""


@dataclass(frozen=True)
class MemoryStats:
    notes: int
    archived: int
    pinned: int
    links: int
    shared_with_me: int
    mean_retention: float
