"""What the MCP tools hand back: the SDK's results as JSON-ready dicts, and the tools' arguments parsed.

A tool's result is both its structured content and (as indented JSON) its text, so a model reads it too: notes
are shown without the kernel's bookkeeping (retention, access counters), times as ISO-8601 strings.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from typing import Any

from aios.client import FileHit, FileInfo, Note, SearchHit
from aios.errors import InvalidArgument

__all__ = ["file_content", "file_hit_view", "file_view", "hit_view", "note_view", "parse_time", "plain"]


def plain(value: Any) -> Any:
    """Dataclasses, datetimes, tuples and lists as JSON values, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def note_view(note: Note) -> dict[str, Any]:
    return {
        "id": note.id,
        "content": note.content,
        "context": note.context,
        "tags": note.tags,
        "keywords": note.keywords,
        "category": note.category,
        "importance": note.importance,
        "pinned": note.pinned,
        "archived": note.archived_at is not None,
        "event_at": _time(note.event_at),
        "created_at": _time(note.created_at),
        "version": note.version,
        "owner": note.agent_id,
        "shared_with": note.shared_with,
        "metadata": note.metadata,
    }


def hit_view(hit: SearchHit) -> dict[str, Any]:
    return {"score": round(hit.score, 6), "note": note_view(hit.note)}


def file_view(info: FileInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "tree": info.tree,
        "is_dir": info.is_dir,
        "version": info.version,
        "size": info.size,
        "mime": info.mime,
        "modified_at": _time(info.modified_at),
        "deleted": info.deleted,
        "change_id": info.change_id,
    }


def file_hit_view(hit: FileHit) -> dict[str, Any]:
    return {
        "file": file_view(hit.file),
        "score": round(hit.score, 6),
        "passages": [{"text": p.text, "start": p.start, "end": p.end} for p in hit.passages],
    }


def file_content(data: bytes) -> dict[str, Any]:
    """Text as text; anything that is not UTF-8 as base64."""
    try:
        return {"encoding": "utf-8", "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "content": base64.b64encode(data).decode("ascii")}


def parse_time(value: str | None, what: str) -> datetime | None:
    """An ISO-8601 date or time (a time without a zone is UTC); None or "" is no time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{what}: {value!r} is not an ISO-8601 time (e.g. 2024-05-01T14:30:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
