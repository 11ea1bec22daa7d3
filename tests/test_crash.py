"""Crash and restart, measured; and a disk that fills up.

`kill -9` at random moments while clients stream note adds (single and batched), file writes, appends and
directory rollbacks, then a restart: every acknowledged write is there exactly once and findable, a batch or a
rollback is all or nothing. AIOS_CRASH_TRIALS kill/restart cycles on one data dir (3 here; `make fuzz` runs
more); AIOS_CRASH_SEED fixes the texts and how many acknowledgements each kill waits for (thread timing varies).

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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
from tests.daemon import Daemon, wait_idle

TRIALS = max(1, int(os.environ.get("AIOS_CRASH_TRIALS", "3")))
FAST_BOOT = {"AIOS_LLM_BACKEND": "none"}  # no model to load: a restart takes seconds less
FULL = "no space left on the device holding the data dir"
_WORDS = (
    "harbour lantern orchard violin glacier compass meadow anvil saffron quarry falcon tundra ledger cobalt".split()
)


def _text(rng: random.Random, what: str, trial: int, i: int) -> str:
    """Unique and findable: three random words and a token no other text has."""
    a, b, c = rng.sample(_WORDS, 3)
    return f"{what} {trial}-{i}: the {a} beside the {b} keeps the {c}, code q{trial}{what[0]}{i}z"


# -- crash trials ------------------------------------------------------------------------------------------


@dataclass
class Trial:
    """What the clients of one trial were told: the writes acknowledged, and the one each stream had in flight
    when the kernel died (which may or may not have landed, but only whole and only once)."""

    n: int
    notes: dict[str, str] = field(default_factory=dict)  # content -> id, acknowledged
    note_batches: list[list[str]] = field(default_factory=list)
    files: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # path -> (content, version, sha256)
    lines: list[str] = field(default_factory=list)  # appended to `log`, acknowledged
    rollbacks: list[int] = field(default_factory=list)  # change ids, acknowledged
    state_a: int = 0  # the change the rollbacks return the directory to
    in_flight: dict[str, Any] = field(default_factory=dict)  # stream -> what it had sent, unanswered
    errors: list[tuple[float, str]] = field(default_factory=list)
    killed_at: float = 0.0

    @property
    def log(self) -> str:
        return f"/t{self.n}/log.txt"

    @property
    def directory(self) -> str:
        return f"/t{self.n}/dir"

    def acks(self) -> int:
        return len(self.notes) + len(self.files) + len(self.lines) + len(self.rollbacks)


def _stream(trial: Trial, name: str, client: Client, step: Callable[[int], None]) -> None:
    """Run `step(i)` for i = 0, 1, ... until a call fails (the kernel was killed)."""
    i = 0
    try:
        while True:
            step(i)
            trial.in_flight.pop(name, None)
            i += 1
    except AiosError as exc:
        trial.errors.append((time.time(), f"{name}: {type(exc).__name__}: {exc.message}"))
    finally:
        client.close()


def _notes(trial: Trial, client: Client, rng: random.Random) -> Callable[[int], None]:
    def step(i: int) -> None:
        contents = [_text(rng, "note", trial.n, 10 * i + j) for j in range(1 if i % 2 else 3)]
        trial.in_flight["notes"] = contents
        added = [client.add_note(contents[0])] if len(contents) == 1 else client.add_notes(contents)
        trial.notes.update({c: n.id for c, n in zip(contents, added, strict=True)})
        if len(contents) > 1:
            trial.note_batches.append(contents)

    return step


def _files(trial: Trial, client: Client, rng: random.Random) -> Callable[[int], None]:
    def step(i: int) -> None:
        text = _text(rng, "file", trial.n, i)
        if i % 2:
            trial.in_flight["files"] = ("line", text)
            client.write_file(trial.log, text + "\n", append=True)
            trial.lines.append(text)
        else:
            path = f"/t{trial.n}/w{i}.txt"
            trial.in_flight["files"] = ("file", path)
            info = client.write_file(path, text)
            trial.files[path] = (text, info.version, info.sha256)

    return step


def _rollbacks(trial: Trial, client: Client) -> Callable[[int], None]:
    """Directory a/b/c in state A; then, over and over: b/c/d rewritten (state B, three changes) and the
    directory rolled back to A (one change that must restore all four files, or none)."""
    d = trial.directory

    def step(i: int) -> None:
        if i == 0:
            for name in "abc":
                trial.state_a = client.write_file(f"{d}/{name}.txt", f"state A of {name} in trial {trial.n}").change_id
            return
        for name in "bcd":
            client.write_file(f"{d}/{name}.txt", f"state B{i} of {name}")
        trial.in_flight["rollbacks"] = True
        trial.rollbacks.append(client.rollback(d, change_id=trial.state_a).change_id)

    return step


def _run_trial(daemon: Daemon, token: str, trial: Trial, rng: random.Random) -> None:
    """Stream writes from three clients; SIGKILL the kernel once a random number of them were acknowledged."""
    clients = [Client(daemon.target, token) for _ in range(3)]
    steps = {"notes": _notes(trial, clients[0], random.Random(rng.random())),
             "files": _files(trial, clients[1], random.Random(rng.random())),
             "rollbacks": _rollbacks(trial, clients[2])}  # fmt: skip
    threads = [threading.Thread(target=_stream, args=(trial, name, client, step), daemon=True)
               for (name, step), client in zip(steps.items(), clients, strict=True)]  # fmt: skip
    kill_after = rng.randint(3, 40)
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while trial.acks() < kill_after and not trial.errors:
        assert time.time() < deadline, f"trial {trial.n}: only {trial.acks()} writes acknowledged in 60 s"
        time.sleep(0.005)
    trial.killed_at = time.time()
    assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    for t in threads:
        t.join(60)
    early = [e for at, e in trial.errors if at < trial.killed_at]
    assert not early, f"trial {trial.n}: a write failed before the kill: {early}"


def _poll(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while not check():
        if time.time() > deadline:
            raise AssertionError(f"{what} within {timeout_s:.0f} s")
        time.sleep(0.2)


def _verify(agent: Client, trial: Trial, *, search: bool = True) -> dict[str, int]:
    """Count what the restarted kernel lost or doubled of the trial's acknowledged writes; check it can find them."""
    count = {"notes": len(trial.notes), "files": len(trial.files), "appends": len(trial.lines),
             "rollbacks": len(trial.rollbacks), "lost": 0, "duplicated": 0, "in_flight_kept": 0}  # fmt: skip
    notes, _ = agent.graph(limit=2000, include_archived=True)
    stored = Counter(n.content for n in notes)
    ids = {n.content: n.id for n in notes}
    for content, note_id in trial.notes.items():
        count["lost"] += stored[content] == 0 or ids[content] != note_id
        count["duplicated"] += stored[content] > 1
    pending = trial.in_flight.get("notes", [])
    landed = [stored[c] for c in pending if c not in trial.notes]
    assert landed in ([], [0] * len(landed), [1] * len(landed)), f"a batch landed in part or twice: {landed}"
    count["in_flight_kept"] += bool(landed and landed[0])

    for path, (_, version, sha) in trial.files.items():
        try:
            count["lost"] += agent.stat(path, version=version).sha256 != sha
            count["duplicated"] += len(agent.file_history(path)) != 1
        except NotFound:
            count["lost"] += 1
    kind, pending_file = trial.in_flight.get("files", ("", ""))
    if kind == "file" and pending_file not in trial.files:
        try:
            count["duplicated"] += len(agent.file_history(pending_file)) != 1
            count["in_flight_kept"] += 1
        except NotFound:
            pass
    if trial.lines or kind == "line":
        lines = Counter(agent.read_file(trial.log).decode().splitlines())
        count["lost"] += sum(lines[text] == 0 for text in trial.lines)
        count["duplicated"] += sum(n > 1 for n in lines.values())
        allowed = {*trial.lines, pending_file} if kind == "line" else set(trial.lines)
        assert set(lines) <= allowed, f"lines nobody appended: {set(lines) - allowed}"
        assert len(agent.file_history(trial.log, limit=10_000)) == sum(lines.values()), "one version per append"
        count["in_flight_kept"] += kind == "line" and pending_file not in trial.lines and lines[pending_file] == 1

    count["lost"] += _verify_rollbacks(agent, trial, count)
    if search:
        _verify_findable(agent, trial)
    return count


