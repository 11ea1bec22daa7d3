"""Agentic memory: A-MEM notes with links and evolution, hybrid retrieval, the forgetting curve."""

from aios.memory.forgetting import ForgettingConfig, retention, strengthened
from aios.memory.models import (
    Link,
    MemoryStats,
    NewNote,
    Note,
    NoteUpdate,
    NoteVersion,
    RepairReport,
    SearchFilters,
    SearchHit,
)
from aios.memory.service import MemoryService

__all__ = [
    "ForgettingConfig",
    "Link",
    "MemoryService",
    "MemoryStats",
    "NewNote",
    "Note",
    "NoteUpdate",
    "NoteVersion",
    "RepairReport",
    "SearchFilters",
    "SearchHit",
    "retention",
    "strengthened",
]
