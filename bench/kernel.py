#!/usr/bin/env python
"""Kernel benchmark: batch add throughput and search latency over gRPC, against the same work in-process.

One run measures, on the same machine and the same texts:

1. batch add: N notes through a kernel subprocess (`aios serve`) with the SDK's `Client.add_notes`, in
   batches of 250, versus the same texts encoded in-process with sentence-transformers (the kernel's
   model, batch_size=64, normalize_embeddings=True) and upserted into an embedded Chroma collection;
2. search: Q sequential single queries, k=10, `Client.search` versus encode + `collection.query`, over the
   same N notes, after a few uncounted warm-up queries.

Kernel and in-process phases never overlap: the kernel is idle while the in-process baseline runs. Each
phase records wall time, the CPU time of the kernel process and of this process, and the CPU time the rest
of the machine used meanwhile (from /proc/stat), so a noisy neighbour shows in the result.

Writes the JSON result (default bench/results/kernel.json) and regenerates the
`## Kernel: batch add and search` section of docs/benchmarks.md from it.

    .venv/bin/python bench/kernel.py                     # the full run (`make bench`)
    .venv/bin/python bench/kernel.py --notes 1000 --queries 30 --out /tmp/kernel-small.json
    .venv/bin/python bench/kernel.py --docs-only         # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import contextlib
import json
import lzma
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import LONGMEMEVAL, KernelProcess, Meter, git_state, percentile
from _common import display_path as _display_path
from _common import machine_info as common_machine_info
from _common import write_docs as _write_docs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = LONGMEMEVAL
DEFAULT_OUT = ROOT / "bench" / "results" / "kernel.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Kernel: batch add and search"
REPRODUCE = "make bench"
REPRODUCE_RAW = ".venv/bin/python bench/kernel.py"

BATCH = 250
ENCODE_BATCH = 64
K = 10
MAX_CHARS = 2_000
WARMUP_QUERIES = 5
WARMUP_NOTES = 64
GOAL_ADD = 0.8  # kernel add throughput / in-process, at least
GOAL_SEARCH_P50 = 1.5  # kernel search p50 / in-process, at most
KERNEL_ENV = {"TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": "PASSIVE"}  # what `aios serve` sets


# -- texts ------------------------------------------------------------------------------------------


def load_texts(data: Path, n_notes: int, n_queries: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """The first `n_notes` distinct non-empty turn contents (user and assistant, file order, cut to
    MAX_CHARS) and `n_queries` questions, cycling through the question file when it holds fewer."""
    notes: list[str] = []
    seen: set[str] = set()
    sessions = turns = 0
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        for line in f:
            sessions += 1
            for turn in json.loads(line)["turns"]:
                turns += 1
                text = (turn.get("content") or "")[:MAX_CHARS]
                if not text.strip() or "\x00" in text or text in seen:
                    continue
                seen.add(text)
                notes.append(text)
                if len(notes) == n_notes:
                    break
            if len(notes) == n_notes:
                break
    if len(notes) < n_notes:
        raise SystemExit(f"{data} holds only {len(notes)} distinct non-empty turns; asked for {n_notes}")
    with open(data / "questions.jsonl", encoding="utf-8") as f:
        questions = [q for q in (json.loads(line)["question"] for line in f if line.strip()) if q.strip()]
    queries = [questions[i % len(questions)] for i in range(n_queries)]
    info = {
        "source": _display_path(data),
        "notes": (
            f"the first {n_notes} distinct non-empty turn contents (user and assistant turns) of "
            f"sessions.jsonl.xz in file order, each cut to {MAX_CHARS} characters; read from the first "
            f"{sessions} sessions ({turns} turns)"
        ),
        "queries": (
            f"the `question` field of questions.jsonl in file order; the file holds {len(questions)} questions, "
            + (
                f"so the {n_queries} queries cycle through them ({min(n_queries, len(questions))} distinct); "
                "neither side caches query results or embeddings, so a repeat costs what the first did"
                if n_queries > len(questions)
                else f"the first {n_queries} are used"
            )
        ),
        "distinct_queries": len(set(queries)),
        "note_chars_mean": round(sum(map(len, notes)) / len(notes), 1),
        "note_chars_truncated": sum(len(t) == MAX_CHARS for t in notes),
        "query_chars_mean": round(sum(map(len, queries)) / max(1, len(queries)), 1),
    }
    return notes, queries, info


# -- machine, load and CPU accounting ---------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import torch

    packages = {"torch": "torch", "sentence_transformers": "sentence-transformers", "chromadb": "chromadb",
                "grpcio": "grpcio"}  # fmt: skip
    return common_machine_info(packages, torch_threads=torch.get_num_threads())


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


# -- the kernel subprocess --------------------------------------------------------------------------


# -- the measured work ------------------------------------------------------------------------------

Progress = Any  # rich.progress.Progress


def schedule(n: int, interleave: bool) -> list[tuple[str, int]]:
    """The order of the kernel's and the in-process baseline's units of work: pairs (kernel first) when
    interleaved, so both see the same background load; else every kernel unit, then every in-process one."""
    if interleave:
        return [(side, i) for i in range(n) for side in ("kernel", "inprocess")]
    return [(side, i) for side in ("kernel", "inprocess") for i in range(n)]


def encode(model: Any, texts: list[str]) -> Any:
    return model.encode(
        texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )


def measure_add(
    agent: Any, model: Any, collection: Any, texts: list[str], meters: dict[str, Meter], progress: Progress,
    interleave: bool,
) -> dict[str, Any]:  # fmt: skip
    """Add `texts` in batches through the kernel and in-process; returns per-batch times and the ids."""
    batches = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
    tasks = {
        "kernel": progress.add_task("add: kernel over gRPC", total=len(texts)),
        "inprocess": progress.add_task("add: in-process", total=len(texts)),
    }
    batch_s: dict[str, list[float]] = {"kernel": [0.0] * len(batches), "inprocess": [0.0] * len(batches)}
    ids: list[list[str]] = [[] for _ in batches]
    encode_s = upsert_s = 0.0
    for side, i in schedule(len(batches), interleave):
        chunk = batches[i]
        with meters[side]():
            t0 = time.perf_counter()
            if side == "kernel":
                added = agent.add_notes(chunk)
            else:
                vectors = encode(model, chunk)
                t1 = time.perf_counter()
                ids[i] = [uuid.uuid4().hex for _ in chunk]
                collection.upsert(ids=ids[i], embeddings=vectors)
            t2 = time.perf_counter()
        batch_s[side][i] = t2 - t0
        if side == "kernel" and len(added) != len(chunk):
            raise RuntimeError(f"add_notes returned {len(added)} notes for a batch of {len(chunk)}")
        if side == "inprocess":
            encode_s, upsert_s = encode_s + t1 - t0, upsert_s + t2 - t1
        progress.advance(tasks[side], len(chunk))
    return {
        "batch_s": batch_s,
        "ids": [x for chunk_ids in ids for x in chunk_ids],
        "inprocess_split": {"encode_s": round(encode_s, 3), "upsert_s": round(upsert_s, 3)},
    }


def measure_search(
    agent: Any, model: Any, collection: Any, queries: list[str], meters: dict[str, Meter] | None,
    progress: Progress | None, label: str, interleave: bool,
) -> dict[str, Any]:  # fmt: skip
    """One query at a time through the kernel and in-process; latencies in ms and the hits of each."""
    tasks = {
        side: progress.add_task(f"{label}: {name}", total=len(queries))
        for side, name in (("kernel", "kernel over gRPC"), ("inprocess", "in-process"))
    } if progress else {}  # fmt: skip
    ms: dict[str, list[float]] = {"kernel": [0.0] * len(queries), "inprocess": [0.0] * len(queries)}
    hits: dict[str, list[list[str]]] = {"kernel": [[] for _ in queries], "inprocess": [[] for _ in queries]}
    encode_s = query_s = 0.0
    for side, i in schedule(len(queries), interleave):
        with meters[side]() if meters else contextlib.nullcontext():
            t0 = time.perf_counter()
            if side == "kernel":
                found = agent.search(queries[i], k=K)
            else:
                vector = encode(model, [queries[i]])
                t1 = time.perf_counter()
                result = collection.query(query_embeddings=vector, n_results=K)
            t2 = time.perf_counter()
        ms[side][i] = (t2 - t0) * 1000
        if side == "kernel":
            hits[side][i] = [h.note.content for h in found]
        else:
            hits[side][i] = result["ids"][0]
            encode_s, query_s = encode_s + t1 - t0, query_s + t2 - t1
        if progress:
            progress.advance(tasks[side])
    n = max(1, len(queries))
    return {
        "ms": ms,
        "hits": hits,
        "inprocess_split": {
            "encode_ms_mean": round(encode_s / n * 1000, 3),
            "query_ms_mean": round(query_s / n * 1000, 3),
        },
    }


# -- the run ----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

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
        machine = machine_info()

        chroma = chromadb.PersistentClient(path=str(tmp / "chroma"), settings=Settings(anonymized_telemetry=False))

        def collection(name: str) -> Any:
            return chroma.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )

        admin = Client(kernel.target, kernel.admin_token(), timeout=600)
        agent = Client(kernel.target, admin.create_agent("bench").token, timeout=600)
        warm_agent = Client(kernel.target, admin.create_agent("bench-warmup").token, timeout=600)

        columns = (
            SpinnerColumn(), TextColumn("{task.description:<38}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(),
        )  # fmt: skip
        add_meters = {side: Meter(kernel.pid) for side in ("kernel", "inprocess")}
        search_meters = {side: Meter(kernel.pid) for side in ("kernel", "inprocess")}
        with Progress(*columns, console=console) as progress:
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
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


# -- the docs section -------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def render_section(r: dict[str, Any], json_path: str) -> str:
    m, load, ph = r["machine"], r["load"], r["phases"]
    goal_add, goal_p50 = r["goals"]["add_throughput_ratio"], r["goals"]["search_p50_ratio"]
    yes = lambda ok: "**yes**" if ok else "**no**"  # noqa: E731
    rows = [
        "| Measure | Kernel (gRPC) | In-process | Ratio kernel / in-process | Goal | Met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| Batch add, notes/s | {_fmt(r['kernel_add_notes_per_s'])} | {_fmt(r['inprocess_add_notes_per_s'])} "
        f"| {r['add_throughput_ratio']:.2f} | ≥ {goal_add['min']} | {yes(goal_add['met'])} |",
        f"| Search p50, ms | {_fmt(r['kernel_search_p50_ms'], 2)} | {_fmt(r['inprocess_search_p50_ms'], 2)} "
        f"| {r['search_p50_ratio']:.2f} | ≤ {goal_p50['max']} | {yes(goal_p50['met'])} |",
        f"| Search p95, ms | {_fmt(r['kernel_search_p95_ms'], 2)} | {_fmt(r['inprocess_search_p95_ms'], 2)} "
        f"| {r['search_p95_ratio']:.2f} | — | — |",
    ]
    phase_rows = [
        "| Phase | Wall s | Kernel CPU s | Bench process CPU s | Other processes CPU s (cores) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, p in ph.items():
        phase_rows.append(
            f"| {name} | {p['wall_s']:.2f} | {p['kernel_cpu_s']:.1f} | {p['bench_cpu_s']:.1f} "
            f"| {p['others_cpu_s']:.1f} ({p['others_cores_avg']}) |"
        )
    rows.append(f"| Batch add, median of per-batch ratios | | | {r['add_throughput_ratio_batch_median']:.2f} | | |")
    rounds = "; ".join(
        f"round {i}: kernel p50 {x['kernel']['p50_ms']:.2f} / p95 {x['kernel']['p95_ms']:.2f} ms, in-process "
        f"p50 {x['inprocess']['p50_ms']:.2f} / p95 {x['inprocess']['p95_ms']:.2f} ms, top-10 overlap "
        f"{x['top10_overlap_mean']:.3f}"
        for i, x in enumerate(r["search_rounds"], 1)
    )
    problems = r["kernel"]["log_problems"]
    lines = [
        SECTION,
        "",
        f"<!-- Generated by bench/kernel.py from {json_path}; edit the script, not this section. -->",
        "",
        f"The kernel (`aios serve`, a subprocess on localhost, driven with the SDK's `Client`) against the same work "
        f"done in-process: the kernel's model (all-MiniLM-L6-v2) through sentence-transformers "
        f"(batch_size={r['encode_batch_size']}, normalize_embeddings=True) and an embedded Chroma collection "
        f"(cosine). **Batch add**: {r['notes']:,} notes in batches of {r['batch_size']} (`Client.add_notes` vs "
        f"encode + `collection.upsert`). **Search**: {r['queries']} single queries one after another, k={r['k']}, "
        f"over those notes (`Client.search` vs encode + `collection.query`), after {r['warmup_queries']} uncounted "
        f"warm-up queries; {len(r['search_rounds'])} rounds, the best p50 and p95 of each side kept. Order: "
        f"{r['order']}; the two never run at once. In-process threading: {_env_note(r['environment'])}.",
        "",
        *rows,
        "",
        f"Texts: {r['texts']['notes']}. Queries: {r['texts']['queries']}.",
        "",
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM, {m['platform']}; Python {m['python']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads), sentence-transformers {m['sentence_transformers']}, "
        f"chromadb {m['chromadb']}, grpcio {m['grpcio']}. Run on {m['date']} at commit "
        f"`{(r['git']['commit'] or '?')[:12]}`{' (with uncommitted changes)' if r['git']['dirty'] else ''}.",
        "",
        f"Load average (1/5/15 min): {' / '.join(map(str, load['before']))} before, "
        f"{' / '.join(map(str, load['after']))} after. CPU per phase (other processes: what the rest of the "
        f"machine used meanwhile, from /proc/stat):",
        "",
        *phase_rows,
        "",
        f"Search rounds: {rounds}.",
        "",
        "Kernel log: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (runs `{REPRODUCE_RAW}`; options `--notes N --queries N --out PATH`, "
        f"`--sequential`, `--inprocess-env default`, `--help` for the rest). "
        f"Raw figures: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


def _env_note(env: dict[str, Any]) -> str:
    if env["inprocess_env"] == "kernel":
        return (
            "the kernel's settings on both sides (TOKENIZERS_PARALLELISM=false, OMP_WAIT_POLICY=PASSIVE), so the "
            "ratios measure the kernel's path rather than a threading choice (`--inprocess-env default` gives the "
            "baseline the libraries' defaults instead: spinning OpenMP threads, faster on an idle machine, far "
            "slower on a busy one)"
        )
    return (
        "the libraries' defaults (spinning OpenMP threads, tokenizer parallelism on), while the kernel sets "
        "TOKENIZERS_PARALLELISM=false and OMP_WAIT_POLICY=PASSIVE for itself"
    )


def write_docs(docs: Path, section: str) -> None:
    """Replace this benchmark's section of `docs` (from its heading to the next `## ` heading), or add it."""
    _write_docs(docs, SECTION, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--notes", type=int, default=10_000, help="notes to add (default 10000)")
    parser.add_argument("--queries", type=int, default=200, help="search queries per round (default 200)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result (default bench/results/kernel.json)")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file whose section to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from --out")
    parser.add_argument(
        "--sequential",
        dest="interleave",
        action="store_false",
        help="run every kernel batch (query), then every in-process one, instead of taking turns",
    )
    parser.add_argument(
        "--inprocess-env",
        choices=("kernel", "default"),
        default="kernel",
        help="threading of the in-process baseline. kernel (the default): what `aios serve` sets, "
        "TOKENIZERS_PARALLELISM=false and OMP_WAIT_POLICY=PASSIVE, so the ratios measure the kernel's path, "
        "not a threading choice; default: the libraries' defaults (spinning OpenMP threads: faster on an idle "
        "machine, far slower on a busy one)",
    )
    parser.add_argument("--search-rounds", type=int, default=2, help="search rounds; the best of each side is kept")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", DEFAULT_DATA)),
                        help="LongMemEval dev directory [env AIOS_BENCH_DATA]")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kernel data and logs)")
    args = parser.parse_args(argv)
    if args.notes < K or args.queries < 1 or args.search_rounds < 1:
        parser.error(f"--notes must be at least {K}, --queries and --search-rounds at least 1")

    if args.docs_only:
        result = json.loads(args.out.read_text())
    else:
        result = run(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs:
        write_docs(args.docs, render_section(result, _display_path(args.out)))

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"kernel vs in-process ({result['notes']} notes, {result['queries']} queries)")
    for col in ("measure", "kernel", "in-process", "ratio", "goal", "met"):
        table.add_column(col, justify="left" if col in ("measure", "goal") else "right")
    g = result["goals"]
    for label, kernel_key, inproc_key, ratio_key, goal in (
        ("add, notes/s", "kernel_add_notes_per_s", "inprocess_add_notes_per_s", "add_throughput_ratio", ">="),
        ("search p50, ms", "kernel_search_p50_ms", "inprocess_search_p50_ms", "search_p50_ratio", "<="),
        ("search p95, ms", "kernel_search_p95_ms", "inprocess_search_p95_ms", "search_p95_ratio", ""),
    ):
        spec = g.get(ratio_key, {})
        table.add_row(
            label, f"{result[kernel_key]:.2f}", f"{result[inproc_key]:.2f}", f"{result[ratio_key]:.2f}",
            f"{goal} {spec.get('min', spec.get('max', ''))}" if spec else "", str(spec.get("met", "")),
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(f"load before {result['load']['before']}, after {result['load']['after']}")
    console.print(f"wrote {args.out}" + ("" if args.no_docs else f" and the '{SECTION[3:]}' section of {args.docs}"))
    if result["kernel"]["log_problems"]:
        console.print(f"[yellow]kernel log problems:[/] {result['kernel']['log_problems'][:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
