from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NewNote", "Note", "SearchHit", "RepairReport"]


@dataclass(frozen=True)
class NewNote:
    content: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    id: str
    agent_id: str
    content: str
    metadata: dict[str, str]
    created_at: float


@dataclass(frozen=True)
class SearchHit:
    note: Note
    score: float
    """Cosine similarity of the note's embedding to the query's."""


@dataclass(frozen=True)
class RepairReport:
    """What a reconcile of the vector index against SQL found and fixed."""

    added: int = 0
    """Notes in SQL whose vector was missing (a crash between the SQL commit and the index write)."""
    removed: int = 0
    """Vectors with no note in SQL (a crash between the SQL delete and the index delete)."""
