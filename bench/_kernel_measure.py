"""Kernel benchmark, the measured work: the texts, and batch add and single-query search through the kernel and
in-process, taking turns (bench/kernel.py)."""

from __future__ import annotations

import contextlib
import json
import lzma
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Meter, display_path, percentile

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
        "source": display_path(data),
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


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


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
