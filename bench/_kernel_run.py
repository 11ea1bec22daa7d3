"""Kernel benchmark, one run: a kernel subprocess and the in-process baseline (sentence-transformers + an embedded
Chroma collection), warm-up, batch add, search rounds, and the JSON result (bench/kernel.py)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from _common import Meter, command_line, git_state, percentile, progress_bar, torch_machine_info
from _kernel_measure import (
    BATCH,
    ENCODE_BATCH,
    GOAL_ADD,
    GOAL_SEARCH_P50,
    KERNEL_ENV,
    WARMUP_NOTES,
    WARMUP_QUERIES,
    K,
    encode,
    latency_summary,
    load_texts,
    measure_add,
    measure_search,
)
from _servers import KernelProcess


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    # Set before torch loads: the OpenMP runtime and the tokenizers read these once. The kernel inherits
    # this environment and sets TOKENIZERS_PARALLELISM=false, OMP_WAIT_POLICY=PASSIVE for itself if unset.
    os.environ["HF_HUB_OFFLINE"] = "1"
    if args.inprocess_env == "kernel":
        os.environ.update(KERNEL_ENV)
    env_seen = {k: os.environ.get(k) for k in (*KERNEL_ENV, "OMP_NUM_THREADS")}
    load = {"start": os.getloadavg()}

    with console.status("reading texts"):
        texts, queries, texts_info = load_texts(args.data, args.notes, args.queries)
    console.log(f"{len(texts)} notes (mean {texts_info['note_chars_mean']} chars), {len(queries)} queries")

    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-"))
    # LLM enrichment is background work after each write; this benchmark measures the write and search path, so it
    # is off here (the model still loads). The metrics port could clash with a running kernel.
    kernel = KernelProcess(tmp / "kernel-data", tmp, {"AIOS_LLM_ENRICHMENT": "0", "AIOS_METRICS_PORT": "-1"})
    try:
        # Start the kernel before this process touches torch or the tokenizer: no fork after a thread pool.
        kernel.start()
        with console.status("starting the kernel and loading the in-process model"):
            import chromadb
            from chromadb.config import Settings
            from sentence_transformers import SentenceTransformer

            from aios.client import Client
            from aios.embeddings import default_model_path

            model_path = default_model_path()
            model = SentenceTransformer(str(model_path), device="cpu")
            ready_s = kernel.wait_ready()
        console.log(f"kernel ready on {kernel.target} after {ready_s:.1f} s (pid {kernel.pid}); model {model_path}")
        machine = torch_machine_info()

        chroma = chromadb.PersistentClient(path=str(tmp / "chroma"), settings=Settings(anonymized_telemetry=False))

        def collection(name: str) -> Any:
            return chroma.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )

        admin = Client(kernel.target, kernel.admin_token(), timeout=600)
        agent = Client(kernel.target, admin.create_agent("bench").token, timeout=600)
        warm_agent = Client(kernel.target, admin.create_agent("bench-warmup").token, timeout=600)

        add_meters = {side: Meter(kernel.pid) for side in ("kernel", "inprocess")}
        search_meters = {side: Meter(kernel.pid) for side in ("kernel", "inprocess")}
        with progress_bar(console, 38) as progress:
            # Warm-up, uncounted, in a collection of its own on each side: first encode, first upsert.
            warm = texts[:WARMUP_NOTES]
            warm_agent.add_notes(warm)
            warm_agent.search(queries[0], k=K)
            warm_coll = collection("warmup")
            warm_coll.upsert(ids=[uuid.uuid4().hex for _ in warm], embeddings=encode(model, warm))
            warm_coll.query(query_embeddings=encode(model, [queries[0]]), n_results=K)

            # 1. batch add.
            coll = collection("bench")
            add = measure_add(agent, model, coll, texts, add_meters, progress, args.interleave)
            id_to_text = dict(zip(add["ids"], texts, strict=True))
            load["after_add"] = os.getloadavg()

            # 2. search: uncounted warm-up queries, then rounds; the best of each side is kept.
            measure_search(agent, model, coll, queries[:WARMUP_QUERIES], None, None, "", args.interleave)
            rounds = []
            for r in range(1, args.search_rounds + 1):
                got = measure_search(
                    agent, model, coll, queries, search_meters, progress, f"search round {r}", args.interleave
                )
                overlap = [
                    len(set(kh) & {id_to_text[i] for i in ih}) / max(1, len(ih))
                    for kh, ih in zip(got["hits"]["kernel"], got["hits"]["inprocess"], strict=True)
                ]
                rounds.append({
                    "kernel": latency_summary(got["ms"]["kernel"]),
                    "inprocess": latency_summary(got["ms"]["inprocess"]) | got["inprocess_split"],
                    "top10_overlap_mean": round(sum(overlap) / len(overlap), 4),
                })  # fmt: skip
            load["after_search"] = os.getloadavg()

        for c in (warm_agent, agent, admin):
            c.close()
        with console.status("stopping the kernel (SIGTERM)"):
            kernel.stop()
    finally:
        kernel.stop()
        if args.keep:
            console.log(f"kept {tmp} (kernel data and logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    k_batches, i_batches = add["batch_s"]["kernel"], add["batch_s"]["inprocess"]
    kernel_add = args.notes / add_meters["kernel"].wall_s
    inproc_add = args.notes / add_meters["inprocess"].wall_s
    k_p50 = min(r["kernel"]["p50_ms"] for r in rounds)
    k_p95 = min(r["kernel"]["p95_ms"] for r in rounds)
    i_p50 = min(r["inprocess"]["p50_ms"] for r in rounds)
    i_p95 = min(r["inprocess"]["p95_ms"] for r in rounds)
    problems = kernel.log_problems()
    if kernel.exit_code not in (0, None):
        problems.append(f"the kernel exited with {kernel.exit_code} after SIGTERM")
    load["end"] = os.getloadavg()
    order = (
        "interleaved: each add batch and each search query runs on the kernel, then in-process, before the next"
        if args.interleave
        else "sequential: every kernel batch (query), then every in-process batch (query)"
    )

    return {
        "benchmark": "kernel: batch add and search",
        "add_throughput_ratio": round(kernel_add / inproc_add, 4),
        "search_p50_ratio": round(k_p50 / i_p50, 4),
        "search_p95_ratio": round(k_p95 / i_p95, 4),
        "goals": {
            "add_throughput_ratio": {"min": GOAL_ADD, "met": kernel_add / inproc_add >= GOAL_ADD},
            "search_p50_ratio": {"max": GOAL_SEARCH_P50, "met": k_p50 / i_p50 <= GOAL_SEARCH_P50},
        },
        "kernel_add_notes_per_s": round(kernel_add, 2),
        "inprocess_add_notes_per_s": round(inproc_add, 2),
        "kernel_search_p50_ms": k_p50,
        "kernel_search_p95_ms": k_p95,
        "inprocess_search_p50_ms": i_p50,
        "inprocess_search_p95_ms": i_p95,
        "add_throughput_ratio_batch_median": round(
            percentile([i / k for k, i in zip(k_batches, i_batches, strict=True)], 50), 4
        ),
        "notes": args.notes,
        "queries": args.queries,
        "batch_size": BATCH,
        "encode_batch_size": ENCODE_BATCH,
        "k": K,
        "warmup_queries": WARMUP_QUERIES,
        "order": order,
        "search_rounds": rounds,
        "search_best_of": "the lowest p50 and the lowest p95 of each side over the rounds, taken separately",
        "phases": {
            "kernel_add": add_meters["kernel"].as_dict()
            | {"batch_ms": latency_summary([x * 1000 for x in k_batches]) | {"batches": len(k_batches)}},
            "inprocess_add": add_meters["inprocess"].as_dict()
            | {"batch_ms": latency_summary([x * 1000 for x in i_batches]) | {"batches": len(i_batches)}}
            | add["inprocess_split"],
            "kernel_search": search_meters["kernel"].as_dict(),
            "inprocess_search": search_meters["inprocess"].as_dict(),
        },
        "texts": texts_info,
        "machine": machine,
        "load": {
            "before": [round(x, 2) for x in load["start"]],
            "after": [round(x, 2) for x in load["end"]],
            "after_add": [round(x, 2) for x in load["after_add"]],
            "after_search": [round(x, 2) for x in load["after_search"]],
            "note": "os.getloadavg() (1, 5, 15 min); phases[*].others_cpu_s is CPU used by other processes meanwhile",
        },
        "environment": {
            "inprocess_env": args.inprocess_env,
            "seen_by_both": env_seen,
            "kernel_sets_if_unset": KERNEL_ENV,
        },
        "kernel": {
            "ready_s": round(ready_s, 2),
            "stop_s": round(kernel.stop_s, 2) if kernel.stop_s is not None else None,
            "exit_code": kernel.exit_code,
            "log_problems": problems,
        },
        "git": git_state(),
        "command": command_line(),
    }
