"""`aios serve` as a real process: token file, data-dir lock, SIGTERM, restart, kill -9 and index repair."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.api.client import SharedSystemClient
from chromadb.config import Settings

from aios.client import Client
from tests.conftest import free_port, same_note
from tests.daemon import AIOS, Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "data", free_port())
    yield d
    if d.proc is not None:
        d.proc.kill()
        d.proc.wait()


def test_token_file_lock_and_clean_sigterm(daemon: Daemon) -> None:
    daemon.start()
    mode = stat.S_IMODE((daemon.data_dir / "admin.token").stat().st_mode)
    assert mode == 0o600
    with Client(daemon.target, daemon.token) as admin:
        assert admin.whoami().is_admin

    second = Daemon(daemon.data_dir, free_port()).start(expect_ready=False)
    out, err = second.communicate(timeout=120)
    assert second.returncode != 0
    assert "in use by another aios kernel" in err

    assert daemon.stop(signal.SIGTERM) == 0


def test_sigterm_drains_in_flight_syscalls(daemon: Daemon) -> None:
    daemon.start()
    with Client(daemon.target, daemon.token) as admin, Client(daemon.target, admin.create_agent("d").token) as agent:
        import threading

        result: dict[str, object] = {}

        def big_add() -> None:
            try:
                result["notes"] = agent.add_notes([f"note number {i} about draining" for i in range(1000)])
            except Exception as exc:  # noqa: BLE001
                result["error"] = exc

        worker = threading.Thread(target=big_add)
        worker.start()
        deadline = time.time() + 30
        while time.time() < deadline:  # SIGTERM once the kernel runs the batch (RPCs after it are refused)
            if any(r.kind == "memory.add_batch" and r.status == "running" for r in admin.ps()):
                break
            time.sleep(0.02)
        else:
            pytest.fail("the batch never started")
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        worker.join(60)
        assert daemon.proc.wait(60) == 0
        daemon.proc = None
    assert "error" not in result, result
    assert len(result["notes"]) == 1000  # type: ignore[arg-type]


def test_restart_keeps_data(daemon: Daemon) -> None:
    daemon.start()
    with Client(daemon.target, daemon.token) as admin:
        token = admin.create_agent("keeper").token
    with Client(daemon.target, token) as agent:
        note = agent.add_note("the spare key is under the blue flowerpot")
    daemon.stop()
    daemon.start()
    with Client(daemon.target, token) as agent:
        assert same_note(agent.get_note(note.id), note)
        assert same_note(agent.search("where is the spare key?", k=1)[0].note, note)


def test_kill_9_keeps_acknowledged_adds_and_repairs_index(daemon: Daemon) -> None:
    daemon.start()
    with Client(daemon.target, daemon.token) as admin:
        creds = admin.create_agent("crashy")
    with Client(daemon.target, creds.token) as agent:
        acked = [agent.add_note(f"acknowledged fact number {i}") for i in range(20)]
        acked += agent.add_notes([f"batched fact {i}" for i in range(50)])
    daemon.stop(signal.SIGKILL)

    # Simulate the crash window between SQL and Chroma: one vector missing, one left over.
    collection = chromadb.PersistentClient(
        path=str(daemon.data_dir / "chroma"), settings=Settings(anonymized_telemetry=False)
    ).get_collection(f"notes_{creds.agent.id}")
    collection.delete(ids=[acked[3].id])
    collection.upsert(ids=["orphan"], embeddings=np.full((1, 384), 1 / np.sqrt(384), dtype=np.float32))
    del collection

    daemon.start()
    with Client(daemon.target, creds.token) as agent:
        for note in acked:
            assert same_note(agent.get_note(note.id), note)
        assert agent.search("acknowledged fact number 3", k=1)[0].note.id == acked[3].id
        assert all(h.note.id != "orphan" for h in agent.search("fact", k=100))
    daemon.stop()
    SharedSystemClient.clear_system_cache()  # forget the state this process read before the restart
    stored = chromadb.PersistentClient(
        path=str(daemon.data_dir / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    ids = set(stored.get_collection(f"notes_{creds.agent.id}").get(include=[])["ids"])
    assert ids == {n.id for n in acked}


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "aios.toml").write_text("port = 1\nbogus = 2\n")
    proc = subprocess.run(AIOS + ["serve", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "unknown config keys: bogus" in proc.stderr


def test_kill_9_keeps_acknowledged_file_versions_and_repairs_the_file_index(daemon: Daemon) -> None:
    daemon.start()
    with Client(daemon.target, daemon.token) as admin:
        creds = admin.create_agent("filer")
    with Client(daemon.target, creds.token) as agent:
        acked = [
            agent.write_file(f"/notes/{i}.txt", f"acknowledged file number {i} about topic {i}") for i in range(20)
        ]
        acked.append(agent.write_file("/notes/3.txt", "the third file, rewritten: the harbour opens at dawn"))
        _wait_until_found(agent, "when does the harbour open?", "/notes/3.txt")
    daemon.stop(signal.SIGKILL)

    # The crash window between Chroma and SQL: one file's vectors missing, one stray vector left over.
    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(
        path=str(daemon.data_dir / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    (name,) = [c.name for c in client.list_collections() if c.name.startswith("fs_")]
    collection = client.get_collection(name)
    collection.delete(ids=[i for i in collection.get(include=[])["ids"] if "-2-" in i])  # version 2 of /notes/3.txt
    collection.upsert(ids=["stray"], embeddings=np.full((1, 384), 1 / np.sqrt(384), dtype=np.float32))
    del collection, client

    daemon.start()
    with Client(daemon.target, creds.token) as agent:
        _wait_idle(agent)
        for info in acked:
            assert agent.stat(info.path, version=info.version).sha256 == info.sha256
        assert agent.read_file("/notes/3.txt").startswith(b"the third file")
        _wait_until_found(agent, "when does the harbour open?", "/notes/3.txt")
    daemon.stop()
    SharedSystemClient.clear_system_cache()
    stored = chromadb.PersistentClient(
        path=str(daemon.data_dir / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    ids = set(stored.get_collection(name).get(include=[])["ids"])
    assert "stray" not in ids and any("-2-" in i for i in ids)  # the missing vectors were written again


def _wait_idle(agent: Client) -> None:
    """Until the kernel's file index has caught up (its status stops naming a backlog), or fail."""
    deadline = time.time() + 60
    while "waiting to be indexed" in agent.status("files").detail:
        if time.time() > deadline:
            raise AssertionError("the file index still had a backlog after 60 s")
        time.sleep(0.2)


