"""The change log: every mutation of a tree is one change (an fs_changes row) giving each path it touches a
new version. `commit` runs a plan inside the change's transaction, applies its edits, retries a plan that lost a
race, and after the commit tells the watchers (fs.events) and the commit listeners (the semantic index)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from aios.errors import Unavailable
from aios.fs import plans, rows
from aios.fs._schema import fs_changes, fs_files, fs_versions
from aios.fs.blobs import BlobStore
from aios.fs.events import EventBus
from aios.fs.models import ChangeResult, FileEvent
from aios.fs.plans import Edit, FileRow
from aios.fs.trees import TreeRef

__all__ = ["ChangeLog", "NoChange", "Plan"]

_RETRIES = 8

Plan = Callable[[Connection], list[Edit]]
"""Reads the rows it needs inside the change's transaction and returns the edits to apply."""


class NoChange(Exception):
    """Raised by a plan with nothing to do: `commit` returns `result` and records no change."""

    def __init__(self, result: ChangeResult) -> None:
        self.result = result


class _LostRace(Exception):
    pass


class ChangeLog:
    def __init__(self, engine: Engine, blobs: BlobStore, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._blobs = blobs
        self._clock = clock
        self.events = EventBus()
        self._listeners: list[Callable[[list[str]], None]] = []

    def on_commit(self, listener: Callable[[list[str]], None]) -> None:
        """`listener(file_ids)` runs after each committed change (the semantic index subscribes)."""
        self._listeners.append(listener)

    def commit(self, ref: TreeRef, agent_id: str, op: str, path: str, plan: Plan, detail: str = "") -> ChangeResult:
        """One change of `ref` by `agent_id`: `plan`'s edits, all or none. A plan that lost a race to a
        concurrent change (its conditional update matched no row) runs again, up to a few times."""
        for _ in range(_RETRIES):
            try:
                with self._engine.begin() as conn:
                    now = self._clock()
                    # The first statement writes: SQLite takes the write lock here, before anything is read.
                    key = conn.execute(
                        sa.insert(fs_changes).values(
                            tree_id=ref.id, agent_id=agent_id, op=op, path=path, detail=detail, at=now
                        )  # fmt: skip
                    ).inserted_primary_key
                    assert key is not None  # a single-row insert has one
                    change_id = int(key[0])
                    edits = plan(conn)
                    if not edits:
                        raise NoChange(ChangeResult(0, []))
                    result, file_ids, ops = self._apply(conn, ref, agent_id, change_id, edits, now)
            except NoChange as nothing:
                return nothing.result
            except (_LostRace, IntegrityError):
                continue
            self._publish(ref, agent_id, now, result, ops, file_ids)
            return result
        raise Unavailable(f"too many concurrent changes under {path}; try again")

    def _apply(
        self, conn: Connection, ref: TreeRef, agent_id: str, change_id: int, edits: list[Edit], now: float
    ) -> tuple[ChangeResult, list[str], list[str]]:
        current = rows.by_paths(conn, ref.id, {e.path for e in edits}, lock=True)
        infos, file_ids, ops = [], [], []
        for edit in edits:
            row = current.get(edit.path)
            if plans.stale(edit, row):
                raise _LostRace
            plans.check(edit, row)
            new = plans.applied(edit, row, uuid.uuid4().hex, now)
            if row is None:
                conn.execute(sa.insert(fs_files).values(id=new.id, tree_id=ref.id, path=edit.path, version=1,
                                                        created_at=now, indexed_version=0, **_values(new)))  # fmt: skip
            else:
                updated = conn.execute(
                    sa.update(fs_files).where(fs_files.c.id == row.id, fs_files.c.version == row.version)
                    .values(version=new.version, **_values(new))
                )  # fmt: skip
                if updated.rowcount != 1:
                    raise _LostRace
            op = plans.version_op(edit, row)
            conn.execute(sa.insert(fs_versions).values(
                file_id=new.id, version=new.version, change_id=change_id, op=op, path=edit.path, sha256=edit.sha,
                size=edit.size, mime=edit.mime, deleted=edit.deleted, agent_id=agent_id, detail=edit.detail, at=now,
            ))  # fmt: skip
            if edit.sha and not edit.deleted:
                self._blobs.record(conn, edit.sha, edit.size, edit.data, now)
            current[edit.path] = new  # what a later edit of the same change sees
            infos.append(rows.to_info(ref, new, change_id))
            file_ids.append(new.id)
            ops.append(op)
        return ChangeResult(change_id, infos), file_ids, ops

    def _publish(
        self, ref: TreeRef, agent_id: str, now: float, result: ChangeResult, ops: list[str], file_ids: list[str]
    ) -> None:
        events = [FileEvent(result.change_id, op, ref.name, f.path, f.version, agent_id, now)
                  for op, f in zip(ops, result.files, strict=True)]  # fmt: skip
        self.events.publish(ref.id, events)
        for listener in self._listeners:
            listener(file_ids)


def _values(r: FileRow) -> dict[str, Any]:
    """The columns an edit sets on its file's row."""
    return {"kind": r.kind, "sha256": r.sha256, "size": r.size, "mime": r.mime, "modified_at": r.modified_at,
            "deleted_at": r.deleted_at}  # fmt: skip
