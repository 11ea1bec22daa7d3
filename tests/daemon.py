"""`aios serve` as a real process, for the tests that start, stop, kill and restart it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from aios.client import Client

AIOS = [sys.executable, "-m", "aios.cli"]


class Daemon:
    """One data dir and port; `start` runs a kernel on them (again after `stop`). `log`: the file its stderr
    goes to, for a kernel that runs long enough to fill a pipe nobody reads (else stderr is a pipe)."""

    def __init__(self, data_dir: Path, port: int, log: Path | None = None) -> None:
        self.data_dir, self.port, self.log = data_dir, port, log
        self.target = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, *args: str, expect_ready: bool = True, **env_vars: str) -> subprocess.Popen[str]:
        env = {**os.environ, "AIOS_DATA_DIR": str(self.data_dir), "AIOS_PORT": str(self.port),
               "AIOS_METRICS_PORT": "0", "AIOS_LLM_ENRICHMENT": "0", **env_vars}  # fmt: skip
        err: int | IO[str] = subprocess.PIPE
        if self.log is not None:
            err = open(self.log, "a")  # noqa: SIM115 - the child holds it; ours closes below
        try:
            proc = subprocess.Popen(AIOS + ["serve", *args], env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        finally:
            if self.log is not None:
                err.close()  # type: ignore[union-attr]
        if expect_ready:
            line = proc.stdout.readline() if proc.stdout else ""
            assert "ready" in line, self._stderr(proc) or line
            self.proc = proc
        return proc

    def _stderr(self, proc: subprocess.Popen[str]) -> str:
        if self.log is not None:
            proc.wait(30)
            return self.log.read_text()[-4000:]
        return proc.stderr.read() if proc.stderr else ""

    @property
    def token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        return code


def wait_idle(agent: Client, timeout_s: float = 60) -> None:
    """Until the kernel's file index has caught up (its status stops naming a backlog), or fail."""
    deadline = time.time() + timeout_s
    while "waiting to be indexed" in agent.status("files").detail:
        if time.time() > deadline:
            raise AssertionError(f"the file index still had a backlog after {timeout_s:.0f} s")
        time.sleep(0.2)
