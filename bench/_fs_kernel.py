"""File-system benchmark, what the parts share: the kernel process each drives (and the code it started on),
waiting for its semantic index, the latency summary, and the sizes of a --quick run (bench/fs_bench.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import ROOT, git_state, machine_info, percentile
from _servers import KernelProcess

WARMUP = 5
QUICK = {"per_type": 2, "files": 1_000, "queries": 30}
KERNEL_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
    "AIOS_LLM_BACKEND": "none",
    "AIOS_METRICS_PORT": "-1",
}
BACKLOG = re.compile(r"(\d+) files waiting to be indexed")


def latency(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "max_ms": round(max(ms), 3),
    }


def fs_machine_info() -> dict[str, Any]:
    return machine_info({"chromadb": "chromadb", "grpcio": "grpcio", "sqlalchemy": "sqlalchemy"})


# -- the kernel subprocess --------------------------------------------------------------------------


class FsKernel(KernelProcess):
    """The shared kernel process, plus the source digest it started on and SDK clients for it."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        super().__init__(data_dir, log_dir, KERNEL_ENV)
        self.code: dict[str, Any] = {}

    def start(self) -> None:
        self.code = code_state()  # what the kernel loads now: the tree may change while a long run goes on
        super().start()

    def admin(self) -> Any:
        from aios.client import Client

        return Client(self.target, self.admin_token(), timeout=900)

    def launch(self, console: Any) -> Any:
        """Start the kernel, wait until it is ready and return an admin client."""
        self.start()
        with console.status("starting the kernel"):
            self.wait_ready()
        console.log(f"kernel ready on {self.target} after {self.ready_s} s (pid {self.pid})")
        return self.admin()

    def shutdown(self, console: Any, *clients: Any) -> None:
        """Close the clients, then stop the kernel (SIGTERM) while the part can still report on it."""
        for c in clients:
            c.close()
        with console.status("stopping the kernel"):
            self.stop()

    def agent(self, admin: Any, name: str) -> Any:
        from aios.client import Client

        return Client(self.target, admin.create_agent(name).token, timeout=900)

    def report(self) -> dict[str, Any]:
        problems = self.log_problems()
        if self.exit_code not in (0, None):
            problems.append(f"the kernel exited with {self.exit_code} after SIGTERM")
        return {"ready_s": self.ready_s, "exit_code": self.exit_code, "log_problems": problems, "code": self.code}


def code_state() -> dict[str, Any]:
    """The commit, whether the tree is dirty, and a digest of the kernel's Python sources as they are now."""
    import datetime as dt
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for d in ("aios", "fs", "syscalls", "memory", "agents") for p in (ROOT / d).rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    git = git_state()
    return {"commit": git["commit"], "dirty": bool(git["dirty"]), "source_sha256": digest.hexdigest()[:16],
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip


def backlog(client: Any) -> int:
    """Files the kernel's semantic index has still to index (0 when it is idle)."""
    match = BACKLOG.search(client.status("files").detail)
    return int(match.group(1)) if match else 0


def wait_indexed(client: Any, progress: Any = None, label: str = "", timeout: float = 7200.0) -> float:
    """Poll `status("files")` until nothing waits to be indexed; seconds waited."""
    t0 = time.perf_counter()
    task = progress.add_task(label, total=None) if progress is not None else None
    while (left := backlog(client)) and time.perf_counter() - t0 < timeout:
        if task is not None:
            progress.update(task, description=f"{label} ({left} files left)")
        time.sleep(0.25)
    if left:
        raise RuntimeError(f"{left} files still waiting to be indexed after {timeout:.0f} s")
    if task is not None:
        progress.remove_task(task)
    return time.perf_counter() - t0
