"""Crash and restart, measured; and a disk that fills up.

`kill -9` at random moments while clients stream note adds (single and batched), file writes, appends and
directory rollbacks, then a restart: every acknowledged write is there exactly once and findable, a batch or a
rollback is all or nothing. AIOS_CRASH_TRIALS kill/restart cycles on one data dir (3 here; `make fuzz` runs
more); AIOS_CRASH_SEED fixes the texts and how many acknowledgements each kill waits for (thread timing varies).
tests/crash_trials.py drives the clients and counts what a restart lost or doubled.

A data dir on a small filesystem that fills: writes answer RESOURCE_EXHAUSTED naming the disk and change
nothing, reads go on, writes resume once space is freed, and a restart finds nothing corrupted. That needs a
tmpfs mount (root); without one, a database that may not grow (SQLite's max_page_count, the same SQLITE_FULL a
full disk gives) stands in.
"""

from __future__ import annotations

import errno
import functools
import os
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from chromadb.errors import InternalError as ChromaInternalError

import aios._db
from aios._db import storage_full
from aios.client import Client
from aios.embeddings import Embedder
from aios.errors import AiosError, NotFound, ResourceExhausted
from tests.conftest import ThreadedKernel, agent_client, free_port, kernel_config
from tests.crash_trials import Trial, poll, run_trial, verify
from tests.daemon import Daemon, wait_idle

TRIALS = max(1, int(os.environ.get("AIOS_CRASH_TRIALS", "3")))
FAST_BOOT = {"AIOS_LLM_BACKEND": "none"}  # no model to load: a restart takes seconds less
FULL = "no space left on the device holding the data dir"


# -- crash trials ------------------------------------------------------------------------------------------


def test_kill_9_at_random_moments_loses_and_doubles_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int(os.environ.get("AIOS_CRASH_SEED") or random.randrange(1 << 32))
    rng = random.Random(seed)
    daemon = Daemon(tmp_path / "data", free_port(), log=tmp_path / "kernel.log")
    daemon.start(**FAST_BOOT)
    trials: list[Trial] = []
    counts: list[dict[str, int]] = []
    try:
        with Client(daemon.target, daemon.token) as admin:
            token = admin.create_agent("crash").token
        for n in range(TRIALS):
            trial = Trial(n)
            trials.append(trial)
            run_trial(daemon, token, trial, rng)
            daemon.start(**FAST_BOOT)
            with Client(daemon.target, token) as agent:
                counts.append(verify(agent, trial))
            print(f"crash trial {n} (seed {seed}): {counts[-1]}")
        with Client(daemon.target, token) as agent:  # the last restart kept what the earlier ones restored
            final = [verify(agent, trial, search=False) for trial in trials]
    finally:
        if daemon.proc is not None:
            daemon.stop(signal.SIGKILL)
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    print(f"crash trials: {TRIALS}, seed {seed}, total {total}")
    assert total["lost"] == total["duplicated"] == 0, (seed, counts)
    assert [c["lost"] + c["duplicated"] for c in final] == [0] * TRIALS, (seed, final)
    assert sum(total[k] for k in ("notes", "files", "appends", "rollbacks")) >= 3 * TRIALS


# -- a full disk -------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs, if this machine lets the tests mount one (root, and a container that allows it)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem (tmpfs) needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(mnt)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not let the tests mount a tmpfs: {mounted.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk has not a byte left; delete it to free the space."""
    ballast = disk / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return ballast


def _answer(call: Callable[[], Any]) -> str:
    """ "OK", or the status code and message the kernel answered."""
    try:
        call()
        return "OK"
    except AiosError as exc:
        return f"{exc.code}: {exc.message}"


