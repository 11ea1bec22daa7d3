"""Change plans: what a write, mkdir, delete, move, copy or rollback changes, computed from the rows it read.

Pure functions, no I/O: the writer (fs.writing) reads the rows inside the change's transaction and hands them
here; the change log (fs.changelog) applies the edits a plan returns, checking each with `check` and computing
the row it leaves with `applied`. A plan that lost a race is simply computed again from fresh rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aios.errors import FailedPrecondition
from aios.fs import paths
from aios.fs.blobs import Blob

__all__ = ["Edit", "FileRow", "VersionRow", "applied", "changing", "check", "delete", "mkdir", "parents",
           "relocate", "restore", "stale", "to_state", "to_version", "version_op", "write", "write_many"]  # fmt: skip

DIR_MIME = "inode/directory"


@dataclass(frozen=True)
class FileRow:
    """A path's latest version (an fs_files row); `deleted_at` is set when that version is its deletion."""

    id: str
    path: str
    kind: str  # file or dir
    version: int
    sha256: str | None
    size: int
    mime: str
    created_at: float
    modified_at: float
    deleted_at: float | None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass(frozen=True)
class VersionRow:
    """One version of a file (an fs_versions row): a directory's has no sha256; a deletion is `deleted`."""

    file_id: str
    version: int
    change_id: int
    op: str
    path: str
    sha256: str | None
    size: int
    mime: str
    deleted: bool
    agent_id: str
    detail: str
    at: float


@dataclass(frozen=True)
class Edit:
    """One new version of one path, as a change makes it."""

    path: str
    kind: str  # file or dir
    sha: str | None
    size: int
    mime: str
    deleted: bool
    op: str
    detail: str = ""
    expected: int | None = None  # the version the file must be at; 0: must not exist
    data: bytes | None = None  # new content stored in the database (small blobs)
    base: int | None = None  # the version (0: none) the content was computed from, as an append's is


def _depth(path: str) -> int:
    return path.count("/")


def _new_dir(path: str) -> Edit:
    return Edit(path, "dir", None, 0, DIR_MIME, False, "mkdir")


def _removal(row: FileRow, op: str, detail: str = "", expected: int | None = None) -> Edit:
    return Edit(row.path, row.kind, None, 0, row.mime, True, op, detail, expected)


# -- what one edit does to its row -------------------------------------------------------------------


def check(edit: Edit, row: FileRow | None) -> None:
    """Refuse the edit if its condition (`expected`) does not hold, or it would turn a file into a directory
    or back (only a rollback may)."""
    live = row is not None and row.live
    current = row.version if row is not None and live else 0
    if edit.expected is not None and current != edit.expected:
        if edit.expected == 0:
            raise FailedPrecondition(f"{edit.path} exists (version {current})")
        state = f"is at version {current}" if current else "does not exist" if row is None else "is deleted"
        raise FailedPrecondition(f"{edit.path} {state}, expected version {edit.expected}")
    if row is not None and live and not edit.deleted and row.kind != edit.kind and edit.op != "rollback":
        raise FailedPrecondition(f"{edit.path} is a {'directory' if row.kind == 'dir' else 'file'}")


def stale(edit: Edit, row: FileRow | None) -> bool:
    """The edit's content was computed from another version than the one now there: a concurrent change
    committed between the plan's read and the apply (no row lock holds a path that had no row), so the plan
    must run again rather than overwrite that change."""
    return edit.base is not None and (row.version if row is not None and row.live else 0) != edit.base


def applied(edit: Edit, row: FileRow | None, new_id: str, now: float) -> FileRow:
    """The row as the edit leaves it (`new_id` names a path that had none). A deletion keeps the content
    fields of the version it deletes."""
    deleted_at = now if edit.deleted else None
    if row is None:
        return FileRow(new_id, edit.path, edit.kind, 1, edit.sha, edit.size, edit.mime, now, now, deleted_at)
    kind, sha, size = (row.kind, row.sha256, row.size) if edit.deleted else (edit.kind, edit.sha, edit.size)
    return FileRow(row.id, edit.path, kind, row.version + 1, sha, size, edit.mime, row.created_at, now, deleted_at)


def version_op(edit: Edit, row: FileRow | None) -> str:
    """The op the new version records: a write that brings a path (back) into existence creates it."""
    return "create" if edit.op == "write" and (row is None or not row.live) else edit.op


# -- plans -------------------------------------------------------------------------------------------


def parents(path: str, existing: Mapping[str, FileRow]) -> list[Edit]:
    """mkdir -p for the directories above `path`; `existing` holds the rows of those that have one."""
    edits = []
    for p in paths.ancestors(path):
        row = existing.get(p)
        if row is not None and row.live:
            if row.kind == "file":
                raise FailedPrecondition(f"{p} is a file, not a directory")
            continue
        edits.append(_new_dir(p))
    return edits


