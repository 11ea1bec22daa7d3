"""Content-addressed blob store: one blob per sha256, written once.

Small blobs (up to `inline_max` bytes) are stored in the database, in the same transaction as the version
that names them: one fsync (the commit) per small write. Larger ones are files in the data directory, synced
(file and directory entry) before the SQL row that names them commits. Either way an acknowledged version
always has its content, even after a kill -9; a crash between a file blob and its row leaves an unreferenced
file, which retention removes later. No write starts, and none goes on, while the data dir's device has less
than `MIN_FREE_BYTES` free (RESOURCE_EXHAUSTED), so the stores that share it keep room to finish their own.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from aios._db import check_free_space
from aios.errors import NotFound, ResourceExhausted
from aios.fs._schema import fs_blobs

__all__ = ["Blob", "BlobStore"]

_READ_CHUNK = 1 << 20
_SPACE_CHECK_BYTES = 4 << 20  # a large write checks the free space again after this much
INLINE_MAX = 64 * 1024


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    head: bytes  # the first 4 KiB, to guess a mime type
    data: bytes | None  # the content, when it is stored in the database


class BlobStore:
    def __init__(self, root: Path, engine: Engine, inline_max: int = INLINE_MAX) -> None:
        self.root = root
        self._engine = engine
        self._inline_max = inline_max
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def put(self, chunks: Iterable[bytes], limit: int) -> Blob:
        """Take the concatenated chunks. More than `limit` bytes: RESOURCE_EXHAUSTED. A small blob stays in
        memory until `record` stores it with the version; a large one is on disk when this returns."""
        check_free_space(self.root)
        digest, buffered, size = hashlib.sha256(), bytearray(), 0
        iterator = iter(chunks)
        for chunk in iterator:
            size += len(chunk)
            if size > limit:
                raise ResourceExhausted(f"file is larger than the limit of {limit} bytes")
            digest.update(chunk)
            buffered += chunk
            if len(buffered) > self._inline_max:
                return self._spill(bytes(buffered), iterator, digest, size, limit)
        data = bytes(buffered)
        return Blob(digest.hexdigest(), size, data[:4096], data)

    def _spill(self, head: bytes, rest: Iterator[bytes], digest: hashlib._Hash, size: int, limit: int) -> Blob:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head)
                unchecked = len(head)
                for chunk in rest:
                    size += len(chunk)
                    if size > limit:
                        raise ResourceExhausted(f"file is larger than the limit of {limit} bytes")
                    if unchecked > _SPACE_CHECK_BYTES:
                        check_free_space(self.root)
                        unchecked = 0
                    digest.update(chunk)
                    f.write(chunk)
                    unchecked += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            sha = digest.hexdigest()
            target = self._path(sha)
            if target.exists():
                os.unlink(tmp)
            else:
                target.parent.mkdir(exist_ok=True)
                os.replace(tmp, target)
                _fsync_dir(target.parent)
            return Blob(sha, size, head[:4096], None)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def record(self, conn: Connection, sha: str, size: int, data: bytes | None, now: float) -> None:
        """The blob's row, in the transaction of the version that names it (once per content)."""
        insert = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(fs_blobs)
        conn.execute(insert.values(sha256=sha, size=size, created_at=now, data=data).on_conflict_do_nothing())

    def read(self, sha: str) -> bytes:
        return b"".join(self.stream(sha))

    def stream(self, sha: str, chunk_size: int = _READ_CHUNK) -> Iterator[bytes]:
        path = self._path(sha)
        if path.exists():
            with open(path, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk
            return
        with self._engine.connect() as conn:
            data = conn.execute(sa.select(fs_blobs.c.data).where(fs_blobs.c.sha256 == sha)).scalar()
        if data is None:
            raise NotFound(f"blob {sha} is missing from the store")
        for i in range(0, len(data), chunk_size):
            yield bytes(data[i : i + chunk_size])

    def collect(self, referenced: set[str], grace_s: float = 3600.0) -> int:
        """Delete blob files no version references, older than `grace_s` (a write in flight may not have
        committed its row yet). Returns how many were deleted. (Rows go with the versions, in SQL.)"""
        cutoff, removed = time.time() - grace_s, 0
        for path in self.root.glob("??/*"):
            if path.name not in referenced and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        for path in self.root.glob(".incoming-*"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