def _sqlite_ok(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers(small_disk: Path, embedder: Embedder) -> None:
    config = kernel_config(small_disk / "data")
    with ThreadedKernel(config, embedder) as kernel:
        with Client(kernel.target, kernel.admin_token) as admin:
            token = admin.create_agent("filler").token
        with Client(kernel.target, token) as agent:
            note = agent.add_note("the lighthouse keeper feeds the gulls at noon")
            doomed = agent.add_note("the old pier is closed for repairs")
            agent.write_file("/ferry.txt", "the ferry leaves the harbour at nine\n")
            big = agent.write_file("/big.bin", os.urandom(300_000))  # a blob file, not a row
            wait_idle(agent)
            ballast = _fill(small_disk)
            writes = {
                "add_note": lambda: agent.add_note("refused: the gulls moved to the cliffs"),
                "add_notes": lambda: agent.add_notes(["refused: one of two", "refused: two of two"]),
                "write_file": lambda: agent.write_file("/refused.txt", "refused: the ferry is late"),
                "write_file large": lambda: agent.write_file("/refused.bin", os.urandom(300_000)),
                "append": lambda: agent.write_file("/ferry.txt", "refused: and at noon\n", append=True),
                "update_note content": lambda: agent.update_note(note.id, content="refused: the gulls left"),
            }
            answers = {name: _answer(call) for name, call in writes.items()}
            print(f"full disk (reserve kept): {answers}")
            assert all(a.startswith(f"RESOURCE_EXHAUSTED: {FULL}") for a in answers.values()), answers
            # Nothing half-way: no refused note, file or line anywhere.
            assert {h.note.id for h in agent.search("where did the gulls move?", k=5)} == {note.id, doomed.id}
            assert agent.memory_stats().notes == 2
            for path in ("/refused.txt", "/refused.bin"):
                with pytest.raises(NotFound):
                    agent.stat(path)
            assert agent.read_file("/ferry.txt") == b"the ferry leaves the harbour at nine\n"
            assert agent.get_note(note.id).version == note.version
            # A delete needs room to commit too; whichever the answer, it is all or nothing.
            deleted = _answer(lambda: agent.delete_note(doomed.id))
            assert deleted == "OK" or deleted.startswith(f"RESOURCE_EXHAUSTED: {FULL}"), deleted
            found = doomed.id in {h.note.id for h in agent.search("is the pier open?", k=5)}
            assert found == (deleted != "OK") == (agent.memory_stats().notes == 2)
            # Reads go on.
            assert agent.get_note(note.id).content == note.content
            assert len(agent.read_file("/big.bin", version=big.version)) == 300_000
            assert {f.path for f in agent.list_files("/")} == {"/ferry.txt", "/big.bin"}
            assert [h.file.path for h in agent.retrieve("when does the ferry leave?", k=1)] == ["/ferry.txt"]
            ballast.unlink()
            after = agent.add_note("after the disk was freed the lighthouse was painted red")
            agent.write_file("/ferry.txt", "and a second one at noon\n", append=True)
            wait_idle(agent)
            poll(lambda: [h.file.path for h in agent.retrieve("a second ferry at noon", k=1)] == ["/ferry.txt"],
                  "the appended file was not found")  # fmt: skip
    _sqlite_ok(small_disk / "data" / "aios.db")
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, token) as agent:  # a restart
        assert [h.note.id for h in agent.search("which lighthouse was painted red?", k=1)] == [after.id]
        assert agent.memory_stats().notes == 2 + (deleted != "OK")
        assert agent.read_file("/ferry.txt").endswith(b"nine\nand a second one at noon\n")


