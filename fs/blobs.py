"""Content-addressed blob store in the data directory: one file per sha256, written once, fsync'd.

A blob is on disk (file and directory entry synced) before the SQL row that names it commits, so an
acknowledged version always has its content, even after a kill -9. A crash between the two leaves an
unreferenced blob, which retention removes later.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from aios.errors import ResourceExhausted

__all__ = ["BlobStore"]

_READ_CHUNK = 1 << 20


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha

    def put(self, chunks: Iterable[bytes], limit: int) -> tuple[str, int]:
        """Store the concatenated chunks; (sha256, size). More than `limit` bytes: RESOURCE_EXHAUSTED."""
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise ResourceExhausted(f"file is larger than the limit of {limit} bytes")
                    digest.update(chunk)
                    f.write(chunk)
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
            return sha, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, sha: str) -> bytes:
        return self._path(sha).read_bytes()

    def stream(self, sha: str, chunk_size: int = _READ_CHUNK) -> Iterator[bytes]:
        with open(self._path(sha), "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk

    def exists(self, sha: str) -> bool:
        return self._path(sha).exists()

    def collect(self, referenced: set[str], grace_s: float = 3600.0) -> int:
        """Delete blobs no version references, older than `grace_s` (a write in flight may not have
        committed its row yet). Returns how many were deleted."""
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