def write(
    path: str, blob: Blob, mime: str, above: Mapping[str, FileRow], *, op: str = "write", expected: int | None = None,
    base: int | None = None,
) -> list[Edit]:  # fmt: skip
    """Create or replace the file at `path` with `blob` (and the directories above it); `base`: see `stale`."""
    return parents(path, above) + [
        Edit(path, "file", blob.sha256, blob.size, mime, False, op, expected=expected, data=blob.data, base=base)
    ]


def write_many(items: Sequence[tuple[str, Blob, str]], above: Mapping[str, FileRow], op: str) -> list[Edit]:
    """One change writing many files, (path, blob, mime) each; every directory above them is made once."""
    edits: list[Edit] = []
    made: set[str] = set()
    for path, blob, mime in items:
        for parent in parents(path, above):
            if parent.path not in made:
                made.add(parent.path)
                edits.append(parent)
        edits.append(Edit(path, "file", blob.sha256, blob.size, mime, False, op, data=blob.data))
    return edits


def mkdir(path: str, row: FileRow | None, above: Mapping[str, FileRow]) -> list[Edit]:
    """A directory and its missing parents; nothing when the directory exists."""
    if row is not None and row.live:
        if row.kind == "file":
            raise FailedPrecondition(f"{path} is a file")
        return []
    return parents(path, above) + [_new_dir(path)]


def delete(row: FileRow, below: Sequence[FileRow], recursive: bool, expected: int | None) -> list[Edit]:
    """Delete `row` (live) and, with `recursive`, the live rows below it, deepest first."""
    below = [r for r in below if r.live]
    if below and not recursive:
        raise FailedPrecondition(f"{row.path} is not empty; pass recursive to delete it with its contents")
    doomed = sorted(below, key=lambda r: -_depth(r.path)) + [row]
    return [_removal(r, "delete", expected=expected if r.path == row.path else None) for r in doomed]


def relocate(
    row: FileRow, below: Sequence[FileRow], dst: str, above_dst: Mapping[str, FileRow], *, move: bool,
    expected: int | None,
) -> list[Edit]:  # fmt: skip
    """Copy `row` (live) and the live rows below it to `dst`, which must not exist; a move also deletes them."""
    src, op = row.path, "move" if move else "copy"
    if expected is not None and row.version != expected:
        raise FailedPrecondition(f"{src} is at version {row.version}, expected {expected}")
    moving = [row] + sorted((r for r in below if r.live), key=lambda r: r.path)
    edits = parents(dst, above_dst)
    for r in moving:
        target = dst + r.path[len(src) :]
        edits.append(Edit(target, r.kind, r.sha256, r.size, r.mime, False, op, f"{op} of {r.path}", expected=0))
    if move:
        edits += [
            _removal(r, "move", f"moved to {dst + r.path[len(src) :]}")
            for r in sorted(moving, key=lambda r: -_depth(r.path))
        ]
    return edits


def restore(row: FileRow, v: VersionRow, detail: str) -> list[Edit]:
    """Bring `row` back to version `v`; nothing when it already is there."""
    kind = "dir" if v.sha256 is None else "file"
    if v.deleted:
        return [_removal(row, "rollback", detail)] if row.live else []
    if row.live and row.kind == kind and row.sha256 == v.sha256:
        return []
    return [Edit(row.path, kind, v.sha256, v.size, v.mime, False, "rollback", detail)]


def to_version(row: FileRow, v: VersionRow, above: Mapping[str, FileRow]) -> list[Edit]:
    """A file back to one of its versions (with its missing parents, unless that version is a deletion)."""
    edits = restore(row, v, f"to version {v.version}")
    return (parents(row.path, above) if edits and not v.deleted else []) + edits


def to_state(current: Sequence[FileRow], state: Mapping[str, VersionRow], change_id: int) -> list[Edit]:
    """The rows of a subtree (`current`) back to `state` (file id -> its version after `change_id`): what did
    not exist then is deleted, deepest first; the rest restored, outermost first."""
    removals, restores = [], []
    detail = f"to change {change_id}"
    for row in current:
        v = state.get(row.id)
        if v is None or v.deleted:
            if row.live:
                removals.append(_removal(row, "rollback", detail))
        else:
            restores += restore(row, v, detail)
    removals.sort(key=lambda e: -_depth(e.path))
    restores.sort(key=lambda e: _depth(e.path))
    return removals + restores


def changing(edits: list[Edit], state: str) -> list[Edit]:
    """A rollback's edits, refused when empty: a rollback that did nothing would look like a success (a caller
    who picked the wrong target would never know)."""
    if not edits:
        raise FailedPrecondition(f"{state}: rolling back would change nothing")
    return edits
