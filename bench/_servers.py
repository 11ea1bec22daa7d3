"""The processes a benchmark measures: a server subprocess with its logs in files, and `aios serve` on a free
port (driven through the SDK), stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _common import ROOT, read_text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
