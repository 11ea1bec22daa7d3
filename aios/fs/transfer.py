"""Import a host directory into a tree, export a tree (as it is, or as it was after a change) to the host.

Admin only: these read and write the kernel machine's own file system.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from aios.errors import FailedPrecondition, InvalidArgument, NotFound
from aios.fs import paths
from aios.fs.models import ChangeResult, Transfer
from aios.fs.service import FileService

__all__ = ["export_tree", "import_dir"]

Progress = Callable[[Transfer], None]


def import_dir(
    files: FileService, agent_id: str, tree: str, host_path: str, dest: str, progress: Progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> ChangeResult:  # fmt: skip
    """Every regular file under `host_path` (symlinks are not followed) becomes a file under `dest`, all in
    one change (one rollback undoes the import)."""
    root = _host(host_path)
    if not root.is_dir():
        raise NotFound(f"{root} is not a directory on the kernel's machine")
    ref = files.resolve(agent_id, tree, "write")
    base = paths.normalize(dest or "/", "dest")
    found = sorted(_regular_files(root))
    total, done, nbytes, items = len(found), 0, 0, []
    progress(Transfer(0, total, 0, ""))
    for host_file in found:
        if should_stop():
            raise FailedPrecondition("import cancelled; nothing was changed")
        rel = host_file.relative_to(root).as_posix()
        path = paths.normalize(f"{base.rstrip('/')}/{rel}")
        blob = files.blobs.put(_chunks(host_file), files.config.max_file_bytes)
        items.append((path, blob))
        done, nbytes = done + 1, nbytes + blob.size
        progress(Transfer(done, total, nbytes, path))
    if not items:
        return ChangeResult(0, [])
    return files.put_many(ref, agent_id, items, "import")


def export_tree(
    files: FileService, agent_id: str, tree: str, path: str, host_path: str, change_id: int, progress: Progress,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:  # fmt: skip
    """Write the files under `path` (as of `change_id`, 0: now) below `host_path`; returns how many."""
    target = _host(host_path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FailedPrecondition(f"{target} exists and is not an empty directory")
    ref = files.resolve(agent_id, tree, "read")
    base = paths.normalize(path or "/")
    chosen = files.snapshot(ref, base, change_id)
    total, nbytes = len(chosen), 0
    progress(Transfer(0, total, 0, ""))
    target.mkdir(parents=True, exist_ok=True)
    for done, v in enumerate(chosen, 1):
        if should_stop():
            raise FailedPrecondition(f"export cancelled after {done - 1} of {total} files")
        out = target / (paths.relative(v.path, base) or Path(v.path).name)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as f:
            for chunk in files.blobs.stream(v.sha256):
                f.write(chunk)
        nbytes += v.size
        progress(Transfer(done, total, nbytes, v.path))
    return total


def _host(host_path: str) -> Path:
    if not host_path or not os.path.isabs(host_path) or "\x00" in host_path:
        raise InvalidArgument("host_path must be an absolute path on the kernel's machine")
    return Path(host_path)


def _regular_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                yield p


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk
