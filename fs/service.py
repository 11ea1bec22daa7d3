"""The file system: trees and grants, versioned files and directories, history, diff, rollback, retention.

Every mutation is one *change* (a row in fs_changes) that gives each file it touches a new version; nothing
is overwritten. Contents live in the blob store (content-addressed, written and synced before the change
commits); SQL holds everything else and is the source of truth. Each operation is a *plan* — a function
that reads the current rows inside the transaction and returns the edits to apply — so the conditional
version update can retry a plan that lost a race without the caller noticing.
"""

from __future__ import annotations

import difflib
import logging
import mimetypes
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from aios.config import FsConfig
from aios.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from fs import paths
from fs._schema import fs_blobs, fs_changes, fs_files, fs_versions
from fs.blobs import Blob, BlobStore
from fs.events import EventBus, Subscription
from fs.models import (
    ChangeRecord,
    ChangeResult,
    FileEvent,
    FileGroup,
    FileHistory,
    FileInfo,
    FileVersion,
    PassagePair,
    RetrieveFilters,
    RetrieveHit,
    Summary,
)
from fs.trees import TreeRef, Trees

__all__ = ["FileService", "TreeRef"]

log = logging.getLogger("aios.fs")

_RETRIES = 8
_MAX_HISTORY = 10_000


@dataclass(frozen=True)
class _Edit:
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


class _Row:
    """A fs_files row as this change left it (attribute access like sqlalchemy's Row)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _NoChange(Exception):
    def __init__(self, result: ChangeResult) -> None:
        self.result = result


class _LostRace(Exception):
    pass


class FileService:
    def __init__(self, engine: Engine, blobs: BlobStore, config: FsConfig, clock: Callable[[], float] = time.time):
        self._engine = engine
        self.blobs = blobs
        self.config = config
        self._clock = clock
        self.events = EventBus()
        self._listeners: list[Callable[[list[str]], None]] = []
        self._stop = threading.Event()
        self._retention: threading.Thread | None = None
        self.index: Any = None  # fs.semantic.SemanticIndex, attached by the kernel
        self.trees = Trees(engine, clock)
        self.resolve = self.trees.resolve

    def on_commit(self, listener: Callable[[list[str]], None]) -> None:
        """`listener(file_ids)` runs after each committed change (the semantic index subscribes)."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self.config.keep_versions or self.config.keep_days:
            self._retention = threading.Thread(target=self._retention_loop, name="aios-fs-retention", daemon=True)
            self._retention.start()

    def stop(self) -> None:
        self._stop.set()
        if self._retention is not None:
            self._retention.join(timeout=10)
            self._retention = None

    # -- reading -------------------------------------------------------------------------------------

    def stat(self, agent_id: str, tree: str, path: str, version: int = 0) -> FileInfo:
        ref = self.resolve(agent_id, tree, "read")
        path = paths.normalize(path)
        if path == "/":
            return FileInfo(ref.display, "/", True, 0, 0, "", "inode/directory", 0.0, 0.0, False, 0)
        with self._engine.connect() as conn:
            return self._info_at(conn, ref, path, version)

    def read(self, agent_id: str, tree: str, path: str, version: int = 0) -> tuple[FileInfo, bytes]:
        info = self._readable(agent_id, tree, path, version)
        return info, self.blobs.read(info.sha256)

    def open(self, agent_id: str, tree: str, path: str, version: int = 0) -> tuple[FileInfo, Iterator[bytes]]:
        info = self._readable(agent_id, tree, path, version)
        return info, self.blobs.stream(info.sha256)

    def _readable(self, agent_id: str, tree: str, path: str, version: int) -> FileInfo:
        info = self.stat(agent_id, tree, path, version)
        if info.is_dir:
            raise FailedPrecondition(f"{info.path} is a directory")
        return info

    def _info_at(self, conn: Connection, ref: TreeRef, path: str, version: int) -> FileInfo:
        if version < 0:
            raise InvalidArgument("version must not be negative")
        row = self._row(conn, ref.id, path)
        if row is None:
            raise NotFound(f"{path} does not exist")
        if version == 0:
            if row.deleted_at is not None:
                raise NotFound(f"{path} was deleted at version {row.version}; read an older version or roll back")
            change_id = conn.execute(
                sa.select(fs_versions.c.change_id).where(fs_versions.c.file_id == row.id,
                                                         fs_versions.c.version == row.version)
            ).scalar()  # fmt: skip
            return replace(self._info(ref, row), change_id=change_id or 0)
        v = conn.execute(
            sa.select(fs_versions).where(fs_versions.c.file_id == row.id, fs_versions.c.version == version)
        ).first()
        if v is None:
            raise NotFound(f"{path} has no version {version} (latest is {row.version})")
        if v.deleted:
            raise NotFound(f"version {version} of {path} is its deletion")
        kind_is_dir = v.sha256 is None
        return FileInfo(ref.display, path, kind_is_dir, v.version, v.size, v.sha256 or "", v.mime, row.created_at,
                        v.at, False, v.change_id)  # fmt: skip

    def list(
        self, agent_id: str, tree: str, path: str = "/", glob: str = "", recursive: bool = False,
        include_deleted: bool = False,
    ) -> list[FileInfo]:  # fmt: skip
        ref = self.resolve(agent_id, tree, "read")
        base = paths.normalize(path or "/")
        with self._engine.connect() as conn:
            if base != "/":
                row = self._row(conn, ref.id, base)
                if row is None or (row.deleted_at is not None and not include_deleted):
                    raise NotFound(f"{base} does not exist")
                if row.kind == "file":
                    return [self._info(ref, row)]
            rows = conn.execute(self._under(ref.id, base).order_by(fs_files.c.path)).all()
        out = []
        for row in rows:
            rel = paths.relative(row.path, base)
            if (not recursive and "/" in rel) or (row.deleted_at is not None and not include_deleted):
                continue
            if paths.matches(row.path, base, glob):
                out.append(self._info(ref, row))
        return out

    # -- writing -------------------------------------------------------------------------------------

    def write(
        self, agent_id: str, tree: str, path: str, data: bytes | Iterable[bytes], *, append: bool = False,
        expected_version: int | None = None, mime: str = "",
    ) -> FileInfo:  # fmt: skip
        """Create or replace a file (or append to it) as a new version. Atomic: readers see the old or the
        new content, never a mix. `expected_version` makes it conditional (0: only if it does not exist)."""
        ref = self.resolve(agent_id, tree, "write")
        path = self._file_path(path)
        self._check_expected(expected_version)
        chunks = [data] if isinstance(data, bytes | bytearray) else data
        if append:
            return self._append(ref, agent_id, path, b"".join(chunks), expected_version, mime)
        blob = self.blobs.put(chunks, self.config.max_file_bytes)
        mime = mime or _guess_mime(path, blob.head)

        def plan(conn: Connection) -> list[_Edit]:
            return self._parents(conn, ref, path) + [
                _Edit(
                    path,
                    "file",
                    blob.sha256,
                    blob.size,
                    mime,
                    False,
                    "write",
                    expected=expected_version,
                    data=blob.data,
                )  # fmt: skip
            ]

        return self._commit(ref, agent_id, "write", path, plan).files[-1]

    def _append(self, ref: TreeRef, agent_id: str, path: str, data: bytes, expected: int | None, mime: str) -> FileInfo:
        # Read, combine and store inside the transaction: the row lock (PostgreSQL) or the write lock (SQLite)
        # orders concurrent appends, so none is lost and none has to retry.
        def plan(conn: Connection) -> list[_Edit]:
            row = conn.execute(
                sa.select(fs_files).where(fs_files.c.tree_id == ref.id, fs_files.c.path == path).with_for_update()
            ).first()
            live = row is not None and row.deleted_at is None
            if live and row.kind == "dir":
                raise FailedPrecondition(f"{path} is a directory")
            head = self.blobs.read(row.sha256) if live and row.sha256 else b""
            blob = self.blobs.put([head, data], self.config.max_file_bytes)
            mime_ = mime or (row.mime if live else _guess_mime(path, blob.head))
            return self._parents(conn, ref, path) + [
                _Edit(path, "file", blob.sha256, blob.size, mime_, False, "append", expected=expected, data=blob.data)
            ]

        return self._commit(ref, agent_id, "append", path, plan).files[-1]

    def put_many(self, ref: TreeRef, agent_id: str, items: list[tuple[str, Blob]], op: str) -> ChangeResult:
        """One change writing many files from blobs `BlobStore.put` took: (path, blob) each."""
        items = [(self._file_path(path), blob) for path, blob in items]

        def plan(conn: Connection) -> list[_Edit]:
            edits: list[_Edit] = []
            made: set[str] = set()
            for path, blob in items:
                for parent in self._parents(conn, ref, path):
                    if parent.path not in made:
                        made.add(parent.path)
                        edits.append(parent)
                edits.append(_Edit(path, "file", blob.sha256, blob.size, _guess_mime(path, blob.head), False, op,
                                   data=blob.data))  # fmt: skip
            return edits

        return self._commit(ref, agent_id, op, "/", plan)

    def mkdir(self, agent_id: str, tree: str, path: str) -> FileInfo:
        """Create a directory and any missing parents; an existing directory is returned unchanged."""
        ref = self.resolve(agent_id, tree, "write")
        path = self._file_path(path)

        def plan(conn: Connection) -> list[_Edit]:
            row = self._row(conn, ref.id, path)
            if row is not None and row.deleted_at is None:
                if row.kind == "file":
                    raise FailedPrecondition(f"{path} is a file")
                raise _NoChange(ChangeResult(0, [self._info(ref, row)]))
            return self._parents(conn, ref, path) + [_Edit(path, "dir", None, 0, "inode/directory", False, "mkdir")]

        return self._commit(ref, agent_id, "mkdir", path, plan).files[-1]

    def delete(
        self, agent_id: str, tree: str, path: str, recursive: bool = False, expected_version: int | None = None
    ) -> ChangeResult:
        """Delete a file, or a directory (with `recursive` when not empty). A deletion is a version: the
        content stays readable by version and `rollback` brings it back."""
        ref = self.resolve(agent_id, tree, "write")
        path = self._file_path(path)
        self._check_expected(expected_version)

        def plan(conn: Connection) -> list[_Edit]:
            row = self._live(conn, ref, path)
            below = [r for r in conn.execute(self._under(ref.id, path)).all() if r.deleted_at is None]
            if below and not recursive:
                raise FailedPrecondition(f"{path} is not empty; pass recursive to delete it with its contents")
            doomed = sorted(below, key=lambda r: -r.path.count("/")) + [row]
            return [
                _Edit(r.path, r.kind, None, 0, r.mime, True, "delete",
                      expected=expected_version if r.path == path else None)
                for r in doomed
            ]  # fmt: skip

        return self._commit(ref, agent_id, "delete", path, plan)

    def move(self, agent_id: str, tree: str, src: str, dst: str, expected_version: int | None = None) -> FileInfo:
        return self._relocate(agent_id, tree, src, dst, expected_version, move=True)

    def copy(self, agent_id: str, tree: str, src: str, dst: str) -> FileInfo:
        return self._relocate(agent_id, tree, src, dst, None, move=False)

    def _relocate(self, agent_id: str, tree: str, src: str, dst: str, expected: int | None, move: bool) -> FileInfo:
        ref = self.resolve(agent_id, tree, "write")
        src, dst = self._file_path(src, "src"), self._file_path(dst, "dst")
        self._check_expected(expected)
        if paths.is_under(dst, src):
            raise InvalidArgument(f"cannot {'move' if move else 'copy'} {src} into itself")
        op = "move" if move else "copy"

        def plan(conn: Connection) -> list[_Edit]:
            row = self._live(conn, ref, src)
            if expected is not None and row.version != expected:
                raise FailedPrecondition(f"{src} is at version {row.version}, expected {expected}")
            moving = [row] + sorted(
                (r for r in conn.execute(self._under(ref.id, src)).all() if r.deleted_at is None),
                key=lambda r: r.path,
            )
            edits = self._parents(conn, ref, dst)
            for r in moving:
                target = dst + r.path[len(src) :]
                edits.append(_Edit(target, r.kind, r.sha256, r.size, r.mime, False, op, f"{op} of {r.path}",
                                   expected=0))  # fmt: skip
            if move:
                edits += [
                    _Edit(r.path, r.kind, None, 0, r.mime, True, "move", f"moved to {dst + r.path[len(src) :]}")
                    for r in sorted(moving, key=lambda r: -r.path.count("/"))
                ]
            return edits

        result = self._commit(ref, agent_id, op, dst, plan)
        return next(f for f in result.files if f.path == dst)

    # -- history, diff, rollback ---------------------------------------------------------------------

    def history(self, agent_id: str, tree: str, path: str, limit: int = 100) -> FileHistory:
        """A file's versions, newest first; for a directory, the changes made below it, newest first, one
        each however many files it touched (so `changes[1]` is the change before the latest)."""
        if not 0 <= limit <= _MAX_HISTORY:
            raise InvalidArgument(f"limit must be 0-{_MAX_HISTORY}")
        ref = self.resolve(agent_id, tree, "read")
        path = paths.normalize(path or "/")
        with self._engine.connect() as conn:
            row = self._row(conn, ref.id, path) if path != "/" else None
            if path != "/" and row is None:
                raise NotFound(f"{path} has no history")
            ids = self._subtree(ref.id, path).with_only_columns(fs_files.c.id)
            if row is not None and row.kind == "file":
                versions = conn.execute(
                    sa.select(fs_versions)
                    .where(fs_versions.c.file_id.in_(ids))
                    .order_by(fs_versions.c.change_id.desc(), fs_versions.c.path)
                    .limit(limit or 100)
                ).all()
                return FileHistory(False, [_version(v) for v in versions], [])
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
            files[v.change_id].append(_version(v))
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

    def rollback(
        self, agent_id: str, tree: str, path: str, *, version: int | None = None, change_id: int | None = None,
        at: float | None = None,
    ) -> ChangeResult:  # fmt: skip
        """Bring a file back to one of its versions, or a file or directory tree back to its state right
        after a change or at a point in time. The rollback is a new change: it can itself be rolled back."""
        if sum(x is not None for x in (version, change_id, at)) != 1:
            raise InvalidArgument("give exactly one of version, change_id or at")
        ref = self.resolve(agent_id, tree, "write")
        path = paths.normalize(path or "/")
        if version is not None:
            if path == "/" or version < 1:
                raise InvalidArgument("rollback to a version needs a file path and a version >= 1")
            plan = _changing(lambda conn: self._plan_version(conn, ref, path, version),
                             f"{path} already has version {version}'s content")  # fmt: skip
            return self._commit(ref, agent_id, "rollback", path, plan)
        with self._engine.connect() as conn:
            target = self._change_at(conn, ref, change_id, at)
        plan = _changing(lambda conn: self._plan_state(conn, ref, path, target),
                         f"{path} is already as it was right after change {target}")  # fmt: skip
        return self._commit(ref, agent_id, "rollback", path, plan, detail=f"to change {target}")

    def _plan_version(self, conn: Connection, ref: TreeRef, path: str, version: int) -> list[_Edit]:
        row = self._row(conn, ref.id, path)
        if row is None:
            raise NotFound(f"{path} does not exist")
        v = conn.execute(
            sa.select(fs_versions).where(fs_versions.c.file_id == row.id, fs_versions.c.version == version)
        ).first()
        if v is None:
            raise NotFound(f"{path} has no version {version}")
        edits = self._restore(row, v, f"to version {version}")
        return (self._parents(conn, ref, path) if edits and not v.deleted else []) + edits

    def _change_at(self, conn: Connection, ref: TreeRef, change_id: int | None, at: float | None) -> int:
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

    def snapshot(self, ref: TreeRef, path: str, change_id: int = 0) -> list[FileVersion]:
        """The live files (not directories) under `path` as they were right after `change_id` (0: now)."""
        if change_id < 0:
            raise InvalidArgument("change_id must not be negative")
        with self._engine.connect() as conn:
            at = self._change_at(conn, ref, change_id, None) if change_id else self._change_at(conn, ref, None, 1e300)
            state = self.state_at(conn, ref, paths.normalize(path or "/"), at)
        return sorted((_version(v) for v in state.values() if not v.deleted and v.sha256), key=lambda v: v.path)

    def state_at(self, conn: Connection, ref: TreeRef, path: str, change_id: int) -> dict[str, sa.Row]:
        """For every file row under `path` (itself included): its version as of `change_id`, if any."""
        ids = self._subtree(ref.id, path).with_only_columns(fs_files.c.id)
        rows = conn.execute(
            sa.select(fs_versions)
            .where(fs_versions.c.file_id.in_(ids), fs_versions.c.change_id <= change_id)
            .order_by(fs_versions.c.file_id, fs_versions.c.version)
        ).all()
        latest: dict[str, sa.Row] = {}
        for v in rows:
            latest[v.file_id] = v
        return latest

    def _plan_state(self, conn: Connection, ref: TreeRef, path: str, change_id: int) -> list[_Edit]:
        state = self.state_at(conn, ref, path, change_id)
        current = conn.execute(self._subtree(ref.id, path)).all()
        removals, restores = [], []
        detail = f"to change {change_id}"
        for row in current:
            v = state.get(row.id)
            if v is None or v.deleted:
                if row.deleted_at is None:
                    removals.append(_Edit(row.path, row.kind, None, 0, row.mime, True, "rollback", detail))
            else:
                restores += self._restore(row, v, detail)
        removals.sort(key=lambda e: -e.path.count("/"))
        restores.sort(key=lambda e: e.path.count("/"))
        return removals + restores

    @staticmethod
    def _restore(row: sa.Row, v: sa.Row, detail: str) -> list[_Edit]:
        kind = "dir" if v.sha256 is None else "file"
        if v.deleted:
            if row.deleted_at is None:
                return [_Edit(row.path, row.kind, None, 0, row.mime, True, "rollback", detail)]
            return []
        if row.deleted_at is None and row.kind == kind and row.sha256 == v.sha256:
            return []
        return [_Edit(row.path, kind, v.sha256, v.size, v.mime, False, "rollback", detail)]

    # -- retention -----------------------------------------------------------------------------------

    def prune(self) -> int:
        """Apply the retention policy (keep_versions / keep_days); never drops a file's current version.
        Returns how many versions were dropped; blobs no version references are deleted."""
        keep_n, keep_s = self.config.keep_versions, self.config.keep_days * 86_400
        if not keep_n and not keep_s:
            return 0
        cutoff = self._clock() - keep_s if keep_s else None
        dropped = 0
        with self._engine.begin() as conn:
            rank = sa.func.row_number().over(partition_by=fs_versions.c.file_id,
                                             order_by=fs_versions.c.version.desc()).label("rank")  # fmt: skip
            ranked = sa.select(fs_versions.c.file_id, fs_versions.c.version, fs_versions.c.at, rank).subquery()
            rows = conn.execute(
                sa.select(ranked.c.file_id, ranked.c.version)
                .join(fs_files, fs_files.c.id == ranked.c.file_id)
                .where(
                    ranked.c.version < fs_files.c.version,
                    sa.or_(
                        ranked.c.rank > keep_n if keep_n else sa.false(),
                        ranked.c.at < cutoff if cutoff is not None else sa.false(),
                    ),
                )
            ).all()
            for file_id, version in rows:
                conn.execute(
                    sa.delete(fs_versions).where(fs_versions.c.file_id == file_id, fs_versions.c.version == version)
                )
            dropped = len(rows)
            referenced = {s for (s,) in conn.execute(sa.select(fs_versions.c.sha256).distinct()) if s}
            conn.execute(sa.delete(fs_blobs).where(fs_blobs.c.sha256.not_in(referenced)) if referenced
                         else sa.delete(fs_blobs))  # fmt: skip
        self.blobs.collect(referenced)
        return dropped

    def _retention_loop(self) -> None:
        while not self._stop.wait(self.config.retention_interval_s):
            try:
                dropped = self.prune()
                if dropped:
                    log.info("fs retention dropped %d old versions", dropped)
            except Exception:
                log.exception("fs retention failed; will retry")

    # -- the semantic layer (fs.semantic does the work) -----------------------------------------------

    def _semantic(self) -> Any:
        if self.index is None:
            raise Unavailable("the semantic index is not running in this kernel")
        return self.index

    def retrieve(
        self, agent_id: str, tree: str, query: str, k: int = 5, filters: RetrieveFilters | None = None,
        all_trees: bool = False,
    ) -> list[RetrieveHit]:  # fmt: skip
        """Files whose text matches `query` by meaning and by words, best first, with the passages."""
        trees = self.trees.readable(agent_id) if all_trees else [self.resolve(agent_id, tree, "read")]
        found = self._semantic().retrieve(trees, query, k, filters or RetrieveFilters())
        with self._engine.connect() as conn:  # one query for every hit's file
            rows = {r.id: r for r in conn.execute(sa.select(fs_files).where(fs_files.c.id.in_([f[1] for f in found])))}
        return [RetrieveHit(self._info(ref, rows[file_id]), score, chunks)
                for ref, file_id, score, chunks in found
                if file_id in rows and rows[file_id].deleted_at is None]  # fmt: skip

    def summarize(self, agent_id: str, tree: str, path: str, version: int = 0, **llm_options: Any) -> Summary:
        ref = self.resolve(agent_id, tree, "read")
        info = self._readable(agent_id, tree, path, version)
        # Cached per tree: a hit only for content summarised in a tree the caller reads, never another's.
        return self._semantic().summarize(agent_id, ref.id, info.path, info.version, info.sha256, **llm_options)

    def index_backlog(self, agent_id: str | None = None) -> int:
        """Files waiting to be (re)indexed in the trees the agent reads; in the whole kernel for None. An agent's
        figure moves with its own trees only, not with what other agents write."""
        index = self._semantic()
        if agent_id is None:
            return int(index.backlog)
        trees = [t.id for t in self.trees.readable(agent_id)]
        with self._engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(fs_files)
                .where(fs_files.c.tree_id.in_(trees), fs_files.c.indexed_version != fs_files.c.version)
            ).scalar_one())  # fmt: skip

    def group_by(
        self, agent_id: str, tree: str, query: str = "", groups: int = 0, path_prefix: str = "/", limit: int = 200
    ) -> list[FileGroup]:
        """Files (those matching `query`, or all under `path_prefix`) clustered by topic, each group named."""
        if not 0 <= groups <= 50 or not 0 <= limit <= 1000:
            raise InvalidArgument("groups must be 0-50 and limit 0-1000")
        ref = self.resolve(agent_id, tree, "read")
        limit = limit or 200
        prefix = paths.normalize(path_prefix or "/", "path_prefix")
        if query.strip():
            found = self.retrieve(agent_id, tree, query, min(limit, 200), RetrieveFilters(path_prefix=prefix))
            with self._engine.connect() as conn:
                ids = [r.id for h in found if (r := self._row(conn, ref.id, h.file.path)) is not None]
        else:
            with self._engine.connect() as conn:
                ids = conn.execute(
                    self._under(ref.id, prefix).with_only_columns(fs_files.c.id)
                    .where(fs_files.c.kind == "file", fs_files.c.deleted_at.is_(None))
                    .order_by(fs_files.c.path).limit(limit)
                ).scalars().all()  # fmt: skip
        out = []
        for name, keywords, members in self._semantic().group(ref, ids, groups):
            infos = [i for f in members if (i := self.info(ref, f)) is not None]
            out.append(FileGroup(name, keywords, infos))
        return out

    def join(self, agent_id: str, tree: str, path_a: str, tree_b: str, path_b: str, k: int = 5) -> list[PassagePair]:
        """The passages of two files that are most alike."""
        sides = []
        for t, p in ((tree, path_a), (tree_b, path_b)):
            ref = self.resolve(agent_id, t, "read")
            with self._engine.connect() as conn:
                row = self._live(conn, ref, self._file_path(p))
            if row.kind != "file":
                raise FailedPrecondition(f"{row.path} is a directory")
            sides.append((ref, row.id))
        return self._semantic().join(sides[0], sides[1], k)

    # -- watch ---------------------------------------------------------------------------------------

    def watch(
        self,
        agent_id: str,
        tree: str,
        prefix: str,
        deliver: Callable[[FileEvent], None],
        hold: Callable[[str], None] = lambda tree_id: None,
    ) -> Subscription:
        """Subscribe `deliver` to the changes under `prefix` that commit from now on; close the subscription
        when done. `hold(tree_id)` runs once read access is checked, so that removing that access from now on
        can end the watch (`Trees.on_access_removed`); access is checked again after it, so a removal just
        before is not missed either."""
        ref = self.resolve(agent_id, tree, "read")
        hold(ref.id)
        self.resolve(agent_id, tree, "read")
        return self.events.subscribe(ref.id, paths.normalize(prefix or "/"), deliver)

    # -- the commit path -----------------------------------------------------------------------------

    def _commit(
        self, ref: TreeRef, agent_id: str, op: str, path: str, plan: Callable[[Connection], list[_Edit]],
        detail: str = "",
    ) -> ChangeResult:  # fmt: skip
        for _ in range(_RETRIES):
            try:
                with self._engine.begin() as conn:
                    now = self._clock()
                    # The first statement writes: SQLite takes the write lock here, before anything is read.
                    change_id = conn.execute(
                        sa.insert(fs_changes).values(
                            tree_id=ref.id, agent_id=agent_id, op=op, path=path, detail=detail, at=now
                        )  # fmt: skip
                    ).inserted_primary_key[0]
                    edits = plan(conn)
                    if not edits:
                        raise _NoChange(ChangeResult(0, []))
                    result, file_ids, ops = self._apply(conn, ref, agent_id, change_id, edits, now)
            except _NoChange as nothing:
                return nothing.result
            except (_LostRace, IntegrityError):
                continue
            events = [FileEvent(change_id, op_, ref.name, f.path, f.version, agent_id, now)
                      for op_, f in zip(ops, result.files, strict=True)]  # fmt: skip
            self.events.publish(ref.id, events)
            for listener in self._listeners:
                listener(file_ids)
            return result
        raise Unavailable(f"too many concurrent changes under {path}; try again")

    def _apply(
        self, conn: Connection, ref: TreeRef, agent_id: str, change_id: int, edits: list[_Edit], now: float
    ) -> tuple[ChangeResult, list[str], list[str]]:
        rows = {r.path: r for r in conn.execute(
            sa.select(fs_files).where(fs_files.c.tree_id == ref.id, fs_files.c.path.in_({e.path for e in edits}))
            .with_for_update()
        )}  # fmt: skip
        infos, file_ids, ops = [], [], []
        for edit in edits:
            row = rows.get(edit.path)
            live = row is not None and row.deleted_at is None
            if edit.expected is not None and (row.version if live else 0) != edit.expected:
                current = row.version if live else 0
                state = f"is at version {current}" if current else "does not exist" if row is None else "is deleted"
                if edit.expected == 0:
                    raise FailedPrecondition(f"{edit.path} exists (version {current})")
                raise FailedPrecondition(f"{edit.path} {state}, expected version {edit.expected}")
            if live and not edit.deleted and row.kind != edit.kind and edit.op != "rollback":
                raise FailedPrecondition(f"{edit.path} is a {'directory' if row.kind == 'dir' else 'file'}")
            values = {"kind": edit.kind, "sha256": edit.sha, "size": edit.size, "mime": edit.mime,
                      "modified_at": now, "deleted_at": now if edit.deleted else None}  # fmt: skip
            if row is None:
                file_id, version = uuid.uuid4().hex, 1
                conn.execute(sa.insert(fs_files).values(id=file_id, tree_id=ref.id, path=edit.path, version=1,
                                                        created_at=now, indexed_version=0, **values))  # fmt: skip
            else:
                file_id, version = row.id, row.version + 1
                if edit.deleted:
                    values.update(sha256=row.sha256, size=row.size, kind=row.kind)
                updated = conn.execute(
                    sa.update(fs_files).where(fs_files.c.id == row.id, fs_files.c.version == row.version)
                    .values(version=version, **values)
                )  # fmt: skip
                if updated.rowcount != 1:
                    raise _LostRace
            op = "create" if edit.op == "write" and not live else edit.op
            conn.execute(sa.insert(fs_versions).values(
                file_id=file_id, version=version, change_id=change_id, op=op, path=edit.path, sha256=edit.sha,
                size=edit.size, mime=edit.mime, deleted=edit.deleted, agent_id=agent_id, detail=edit.detail, at=now,
            ))  # fmt: skip
            if edit.sha and not edit.deleted:
                self.blobs.record(conn, edit.sha, edit.size, edit.data, now)
            state = {"id": file_id, "path": edit.path, "version": version, "created_at": row.created_at if row else now,
                     **values}  # fmt: skip
            rows[edit.path] = _Row(**state)  # what a later edit of the same change sees
            infos.append(FileInfo(ref.display, edit.path, state["kind"] == "dir", version, state["size"],
                                  state["sha256"] or "", edit.mime, state["created_at"], now, edit.deleted,
                                  change_id))  # fmt: skip
            file_ids.append(file_id)
            ops.append(op)
        return ChangeResult(change_id, infos), file_ids, ops

    def _parents(self, conn: Connection, ref: TreeRef, path: str) -> list[_Edit]:
        """mkdir -p for the directories above `path`."""
        wanted = paths.ancestors(path)
        if not wanted:
            return []
        rows = {r.path: r for r in conn.execute(
            sa.select(fs_files).where(fs_files.c.tree_id == ref.id, fs_files.c.path.in_(wanted))
        )}  # fmt: skip
        edits = []
        for p in wanted:
            row = rows.get(p)
            if row is not None and row.deleted_at is None:
                if row.kind == "file":
                    raise FailedPrecondition(f"{p} is a file, not a directory")
                continue
            edits.append(_Edit(p, "dir", None, 0, "inode/directory", False, "mkdir"))
        return edits

    # -- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _row(conn: Connection, tree_id: str, path: str) -> sa.Row | None:
        return conn.execute(sa.select(fs_files).where(fs_files.c.tree_id == tree_id, fs_files.c.path == path)).first()

    def _live(self, conn: Connection, ref: TreeRef, path: str) -> sa.Row:
        row = self._row(conn, ref.id, path)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"{path} does not exist")
        return row

    @staticmethod
    def _subtree(tree_id: str, path: str) -> sa.Select[Any]:
        """The row at `path` and those below it."""
        return sa.select(fs_files).where(
            fs_files.c.tree_id == tree_id,
            sa.or_(fs_files.c.path == path, fs_files.c.path.like(paths.like_prefix(path), escape="\\")),
        )

    @staticmethod
    def _under(tree_id: str, path: str) -> sa.Select[Any]:
        """Rows strictly below `path`."""
        return sa.select(fs_files).where(
            fs_files.c.tree_id == tree_id, fs_files.c.path.like(paths.like_prefix(path), escape="\\")
        )

    @staticmethod
    def _file_path(path: str, what: str = "path") -> str:
        path = paths.normalize(path, what)
        if path == "/":
            raise InvalidArgument(f"{what} must name something below /")
        return path

    @staticmethod
    def _check_expected(expected: int | None) -> None:
        if expected is not None and expected < 0:
            raise InvalidArgument("expected_version must not be negative")

    @staticmethod
    def _info(ref: TreeRef, row: sa.Row) -> FileInfo:
        return FileInfo(ref.display, row.path, row.kind == "dir", row.version, row.size, row.sha256 or "", row.mime,
                        row.created_at, row.modified_at, row.deleted_at is not None, 0)  # fmt: skip

    def count(self) -> int:
        """Live files (not directories) in every tree."""
        with self._engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(fs_files)
                .where(fs_files.c.kind == "file", fs_files.c.deleted_at.is_(None))
            ).scalar_one())  # fmt: skip

    def info(self, ref: TreeRef, file_id: str) -> FileInfo | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(fs_files).where(fs_files.c.id == file_id)).first()
        return None if row is None else self._info(ref, row)


def _changing(plan: Callable[[Connection], list[_Edit]], state: str) -> Callable[[Connection], list[_Edit]]:
    """A rollback's plan that refuses to commit an empty change: a rollback that did nothing would look like
    a success (a caller who picked the wrong target would never know)."""

    def checked(conn: Connection) -> list[_Edit]:
        edits = plan(conn)
        if not edits:
            raise FailedPrecondition(f"{state}: rolling back would change nothing")
        return edits

    return checked


_NO_NEWLINE = "\\ No newline at end of file\n"


def _diff_lines(text: str) -> list[str]:
    """`text` as diff lines, split on "\\n" only (as diff does); a last line without a newline carries
    diff -u's marker, so it also differs from the same line with one."""
    *lines, tail = text.split("\n")
    out = [line + "\n" for line in lines]
    if tail:
        out.append(tail + "\n" + _NO_NEWLINE)
    return out


def _version(v: sa.Row) -> FileVersion:
    return FileVersion(v.path, v.version, v.change_id, v.op, v.size, v.sha256 or "", v.deleted, v.agent_id, v.detail,
                       v.at)  # fmt: skip


def _guess_mime(path: str, head: bytes) -> str:
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
