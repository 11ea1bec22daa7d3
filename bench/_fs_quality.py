"""File-system benchmark, part 2 (quality): per LongMemEval question a fresh agent whose tree holds its haystack
(a file a session), `retrieve(question)` against a grep-style keyword baseline, session-level metrics
(bench/fs_bench.py)."""

from __future__ import annotations

import argparse
import math
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import Meter, loadavg, progress_bar
from _fs_kernel import QUICK, FsKernel, fs_machine_info, latency, wait_indexed
from _longmemeval import load_sessions, read_questions

KS = (1, 3, 5, 10)
WORD = re.compile(r"[A-Za-z0-9]+")


def session_text(turns: list[dict[str, Any]], content: str) -> str:
    return "".join(f"{t['role']}: {t['content']}\n" for t in turns if content == "both" or t["role"] == "user")


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
    from aios.fs.passages import chunk_text

    load = {"before": loadavg()}
    with console.status("reading LongMemEval"):
        sessions = load_sessions(args.data)
        raw = read_questions(args.data)
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
        with progress_bar(console, 44, remaining=False) as progress, meter():
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
        "machine": fs_machine_info(),
    }


def file_path(h: dict[str, Any]) -> str:
    date = re.sub(r"\s*\([^)]*\)", "", h["date"]).strip().replace("/", "-").replace(" ", "T").replace(":", "")
    return f"/sessions/{date}_{h['session_id']}.txt"
