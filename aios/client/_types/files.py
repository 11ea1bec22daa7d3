"""Results of the file syscalls: file info, versions, changes, hits, groups, events, trees."""

from __future__ import annotations

from dataclasses import dataclass
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
]


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
