"""The file system's change plans (fs.plans): pure functions from the rows a change read to the edits it
makes, tested on hand-made rows (no database)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aios.errors import FailedPrecondition
from aios.fs import plans
from aios.fs.blobs import Blob
from aios.fs.plans import Edit, FileRow, VersionRow


def _row(path: str, kind: str = "file", version: int = 1, sha: str | None = "aa", deleted: bool = False) -> FileRow:
    is_dir = kind == "dir"
    return FileRow(f"id{path}", path, kind, version, None if is_dir else sha, 0 if is_dir else 3,
                   "inode/directory" if is_dir else "text/plain", 1.0, 2.0, 5.0 if deleted else None)  # fmt: skip


def _version(row: FileRow, version: int, sha: str | None, deleted: bool = False) -> VersionRow:
    return VersionRow(row.id, version, version, "write", row.path, sha, 3, "text/plain", deleted, "agent", "", 1.0)


def _ops(edits: list[Edit]) -> list[tuple[str, str, bool]]:
    return [(e.op, e.path, e.deleted) for e in edits]


def test_parents_make_the_missing_directories_outermost_first() -> None:
    existing = {"/a": _row("/a", "dir"), "/a/b/c": _row("/a/b/c", "dir", deleted=True)}
    assert _ops(plans.parents("/a/b/c/f.txt", existing)) == [("mkdir", "/a/b", False), ("mkdir", "/a/b/c", False)]
    with pytest.raises(FailedPrecondition, match="/a is a file"):
        plans.parents("/a/f.txt", {"/a": _row("/a")})


def test_write_many_makes_each_shared_directory_once() -> None:
    blob = Blob("bb", 2, b"hi", b"hi")
    edits = plans.write_many([("/d/x.txt", blob, "text/plain"), ("/d/y.txt", blob, "text/plain")], {}, "import")
    assert _ops(edits) == [("mkdir", "/d", False), ("import", "/d/x.txt", False), ("import", "/d/y.txt", False)]
    assert edits[1].data == b"hi" and edits[1].expected is None


def test_mkdir_of_an_existing_directory_changes_nothing_and_a_file_refuses() -> None:
    assert plans.mkdir("/d", _row("/d", "dir"), {}) == []
    assert _ops(plans.mkdir("/d", _row("/d", "dir", deleted=True), {})) == [("mkdir", "/d", False)]
    with pytest.raises(FailedPrecondition, match="is a file"):
        plans.mkdir("/d", _row("/d"), {})


def test_delete_needs_recursive_for_contents_and_goes_deepest_first() -> None:
    d = _row("/d", "dir")
    below = [_row("/d/e", "dir"), _row("/d/e/f.txt"), _row("/d/gone.txt", deleted=True)]
    with pytest.raises(FailedPrecondition, match="not empty"):
        plans.delete(d, below, recursive=False, expected=None)
    edits = plans.delete(d, below, recursive=True, expected=1)
    assert _ops(edits) == [("delete", "/d/e/f.txt", True), ("delete", "/d/e", True), ("delete", "/d", True)]
    assert [e.expected for e in edits] == [None, None, 1]  # the condition holds for the path asked about only
    assert plans.delete(d, [_row("/d/gone.txt", deleted=True)], recursive=False, expected=None)[0].path == "/d"


def test_move_copies_into_a_free_target_then_deletes_the_source() -> None:
    src = _row("/a", "dir", version=2)
    below = [_row("/a/x.txt"), _row("/a/old.txt", deleted=True)]
    edits = plans.relocate(src, below, "/b/a", {}, move=True, expected=2)
    assert _ops(edits) == [
        ("mkdir", "/b", False), ("move", "/b/a", False), ("move", "/b/a/x.txt", False),
        ("move", "/a/x.txt", True), ("move", "/a", True),
    ]  # fmt: skip
    assert [e.expected for e in edits[1:3]] == [0, 0]  # the target must not exist
    assert edits[2].sha == "aa" and edits[3].detail == "moved to /b/a/x.txt"
    copy = plans.relocate(src, below, "/c", {}, move=False, expected=None)
    assert _ops(copy) == [("copy", "/c", False), ("copy", "/c/x.txt", False)]
    with pytest.raises(FailedPrecondition, match="expected 1"):
        plans.relocate(src, below, "/c", {}, move=True, expected=1)


def test_rollback_to_a_state_deletes_what_was_not_there_and_restores_the_rest() -> None:
    kept, changed, new, gone = _row("/k.txt"), _row("/c.txt", version=2, sha="new"), _row("/n"), _row("/g.txt")
    gone = FileRow(gone.id, gone.path, "file", 2, "gg", 3, "text/plain", 1.0, 2.0, 4.0)  # deleted since
    state = {
        kept.id: _version(kept, 1, "aa"),
        changed.id: _version(changed, 1, "old"),
        gone.id: _version(gone, 1, "gg"),
    }
    edits = plans.to_state([kept, changed, new, gone], state, change_id=7)
    assert sorted(_ops(edits)) == [("rollback", "/c.txt", False), ("rollback", "/g.txt", False),
                                   ("rollback", "/n", True)]  # fmt: skip
    assert edits[0].deleted  # removals first
    assert {e.path: e.sha for e in edits if not e.deleted} == {"/c.txt": "old", "/g.txt": "gg"}
    assert all(e.detail == "to change 7" for e in edits)
    with pytest.raises(FailedPrecondition, match="would change nothing"):
        plans.changing(plans.to_state([kept], state, 7), "already there")


def test_rollback_to_a_version_brings_back_its_parents_unless_it_is_a_deletion() -> None:
    row = _row("/d/f.txt", version=3, sha="now")
    assert _ops(plans.to_version(row, _version(row, 1, "then"), {})) == [
        ("mkdir", "/d", False), ("rollback", "/d/f.txt", False)
    ]  # fmt: skip
    assert _ops(plans.to_version(row, _version(row, 2, None, deleted=True), {})) == [("rollback", "/d/f.txt", True)]
    assert plans.to_version(row, _version(row, 2, "now"), {}) == []


def test_check_refuses_failed_conditions_and_kind_changes() -> None:
    file = _row("/f", version=4)
    edit = Edit("/f", "file", "bb", 2, "text/plain", False, "write")
    with pytest.raises(FailedPrecondition, match="exists \\(version 4\\)"):
        plans.check(replace(edit, expected=0), file)
    with pytest.raises(FailedPrecondition, match="is at version 4, expected version 3"):
        plans.check(replace(edit, expected=3), file)
    with pytest.raises(FailedPrecondition, match="is deleted, expected version 3"):
        plans.check(replace(edit, expected=3), _row("/f", deleted=True))
    with pytest.raises(FailedPrecondition, match="/d is a directory"):
        plans.check(Edit("/d", "file", "bb", 2, "text/plain", False, "write"), _row("/d", "dir"))
    plans.check(Edit("/d", "file", "bb", 2, "text/plain", False, "rollback"), _row("/d", "dir"))  # a rollback may
    plans.check(replace(edit, expected=0), None)


def test_applied_rows_and_the_op_each_version_records() -> None:
    write = Edit("/f", "file", "bb", 2, "text/plain", False, "write")
    created = plans.applied(write, None, "new-id", 9.0)
    assert (created.id, created.version, created.created_at, created.live) == ("new-id", 1, 9.0, True)
    assert plans.version_op(write, None) == "create"
    old = _row("/f", version=3)
    assert plans.version_op(write, old) == "write"
    assert plans.version_op(write, _row("/f", deleted=True)) == "create"
    deletion = plans.applied(Edit("/f", "file", None, 0, "text/plain", True, "delete"), old, "unused", 9.0)
    assert (deletion.id, deletion.version, deletion.sha256, deletion.size) == (old.id, 4, old.sha256, old.size)
    assert (deletion.deleted_at, deletion.created_at, deletion.modified_at) == (9.0, old.created_at, 9.0)


def test_an_append_computed_from_another_version_is_stale() -> None:
    blob = Blob("bb", 2, b"hi", b"hi")
    (first,) = plans.write("/log", blob, "text/plain", {}, op="append", base=0)  # read no file
    assert not plans.stale(first, None)
    assert plans.stale(first, _row("/log"))  # created meanwhile: computed again, not overwritten
    assert not plans.stale(first, _row("/log", deleted=True))
    (second,) = plans.write("/log", blob, "text/plain", {}, op="append", base=1)
    assert not plans.stale(second, _row("/log", version=1)) and plans.stale(second, _row("/log", version=2))
    (plain,) = plans.write("/log", blob, "text/plain", {})
    assert not plans.stale(plain, _row("/log", version=7))  # a write replaces whatever is there