def _wait_until_found(agent: Client, query: str, path: str) -> None:
    """Indexing follows the write asynchronously: poll until retrieve finds `path` first (or fail)."""
    deadline = time.time() + 60
    while time.time() < deadline:
        hits = agent.retrieve(query, k=1)
        if hits and hits[0].file.path == path:
            return
        time.sleep(0.3)
    raise AssertionError(f"{path} was not found for {query!r} within 60 s")


def _exit_of(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The exit status and stderr of a kernel expected to exit by itself (killed, and a failure, if it runs on)."""
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the kernel kept running: {err[-2000:]}")
    return proc.returncode, err


def test_a_busy_port_is_refused_with_a_clear_message(daemon: Daemon, tmp_path: Path) -> None:
    daemon.start()
    second = Daemon(tmp_path / "other", daemon.port).start(expect_ready=False)
    code, err = _exit_of(second)
    assert code != 0
    assert f"cannot listen on 127.0.0.1:{daemon.port}" in err and "in use" in err
    assert "Traceback" not in err
    with Client(daemon.target, daemon.token) as admin:  # the first kernel still answers every call
        assert all(admin.whoami().is_admin for _ in range(8))


def test_shell_finds_the_kernel_through_the_data_dir(daemon: Daemon) -> None:
    daemon.start()
    address = daemon.data_dir / "kernel.addr"
    assert address.read_text().strip() == daemon.target
    # No --target, no AIOS_PORT: the address comes from the data dir. AIOS_TOKEN is an agent's token (the
    # SDK's) and must not be taken for the admin token.
    env = {k: v for k, v in os.environ.items() if k not in ("AIOS_PORT", "AIOS_TARGET", "AIOS_ADMIN_TOKEN")}
    env["AIOS_TOKEN"] = "aios_not_the_admin_token"
    shell = subprocess.run(AIOS + ["shell", "--data-dir", str(daemon.data_dir), "-c", "whoami"], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shell.returncode == 0 and shell.stdout.strip() == "admin", shell.stdout + shell.stderr
    assert daemon.stop() == 0
    assert not address.exists()


def test_data_files_are_private(daemon: Daemon) -> None:
    daemon.start()
    with Client(daemon.target, daemon.token) as admin:
        admin.create_agent("private")  # a write: the WAL files exist
        names = ["aios.db", "aios.db-wal", "aios.db-shm", "admin.token", "kernel.addr", "kernel.lock"]
        modes = {name: stat.S_IMODE((daemon.data_dir / name).stat().st_mode) for name in names}
    assert modes == dict.fromkeys(names, 0o600)
    assert stat.S_IMODE(daemon.data_dir.stat().st_mode) == 0o700


def test_json_logs_one_object_per_line(daemon: Daemon) -> None:
    proc = daemon.start("--log-format", "json", AIOS_LLM_BACKEND="none")
    daemon.proc = None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    (start,) = [r for r in records if r["message"].startswith("aios kernel serving gRPC on")]
    assert start["level"] == "INFO" and daemon.target in start["message"]
    assert str(daemon.data_dir.resolve()) in start["message"] and "metrics on port" in start["message"]
    assert "LLM unavailable" in start["message"]


def test_plain_log_lines_name_time_level_and_logger(daemon: Daemon) -> None:
    daemon.start()
    assert daemon.proc is not None
    proc, daemon.proc = daemon.proc, None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    (start,) = [line for line in err.splitlines() if "aios kernel serving gRPC on" in line]
    # One line, however long (rich wrapped it at 80 columns when stderr was not a terminal).
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO aios\.kernel: aios kernel serving", start), start
    assert str(daemon.data_dir.resolve()) in start and "LLM " in start


def test_a_second_ctrl_c_exits_at_once(daemon: Daemon) -> None:
    daemon.start(AIOS_GRACE_PERIOD_S="600")  # the drain would wait this long for the open watch below
    with Client(daemon.target, daemon.token) as admin:
        token = admin.create_agent("watcher").token
        watcher = Client(daemon.target, token)
        stream = watcher.watch("/")
        threading.Thread(target=lambda: list(_ignore_errors(stream)), daemon=True).start()
        _wait_for(lambda: any(s.kind == "fs.watch" and s.status == "running" for s in admin.ps()))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGINT)
    _wait_for_line(daemon.proc, "press Ctrl-C again")
    daemon.proc.send_signal(signal.SIGINT)
    code, _ = _exit_of(daemon.proc)
    daemon.proc = None
    assert code == 130
    watcher.close()


def _ignore_errors(stream: Iterator[object]) -> Iterator[object]:
    try:
        yield from stream
    except Exception:  # noqa: BLE001 - the kernel went away under the stream: expected here
        return


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        if time.time() > deadline:
            raise AssertionError("condition not met within the time limit")
        time.sleep(0.05)


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    """Read the kernel's stderr until a line contains `text` (fails if it ends first)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if text in line:
            return
    raise AssertionError(f"the kernel's log ended without {text!r}")
