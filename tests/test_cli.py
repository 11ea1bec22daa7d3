"""`aios` command-line plumbing: how the kernel logs, how the shell splits a line."""

from __future__ import annotations

import logging
import time

import pytest

from aios.kernel import Kernel
from aios.shell import split_line


def test_periodic_job_runs_are_debug_records(sqlite_kernel: Kernel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    deadline = time.time() + 60
    while not any("flush_recalls" in r.getMessage() and "executed" in r.getMessage() for r in caplog.records):
        assert time.time() < deadline, "the recall flush did not run within 60 s"
        time.sleep(0.1)
    runs = [r for r in caplog.records if r.name.startswith("apscheduler.executors")]
    assert runs and {r.levelname for r in runs} == {"DEBUG"}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("chat alice What's up?", ["chat", "alice", "What's", "up?"]),
        ('add a \'x  y\' "say \\"hi\\""', ["add", "a", "x  y", 'say "hi"']),
        ('fs write a /p "unclosed text', ["fs", "write", "a", "/p", '"unclosed', "text"]),
        ("trailing\\", ["trailing\\"]),
        ("", []),
    ],
)
def test_split_line_never_fails(line: str, words: list[str]) -> None:
    assert split_line(line) == words
