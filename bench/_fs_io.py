"""File-system benchmark, part 1 (io): versioned writes and reads through the kernel against plain and atomic
fsync'd writes and plain reads on the same disk, taking turns batch by batch (bench/fs_bench.py)."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Meter, loadavg, progress_bar
from _fs_kernel import WARMUP, FsKernel, fs_machine_info, latency, wait_indexed
from _longmemeval import load_sessions
from _servers import KernelProcess

SMALL = (1024, 4096)  # bytes, uniform
BIG = 1 << 20
# (paths, rounds, batch) per workload; rounds - 1 new versions of each path after the creating round.
IO_FULL = {"small_text": (100, 3, 25), "small_binary": (100, 3, 25), "big_binary": (8, 3, 4)}
IO_QUICK = {"small_text": (20, 2, 10), "small_binary": (20, 2, 10), "big_binary": (3, 2, 3)}


def corpus_text(sessions: dict[str, list[dict[str, Any]]], chars: int) -> str:
    """At least `chars` characters of LongMemEval turns (file order), to cut small text files from."""
    parts, total = [], 0
    for turns in sessions.values():
        for t in turns:
            parts.append(t["content"])
            total += len(t["content"]) + 1
        if total >= chars:
            break
    return "\n".join(parts)


# -- 1. io ------------------------------------------------------------------------------------------


def plain_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def plain_read(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def io_contents(kind: str, n: int, rounds: int, corpus: str, rng: random.Random) -> list[list[bytes]]:
    """contents[round][i]: distinct per round and path (no blob is ever deduplicated)."""
    out = []
    for r in range(rounds):
        batch = []
        for i in range(n):
            if kind == "big_binary":
                batch.append(os.urandom(BIG))
                continue
            size = rng.randint(*SMALL)
            if kind == "small_binary":
                batch.append(os.urandom(size))
                continue
            head = f"# file {i} round {r}\n".encode()
            start = rng.randrange(0, len(corpus) - 2 * size)
            body = corpus[start : start + size].encode()[: size - len(head)]
            batch.append(head + body.decode("utf-8", errors="ignore").encode())
        out.append(batch)
    return out


def run_io(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    plan = IO_QUICK if args.quick else IO_FULL
    load = {"before": loadavg()}
    rng = random.Random(7)
    with console.status("reading LongMemEval text"):
        corpus = corpus_text(load_sessions(args.data), 2_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-fs-io-"))
    kernel = FsKernel(tmp / "kernel-data", tmp)
    workloads: dict[str, Any] = {}
    try:
        admin = kernel.launch(console)
        agent = kernel.agent(admin, "bench-fs-io")
        # Uncounted warm-up on every side: first write, first read.
        for side in ("plain", "atomic"):
            (tmp / side / "warmup").mkdir(parents=True)
        for i in range(WARMUP):
            data = f"warm-up {i}\n".encode() * 100
            agent.write_file(f"/warmup/{i}.txt", data)
            agent.read_file(f"/warmup/{i}.txt")
            plain_write(tmp / "plain" / "warmup" / f"{i}.txt", data)
            atomic_write(tmp / "atomic" / "warmup" / f"{i}.txt", data)
            plain_read(tmp / "plain" / "warmup" / f"{i}.txt")
        wait_indexed(agent)
        with progress_bar(console, 44, remaining=False) as progress:
            for kind, (n, rounds, batch) in plan.items():
                contents = io_contents(kind, n, rounds, corpus, rng)
                workloads[kind] = io_workload(kind, contents, batch, agent, kernel, tmp, progress)
                workloads[kind]["load_after"] = loadavg()
                console.log(f"{kind}: write kernel {workloads[kind]['write']['kernel']['mean_ms']:.2f} ms, plain "
                            f"{workloads[kind]['write']['plain']['mean_ms']:.2f} ms (ratio "
                            f"{workloads[kind]['write_cost_ratio']:.1f}); read ratio "
                            f"{workloads[kind]['read_cost_ratio']:.1f}")  # fmt: skip
        kernel.shutdown(console, agent, admin)
    finally:
        kernel.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = loadavg()
    return {
        "workloads": workloads,
        "plan": {k: {"paths": n, "rounds": r, "batch": b} for k, (n, r, b) in plan.items()},
        "small_bytes": list(SMALL),
        "big_bytes": BIG,
        "load": load,
        "kernel": kernel.report(),
        "machine": fs_machine_info(),
    }


def io_workload(kind: str, contents: list[list[bytes]], batch: int, agent: Any, kernel: KernelProcess, tmp: Path,
                progress: Any) -> dict[str, Any]:  # fmt: skip
    rounds, n = len(contents), len(contents[0])
    ext = "txt" if kind == "small_text" else "bin"
    dirs = {side: tmp / side / kind for side in ("plain", "atomic")}
    for d in dirs.values():
        d.mkdir(parents=True)
    ops = [(r, i) for r in range(rounds) for i in range(n)]
    batches = [ops[j : j + batch] for j in range(0, len(ops), batch)]
    sides = ("kernel", "plain", "atomic")
    write_s: dict[str, list[float]] = {s: [] for s in sides}
    create_s: dict[str, list[float]] = {s: [] for s in sides}
    meters = {s: Meter(kernel.pid) for s in sides}
    index_wait_s = 0.0
    task = progress.add_task(f"{kind}: writes (3 sides)", total=len(ops) * 3)

    def write(side: str, r: int, i: int) -> None:
        data = contents[r][i]
        t0 = time.perf_counter()
        if side == "kernel":
            info = agent.write_file(f"/io/{kind}/{i:04d}.{ext}", data)
        elif side == "plain":
            plain_write(dirs["plain"] / f"{i:04d}.{ext}", data)
        else:
            atomic_write(dirs["atomic"] / f"{i:04d}.{ext}", data)
        dt = time.perf_counter() - t0
        if side == "kernel" and (info.version != r + 1 or info.size != len(data)):
            raise RuntimeError(f"write returned version {info.version} size {info.size}, expected {r + 1}")
        write_s[side].append(dt)
        if r == 0:
            create_s[side].append(dt)

    for b, chunk in enumerate(batches):
        order = sides[b % 3 :] + sides[: b % 3]
        for side in order:
            with meters[side]():
                for r, i in chunk:
                    write(side, r, i)
            if side == "kernel":  # untimed: the baselines never run beside the kernel's indexer
                t0 = time.perf_counter()
                wait_indexed(agent)
                index_wait_s += time.perf_counter() - t0
            progress.advance(task, len(chunk))
    progress.remove_task(task)

    # Reads: every path's current contents, twice, kernel and plain taking turns batch by batch.
    read_s: dict[str, list[float]] = {"kernel": [], "plain": []}
    read_meters = {s: Meter(kernel.pid) for s in read_s}
    reads = [i for _ in range(2) for i in range(n)]
    task = progress.add_task(f"{kind}: reads (2 sides)", total=len(reads) * 2)
    for b in range(0, len(reads), batch):
        for side in ("kernel", "plain") if (b // batch) % 2 == 0 else ("plain", "kernel"):
            with read_meters[side]():
                for i in reads[b : b + batch]:
                    t0 = time.perf_counter()
                    if side == "kernel":
                        got = agent.read_file(f"/io/{kind}/{i:04d}.{ext}")
                    else:
                        got = plain_read(dirs["plain"] / f"{i:04d}.{ext}")
                    read_s[side].append(time.perf_counter() - t0)
                    if got != contents[-1][i]:
                        raise RuntimeError(f"{side} read of {kind} file {i} returned other contents")
            progress.advance(task, len(reads[b : b + batch]))
    progress.remove_task(task)

    mean = {s: sum(v) / len(v) for s, v in write_s.items()}
    read_mean = {s: sum(v) / len(v) for s, v in read_s.items()}
    sizes = [len(c) for rc in contents for c in rc]
    size_mean = sum(sizes) / len(sizes)
    return {
        "files": n,
        "rounds": rounds,
        "writes_per_side": len(ops),
        "bytes_mean": round(size_mean, 1),
        "indexed": kind == "small_text",
        "write_cost_ratio": round(mean["kernel"] / mean["plain"], 3),
        "write_cost_ratio_vs_atomic": round(mean["kernel"] / mean["atomic"], 3),
        "create_cost_ratio": round(sum(create_s["kernel"]) / sum(create_s["plain"]), 3),
        "read_cost_ratio": round(read_mean["kernel"] / read_mean["plain"], 3),
        "write": {
            s: latency(v) | {"writes_per_s": round(1 / mean[s], 1), "mb_per_s": round(size_mean / mean[s] / 1e6, 2)}
            for s, v in write_s.items()
        },  # fmt: skip
        "write_create": {s: latency(v) for s, v in create_s.items()},
        "write_new_version": {s: latency(v[n:]) for s, v in write_s.items() if rounds > 1},
        "read": {
            s: latency(v)
            | {"reads_per_s": round(1 / read_mean[s], 1), "mb_per_s": round(size_mean / read_mean[s] / 1e6, 2)}
            for s, v in read_s.items()
        },  # fmt: skip
        "phases": {f"write_{s}": m.as_dict() for s, m in meters.items()}
        | {f"read_{s}": m.as_dict() for s, m in read_meters.items()},
        "index_wait_s": round(index_wait_s, 2),
    }
