"""Changing files: write, append, mkdir, delete, move, copy, rollback. Each checks write access, takes new
content into the blob store, and commits one change through the change log with a plan that reads the rows it
needs inside the transaction and lets fs.plans decide the edits."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from aios.config import FsConfig
from aios.errors import FailedPrecondition, InvalidArgument, NotFound
from aios.fs import paths, plans, rows
from aios.fs.blobs import Blob, BlobStore
from aios.fs.changelog import ChangeLog, NoChange
from aios.fs.models import ChangeResult, FileInfo
from aios.fs.plans import Edit
from aios.fs.trees import TreeRef, Trees

__all__ = ["FileWriter", "guess_mime"]


class FileWriter:
    def __init__(self, engine: Engine, changes: ChangeLog, blobs: BlobStore, trees: Trees, config: FsConfig) -> None:
        self._engine = engine
        self._changes = changes
        self._blobs = blobs
        self._trees = trees
        self._config = config

    def write(
        self, agent_id: str, tree: str, path: str, data: bytes | Iterable[bytes], *, append: bool = False,
        expected_version: int | None = None, mime: str = "",
    ) -> FileInfo:  # fmt: skip
        """Create or replace a file (or append to it) as a new version. Atomic: readers see the old or the
        new content, never a mix. `expected_version` makes it conditional (0: only if it does not exist)."""
        ref = self._trees.resolve(agent_id, tree, "write")
        path = paths.entry(path)
        _check_expected(expected_version)
        chunks = [data] if isinstance(data, bytes | bytearray) else data
        if append:
            return self._append(ref, agent_id, path, b"".join(chunks), expected_version, mime)
        blob = self._blobs.put(chunks, self._config.max_file_bytes)
        mime = mime or guess_mime(path, blob.head)

        def plan(conn: Connection) -> list[Edit]:
            return plans.write(path, blob, mime, rows.above(conn, ref.id, path), expected=expected_version)

        return self._changes.commit(ref, agent_id, "write", path, plan).files[-1]

    def _append(self, ref: TreeRef, agent_id: str, path: str, data: bytes, expected: int | None, mime: str) -> FileInfo:
        # Read, combine and store inside the transaction: the row lock (PostgreSQL) or the write lock (SQLite)
        # orders concurrent appends, so none is lost and none has to retry.
        def plan(conn: Connection) -> list[Edit]:
            row = rows.row(conn, ref.id, path, lock=True)
            live = row if row is not None and row.live else None
            if live is not None and live.kind == "dir":
                raise FailedPrecondition(f"{path} is a directory")
            head = self._blobs.read(live.sha256) if live is not None and live.sha256 else b""
            blob = self._blobs.put([head, data], self._config.max_file_bytes)
            mime_ = mime or (live.mime if live is not None else guess_mime(path, blob.head))
            base = 0 if live is None else live.version
            return plans.write(path, blob, mime_, rows.above(conn, ref.id, path), op="append", expected=expected,
                               base=base)  # fmt: skip

        return self._changes.commit(ref, agent_id, "append", path, plan).files[-1]

    def put_many(self, ref: TreeRef, agent_id: str, items: list[tuple[str, Blob]], op: str) -> ChangeResult:
        """One change writing many files from blobs `BlobStore.put` took: (path, blob) each."""
        normalized = [(paths.entry(path), blob) for path, blob in items]
        entries = [(path, blob, guess_mime(path, blob.head)) for path, blob in normalized]

        def plan(conn: Connection) -> list[Edit]:
            return plans.write_many(entries, rows.above(conn, ref.id, *(p for p, _, _ in entries)), op)

        return self._changes.commit(ref, agent_id, op, "/", plan)

    def mkdir(self, agent_id: str, tree: str, path: str) -> FileInfo:
        """Create a directory and any missing parents; an existing directory is returned unchanged."""
        ref = self._trees.resolve(agent_id, tree, "write")
        path = paths.entry(path)

        def plan(conn: Connection) -> list[Edit]:
            row = rows.row(conn, ref.id, path)
            edits = plans.mkdir(path, row, rows.above(conn, ref.id, path))
            if not edits and row is not None:
                raise NoChange(ChangeResult(0, [rows.to_info(ref, row)]))
            return edits

        return self._changes.commit(ref, agent_id, "mkdir", path, plan).files[-1]

    def delete(
        self, agent_id: str, tree: str, path: str, recursive: bool = False, expected_version: int | None = None
    ) -> ChangeResult:
        """Delete a file, or a directory (with `recursive` when not empty). A deletion is a version: the
        content stays readable by version and `rollback` brings it back."""
        ref = self._trees.resolve(agent_id, tree, "write")
        path = paths.entry(path)
        _check_expected(expected_version)

        def plan(conn: Connection) -> list[Edit]:
            row = rows.live(conn, ref.id, path)
            return plans.delete(row, rows.below(conn, ref.id, path), recursive, expected_version)

        return self._changes.commit(ref, agent_id, "delete", path, plan)

    def move(self, agent_id: str, tree: str, src: str, dst: str, expected_version: int | None = None) -> FileInfo:
        return self._relocate(agent_id, tree, src, dst, expected_version, move=True)

    def copy(self, agent_id: str, tree: str, src: str, dst: str) -> FileInfo:
        return self._relocate(agent_id, tree, src, dst, None, move=False)

    def _relocate(self, agent_id: str, tree: str, src: str, dst: str, expected: int | None, move: bool) -> FileInfo:
        ref = self._trees.resolve(agent_id, tree, "write")
        src, dst = paths.entry(src, "src"), paths.entry(dst, "dst")
        _check_expected(expected)
        op = "move" if move else "copy"
        if paths.is_under(dst, src):
            raise InvalidArgument(f"cannot {op} {src} into itself")

        def plan(conn: Connection) -> list[Edit]:
            row = rows.live(conn, ref.id, src)
            return plans.relocate(row, rows.below(conn, ref.id, src), dst, rows.above(conn, ref.id, dst), move=move,
                                  expected=expected)  # fmt: skip

        result = self._changes.commit(ref, agent_id, op, dst, plan)
        return next(f for f in result.files if f.path == dst)

    def rollback(
        self, agent_id: str, tree: str, path: str, *, version: int | None = None, change_id: int | None = None,
        at: float | None = None,
    ) -> ChangeResult:  # fmt: skip
        """Bring a file back to one of its versions, or a file or directory tree back to its state right
        after a change or at a point in time. The rollback is a new change: it can itself be rolled back."""
        if sum(x is not None for x in (version, change_id, at)) != 1:
            raise InvalidArgument("give exactly one of version, change_id or at")
        ref = self._trees.resolve(agent_id, tree, "write")
        path = paths.normalize(path or "/")
        if version is not None:
            if path == "/" or version < 1:
                raise InvalidArgument("rollback to a version needs a file path and a version >= 1")
            number = version

            def to_version(conn: Connection) -> list[Edit]:
                row = rows.row(conn, ref.id, path)
                if row is None:
                    raise NotFound(f"{path} does not exist")
                v = rows.version(conn, row.id, number)
                if v is None:
                    raise NotFound(f"{path} has no version {number}")
                edits = plans.to_version(row, v, rows.above(conn, ref.id, path))
                return plans.changing(edits, f"{path} already has version {number}'s content")

            return self._changes.commit(ref, agent_id, "rollback", path, to_version)
        with self._engine.connect() as conn:
            target = rows.change_at(conn, ref, change_id, at)

        def to_state(conn: Connection) -> list[Edit]:
            edits = plans.to_state(rows.subtree_rows(conn, ref.id, path), rows.state_at(conn, ref.id, path, target),
                                   target)  # fmt: skip
            return plans.changing(edits, f"{path} is already as it was right after change {target}")

        return self._changes.commit(ref, agent_id, "rollback", path, to_state, detail=f"to change {target}")


def _check_expected(expected: int | None) -> None:
    if expected is not None and expected < 0:
        raise InvalidArgument("expected_version must not be negative")


def guess_mime(path: str, head: bytes) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if guessed:
        return guessed
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode()
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 4 KiB boundary
            return "application/octet-stream"
    return "text/plain"
