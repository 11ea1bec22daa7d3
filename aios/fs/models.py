"""What the file system returns: plain dataclasses, no protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ChangeRecord", "ChangeResult", "ChunkHit", "FileEvent", "FileGroup", "FileHistory", "FileInfo",
           "FileVersion", "PassagePair", "RetrieveFilters", "RetrieveHit", "Summary", "Transfer", "Tree"]  # fmt: skip


@dataclass(frozen=True)
class FileInfo:
    tree: str
    path: str
    is_dir: bool
    version: int
    size: int
    sha256: str
    mime: str
    created_at: float
    modified_at: float
    deleted: bool
    change_id: int


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
    at: float


@dataclass(frozen=True)
class ChangeRecord:
    """One change as a directory's history lists it: what was done to which path, and the versions it made
    below the directory asked about."""

    change_id: int
    op: str
    path: str
    agent_id: str
    detail: str
    at: float
    files: list[FileVersion]


@dataclass(frozen=True)
class FileHistory:
    """A file's history is its versions (`changes` empty); a directory's is its changes (`versions` empty),
    one per change however many files it touched, so that `changes[1]` is the change before the latest."""

    is_dir: bool
    versions: list[FileVersion]
    changes: list[ChangeRecord]


@dataclass(frozen=True)
class ChangeResult:
    change_id: int
    files: list[FileInfo]


@dataclass(frozen=True)
class FileEvent:
    change_id: int
    op: str
    tree: str
    path: str
    version: int
    agent_id: str
    at: float


@dataclass(frozen=True)
class Tree:
    name: str
    owner_id: str
    kind: str
    grants: dict[str, str]
    access: str


@dataclass(frozen=True)
class RetrieveFilters:
    path_prefix: str = "/"
    glob: str = ""
    keywords: list[str] = field(default_factory=list)
    mime_prefix: str = ""


@dataclass(frozen=True)
class ChunkHit:
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class RetrieveHit:
    file: FileInfo
    score: float
    chunks: list[ChunkHit]


@dataclass(frozen=True)
class Summary:
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
    a: ChunkHit
    b: ChunkHit
    score: float


@dataclass(frozen=True)
class Transfer:
    done: int
    total: int
    bytes: int
    path: str
