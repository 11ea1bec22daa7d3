"""The file system's history through the SDK against an in-process kernel (SQLite, embedded Chroma): rollbacks of a
file to a version or a point in time and of a directory to a change, one history row per change with its files, a
rollback that would change nothing refused, and diffs marked as `diff -u` marks them. tests/test_fs.py holds the
rest of the file system's end-to-end tests.
"""

from __future__ import annotations

import time

import pytest

from aios import errors
from aios.client import FileChangeRecord, FileVersion
from aios.kernel import Kernel
from tests.conftest import agent_client


def test_rollback_file_to_version_and_point_in_time(sqlite_kernel: Kernel) -> None:
    with agent_client(sqlite_kernel, "timey") as agent:
        agent.write_file("/plan.txt", "v1")
        agent.write_file("/plan.txt", "v2")
        t_mid = time.time()
        time.sleep(0.05)
        agent.write_file("/plan.txt", "v3")
        agent.write_file("/other.txt", "later")
        assert agent.rollback("/plan.txt", version=1).files[0].version == 4
        assert agent.read_file("/plan.txt") == b"v1"
        agent.rollback("/", at=t_mid)
        assert agent.read_file("/plan.txt") == b"v2"
        with pytest.raises(errors.NotFound):
            agent.read_file("/other.txt")
        ops = [v.op for v in agent.file_history("/plan.txt")]
        assert ops == ["rollback", "rollback", "write", "write", "create"]
        with pytest.raises(errors.FailedPrecondition, match="would change nothing"):
            agent.rollback("/plan.txt", version=5)  # already there


def test_directory_history_has_one_row_per_change_with_its_files(sqlite_kernel: Kernel) -> None:
    with agent_client(sqlite_kernel, "historian") as agent:
        agent.write_file("/notes/plan.md", "Ship the beta on Friday")
        agent.write_file("/notes/todo.md", "call the bank")
        agent.move("/notes", "/archive/notes")
        history = agent.file_history("/")
        assert all(isinstance(c, FileChangeRecord) for c in history)
        assert [(c.op, c.path) for c in history] == [
            ("move", "/archive/notes"), ("write", "/notes/todo.md"), ("write", "/notes/plan.md")
        ]  # fmt: skip
        assert len({c.change_id for c in history}) == 3
        files = [sorted((v.op, v.path, v.version, v.deleted) for v in c.files) for c in history]
        assert files == [
            [("mkdir", "/archive", 1, False), ("move", "/archive/notes", 1, False),
             ("move", "/archive/notes/plan.md", 1, False), ("move", "/archive/notes/todo.md", 1, False),
             ("move", "/notes", 2, True), ("move", "/notes/plan.md", 2, True), ("move", "/notes/todo.md", 2, True)],
            [("create", "/notes/todo.md", 1, False)],
            [("create", "/notes/plan.md", 1, False), ("mkdir", "/notes", 1, False)],
        ]  # fmt: skip
        assert agent.file_history("/", limit=2) == history[:2]  # the limit counts changes
        # A subdirectory lists only the changes below it, with only the files below it.
        below = agent.file_history("/archive")
        assert [(c.change_id, len(c.files)) for c in below] == [(history[0].change_id, 4)]
        # A file's history is still its versions.
        (version,) = agent.file_history("/archive/notes/plan.md")
        assert isinstance(version, FileVersion) and (version.op, version.version) == ("move", 1)


def test_the_readme_rollback_restores_the_state_before_the_latest_change(sqlite_kernel: Kernel) -> None:
    with agent_client(sqlite_kernel, "undoer") as agent:
        agent.write_file("/notes/plan.md", "Ship the beta on Friday")
        agent.write_file("/notes/plan.md", "Ship on Monday", expected_version=1)
        agent.rollback("/", change_id=agent.file_history("/")[1].change_id)
        assert agent.read_file("/notes/plan.md") == b"Ship the beta on Friday"
        agent.move("/notes", "/archive/notes")  # one change of many files
        undo = agent.rollback("/", change_id=agent.file_history("/")[1].change_id)
        assert {(f.path, f.deleted) for f in undo.files} == {
            ("/archive", True), ("/archive/notes", True), ("/archive/notes/plan.md", True), ("/notes", False),
            ("/notes/plan.md", False),
        }  # fmt: skip
        assert [f.path for f in agent.list_files("/", recursive=True)] == ["/notes", "/notes/plan.md"]
        assert agent.read_file("/notes/plan.md") == b"Ship the beta on Friday"


def test_rollback_to_the_current_state_is_refused_and_records_nothing(sqlite_kernel: Kernel) -> None:
    with agent_client(sqlite_kernel, "noop") as agent:
        agent.write_file("/d/a.txt", "one")
        agent.write_file("/d/a.txt", "two")
        before = agent.file_history("/")
        for rollback in (
            lambda: agent.rollback("/", change_id=before[0].change_id),
            lambda: agent.rollback("/d", change_id=before[0].change_id),
            lambda: agent.rollback("/", at=time.time()),
            lambda: agent.rollback("/d/a.txt", version=2),
        ):
            with pytest.raises(errors.FailedPrecondition, match="would change nothing"):
                rollback()
        assert agent.file_history("/") == before
        assert agent.rollback("/d/a.txt", version=1).files[0].version == 3  # a real rollback still works


def test_diff_marks_a_missing_final_newline_like_diff_u(sqlite_kernel: Kernel) -> None:
    with agent_client(sqlite_kernel, "differ") as agent:
        agent.write_file("/plan.md", "Ship the beta on Friday")
        agent.write_file("/plan.md", "Ship on Monday")
        agent.write_file("/plan.md", "Ship on Monday\n")
        agent.write_file("/plan.md", "Ship on Monday\nthen rest")
        no_newline = "\\ No newline at end of file\n"
        assert agent.diff("/plan.md", 1, 2) == (
            f"--- /plan.md@v1\n+++ /plan.md@v2\n@@ -1 +1 @@\n-Ship the beta on Friday\n{no_newline}"
            f"+Ship on Monday\n{no_newline}"
        )
        # Only the final newline differs: still a change, shown as diff -u shows it.
        assert agent.diff("/plan.md", 2, 3).endswith(f"@@ -1 +1 @@\n-Ship on Monday\n{no_newline}+Ship on Monday\n")
        assert agent.diff("/plan.md", 3, 4).endswith("@@ -1 +1,2 @@\n Ship on Monday\n+then rest\n" + no_newline)