def _verify_rollbacks(agent: Client, trial: Trial, count: dict[str, int]) -> int:
    """Replay the directory's history: right after every rollback it is exactly as after the change it names,
    every acknowledged rollback is in it, and what it holds now is what the history says."""
    if not trial.state_a:
        return 0
    history = sorted(agent.file_history(trial.directory, limit=10_000), key=lambda c: c.change_id)
    state: dict[str, str] = {}
    after: dict[int, dict[str, str]] = {}
    for change in history:
        for v in change.files:
            if v.deleted:
                state.pop(v.path, None)
            elif v.sha256:
                state[v.path] = v.sha256
        after[change.change_id] = dict(state)
    done = [c.change_id for c in history if c.op == "rollback"]
    for change_id in done:
        assert after[change_id] == after[trial.state_a], f"rollback {change_id} was not all or nothing"
    extra = len(done) - len(trial.rollbacks)
    assert extra in ((0, 1) if trial.in_flight.get("rollbacks") else (0,)), f"{extra} rollbacks nobody asked for"
    count["in_flight_kept"] += extra
    now = {f.path: f.sha256 for f in agent.list_files(trial.directory, recursive=True) if not f.is_dir}
    assert now == state, "the directory is not what its history says"
    return len(set(trial.rollbacks) - set(done))


def _verify_findable(agent: Client, trial: Trial) -> None:
    for content, note_id in trial.notes.items():
        _poll(lambda c=content, i=note_id: i in {h.note.id for h in agent.search(c, k=10)},
              f"note {content!r} not found by search")  # fmt: skip
    wait_idle(agent)
    findable = {path: content for path, (content, _, _) in trial.files.items()}
    if trial.lines:
        findable[trial.log] = trial.lines[-1]
    for path, content in findable.items():  # the log holds many lines: its code word picks it out
        code = content.rsplit(" ", 1)[1]
        _poll(lambda p=path, c=content, w=code: p in {h.file.path for h in agent.retrieve(c, k=3, keywords=[w])},
              f"{path} not found by retrieve")  # fmt: skip


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
            _run_trial(daemon, token, trial, rng)
            daemon.start(**FAST_BOOT)
            with Client(daemon.target, token) as agent:
                counts.append(_verify(agent, trial))
            print(f"crash trial {n} (seed {seed}): {counts[-1]}")
        with Client(daemon.target, token) as agent:  # the last restart kept what the earlier ones restored
            final = [_verify(agent, trial, search=False) for trial in trials]
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
            _poll(lambda: [h.file.path for h in agent.retrieve("a second ferry at noon", k=1)] == ["/ferry.txt"],
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
        _poll(lambda: agent.search("which lighthouse was painted red?", k=1)[0].note.id == added.id,
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
