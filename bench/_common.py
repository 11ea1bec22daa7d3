"""Helpers the benchmark scripts share: CPU and load accounting, free ports, git state, and rewriting one
script's own section of docs/benchmarks.md.

The scripts run as `.venv/bin/python bench/<name>.py`, so `bench/` is on sys.path and they import this
module as `_common`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LONGMEMEVAL = ROOT.parent / "shared" / "data" / "longmemeval-dev"
"""The shared LongMemEval dev subset: `../shared/data/...` relative to the repository."""


def repository_first() -> None:
    """Put the repository first on the import path and take bench/ off it: bench/ holds memory.py and fs.py,
    which would shadow the packages they measure (call it after importing _common)."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]


CLK_TCK = os.sysconf("SC_CLK_TCK")
DOCS_PREAMBLE = (
    "# Benchmarks\n\nThe figures on this page are written by the benchmark scripts in `bench/` from their JSON "
    "results; rerun a script to refresh its section.\n"
)


def read_text(path: str | Path) -> str:
    """The file's text, or "" when it cannot be read (a /proc entry of a process that has exited)."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": git("status", "--porcelain").splitlines()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


# -- CPU accounting ---------------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = read_text("/proc/stat").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def proc_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process `pid` has used; 0 when it is unknown or gone."""
    if pid is None:
        return 0.0
    stat = read_text(f"/proc/{pid}/stat")
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Meter:
    """Wall time and CPU over the stretches it measures: of the server process under test (`kernel_pid`),
    of this process (the benchmark's clients, or an in-process baseline) and of every other process on the
    machine (from /proc/stat)."""

    def __init__(self, kernel_pid: int | None) -> None:
        self.kernel_pid = kernel_pid
        self.wall_s = self.kernel_cpu_s = self.bench_cpu_s = self.others_cpu_s = 0.0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        k0, b0, m0 = proc_cpu_s(self.kernel_pid), self_cpu_s(), machine_busy_s()
        t0 = time.perf_counter()
        yield
        wall = time.perf_counter() - t0
        kernel, bench = proc_cpu_s(self.kernel_pid) - k0, self_cpu_s() - b0
        self.wall_s += wall
        self.kernel_cpu_s += kernel
        self.bench_cpu_s += bench
        self.others_cpu_s += max(0.0, machine_busy_s() - m0 - kernel - bench)

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "kernel_cpu_s": round(self.kernel_cpu_s, 2),
            "bench_cpu_s": round(self.bench_cpu_s, 2),
            "others_cpu_s": round(self.others_cpu_s, 2),
            "others_cores_avg": round(self.others_cpu_s / self.wall_s, 2) if self.wall_s else None,
        }


# -- docs/benchmarks.md -----------------------------------------------------------------------------


def write_docs(docs: Path, heading: str, section: str) -> None:
    """Replace the section of `docs` that starts with the line `heading` (up to the next `## ` heading) with
    `section`, or append `section` when there is no such heading. Other sections are left as they are."""
    text = docs.read_text() if docs.exists() else DOCS_PREAMBLE
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + section + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(new)


def display_path(path: Path) -> str:
    """`path` relative to the repository (results never name a machine's absolute paths)."""
    return os.path.relpath(path.resolve(), ROOT)


def package_version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine_info(packages: dict[str, str], **extra: Any) -> dict[str, Any]:
    """CPU, RAM, platform, date, and the versions of `packages` (JSON key -> distribution name)."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", read_text("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", read_text("/proc/meminfo"), re.M)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu.group(1).strip() if cpu else platform.processor() or None,
        "ram_gb": round(int(mem.group(1)) / 1024**2, 1) if mem else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{key: package_version(pkg) for key, pkg in packages.items()},
        **extra,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


SHORT_MAX_CHARS = 400
PARAGRAPH_MIN_CHARS = 40


def short_texts(sessions: Iterable[list[dict[str, Any]]], n: int) -> tuple[list[str], dict[str, Any]]:
    """`n` distinct short texts from LongMemEval sessions (each a list of turns), in file order: user turns
    of at most SHORT_MAX_CHARS characters, then, when those run out, assistant-turn paragraphs of
    PARAGRAPH_MIN_CHARS-SHORT_MAX_CHARS. Returns them and how many of each, with a description."""
    users: list[str] = []
    paragraphs: list[str] = []
    seen: set[str] = set()
    for turns in sessions:
        for turn in turns:
            text = (turn.get("content") or "").strip()
            if turn["role"] == "user":
                if text and len(text) <= SHORT_MAX_CHARS and "\x00" not in text and text not in seen:
                    seen.add(text)
                    users.append(text)
            elif len(users) + len(paragraphs) < n:
                for par in (par.strip() for par in text.split("\n")):
                    if PARAGRAPH_MIN_CHARS <= len(par) <= SHORT_MAX_CHARS and "\x00" not in par and par not in seen:
                        seen.add(par)
                        paragraphs.append(par)
    texts = (users + paragraphs)[:n]
    if len(texts) < n:
        raise SystemExit(f"LongMemEval holds only {len(texts)} short distinct texts; asked for {n}")
    n_users = min(n, len(users))
    description = f"distinct LongMemEval user turns of at most {SHORT_MAX_CHARS} characters in file order"
    if n > n_users:
        description += (f" ({n_users:,}), then distinct assistant-turn paragraphs of {PARAGRAPH_MIN_CHARS}-"
                        f"{SHORT_MAX_CHARS} characters ({n - n_users:,})")  # fmt: skip
    return texts, {"user_turns": n_users, "assistant_paragraphs": n - n_users,
                   "chars_mean": round(sum(map(len, texts)) / n, 1), "description": description}  # fmt: skip


READY = re.compile(r"aios kernel ready on (\S+)")


class ServerProcess:
    """A server subprocess with its output in files (`<name>.stdout` / `.stderr` in `log_dir`), `env` over
    this process's environment; stopped with SIGTERM (SIGKILL after a timeout)."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.ready_s: float | None = None
        self.stop_s: float | None = None

    def start(self) -> None:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=os.environ | self.env)  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> float:
        """Seconds until `ready()` (also kept as `ready_s`); an error if the process exits first."""
        assert self.proc is not None
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if ready():
                self.ready_s = round(time.perf_counter() - t0, 2)
                return self.ready_s
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                                   f"{self.log_tail()}")  # fmt: skip
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.exit_code = self.proc.returncode if self.proc else self.exit_code
            return
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exit_code = self.proc.wait()
        self.stop_s = time.perf_counter() - t0

    def log(self) -> str:
        return read_text(self.stdout_path) + read_text(self.stderr_path)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]

    def log_problems(self) -> list[str]:
        """Log lines that report an error or a traceback."""
        return [line.rstrip() for line in self.log().splitlines()
                if re.search(r"\b(ERROR|CRITICAL|Traceback)\b", line)][:50]  # fmt: skip


class KernelProcess(ServerProcess):
    """`aios serve` on `data_dir` (fresh, or holding an aios.toml) and a free port. The benchmarks drive it
    through the SDK."""

    def __init__(self, data_dir: Path, log_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        aios = Path(sys.executable).parent / "aios"
        cmd = [str(aios)] if aios.exists() else [sys.executable, "-m", "aios.cli"]
        super().__init__("kernel", [*cmd, "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
                         log_dir, env)  # fmt: skip
        self.target = f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds until the kernel said it was ready (also kept as `ready_s`)."""

        def said_ready() -> bool:
            match = READY.search(read_text(self.stdout_path))
            if match:
                self.target = match.group(1)
            return bool(match)

        return self.wait_until(said_ready, timeout)

    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()
