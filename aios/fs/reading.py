"""Reading files: stat, read and stream a version, list a directory, a file's or directory's history, diff, and
a subtree as it was after a change. Every call checks the caller's read access first."""

from __future__ import annotations

import builtins
import difflib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.errors import FailedPrecondition, InvalidArgument, NotFound
from aios.fs import paths, rows
from aios.fs._schema import fs_changes, fs_files, fs_versions
from aios.fs.blobs import BlobStore
from aios.fs.models import ChangeRecord, FileHistory, FileInfo, FileVersion
from aios.fs.plans import DIR_MIME, FileRow
from aios.fs.trees import TreeRef, Trees

__all__ = ["FileReader"]

_MAX_HISTORY = 10_000
_NO_NEWLINE = "\\ No newline at end of file\n"


class FileReader:
    def __init__(self, engine: Engine, blobs: BlobStore, trees: Trees) -> None:
        self._engine = engine
        self._blobs = blobs
        self._trees = trees

    def stat(self, agent_id: str, tree: str, path: str, version: int = 0) -> FileInfo:
        ref = self._trees.resolve(agent_id, tree, "read")
        path = paths.normalize(path)
        if path == "/":
            return FileInfo(ref.display, "/", True, 0, 0, "", DIR_MIME, 0.0, 0.0, False, 0)
        if version < 0:
            raise InvalidArgument("version must not be negative")
        with self._engine.connect() as conn:
            row = rows.row(conn, ref.id, path)
            if row is None:
                raise NotFound(f"{path} does not exist")
            if version == 0:
                if not row.live:
                    raise NotFound(f"{path} was deleted at version {row.version}; read an older version or roll back")
                change_id = conn.execute(
                    sa.select(fs_versions.c.change_id).where(fs_versions.c.file_id == row.id,
                                                             fs_versions.c.version == row.version)
                ).scalar()  # fmt: skip
                return rows.to_info(ref, row, change_id or 0)
            v = rows.version(conn, row.id, version)
        if v is None:
            raise NotFound(f"{path} has no version {version} (latest is {row.version})")
        if v.deleted:
            raise NotFound(f"version {version} of {path} is its deletion")
        return FileInfo(ref.display, path, v.sha256 is None, v.version, v.size, v.sha256 or "", v.mime, row.created_at,
                        v.at, False, v.change_id)  # fmt: skip

    def readable(self, agent_id: str, tree: str, path: str, version: int = 0) -> FileInfo:
        """`stat` of a file; a directory is refused."""
        info = self.stat(agent_id, tree, path, version)
        if info.is_dir:
            raise FailedPrecondition(f"{info.path} is a directory")
        return info

    def read(self, agent_id: str, tree: str, path: str, version: int = 0) -> tuple[FileInfo, bytes]:
        info = self.readable(agent_id, tree, path, version)
        return info, self._blobs.read(info.sha256)

    def open(self, agent_id: str, tree: str, path: str, version: int = 0) -> tuple[FileInfo, Iterator[bytes]]:
        info = self.readable(agent_id, tree, path, version)
        return info, self._blobs.stream(info.sha256)

    def list(
        self, agent_id: str, tree: str, path: str = "/", glob: str = "", recursive: bool = False,
        include_deleted: bool = False,
    ) -> list[FileInfo]:  # fmt: skip
        ref = self._trees.resolve(agent_id, tree, "read")
        base = paths.normalize(path or "/")
        with self._engine.connect() as conn:
            if base != "/":
                row = rows.row(conn, ref.id, base)
                if row is None or (not row.live and not include_deleted):
                    raise NotFound(f"{base} does not exist")
                if row.kind == "file":
                    return [rows.to_info(ref, row)]
            found = rows.below(conn, ref.id, base)
        out = []
        for row in found:
            rel = paths.relative(row.path, base)
            if (not recursive and "/" in rel) or (not row.live and not include_deleted):
                continue
            if paths.matches(row.path, base, glob):
                out.append(rows.to_info(ref, row))
        return out

    def history(self, agent_id: str, tree: str, path: str, limit: int = 100) -> FileHistory:
        """A file's versions, newest first; for a directory, the changes made below it, newest first, one
        each however many files it touched (so `changes[1]` is the change before the latest)."""
        if not 0 <= limit <= _MAX_HISTORY:
            raise InvalidArgument(f"limit must be 0-{_MAX_HISTORY}")
        ref = self._trees.resolve(agent_id, tree, "read")
        path = paths.normalize(path or "/")
        with self._engine.connect() as conn:
            row = rows.row(conn, ref.id, path) if path != "/" else None
            if path != "/" and row is None:
                raise NotFound(f"{path} has no history")
            ids = rows.subtree(ref.id, path).with_only_columns(fs_files.c.id)
            if row is not None and row.kind == "file":
                versions = conn.execute(
                    sa.select(fs_versions)
                    .where(fs_versions.c.file_id.in_(ids))
                    .order_by(fs_versions.c.change_id.desc(), fs_versions.c.path)
                    .limit(limit or 100)
                ).all()
                return FileHistory(False, [rows.to_version(rows.version_row(v)) for v in versions], [])
            recent = (
                sa.select(fs_changes.c.id)
                .where(fs_changes.c.tree_id == ref.id,
                       fs_changes.c.id.in_(sa.select(fs_versions.c.change_id).where(fs_versions.c.file_id.in_(ids))))
                .order_by(fs_changes.c.id.desc())
                .limit(limit or 100)
                .subquery()
            )  # fmt: skip
            changes = conn.execute(
                sa.select(fs_changes).join(recent, recent.c.id == fs_changes.c.id).order_by(fs_changes.c.id.desc())
            ).all()
            versions = conn.execute(
                sa.select(fs_versions)
                .join(recent, recent.c.id == fs_versions.c.change_id)
                .where(fs_versions.c.file_id.in_(ids))
                .order_by(fs_versions.c.path)
            ).all()
        files: dict[int, list[FileVersion]] = {c.id: [] for c in changes}
        for v in versions:
            files[v.change_id].append(rows.to_version(rows.version_row(v)))
        return FileHistory(True, [], [ChangeRecord(c.id, c.op, c.path, c.agent_id, c.detail, c.at, files[c.id])
                                      for c in changes])  # fmt: skip

    def diff(self, agent_id: str, tree: str, path: str, a: int, b: int = 0, context: int = 3) -> str:
        if a < 1:
            raise InvalidArgument("from_version must be at least 1")
        if not 0 <= context <= 1000:
            raise InvalidArgument("context_lines must be 0-1000")
        texts = []
        for version in (a, b):
            info, data = self.read(agent_id, tree, path, version)
            try:
                texts.append((info.version, data.decode()))
            except UnicodeDecodeError:
                raise FailedPrecondition(f"version {info.version} of {info.path} is not text") from None
        (va, ta), (vb, tb) = texts
        norm = paths.normalize(path)
        return "".join(
            difflib.unified_diff(_diff_lines(ta), _diff_lines(tb), f"{norm}@v{va}", f"{norm}@v{vb}", n=context)
        )

    def snapshot(self, ref: TreeRef, path: str, change_id: int = 0) -> builtins.list[FileVersion]:
        """The live files (not directories) under `path` as they were right after `change_id` (0: now)."""
        if change_id < 0:
            raise InvalidArgument("change_id must not be negative")
        with self._engine.connect() as conn:
            at = rows.change_at(conn, ref, change_id, None) if change_id else rows.change_at(conn, ref, None, 1e300)
            state = rows.state_at(conn, ref.id, paths.normalize(path or "/"), at)
        return sorted((rows.to_version(v) for v in state.values() if not v.deleted and v.sha256),
                      key=lambda v: v.path)  # fmt: skip

    # -- by file id, for the semantic layer --------------------------------------------------------------

    def count(self) -> int:
        """Live files (not directories) in every tree."""
        with self._engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(fs_files)
                .where(fs_files.c.kind == "file", fs_files.c.deleted_at.is_(None))
            ).scalar_one())  # fmt: skip

    def by_ids(self, file_ids: Sequence[str]) -> dict[str, FileRow]:
        """The rows of those of `file_ids` that exist, in one query."""
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(fs_files).where(fs_files.c.id.in_(file_ids)))
        return {r.id: rows.file_row(r) for r in found}

    def info(self, ref: TreeRef, file_id: str) -> FileInfo | None:
        row = self.by_ids([file_id]).get(file_id)
        return None if row is None else rows.to_info(ref, row)

    def file_ids(self, ref: TreeRef, prefix: str, limit: int) -> builtins.list[str]:
        """The live files under `prefix`, by path, at most `limit`."""
        with self._engine.connect() as conn:
            return list(conn.execute(
                rows.under(ref.id, prefix).with_only_columns(fs_files.c.id)
                .where(fs_files.c.kind == "file", fs_files.c.deleted_at.is_(None))
                .order_by(fs_files.c.path).limit(limit)
            ).scalars())  # fmt: skip

    def live(self, ref: TreeRef, path: str) -> FileRow:
        """The live row at `path` (NOT_FOUND without one)."""
        with self._engine.connect() as conn:
            return rows.live(conn, ref.id, path)

    def at_paths(self, ref: TreeRef, wanted: Sequence[str]) -> dict[str, FileRow]:
        """The rows of those of `wanted` that have one, by path, in one query."""
        with self._engine.connect() as conn:
            return rows.by_paths(conn, ref.id, wanted)


def _diff_lines(text: str) -> list[str]:
    """`text` as diff lines, split on "\\n" only (as diff does); a last line without a newline carries
    diff -u's marker, so it also differs from the same line with one."""
    *lines, tail = text.split("\n")
    out = [line + "\n" for line in lines]
    if tail:
        out.append(tail + "\n" + _NO_NEWLINE)
    return out
