"""Reading the file tables inside a connection: a path's row, the rows below it, a subtree's state as of a change;
and the conversions from rows to what the file system returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aios.errors import NotFound
from aios.fs import paths
from aios.fs._schema import fs_changes, fs_files, fs_versions
from aios.fs.models import FileInfo, FileVersion
from aios.fs.plans import FileRow, VersionRow
from aios.fs.trees import TreeRef

__all__ = ["above", "below", "by_paths", "change_at", "file_row", "live", "row", "state_at", "subtree", "subtree_rows",
           "to_info", "to_version", "under", "version", "version_row"]  # fmt: skip


def file_row(r: sa.Row[Any]) -> FileRow:
    return FileRow(r.id, r.path, r.kind, r.version, r.sha256, r.size, r.mime, r.created_at, r.modified_at,
                   r.deleted_at)  # fmt: skip


def version_row(v: sa.Row[Any]) -> VersionRow:
    return VersionRow(v.file_id, v.version, v.change_id, v.op, v.path, v.sha256, v.size, v.mime, v.deleted,
                      v.agent_id, v.detail, v.at)  # fmt: skip


def row(conn: Connection, tree_id: str, path: str, *, lock: bool = False) -> FileRow | None:
    """The row at `path`, deleted or not; `lock` takes its row lock (PostgreSQL) until the transaction ends."""
    query = sa.select(fs_files).where(fs_files.c.tree_id == tree_id, fs_files.c.path == path)
    found = conn.execute(query.with_for_update() if lock else query).first()
    return None if found is None else file_row(found)


def live(conn: Connection, tree_id: str, path: str) -> FileRow:
    found = row(conn, tree_id, path)
    if found is None or not found.live:
        raise NotFound(f"{path} does not exist")
    return found


def by_paths(conn: Connection, tree_id: str, wanted: Iterable[str], *, lock: bool = False) -> dict[str, FileRow]:
    """The rows of those of `wanted` that have one, by path."""
    wanted = set(wanted)
    if not wanted:
        return {}
    query = sa.select(fs_files).where(fs_files.c.tree_id == tree_id, fs_files.c.path.in_(wanted))
    return {r.path: file_row(r) for r in conn.execute(query.with_for_update() if lock else query)}


def above(conn: Connection, tree_id: str, *below: str) -> dict[str, FileRow]:
    """The rows of the directories above each path of `below`."""
    return by_paths(conn, tree_id, {a for p in below for a in paths.ancestors(p)})


def subtree(tree_id: str, path: str) -> sa.Select[Any]:
    """The row at `path` and those below it."""
    return sa.select(fs_files).where(
        fs_files.c.tree_id == tree_id,
        sa.or_(fs_files.c.path == path, fs_files.c.path.like(paths.like_prefix(path), escape="\\")),
    )


def under(tree_id: str, path: str) -> sa.Select[Any]:
    """Rows strictly below `path`."""
    return sa.select(fs_files).where(
        fs_files.c.tree_id == tree_id, fs_files.c.path.like(paths.like_prefix(path), escape="\\")
    )


def below(conn: Connection, tree_id: str, path: str) -> list[FileRow]:
    """The rows strictly below `path`, by path."""
    return [file_row(r) for r in conn.execute(under(tree_id, path).order_by(fs_files.c.path))]


def subtree_rows(conn: Connection, tree_id: str, path: str) -> list[FileRow]:
    """The row at `path` and those below it."""
    return [file_row(r) for r in conn.execute(subtree(tree_id, path))]


def version(conn: Connection, file_id: str, number: int) -> VersionRow | None:
    found = conn.execute(
        sa.select(fs_versions).where(fs_versions.c.file_id == file_id, fs_versions.c.version == number)
    ).first()
    return None if found is None else version_row(found)


def change_at(conn: Connection, ref: TreeRef, change_id: int | None, at: float | None) -> int:
    """`change_id` if it is one of the tree's changes; else the tree's latest change at or before `at`."""
    if change_id is not None:
        found = conn.execute(
            sa.select(fs_changes.c.id).where(fs_changes.c.id == change_id, fs_changes.c.tree_id == ref.id)
        ).scalar()
        if found is None:
            raise NotFound(f"no change {change_id} in this tree")
        return change_id
    latest = conn.execute(
        sa.select(sa.func.max(fs_changes.c.id)).where(fs_changes.c.tree_id == ref.id, fs_changes.c.at <= at)
    ).scalar()
    return int(latest or 0)


def state_at(conn: Connection, tree_id: str, path: str, change_id: int) -> dict[str, VersionRow]:
    """For every file row under `path` (itself included): its version as of `change_id`, if any."""
    ids = subtree(tree_id, path).with_only_columns(fs_files.c.id)
    rows = conn.execute(
        sa.select(fs_versions)
        .where(fs_versions.c.file_id.in_(ids), fs_versions.c.change_id <= change_id)
        .order_by(fs_versions.c.file_id, fs_versions.c.version)
    ).all()
    latest: dict[str, VersionRow] = {}
    for v in rows:
        latest[v.file_id] = version_row(v)
    return latest


def to_info(ref: TreeRef, r: FileRow, change_id: int = 0) -> FileInfo:
    return FileInfo(ref.display, r.path, r.kind == "dir", r.version, r.size, r.sha256 or "", r.mime, r.created_at,
                    r.modified_at, not r.live, change_id)  # fmt: skip


def to_version(v: VersionRow) -> FileVersion:
    return FileVersion(v.path, v.version, v.change_id, v.op, v.size, v.sha256 or "", v.deleted, v.agent_id, v.detail,
                       v.at)  # fmt: skip
