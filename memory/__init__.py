"""Agent memory: notes in SQL, vectors in Chroma, search by meaning."""

from memory.models import NewNote, Note, RepairReport, SearchHit
from memory.service import MemoryService

__all__ = ["MemoryService", "NewNote", "Note", "RepairReport", "SearchHit"]
