"""Memory benchmark, speed: batch add and search through a kernel subprocess against the raw in-process encode and
an embedded Chroma collection, at one size and optionally again at a bigger one (bench/memory_bench.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Meter, loadavg, percentile, progress_bar, torch_machine_info
from _longmemeval import read_questions
from _memory_data import SEARCH_K, speed_texts
from _servers import KernelProcess

ADD_BATCH = 250
ENCODE_BATCH = 64
WARMUP_QUERIES = 5
WARMUP_NOTES = 64
KERNEL_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
}
KERNEL_ONLY_ENV = {"AIOS_METRICS_PORT": "-1", "AIOS_LLM_BACKEND": "none"}  # no model, no metrics port


def latency(ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "queries": len(ms),
    }


def run_speed(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    sizes = [args.notes] + ([args.big] if args.big and args.big > args.notes else [])
    load = {"before": loadavg()}
    with console.status("reading texts"):
        texts, texts_info = speed_texts(args.data, sizes[-1])
        questions = [q["question"] for q in read_questions(args.data)]
    queries = [questions[i % len(questions)] for i in range(args.queries)]
    console.log(f"{len(texts):,} texts (mean {texts_info['chars_mean']} chars); sizes {sizes}; {len(queries)} queries")

    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-memory-speed-"))
    kernel = KernelProcess(
        tmp / "kernel-data", tmp, KERNEL_ENV | {"AIOS_METRICS_PORT": "-1", "AIOS_LLM_BACKEND": "none"}
    )
    os.environ.update(KERNEL_ENV)  # the in-process side gets the kernel's threading settings too
    steps: list[dict[str, Any]] = []
    estimates: dict[str, Any] = {}
    try:
        kernel.start()  # before this process loads torch: no fork after a thread pool
        with console.status("starting the kernel and loading the in-process model"):
            import chromadb
            from chromadb.config import Settings
            from sentence_transformers import SentenceTransformer

            from aios.client import Client
            from aios.embeddings import default_model_path

            model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
            ready_s = kernel.wait_ready()
        console.log(f"kernel ready on {kernel.target} after {ready_s:.1f} s (pid {kernel.pid})")
        machine = torch_machine_info()

        def encode(batch: list[str]) -> Any:
            return model.encode(batch, batch_size=ENCODE_BATCH, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)  # fmt: skip

        chroma = chromadb.PersistentClient(path=str(tmp / "chroma"), settings=Settings(anonymized_telemetry=False))

        def collection(name: str) -> Any:
            return chroma.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )

        admin = Client(kernel.target, (kernel.data_dir / "admin.token").read_text().strip(), timeout=900)
        agent = Client(kernel.target, admin.create_agent("bench-memory").token, timeout=900)
        warm_agent = Client(kernel.target, admin.create_agent("bench-memory-warmup").token, timeout=900)
        coll, warm_coll = collection("bench"), collection("warmup")
        # Uncounted warm-up on both sides, in collections of their own: first encode, upsert, query.
        warm_agent.add_notes(texts[:WARMUP_NOTES])
        warm_agent.search(queries[0], k=SEARCH_K)
        warm_coll.upsert(ids=[uuid.uuid4().hex for _ in range(WARMUP_NOTES)], embeddings=encode(texts[:WARMUP_NOTES]))
        warm_coll.query(query_embeddings=encode([queries[0]]), n_results=SEARCH_K)

        have = 0
        add = {"kernel_s": 0.0, "encode_s": 0.0, "upsert_s": 0.0, "notes": 0, "batch_ratios": []}
        segments = []  # the add figures of each growth step (0 -> first size, then -> --big)
        add_meters = {"kernel": Meter(kernel.pid), "encode": Meter(kernel.pid)}
        with progress_bar(console) as progress:
            for size in sizes:
                # Grow both sides to `size` notes, batch by batch, kernel first, then the raw encode.
                if have and size > have:
                    rate = add["notes"] / (add["kernel_s"] + add["encode_s"] + add["upsert_s"])
                    estimates[str(size)] = round((size - have) / rate, 1)
                    console.log(f"growing to {size:,} notes: about {(size - have) / rate / 60:.1f} min at "
                                f"{rate:.1f} notes/s (both sides)")  # fmt: skip
                task = progress.add_task(f"add to {size:,}: kernel + encode", total=size - have)
                seg_k0, seg_e0 = add["kernel_s"], add["encode_s"]
                seg_batch_ms: list[float] = []
                for start in range(have, size, ADD_BATCH):
                    chunk = texts[start : min(size, start + ADD_BATCH)]
                    with add_meters["kernel"]():
                        t0 = time.perf_counter()
                        added = agent.add_notes(chunk)
                        t1 = time.perf_counter()
                    if len(added) != len(chunk):
                        raise RuntimeError(f"add_notes returned {len(added)} notes for {len(chunk)}")
                    with add_meters["encode"]():
                        t2 = time.perf_counter()
                        vectors = encode(chunk)
                        t3 = time.perf_counter()
                    coll.upsert(ids=[uuid.uuid4().hex for _ in chunk], embeddings=vectors)  # not counted
                    t4 = time.perf_counter()
                    add["kernel_s"] += t1 - t0
                    add["encode_s"] += t3 - t2
                    add["upsert_s"] += t4 - t3
                    add["notes"] += len(chunk)
                    add["batch_ratios"].append((t3 - t2) / (t1 - t0))
                    seg_batch_ms.append((t1 - t0) * 1000)
                    progress.advance(task, len(chunk))
                seg_k, seg_e = add["kernel_s"] - seg_k0, add["encode_s"] - seg_e0
                segments.append({
                    "from": have,
                    "to": size,
                    "kernel_notes_per_s": round((size - have) / seg_k, 2),
                    "encode_notes_per_s": round((size - have) / seg_e, 2),
                    "ratio": round(seg_e / seg_k, 4),
                    "kernel_batch_ms_first_last": [round(seg_batch_ms[0], 1), round(seg_batch_ms[-1], 1)],
                })  # fmt: skip
                have = size
                load[f"after_add_{size}"] = loadavg()

                # Search: the same queries, one at a time, kernel then in-process, after warm-up queries.
                for q in queries[:WARMUP_QUERIES]:
                    agent.search(q, k=SEARCH_K)
                    coll.query(query_embeddings=encode([q]), n_results=SEARCH_K)
                ms: dict[str, list[float]] = {"kernel": [], "inprocess": [], "encode": [], "query": []}
                meters = {"kernel": Meter(kernel.pid), "inprocess": Meter(kernel.pid)}
                task = progress.add_task(f"search at {size:,}: kernel + in-process", total=len(queries))
                for q in queries:
                    with meters["kernel"]():
                        t0 = time.perf_counter()
                        agent.search(q, k=SEARCH_K)
                        t1 = time.perf_counter()
                    with meters["inprocess"]():
                        t2 = time.perf_counter()
                        vector = encode([q])
                        t3 = time.perf_counter()
                        coll.query(query_embeddings=vector, n_results=SEARCH_K)
                        t4 = time.perf_counter()
                    ms["kernel"].append((t1 - t0) * 1000)
                    ms["inprocess"].append((t4 - t2) * 1000)
                    ms["encode"].append((t3 - t2) * 1000)
                    ms["query"].append((t4 - t3) * 1000)
                    progress.advance(task)
                k_lat, i_lat = latency(ms["kernel"]), latency(ms["inprocess"])
                steps.append({
                    "notes": size,
                    "kernel": k_lat,
                    "inprocess": i_lat,
                    "inprocess_encode_p50_ms": round(percentile(ms["encode"], 50), 3),
                    "inprocess_query_p50_ms": round(percentile(ms["query"], 50), 3),
                    "p50_ratio": round(k_lat["p50_ms"] / i_lat["p50_ms"], 4),
                    "p95_ratio": round(k_lat["p95_ms"] / i_lat["p95_ms"], 4),
                    "phases": {name: m.as_dict() for name, m in meters.items()},
                    "load_after": loadavg(),
                })  # fmt: skip
                console.log(f"search at {size:,}: kernel p50 {k_lat['p50_ms']:.1f} ms, in-process "
                            f"{i_lat['p50_ms']:.1f} ms, ratio {steps[-1]['p50_ratio']:.2f}")  # fmt: skip
        for c in (warm_agent, agent, admin):
            c.close()
        with console.status("stopping the kernel"):
            kernel.stop()
    finally:
        kernel.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    kernel_rate = add["notes"] / add["kernel_s"]
    encode_rate = add["notes"] / add["encode_s"]
    problems = kernel.log_problems()
    if kernel.exit_code not in (0, None):
        problems.append(f"the kernel exited with {kernel.exit_code} after SIGTERM")
    load["after"] = loadavg()
    # How long 100k notes would take on this machine at the measured rates (both sides, as run here).
    both = add["notes"] / (add["kernel_s"] + add["encode_s"] + add["upsert_s"])
    estimates["100000_from_0_min"] = round(100_000 / both / 60, 1)
    return {
        "sizes": sizes,
        "texts": texts_info,
        "queries": len(queries),
        "distinct_queries": len(set(queries)),
        "add": {
            "notes": add["notes"],
            "batch_size": ADD_BATCH,
            "kernel_notes_per_s": round(kernel_rate, 2),
            "encode_notes_per_s": round(encode_rate, 2),
            "ratio": round(kernel_rate / encode_rate, 4),
            "batch_ratio_median": round(percentile(add["batch_ratios"], 50), 4),
            "inprocess_upsert_s": round(add["upsert_s"], 2),
            "segments": segments,
            "phases": {name: m.as_dict() for name, m in add_meters.items()},
        },
        "search": steps,
        "estimates_s": estimates,
        "machine": machine,
        "load": load,
        "kernel": {"ready_s": round(ready_s, 2), "exit_code": kernel.exit_code, "log_problems": problems},
        "environment": {"kernel": KERNEL_ONLY_ENV, "both": KERNEL_ENV},
    }
