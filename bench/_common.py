"""Helpers the benchmark scripts share: CPU and load accounting, git state and machine info, the command-line
options and result file every script has, and rewriting one script's own section of docs/benchmarks.md.

The scripts run as `.venv/bin/python bench/<name>.py`, so `bench/` is on sys.path and they import this
module as `_common` (and their own helper modules, `_<script>_*.py`, before `repository_first()` takes bench/
off the path). The processes under test are in `_servers.py`, the LongMemEval data in `_longmemeval.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"


def repository_first() -> None:
    """Put the repository first on the import path (the packages measured are the checkout's) and take bench/ off
    it, so a script's name can never shadow a package (call it after importing _common)."""
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


def torch_machine_info() -> dict[str, Any]:
    """machine_info for the scripts that encode with sentence-transformers: torch and its thread count too."""
    import torch

    packages = {"torch": "torch", "sentence_transformers": "sentence-transformers", "chromadb": "chromadb",
                "grpcio": "grpcio"}  # fmt: skip
    return machine_info(packages, torch_threads=torch.get_num_threads())


def loadavg() -> list[float]:
    """os.getloadavg() (1, 5, 15 min), rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def command_line() -> str:
    """How this script was run, as the results record it."""
    return " ".join([Path(sys.executable).name, *sys.argv])


def progress_bar(console: Any, width: int = 40, remaining: bool = True) -> Any:
    """A rich progress display: spinner, description padded to `width`, bar, done/total, elapsed (and left)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [SpinnerColumn(), TextColumn(f"{{task.description:<{width}}}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]  # fmt: skip
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console)


# -- the command line and the result file -----------------------------------------------------------


def add_output_args(parser: argparse.ArgumentParser, default_out: Path, out_help: str = "JSON result") -> None:
    """--out, --docs, --no-docs, --docs-only: where the result goes and which docs section it rewrites."""
    parser.add_argument("--out", type=Path, default=default_out, help=out_help)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file whose section to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from --out")


def add_data_arg(parser: argparse.ArgumentParser, default: Path) -> None:
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", default)),
                        help="LongMemEval dev directory [env AIOS_BENCH_DATA]")  # fmt: skip


def save_result(path: Path, result: dict[str, Any], indent: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=indent) + "\n")


def result_of(args: argparse.Namespace, run: Callable[[], dict[str, Any]], indent: int = 2) -> dict[str, Any]:
    """With --docs-only the result in --out; else run() and write what it returns to --out."""
    if args.docs_only:
        return json.loads(args.out.read_text())
    result = run()
    save_result(args.out, result, indent)
    return result


def update_docs(args: argparse.Namespace, heading: str, render: Callable[[dict[str, Any], str], str],
                result: dict[str, Any]) -> None:  # fmt: skip
    """Unless --no-docs: rewrite the section `heading` of --docs from render(result, the JSON's path)."""
    if not args.no_docs:
        write_docs(args.docs, heading, render(result, display_path(args.out)))


def wrote(args: argparse.Namespace, heading: str) -> str:
    return f"wrote {args.out}" + ("" if args.no_docs else f" and the '{heading[3:]}' section of {args.docs}")


# -- pieces of a docs section -----------------------------------------------------------------------


def section_head(heading: str, script: str, json_path: str) -> list[str]:
    """A section's heading and the comment that says which script writes it."""
    comment = f"<!-- Generated by bench/{script} from {json_path}; edit the script, not this section. -->"
    return [heading, "", comment, ""]


def yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def commit_note(git: dict[str, Any]) -> str:
    """The commit a result was measured at, and whether the tree had uncommitted changes."""
    return f"`{(git['commit'] or '?')[:12]}`{' (with uncommitted changes)' if git['dirty'] else ''}"


def fmt_load(x: Sequence[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in x) if x else "?"
