"""File-system benchmark, part 3 (latency): one agent's tree grown to N short files, written one by one and
indexed, then single `retrieve` queries one after another (bench/fs_bench.py)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Meter, loadavg, progress_bar
from _fs_kernel import QUICK, WARMUP, FsKernel, fs_machine_info, latency, wait_indexed
from _longmemeval import load_sessions, read_questions, short_texts

RETRIEVE_K = 5


def run_latency(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    n = QUICK["files"] if args.quick else args.files
    n_queries = QUICK["queries"] if args.quick else args.queries
    load = {"before": loadavg()}
    with console.status("reading LongMemEval"):
        texts, texts_info = short_texts(load_sessions(args.data).values(), n)
        questions = [q["question"] for q in read_questions(args.data)]
    queries = [questions[i % len(questions)] for i in range(n_queries)]
    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-fs-latency-"))
    kernel = FsKernel(tmp / "kernel-data", tmp)
    try:
        admin = kernel.launch(console)
        agent = kernel.agent(admin, "bench-fs-latency")
        write_s: list[float] = []
        meters = {"write": Meter(kernel.pid), "retrieve": Meter(kernel.pid)}
        with progress_bar(console, 44, remaining=False) as progress:
            task = progress.add_task(f"latency: write {n:,} files", total=n)
            t0 = time.perf_counter()
            with meters["write"]():
                for i, text in enumerate(texts):
                    t1 = time.perf_counter()
                    agent.write_file(f"/corpus/{i // 1000:02d}/{i:05d}.txt", text)
                    write_s.append(time.perf_counter() - t1)
                    progress.advance(task)
            written_s = time.perf_counter() - t0
            index_s = wait_indexed(agent, progress, "latency: waiting for the index")
            load["after_index"] = loadavg()
            for q in questions[-WARMUP:]:
                agent.retrieve(q, k=RETRIEVE_K)
            task = progress.add_task(f"latency: {n_queries} retrieves k={RETRIEVE_K}", total=n_queries)
            retrieve_s, hits = [], []
            with meters["retrieve"]():
                for q in queries:
                    t1 = time.perf_counter()
                    found = agent.retrieve(q, k=RETRIEVE_K)
                    retrieve_s.append(time.perf_counter() - t1)
                    hits.append(len(found))
                    progress.advance(task)
        files_seen = len(agent.list_files("/corpus", recursive=True))
        kernel.shutdown(console, agent, admin)
    finally:
        kernel.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = loadavg()
    tenth = max(1, n // 10)
    return {
        "files": n,
        "texts": texts_info,
        "queries": n_queries,
        "distinct_queries": len(set(queries)),
        "k": RETRIEVE_K,
        "retrieve": latency(retrieve_s),
        "hits_mean": round(sum(hits) / len(hits), 2),
        "write": latency(write_s)
        | {
            "files_per_s": round(n / written_s, 2),
            "first_tenth_mean_ms": round(sum(write_s[:tenth]) / tenth * 1000, 3),
            "last_tenth_mean_ms": round(sum(write_s[-tenth:]) / tenth * 1000, 3),
        },
        "index": {
            "wait_after_writes_s": round(index_s, 2),
            "files_per_s": round(n / (written_s + index_s), 2),
            "note": "from the first write to an idle index",
        },  # fmt: skip
        "tree_entries": files_seen,
        "phases": {name: m.as_dict() for name, m in meters.items()},
        "load": load,
        "kernel": kernel.report(),
        "machine": fs_machine_info(),
    }