def test_writes_that_meet_the_full_disk_itself_are_refused_whole(
    small_disk: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no reserve kept, SQLite, the blob files and Chroma meet ENOSPC themselves: each refusal is
    RESOURCE_EXHAUSTED all the same, and leaves nothing behind."""
    monkeypatch.setattr(aios._db, "MIN_FREE_BYTES", 0)
    with ThreadedKernel(kernel_config(small_disk / "data"), embedder) as kernel, agent_client(kernel, "f") as agent:
        agent.add_note("the lighthouse keeper feeds the gulls at noon")
        agent.write_file("/ferry.txt", "the ferry leaves the harbour at nine\n")
        ballast = _fill(small_disk)
        acked: dict[str, list[str]] = {"add_note": [], "write_file": [], "write_file large": [], "append": []}
        refused: dict[str, list[str]] = {name: [] for name in acked}
        answers: dict[str, str] = {}
        for i in range(40):  # SQLite may find room in its WAL for a while
            for name, target, call in [
                ("add_note", f"attempt {i}: the gulls moved", lambda t: agent.add_note(t)),
                ("write_file", f"/w{i}.txt", lambda t: agent.write_file(t, f"attempt {t}" * 400)),
                ("write_file large", f"/b{i}.bin", lambda t: agent.write_file(t, os.urandom(300_000))),
                ("append", f"line {i}", lambda t: agent.write_file("/ferry.txt", t + "\n", append=True)),
            ]:
                answer = _answer(functools.partial(call, target))
                (acked if answer == "OK" else refused)[name].append(target)
                if answer != "OK":
                    answers.setdefault(name, answer)
            if len(answers) == len(acked):
                break
        print(f"full disk (no reserve): {answers}")
        assert set(answers) == set(acked), answers
        assert all(a.startswith(f"RESOURCE_EXHAUSTED: {FULL}") for a in answers.values()), answers
        # Reads of SQL and blobs go on; those that need Chroma may be refused while not a byte is free.
        assert agent.read_file("/ferry.txt").startswith(b"the ferry leaves")
        assert _answer(lambda: agent.search("gulls", k=3)).split(":")[0] in ("OK", "RESOURCE_EXHAUSTED")
        ballast.unlink()
        added = agent.add_note("after the disk was freed the lighthouse was painted red")
        # Each write is there once if it was acknowledged, else not at all.
        contents = Counter(n.content for n in agent.graph(limit=2000)[0])
        assert contents == Counter(["the lighthouse keeper feeds the gulls at noon", *acked["add_note"], added.content])
        for path in refused["write_file"] + refused["write_file large"]:
            with pytest.raises(NotFound):
                agent.stat(path)
        for path in acked["write_file"] + acked["write_file large"]:
            assert len(agent.file_history(path)) == 1
        lines = agent.read_file("/ferry.txt").decode().splitlines()
        assert lines == ["the ferry leaves the harbour at nine", *acked["append"]]
        poll(lambda: agent.search("which lighthouse was painted red?", k=1)[0].note.id == added.id,
              "the note added after freeing was not found")  # fmt: skip
    _sqlite_ok(small_disk / "data" / "aios.db")


def test_a_database_that_may_not_grow_refuses_writes_without_a_mount(sqlite_kernel: Any) -> None:
    """SQLite's max_page_count gives the SQLITE_FULL a full disk gives, on any machine."""
    engine = sqlite_kernel._engine
    full = {"on": True}

    @sa.event.listens_for(engine, "connect")
    def _cap(dbapi_conn: Any, _record: Any) -> None:
        if full["on"]:
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    with agent_client(sqlite_kernel, "capped") as agent:
        kept = agent.add_note("the orchard is watered on sundays")
        engine.dispose()  # every connection from now on is capped
        answers = {
            "add_note": _answer(lambda: agent.add_note("refused " * 2000)),
            "add_notes": _answer(lambda: agent.add_notes(["refused " * 2000, "also refused"])),
            "write_file": _answer(lambda: agent.write_file("/capped.txt", "refused " * 2000)),
        }
        assert all(a.startswith(f"RESOURCE_EXHAUSTED: {FULL}") for a in answers.values()), answers
        assert "database or disk is full" in answers["add_note"]
        assert [n.id for n in agent.graph()[0]] == [kept.id]
        with pytest.raises(NotFound):
            agent.stat("/capped.txt")
        full["on"] = False
        engine.dispose()
        agent.add_note("room again " * 2000)
        agent.write_file("/capped.txt", "room again " * 2000)


def _pg_disk_full() -> sa.exc.OperationalError:
    orig = psycopg.errors.DiskFull('could not extend file "base/16384/16385": No space left on device')
    return sa.exc.OperationalError("INSERT INTO notes ...", {}, orig)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: OSError(errno.ENOSPC, "No space left on device"), FULL),
        (lambda: OSError(errno.EDQUOT, "Disk quota exceeded"), FULL),
        (lambda: sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")), FULL),
        (lambda: ChromaInternalError("Query error: error returned from database: (code: 13) database or disk is full"),
         FULL),
        (lambda: ChromaInternalError("Error persisting hnsw index: No space left on device (os error 28)"), FULL),
        (_pg_disk_full, "the PostgreSQL server has no space left"),
        (lambda: OSError(errno.EACCES, "Permission denied"), None),
        (lambda: sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")), None),
        (lambda: ValueError("disk"), None),
    ],
)  # fmt: skip
def test_what_counts_as_a_full_disk(make: Callable[[], BaseException], expected: str | None) -> None:
    try:
        try:
            raise make()
        except Exception as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        message = storage_full(exc)
    assert (message is None) if expected is None else (message is not None and message.startswith(expected))


def test_the_reserve_refuses_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aios._db, "MIN_FREE_BYTES", aios._db.free_bytes(tmp_path) + (1 << 30))
    with pytest.raises(ResourceExhausted, match=FULL) as refused:
        aios._db.check_free_space(tmp_path)
    assert storage_full(refused.value) == refused.value.message
