#!/usr/bin/env python
"""File system (LSFS) benchmark: versioned write and read cost, retrieval quality, retrieve latency at 10k files.

Every part drives a kernel subprocess (`aios serve` on a fresh data directory: embedded SQLite + Chroma,
AIOS_LLM_BACKEND=none, AIOS_METRICS_PORT=-1) through the SDK's `Client`; each part gets a kernel of its own.

1. io: versioned writes and reads through the kernel against plain files on the same disk, in the same run.
   Workloads: small text files (1-4 KB, LongMemEval text; the kernel indexes them in the background), small
   binary files (1-4 KB of random bytes: the storage path alone, nothing to index) and 1 MiB binary files.
   Each workload writes its N paths `rounds` times: round 1 creates them, later rounds write new contents
   (a new version in the kernel, an overwrite on disk). Two baselines do the same writes in this process:
   - plain: open(path, "wb"), write, flush, os.fsync, close (the issue's "plain write with fsync");
   - atomic: the same into a temporary name, os.replace into place, fsync of the directory.
   The three sides take turns batch by batch (the order rotates), so they see the same machine load; after
   each kernel batch the script waits, untimed, until the kernel has indexed it, so the baselines never run
   beside the kernel's indexer. write_cost_ratio = kernel seconds per write / plain seconds per write (small
   text files). Reads: every file's current contents, `Client.read_file` vs open().read(), taking turns.
2. quality: LongMemEval dev (its README has the protocol) at session level. Per question, a fresh agent
   whose tree holds the question's haystack, one file per session (`/sessions/<date>_<session id>.txt`,
   the session's user turns as "user: ..." lines; `--content both` adds the assistant turns). All files are
   written, the index is awaited (`status("files")` until nothing waits to be indexed), then each agent asks
   `retrieve(question, k=10)`. Baseline: a keyword ranking (below) over the same texts. recall_any@k,
   recall_all@k and NDCG@k for k = 1, 3, 5, 10 over the evidence sessions. `_abs` questions and questions
   with no user-side `has_answer` turn are skipped (the README's protocol).
3. latency: one agent's tree grown to 10,000 files (distinct LongMemEval user turns of at most 400
   characters, then distinct assistant-turn paragraphs of 40-400, as bench/memory.py uses), written one by
   one, indexed, then 200 `retrieve(question, k=5)` one after another after 5 warm-up queries: p50/p95.

Keyword baseline (grep-style): the question's terms are those the kernel's lexical search takes
(`aios.lexical.terms_of`: [A-Za-z0-9]+ words, lowercased, distinct, without stopwords or words under 3
letters); a file's words are the same [A-Za-z0-9]+ words, lowercased. Files rank by how many distinct terms
they hold, ties by how often the terms occur in all, then by haystack order. No stemming, no idf.

Writes bench/results/fs.json and regenerates the `## File system (LSFS)` section of docs/benchmarks.md.

    .venv/bin/python bench/fs.py                  # all three parts (~30 min on 2 cores)
    .venv/bin/python bench/fs.py --quick          # a small sanity run
    .venv/bin/python bench/fs.py --only io        # re-measure one part, keep the others from the JSON
    .venv/bin/python bench/fs.py --docs-only      # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import json
import lzma
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    LONGMEMEVAL,
    KernelProcess,
    Meter,
    display_path,
    git_state,
    machine_info,
    percentile,
    repository_first,
    short_texts,
    write_docs,
)

repository_first()

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = LONGMEMEVAL
DEFAULT_OUT = ROOT / "bench" / "results" / "fs.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## File system (LSFS)"
REPRODUCE = ".venv/bin/python bench/fs.py"

GOAL_WRITE_COST = 3.0  # kernel time per write / plain fsync'd write, at most (the goal)
KS = (1, 3, 5, 10)
RETRIEVE_K = 5
SMALL = (1024, 4096)  # bytes, uniform
BIG = 1 << 20
# (paths, rounds, batch) per workload; rounds - 1 new versions of each path after the creating round.
IO_FULL = {"small_text": (100, 3, 25), "small_binary": (100, 3, 25), "big_binary": (8, 3, 4)}
IO_QUICK = {"small_text": (20, 2, 10), "small_binary": (20, 2, 10), "big_binary": (3, 2, 3)}
WARMUP = 5
LATENCY_FILES = 10_000
LATENCY_QUERIES = 200
QUICK = {"per_type": 2, "files": 1_000, "queries": 30}
KERNEL_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
    "AIOS_LLM_BACKEND": "none",
    "AIOS_METRICS_PORT": "-1",
}
BACKLOG = re.compile(r"(\d+) files waiting to be indexed")
WORD = re.compile(r"[A-Za-z0-9]+")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def latency(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "max_ms": round(max(ms), 3),
    }


def progress_bar(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)  # fmt: skip


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


# -- LongMemEval ------------------------------------------------------------------------------------


def load_sessions(data: Path) -> dict[str, list[dict[str, Any]]]:
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        return {s["session_id"]: s["turns"] for s in map(json.loads, f)}


def load_questions(data: Path) -> list[dict[str, Any]]:
    with open(data / "questions.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def session_text(turns: list[dict[str, Any]], content: str) -> str:
    return "".join(f"{t['role']}: {t['content']}\n" for t in turns if content == "both" or t["role"] == "user")


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
        with progress_bar(console) as progress:
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
        "machine": machine_info({"chromadb": "chromadb", "grpcio": "grpcio", "sqlalchemy": "sqlalchemy"}),
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


# -- 2. quality -------------------------------------------------------------------------------------


def keyword_rank(question: str, texts: Sequence[str]) -> list[int]:
    """The grep-style baseline: indices of `texts`, most distinct query terms first, then most occurrences."""
    from aios.lexical import terms_of

    terms = terms_of(question)
    scored = []
    for i, text in enumerate(texts):
        counts = Counter(w.lower() for w in WORD.findall(text))
        scored.append((-sum(1 for t in terms if counts[t]), -sum(counts[t] for t in terms), i))
    return [i for *_, i in sorted(scored)]


def session_metrics(ranking: Sequence[str], gold: set[str]) -> dict[str, float]:
    out = {}
    for k in KS:
        top = list(ranking[:k])
        found = [s for s in top if s in gold]
        dcg = sum(1.0 / math.log2(r + 2) for r, s in enumerate(top) if s in gold)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(gold))))
        out[f"recall_any@{k}"] = float(bool(found))
        out[f"recall_all@{k}"] = float(set(found) == gold)
        out[f"ndcg@{k}"] = dcg / idcg
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [f"{m}@{k}" for m in ("recall_any", "recall_all", "ndcg") for k in KS]

    def mean(sub: list[dict[str, Any]]) -> dict[str, float]:
        return {key: round(sum(r[key] for r in sub) / len(sub), 4) for key in keys}

    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    return mean(rows) | {"by_type": {t: {"questions": len(s)} | mean(s) for t, s in sorted(by_type.items())}}


def run_quality(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    from aios.config import FsConfig
    from fs.semantic import chunk_text

    load = {"before": loadavg()}
    with console.status("reading LongMemEval"):
        sessions = load_sessions(args.data)
        raw = load_questions(args.data)
    skipped: Counter[str] = Counter()
    questions = []
    for q in raw:
        if q["question_id"].endswith("_abs"):
            skipped["abstention (_abs)"] += 1
        elif not any(
            t.get("has_answer") and t["role"] == "user" for h in q["haystack"] for t in sessions[h["session_id"]]
        ):
            skipped["no user-side has_answer turn"] += 1
        else:
            questions.append(q)
    kept = len(questions)
    if args.quick:
        seen: Counter[str] = Counter()
        quick = []
        for q in questions:
            seen[q["question_type"]] += 1
            if seen[q["question_type"]] <= QUICK["per_type"]:
                quick.append(q)
        questions = quick
    elif args.questions:
        questions = questions[: args.questions]
    chunk_chars = FsConfig().chunk_chars
    files = [[(h, session_text(sessions[h["session_id"]], args.content)) for h in q["haystack"]] for q in questions]
    n_files = sum(map(len, files))
    n_chunks = sum(len(chunk_text(text, chunk_chars)) for fs_ in files for _, text in fs_)
    n_bytes = sum(len(text.encode()) for fs_ in files for _, text in fs_)
    console.log(f"{len(questions)} questions of {kept} kept ({dict(skipped)}); {n_files:,} files, "
                f"{n_bytes / 1e6:.1f} MB, {n_chunks:,} chunks of ~{chunk_chars} characters to index")  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-fs-quality-"))
    kernel = FsKernel(tmp / "kernel-data", tmp)
    rows: dict[str, list[dict[str, Any]]] = {"retrieve": [], "keyword": []}
    per_question, retrieve_s = [], []
    try:
        admin = kernel.launch(console)
        agents = []
        meter = Meter(kernel.pid)
        with progress_bar(console) as progress, meter():
            task = progress.add_task("quality: write each haystack", total=n_files)
            t0 = time.perf_counter()
            for i, haystack in enumerate(files):
                agent = kernel.agent(admin, f"lme-{i:03d}")
                agents.append(agent)
                for h, text in haystack:
                    agent.write_file(file_path(h), text)
                    progress.advance(task)
            write_s = time.perf_counter() - t0
            index_s = wait_indexed(admin, progress, "quality: waiting for the index")
            load["after_index"] = loadavg()
            task = progress.add_task("quality: retrieve", total=len(questions))
            for q, haystack, agent in zip(questions, files, agents, strict=True):
                t1 = time.perf_counter()
                hits = agent.retrieve(q["question"], k=max(KS))
                retrieve_s.append(time.perf_counter() - t1)
                by_path = {file_path(h): h["session_id"] for h, _ in haystack}
                ours = [by_path[hit.file.path] for hit in hits]
                keyword = [haystack[j][0]["session_id"] for j in keyword_rank(q["question"], [t for _, t in haystack])]
                gold = set(q["answer_session_ids"])
                for name, ranking in (("retrieve", ours), ("keyword", keyword)):
                    rows[name].append({"type": q["question_type"]} | session_metrics(ranking, gold))
                per_question.append({
                    "id": q["question_id"], "type": q["question_type"], "files": len(haystack), "gold": sorted(gold),
                    "retrieve_top10": ours, "keyword_top10": keyword[:10],
                    "retrieve_any@5": rows["retrieve"][-1]["recall_any@5"],
                    "keyword_any@5": rows["keyword"][-1]["recall_any@5"],
                })  # fmt: skip
                progress.advance(task)
                agent.close()
        kernel.shutdown(console, admin)
    finally:
        kernel.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = loadavg()
    both = Counter((p["retrieve_any@5"], p["keyword_any@5"]) for p in per_question)
    return {
        "retrieve": summarise(rows["retrieve"]),
        "keyword": summarise(rows["keyword"]),
        "protocol": {
            "questions": len(questions),
            "questions_kept_in_dataset": kept,
            "skipped": dict(skipped),
            "by_type": dict(sorted(Counter(q["question_type"] for q in questions).items())),
            "content": args.content,
            "file_content": "the session's "
            + ("user and assistant turns" if args.content == "both" else "user turns (the official session key)")
            + ", one 'role: text' line each; path /sessions/<session date>_<session id>.txt",
            "layout": "one agent per question (its own home tree: own Chroma collection); one kernel",
            "files": n_files,
            "bytes": n_bytes,
            "chunks": n_chunks,
            "chunk_chars": chunk_chars,
            "retrieve": f"Client.retrieve(question, k={max(KS)}), no filters; top k for k in {list(KS)}",
            "keyword_baseline": "terms = aios.lexical.terms_of(question); rank by distinct terms present (whole "
            "[A-Za-z0-9]+ words, case-folded), then total occurrences, then haystack order",
        },
        "diagnostics": {
            "any@5_retrieve_vs_keyword": {
                "both": both[(1.0, 1.0)],
                "retrieve_only": both[(1.0, 0.0)],
                "keyword_only": both[(0.0, 1.0)],
                "neither": both[(0.0, 0.0)],
            },  # fmt: skip
            "write_s": round(write_s, 2),
            "write_files_per_s": round(n_files / write_s, 2),
            "index_wait_after_writes_s": round(index_s, 2),
            "index_files_per_s": round(n_files / (write_s + index_s), 2),
            "index_chunks_per_s": round(n_chunks / (write_s + index_s), 2),
            "index_note": "from the first write to an idle index (the index runs while the writes go on)",
            "retrieve_latency": latency(retrieve_s),
            "phase": meter.as_dict(),
        },
        "per_question": per_question,
        "load": load,
        "kernel": kernel.report(),
        "machine": machine_info({"chromadb": "chromadb", "grpcio": "grpcio", "sqlalchemy": "sqlalchemy"}),
    }


def file_path(h: dict[str, Any]) -> str:
    date = re.sub(r"\s*\([^)]*\)", "", h["date"]).strip().replace("/", "-").replace(" ", "T").replace(":", "")
    return f"/sessions/{date}_{h['session_id']}.txt"


# -- 3. latency at 10k files ------------------------------------------------------------------------


def run_latency(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    n = QUICK["files"] if args.quick else args.files
    n_queries = QUICK["queries"] if args.quick else args.queries
    load = {"before": loadavg()}
    with console.status("reading LongMemEval"):
        texts, texts_info = short_texts(load_sessions(args.data).values(), n)
        questions = [q["question"] for q in load_questions(args.data)]
    queries = [questions[i % len(questions)] for i in range(n_queries)]
    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-fs-latency-"))
    kernel = FsKernel(tmp / "kernel-data", tmp)
    try:
        admin = kernel.launch(console)
        agent = kernel.agent(admin, "bench-fs-latency")
        write_s: list[float] = []
        meters = {"write": Meter(kernel.pid), "retrieve": Meter(kernel.pid)}
        with progress_bar(console) as progress:
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
        "machine": machine_info({"chromadb": "chromadb", "grpcio": "grpcio", "sqlalchemy": "sqlalchemy"}),
    }


# -- the result -------------------------------------------------------------------------------------


def assemble(parts: dict[str, dict[str, Any] | None], previous: dict[str, Any], quick: bool) -> dict[str, Any]:
    """The JSON result; a part not run this time is kept from `previous` (never mixing quick and full runs)."""
    if bool(previous.get("quick")) != quick:
        previous = {}
    io, quality, lat = (parts[p] or previous.get(f"{p}_run") for p in ("io", "quality", "latency"))
    r: dict[str, Any] = {"benchmark": "file system (LSFS): write/read cost, retrieval quality, retrieve latency"}
    goals: dict[str, Any] = {}
    if io:
        w = io["workloads"]
        r["write_cost_ratio"] = w["small_text"]["write_cost_ratio"]
        r["write_cost_ratio_vs_atomic"] = w["small_text"]["write_cost_ratio_vs_atomic"]
        r["read_cost_ratio"] = w["small_text"]["read_cost_ratio"]
        r["write_cost_ratio_small_binary"] = w["small_binary"]["write_cost_ratio"]
        r["write_cost_ratio_1mb"] = w["big_binary"]["write_cost_ratio"]
        r["read_cost_ratio_1mb"] = w["big_binary"]["read_cost_ratio"]
        r["kernel_write_ms_small"] = w["small_text"]["write"]["kernel"]["mean_ms"]
        r["plain_write_ms_small"] = w["small_text"]["write"]["plain"]["mean_ms"]
        r["kernel_write_ms_1mb"] = w["big_binary"]["write"]["kernel"]["mean_ms"]
        r["plain_write_ms_1mb"] = w["big_binary"]["write"]["plain"]["mean_ms"]
        v = r["write_cost_ratio"]
        goals["write_cost_ratio"] = {"max": GOAL_WRITE_COST, "value": v, "met": v <= GOAL_WRITE_COST}
        v = r["write_cost_ratio_1mb"]
        goals["write_cost_ratio_1mb"] = {"max": GOAL_WRITE_COST, "value": v, "met": v <= GOAL_WRITE_COST}
    if quality:
        r["retrieve_recall_any@5"] = quality["retrieve"]["recall_any@5"]
        r["keyword_baseline_recall_any@5"] = quality["keyword"]["recall_any@5"]
        v, base = r["retrieve_recall_any@5"], r["keyword_baseline_recall_any@5"]
        goals["retrieve_recall_any@5"] = {"above": "keyword_baseline_recall_any@5", "baseline": base, "value": v,
                                          "met": v > base}  # fmt: skip
    if lat:
        r["retrieve_p50_ms_10k"] = lat["retrieve"]["p50_ms"]
        r["retrieve_p95_ms_10k"] = lat["retrieve"]["p95_ms"]
        r["retrieve_files"] = lat["files"]
    r["goals"] = goals
    r["load"] = {p: (x or {}).get("load") for p, x in (("io", io), ("quality", quality), ("latency", lat))}
    r["load"]["note"] = "os.getloadavg() (1, 5, 15 min) on a 2-core machine shared with other work"
    r["machine"] = next((x["machine"] for x in (io, quality, lat) if x), None)
    r["io_run"], r["quality_run"], r["latency_run"] = io, quality, lat
    r["quick"] = quick
    r["git"] = git_state()
    r["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    return r


# -- the docs section -------------------------------------------------------------------------------


def _code(c: dict[str, Any] | None) -> str:
    if not c:
        return "not recorded"
    dirty = " + uncommitted changes" if c["dirty"] else ""
    return f"kernel started {c['at']} at commit `{(c['commit'] or '?')[:12]}`{dirty}, sources {c['source_sha256']}"


def _load(x: Sequence[float] | None) -> str:
    return " / ".join(f"{v:.2f}" for v in x) if x else "?"


def render_section(r: dict[str, Any], json_path: str) -> str:
    yes = lambda ok: "**yes**" if ok else "**no**"  # noqa: E731
    io, q, lat, g = r.get("io_run"), r.get("quality_run"), r.get("latency_run"), r["goals"]
    lines = [SECTION, "", f"<!-- Generated by bench/fs.py from {json_path}; edit the script, not this section. -->", ""]
    if r.get("quick"):
        lines += ["**This is a `--quick` sanity run with a small workload, not the benchmark; rerun without "
                  "`--quick` for the figures.**", ""]  # fmt: skip
    lines += [
        "Each part drives its own kernel subprocess (`aios serve`, embedded SQLite + Chroma, AIOS_LLM_BACKEND=none) "
        "through the SDK's `Client`.",
        "",
        "| Metric | Goal | Measured | Met? |",
        "| --- | --- | ---: | --- |",
    ]
    if io:
        labels = {
            "small_text": "small text files (the headline `write_cost_ratio`)",
            "small_binary": "small binary files (not indexed)",
            "big_binary": "1 MiB binary files",
        }
        for kind, label in labels.items():
            w = io["workloads"][kind]
            lines.append(
                f"| Write cost, {label}: kernel time per write ÷ plain fsync'd write | ≤ {GOAL_WRITE_COST}× "
                f"| {w['write_cost_ratio']:.1f}× ({w['write']['kernel']['mean_ms']:.2f} vs "
                f"{w['write']['plain']['mean_ms']:.2f} ms) | {yes(w['write_cost_ratio'] <= GOAL_WRITE_COST)} |"
            )
        w = io["workloads"]["small_text"]
        lines += [
            f"| Write cost, small text files ÷ atomic write (rename + directory fsync) | none set "
            f"| {w['write_cost_ratio_vs_atomic']:.1f}× ({w['write']['atomic']['mean_ms']:.2f} ms) | — |",
            f"| Read cost, small text files: `read_file` ÷ `open().read()` | none set | {w['read_cost_ratio']:.0f}× "
            f"({w['read']['kernel']['mean_ms']:.2f} vs {w['read']['plain']['mean_ms']:.3f} ms) | — |",
        ]
    if q:
        gq = g["retrieve_recall_any@5"]
        lines.append(
            f"| Session recall_any@5, `retrieve` (LongMemEval dev, {q['protocol']['questions']} questions) "
            f"| above the keyword baseline ({gq['baseline']:.3f}) | {gq['value']:.3f} | {yes(gq['met'])} |"
        )
    if lat:
        lines += [
            f"| Retrieve p50 at {lat['files']:,} files, k={lat['k']} | none set | {lat['retrieve']['p50_ms']:.1f} ms "
            "| — |",
            f"| Retrieve p95 at {lat['files']:,} files, k={lat['k']} | none set | {lat['retrieve']['p95_ms']:.1f} ms "
            "| — |",
        ]
    if io:
        lines += [
            "",
            "### Versioned writes and reads",
            "",
            f"Small files are {io['small_bytes'][0]}-{io['small_bytes'][1]} bytes (uniform), big ones "
            f"{io['big_bytes'] >> 20} MiB. Each workload writes its paths several rounds: the first creates them, "
            "the others write new contents (a new version in the kernel, an overwrite on disk). Baselines, in the "
            "benchmark process on the same disk: **plain** = open, write, flush, `os.fsync`, close; **atomic** = "
            "the same into a temporary name, `os.replace`, fsync of the directory. The sides take turns batch by "
            "batch (rotating order); after each kernel batch the script waits, untimed, for the kernel's index, "
            "so the baselines never run beside it. Text files are indexed by the kernel in the background while "
            "its batch runs; binary ones are not indexed. Reads: every file's current contents twice, "
            "`Client.read_file` vs `open().read()` (both from the page cache).",
            "",
            "| Workload | Writes a side | Kernel ms (p50 / p95) | Plain ms | Atomic ms | Kernel ÷ plain "
            "| Kernel ÷ atomic | Creates: kernel ÷ plain | Read ms kernel / plain | Read ratio |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        names = {"small_text": "small text (indexed)", "small_binary": "small binary", "big_binary": "1 MiB binary"}
        for kind, w in io["workloads"].items():
            k, p, a = w["write"]["kernel"], w["write"]["plain"], w["write"]["atomic"]
            lines.append(
                f"| {names.get(kind, kind)}, {w['files']} paths × {w['rounds']} | {w['writes_per_side']} "
                f"| {k['mean_ms']:.2f} ({k['p50_ms']:.2f} / {k['p95_ms']:.2f}) | {p['mean_ms']:.2f} "
                f"| {a['mean_ms']:.2f} | {w['write_cost_ratio']:.1f}× | {w['write_cost_ratio_vs_atomic']:.1f}× "
                f"| {w['create_cost_ratio']:.1f}× | {w['read']['kernel']['mean_ms']:.2f} / "
                f"{w['read']['plain']['mean_ms']:.3f} | {w['read_cost_ratio']:.0f}× |"
            )
        big = io["workloads"]["big_binary"]
        lines += [
            "",
            f"Throughput at 1 MiB: kernel writes {big['write']['kernel']['mb_per_s']:.0f} MB/s, plain "
            f"{big['write']['plain']['mb_per_s']:.0f} MB/s; kernel reads {big['read']['kernel']['mb_per_s']:.0f} "
            f"MB/s, plain {big['read']['plain']['mb_per_s']:.0f} MB/s. Waiting for the index after the small text "
            f"batches took {io['workloads']['small_text']['index_wait_s']:.1f} s in all (untimed). Load average "
            f"(1/5/15 min): {_load(io['load']['before'])} before, {_load(io['load']['after'])} after; other "
            f"processes used {io['workloads']['small_text']['phases']['write_kernel']['others_cores_avg']} cores "
            f"during the kernel's small text writes and "
            f"{io['workloads']['small_text']['phases']['write_plain']['others_cores_avg']} during the plain ones.",
            "",
        ]
    if q:
        p, d = q["protocol"], q["diagnostics"]
        lines += [
            "### Retrieval quality (LongMemEval dev, session level)",
            "",
            f"Per question a fresh agent whose tree holds its haystack, one file per session: {p['file_content']}. "
            f"{p['questions']} questions (skipped: {', '.join(f'{v} {k}' for k, v in p['skipped'].items())}); "
            f"{p['files']:,} files, {p['bytes'] / 1e6:.1f} MB, {p['chunks']:,} chunks. All files are written, the "
            f"index is awaited, then `retrieve(question, k=10)`. **Keyword baseline**: {p['keyword_baseline']}.",
            "",
            "| Ranking | "
            + " | ".join(f"any@{k}" for k in KS)
            + " | "
            + " | ".join(f"all@{k}" for k in KS)
            + " | "
            + " | ".join(f"NDCG@{k}" for k in KS)
            + " |",
            "| --- |" + " ---: |" * (3 * len(KS)),
        ]
        for name, label in (("retrieve", "`retrieve`"), ("keyword", "keyword baseline")):
            s = q[name]
            cells = [f"{s[f'{m}@{k}']:.3f}" for m in ("recall_any", "recall_all", "ndcg") for k in KS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", "| Type | Questions | retrieve any@5 | keyword any@5 | retrieve NDCG@5 | keyword NDCG@5 |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
        for t, s in q["retrieve"]["by_type"].items():
            b = q["keyword"]["by_type"][t]
            lines.append(f"| {t} | {s['questions']} | {s['recall_any@5']:.3f} | {b['recall_any@5']:.3f} "
                         f"| {s['ndcg@5']:.3f} | {b['ndcg@5']:.3f} |")  # fmt: skip
        vs = d["any@5_retrieve_vs_keyword"]
        lines += [
            "",
            f"Any@5 per question: both found {vs['both']}, only `retrieve` {vs['retrieve_only']}, only the keyword "
            f"baseline {vs['keyword_only']}, neither {vs['neither']}. Writing the {p['files']:,} files took "
            f"{d['write_s']:.0f} s ({d['write_files_per_s']:.1f} files/s); the index was idle "
            f"{d['index_wait_after_writes_s']:.0f} s after the last write ({d['index_chunks_per_s']:.1f} chunks/s "
            f"from the first write). Retrieve latency on these ~50-file trees: p50 "
            f"{d['retrieve_latency']['p50_ms']:.1f} ms. Load average: {_load(q['load']['before'])} before, "
            f"{_load(q['load']['after'])} after; other processes used {d['phase']['others_cores_avg']} cores on "
            "average meanwhile.",
            "",
        ]
    if lat:
        wr = lat["write"]
        lines += [
            f"### Retrieve latency at {lat['files']:,} files",
            "",
            f"One agent's tree holds {lat['files']:,} files: {lat['texts']['description']} (mean "
            f"{lat['texts']['chars_mean']} characters, one chunk each), written one `write_file` at a time, then "
            f"indexed. Then {lat['queries']} `retrieve(question, k={lat['k']})` one after another "
            f"({lat['distinct_queries']} distinct LongMemEval questions, cycling) after {WARMUP} warm-up queries: "
            f"p50 {lat['retrieve']['p50_ms']:.1f} ms, p95 {lat['retrieve']['p95_ms']:.1f} ms, mean "
            f"{lat['retrieve']['mean_ms']:.1f} ms. Writes: {wr['files_per_s']:.1f} files/s (mean "
            f"{wr['mean_ms']:.1f} ms; first tenth {wr['first_tenth_mean_ms']:.1f} ms, last tenth "
            f"{wr['last_tenth_mean_ms']:.1f} ms, the index running alongside); the index was idle "
            f"{lat['index']['wait_after_writes_s']:.0f} s after the last write. Load average: "
            f"{_load(lat['load']['before'])} before, {_load(lat['load']['after'])} after; other processes used "
            f"{lat['phases']['retrieve']['others_cores_avg']} cores during the queries.",
            "",
        ]
    m = r.get("machine") or {}
    problems = [x for part in (io, q, lat) if part for x in part["kernel"]["log_problems"]]
    codes = {name: part["kernel"].get("code") for name, part in (("io", io), ("quality", q), ("latency", lat)) if part}
    if len({json.dumps({k: v for k, v in (c or {}).items() if k != "at"}) for c in codes.values()}) > 1:
        lines += [
            "The parts ran on different code (the working tree changed between them): "
            + "; ".join(f"{name}: {_code(c)}" for name, c in codes.items())
            + ".",
            "",
        ]
    lines += [
        f"Machine: {m.get('cpu_count')} × {m.get('cpu_model')}, {m.get('ram_gb')} GB RAM, {m.get('platform')}; "
        f"Python {m.get('python')}, chromadb {m.get('chromadb')}, grpcio {m.get('grpcio')}, sqlalchemy "
        f"{m.get('sqlalchemy')}. Run on {m.get('date')} at commit `{(r['git']['commit'] or '?')[:12]}`"
        f"{' (with uncommitted changes)' if r['git']['dirty'] else ''}. Kernel logs: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (options `--quick`, `--only io,quality,latency` (the other parts are kept from "
        f"the JSON), `--questions N`, `--content user|both`, `--files N`, `--help`). Raw figures, per question "
        f"too: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small sanity run of every part")
    parser.add_argument("--only", type=lambda v: v.split(","), default=None,
                        help="parts to run, e.g. io,latency; the others are kept from --out")  # fmt: skip
    parser.add_argument("--questions", type=int, default=0, help="quality: the first N kept questions (default all)")
    parser.add_argument("--content", choices=("user", "both"), default="user",
                        help="quality: session files hold the user turns (the official key) or both sides")  # fmt: skip
    parser.add_argument("--files", type=int, default=LATENCY_FILES, help="latency: files in the tree")
    parser.add_argument("--queries", type=int, default=LATENCY_QUERIES, help="latency: retrieve queries")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file whose section to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from --out")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", DEFAULT_DATA)),
                        help="LongMemEval dev directory [env AIOS_BENCH_DATA]")  # fmt: skip
    args = parser.parse_args(argv)
    if args.only and not set(args.only) <= {"io", "quality", "latency"}:
        parser.error("--only takes io, quality and/or latency, comma-separated")

    from rich.console import Console

    console = Console(stderr=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.docs_only:
        result = previous
    else:
        runners: dict[str, Callable[[argparse.Namespace, Any], dict[str, Any]]] = {
            "io": run_io, "quality": run_quality, "latency": run_latency,
        }  # fmt: skip
        parts: dict[str, dict[str, Any] | None] = {}
        for name, run in runners.items():
            parts[name] = run(args, console) if args.only is None or name in args.only else None
        result = assemble(parts, previous, args.quick)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_docs:
        write_docs(args.docs, SECTION, render_section(result, display_path(args.out)))
    print_summary(result, console)
    console.print(f"wrote {args.out}" + ("" if args.no_docs else f" and the '{SECTION[3:]}' section of {args.docs}"))
    return 0


def print_summary(r: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="LSFS" + (" (quick)" if r.get("quick") else ""))
    for col in ("metric", "value"):
        table.add_column(col)
    for key in ("write_cost_ratio", "write_cost_ratio_vs_atomic", "read_cost_ratio", "write_cost_ratio_1mb",
                "read_cost_ratio_1mb", "retrieve_recall_any@5", "keyword_baseline_recall_any@5",
                "retrieve_p50_ms_10k", "retrieve_p95_ms_10k"):  # fmt: skip
        if key in r:
            table.add_row(key, f"{r[key]}")
    for name, g in r["goals"].items():
        table.add_row(f"goal {name}", f"met={g['met']}")
    console.print(table)
    console.print(f"load: {json.dumps({k: v for k, v in r['load'].items() if k != 'note'})}")


if __name__ == "__main__":
    sys.exit(main())
