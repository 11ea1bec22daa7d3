#!/usr/bin/env python
"""Context-paging benchmark: resume time to first token after a KV swap-out, and evidence kept in a small window.

Both parts run in one go against in-process kernels (the code `aios serve` runs: real SQLite, Chroma, the
all-MiniLM-L6-v2 embedder and SmolLM2-135M-Instruct through llama.cpp, 1 decode thread), driven through the SDK
over gRPC on localhost.

Resume: one agent's context is filled to ~`--resume-tokens` tokens (window 4,096, nothing paged out), and it
takes turns with `chat_with_context` (max_tokens 8) while a second agent chats in between, so each turn starts
after a context switch. Before a "restore" turn the agent's saved KV state is moved to disk (`swap_out_context`);
before a "full" turn it is dropped (`swap_out_context(drop=True)`), so the whole context is prefilled again.
The two alternate; the figure is the median of the LLM's time to first token (request arrival to first token,
as the kernel reports it) of restore turns ÷ that of full turns; the client-side time to the first streamed
delta is recorded too.

Evidence in context: for each LongMemEval dev question (README in the data directory; `_abs` questions and
questions with no `has_answer` turn are skipped) a fresh agent with a 2,048-token window replays the haystack:
each session's turns are appended with `append_messages` (one call a session: the append syscall pages out and
summarises as chat-with-context does, without generating a reply for every turn), then the question goes through
`chat_with_context` (max_tokens 16), which pages relevant messages back in. An evidence turn (`has_answer`) is
"in context" when it is one of the window's messages or a recalled item at that turn. Truncation baseline: the
newest messages that fit the same budget (window − reply reserve − system prompt), nothing else. Turns are cut
to at most 4,000 characters and 1,000 tokens (so one turn always fits the window); the summary is extractive
(`summary_llm = 0`) so that the replay does not wait for the model.

    .venv/bin/python bench/paging.py                  # both parts (24 questions: 4 a type)
    .venv/bin/python bench/paging.py --questions 0    # every kept question
    .venv/bin/python bench/paging.py --docs-only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import lzma
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import command_line, display_path, git_state, loadavg, machine_info, repository_first, write_docs
from _longmemeval import LONGMEMEVAL

repository_first()

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = LONGMEMEVAL
DEFAULT_OUT = ROOT / "bench" / "results" / "paging.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Context paging: resume after swap-out, evidence in a 2,048-token window"
GOAL_RESUME = 0.05
GOAL_EVIDENCE = 3.0
MAX_TURN_CHARS = 4_000
MAX_TURN_TOKENS = 1_000
PER_TYPE = 4
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class InProcessKernel:
    """A kernel on port 0 with its event loop on a background thread."""

    def __init__(self, data_dir: Path, context: dict[str, Any], embedder: Any) -> None:
        from aios.config import load_config
        from aios.kernel import Kernel

        config = load_config(env={}, data_dir=data_dir, port=0, metrics_port=-1, llm_enrichment=0, context=context)
        self.kernel = Kernel(config, embedder=embedder)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.kernel.start(), self._loop).result(300)
        return self.kernel

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.kernel.stop(grace_s=1), self._loop).result(120)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def agent_client(kernel: Any, name: str) -> Any:
    from aios.client import Client

    with Client(kernel.target, kernel.admin_token) as admin:
        token = admin.create_agent(name).token
    return Client(kernel.target, token, timeout=600)


# -- data -----------------------------------------------------------------------------------------


def load(data: Path, per_type: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], Counter[str]]:
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        sessions = {s["session_id"]: s["turns"] for s in map(json.loads, f)}
    kept, skipped, per = [], Counter(), Counter()
    with open(data / "questions.jsonl", encoding="utf-8") as f:
        for q in map(json.loads, (line for line in f if line.strip())):
            if q["question_id"].endswith("_abs"):
                skipped["abstention (_abs)"] += 1
                continue
            if not any(t.get("has_answer") for h in q["haystack"] for t in sessions[h["session_id"]]):
                skipped["no has_answer turn"] += 1
                continue
            if per_type and per[q["question_type"]] >= per_type:
                continue
            per[q["question_type"]] += 1
            kept.append(q)
    return kept, sessions, skipped


# -- resume ---------------------------------------------------------------------------------------


def run_resume(embedder: Any, target_tokens: int, reps: int, console: Any) -> dict[str, Any]:
    from aios.client import Client

    context = {"summary_llm": 0, "idle_swap_s": 0}
    with tempfile.TemporaryDirectory() as tmp, InProcessKernel(Path(tmp) / "data", context, embedder) as k:
        a: Client = agent_client(k, "resumer")
        b: Client = agent_client(k, "neighbour")
        filler = ("The logbook records the weather, the crew's watch rota, the cargo manifest and every port call "
                  "of the ship in plain sentences, one entry a paragraph. ")  # fmt: skip
        assert k.context is not None and target_tokens + reps * 100 < k.context.flush_tokens, "no room to resume in"
        i = 0
        while a.get_context().tokens < target_tokens:
            a.append_messages([("user", f"Entry {i}: " + filler * 3), ("assistant", f"Noted entry {i}.")])
            i += 1
        a.chat_with_context("Summarise the logbook in one word.", max_tokens=8)
        rows = []
        for rep in range(reps * 2):
            mode = "restore" if rep % 2 == 0 else "full"
            b.chat([("user", "Say hi.")], max_tokens=4)  # a context switch: the resumer's KV state is saved
            swap = a.swap_out_context(drop=mode == "full")
            started, first, reply = time.perf_counter(), None, None
            for chunk in a.chat_with_context_stream(f"Which entry comes after entry {rep}?", max_tokens=8):
                first = first or time.perf_counter()
                reply = chunk.reply or reply
            assert reply is not None and first is not None
            assert not reply.update.evicted_ids, "the resume context must not be paged out during the benchmark"
            rows.append({"mode": mode, "swap": swap.where, "swap_bytes": swap.bytes,
                         "prompt_tokens": reply.prompt_tokens,
                         "cached_tokens": reply.completion.usage.cached_tokens,
                         "llm_ttft_s": round(reply.completion.timing.ttft_s, 4),
                         "client_first_delta_s": round(first - started, 4)})  # fmt: skip
            console.print(f"resume {mode}: {rows[-1]}")
        info = k.llm.info()
        a.close()
        b.close()
    by = {m: [r for r in rows if r["mode"] == m] for m in ("restore", "full")}
    med = {m: statistics.median(r["llm_ttft_s"] for r in rs) for m, rs in by.items()}
    client = {m: statistics.median(r["client_first_delta_s"] for r in rs) for m, rs in by.items()}
    return {
        "window": 4096, "turns_per_mode": reps, "rows": rows,
        "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in rows),
        "kv_bytes_median": statistics.median(r["swap_bytes"] for r in by["restore"]),
        "llm_ttft_s": med, "client_first_delta_s": client,
        "ratio": round(med["restore"] / med["full"], 4),
        "client_ratio": round(client["restore"] / client["full"], 4),
        "model": info.model, "n_ctx": info.n_ctx,
    }  # fmt: skip


# -- evidence in context ------------------------------------------------------------------------------


def truncation_keeps(tokens: list[int], budget: int) -> int:
    """How many of the newest messages fit `budget` tokens (plain truncation of old messages)."""
    used = kept = 0
    for t in reversed(tokens):
        if used + t > budget:
            break
        used += t
        kept += 1
    return kept


def run_evidence(embedder: Any, questions: list[dict[str, Any]], sessions: dict[str, list[dict[str, Any]]],
                 console: Any) -> dict[str, Any]:  # fmt: skip
    context = {"window_tokens": 2048, "summary_llm": 0, "idle_swap_s": 0}
    rows, clipped, turns_total = [], 0, 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, InProcessKernel(Path(tmp) / "data", context, embedder) as k:
        svc = k.context
        assert svc is not None
        for n, q in enumerate(questions):
            t0 = time.perf_counter()
            agent = agent_client(k, f"q{n}")
            ids, tokens, evidence = [], [], set()
            for h in q["haystack"]:
                turns = [t for t in sessions[h["session_id"]] if t["content"].strip()]
                if not turns:
                    continue
                batch = []
                for t in turns:
                    text = t["content"][:MAX_TURN_CHARS]
                    while svc._count.chunk(t["role"], text) > MAX_TURN_TOKENS:
                        text = text[: int(len(text) * 0.8)]
                    clipped += text != t["content"]
                    batch.append((t["role"], text))
                update = agent.append_messages(batch)
                for t, m in zip(turns, update.messages, strict=True):
                    ids.append(m.id)
                    tokens.append(m.tokens)
                    if t.get("has_answer"):
                        evidence.add(m.id)
                turns_total += len(turns)
            reply = agent.chat_with_context(q["question"], max_tokens=16)
            ctx = agent.get_context()
            in_window = {m.id for m in ctx.messages} | set(reply.update.evicted_ids)  # as when it was asked
            recalled = {i.id for i in ctx.recalled if i.kind == "message"}
            paging_hit = bool(evidence & (in_window | recalled))
            paging_window_only = bool(evidence & in_window)
            system = svc._count.head(ctx.system_prompt) + svc._count.reply()
            question = next(m.tokens for m in reversed(ctx.messages) if m.role == "user")
            keep = truncation_keeps([*tokens, question], svc.budget - system) - 1  # haystack messages kept
            truncation_hit = bool(evidence & set(ids[len(ids) - keep :] if keep > 0 else []))
            stats = agent.context_stats()
            rows.append({"question_id": q["question_id"], "type": q["question_type"], "turns": len(ids),
                         "evidence_turns": len(evidence), "paging": paging_hit,
                         "paging_window_only": paging_window_only,
                         "truncation": truncation_hit, "window_tokens": ctx.tokens, "recalled": len(ctx.recalled),
                         "page_outs": stats.page_outs, "prompt_tokens": reply.prompt_tokens,
                         "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
            agent.close()
            console.print(f"[{n + 1}/{len(questions)}] {rows[-1]}")

    def share(key: str, sub: list[dict[str, Any]] | None = None) -> float:
        sub = rows if sub is None else sub
        return round(sum(r[key] for r in sub) / len(sub), 4) if sub else 0.0

    types = sorted({r["type"] for r in rows})
    return {
        "questions": len(rows), "turns": turns_total, "turns_clipped": clipped, "window": 2048,
        "paging": share("paging"), "paging_window_only": share("paging_window_only"),
        "truncation": share("truncation"),
        "by_type": {t: {"questions": sum(1 for r in rows if r["type"] == t),
                        "paging": share("paging", [r for r in rows if r["type"] == t]),
                        "truncation": share("truncation", [r for r in rows if r["type"] == t])} for t in types},
        "mean_page_outs": round(statistics.mean(r["page_outs"] for r in rows), 1),
        "seconds": round(time.perf_counter() - started, 1), "rows": rows,
    }  # fmt: skip


# -- results --------------------------------------------------------------------------------------


def render(r: dict[str, Any], json_path: str) -> str:
    res, ev = r["resume"], r["evidence"]
    ratio_ev = r["evidence_ratio"]
    g = r["goals"]
    lines = [
        SECTION, "",
        "<!-- Generated by bench/paging.py from bench/results/paging.json; edit the script, not this section. -->", "",
        f"Run {r['machine']['date']} on {r['machine']['cpu_count']} cores ({r['machine']['cpu_model']}); load average "
        f"before {r['load']['before']}, after the resume part {r['load']['after_resume']}, at the end "
        f"{r['load']['after']} (1, 5, 15 min; the machine is shared). Model {res['model']} (llama.cpp, 1 thread). "
        f"Result: `{json_path}`. Reproduce: `.venv/bin/python bench/paging.py`.", "",
        "| Metric | Value | Goal | Met |", "| --- | ---: | --- | --- |",
        f"| Resume TTFT, KV restore from disk ÷ full re-prefill (`resume_ttft_ratio`) | {res['ratio']:.3f} | "
        f"≤ {GOAL_RESUME} | **{'yes' if g['resume_ttft_ratio']['met'] else 'no'}** |",
        f"| Evidence turn in the assembled context, paging (`evidence_in_context_paging`) | {ev['paging']:.3f} | | |",
        f"| Evidence turn in context, plain truncation (`evidence_in_context_truncation`) | "
        f"{ev['truncation']:.3f} | | |",
        f"| Paging ÷ truncation | {ratio_ev if ratio_ev is not None else '∞ (truncation 0)'} | ≥ {GOAL_EVIDENCE} | "
        f"**{'yes' if g['evidence_ratio']['met'] else 'no'}** |", "",
        f"**Resume** ({res['turns_per_mode']} turns each way, alternating, context ≈ {res['prompt_tokens_median']:.0f} "
        f"tokens in a {res['window']}-token window, KV state {res['kv_bytes_median'] / 2**20:.1f} MiB): median time to "
        f"first token as the LLM core reports it, restore {res['llm_ttft_s']['restore'] * 1e3:.0f} ms vs full "
        f"re-prefill {res['llm_ttft_s']['full'] * 1e3:.0f} ms; seen by the client (first streamed delta, including "
        f"the context syscall's assembly and SQL commits) {res['client_first_delta_s']['restore'] * 1e3:.0f} ms vs "
        f"{res['client_first_delta_s']['full'] * 1e3:.0f} ms (ratio {res['client_ratio']:.3f}). Restore turns: the "
        "agent's saved KV state moved to disk by `swap_out_context` after another agent's turn, then read back and "
        "only the new turn prefilled; full turns: the state dropped, the whole context prefilled.", "",
        f"**Evidence in context** ({ev['questions']} LongMemEval dev questions, "
        f"{'all' if r['all_questions'] else r.get('per_type', PER_TYPE)} a type; {ev['turns']:,} turns replayed, "
        f"{ev['turns_clipped']} cut to at most {MAX_TURN_CHARS:,} characters and {MAX_TURN_TOKENS:,} tokens; "
        f"window {ev['window']} tokens; {ev['mean_page_outs']:.0f} messages paged out a question on average; "
        f"{ev['seconds']:.0f} s). Haystack turns appended with `append_messages` (one call a session), the question "
        "asked with `chat_with_context`; an evidence turn counts when it is a window message or a recalled item at "
        f"the question. Paging with the window's messages only (no recalled section): {ev['paging_window_only']:.3f}.",
        "", "| Type | Questions | Paging | Truncation |", "| --- | ---: | ---: | ---: |",
    ]  # fmt: skip
    notes = []
    if not ev["truncation"]:
        notes.append("Truncation kept no evidence turn for any question: the evidence is never among the last few "
                     "dozen turns of a haystack of several hundred, so the paging ÷ truncation ratio is unbounded "
                     "rather than a measured multiple.")  # fmt: skip
    if max(r["load"]["before"][0], r["load"]["after"][0]) > (r["machine"]["cpu_count"] or 2):
        notes.append("The machine was loaded beyond its cores during the run (other test suites ran beside it): "
                     "absolute times, full re-prefill especially, are inflated; the restore ÷ re-prefill ratio is "
                     "the figure to compare.")  # fmt: skip
    for t, v in ev["by_type"].items():
        lines.append(f"| {t} | {v['questions']} | {v['paging']:.3f} | {v['truncation']:.3f} |")
    return "\n".join([*lines, *(["", " ".join(notes)] if notes else [])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=PER_TYPE, help="questions a type (0: all kept)")
    parser.add_argument("--resume-tokens", type=int, default=2600, help="context size for the resume part")
    parser.add_argument("--reps", type=int, default=5, help="resume turns each way")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--docs-only", action="store_true")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console(stderr=True)
    if args.docs_only:
        result = json.loads(args.out.read_text())
    else:
        from aios.embeddings import Embedder

        load_info = {"before": loadavg()}
        embedder = Embedder()
        resume = run_resume(embedder, args.resume_tokens, args.reps, console)
        load_info["after_resume"] = loadavg()
        questions, sessions, skipped = load(args.data, args.questions)
        evidence = run_evidence(embedder, questions, sessions, console)
        load_info["after"] = loadavg()
        ratio = round(evidence["paging"] / evidence["truncation"], 2) if evidence["truncation"] else None
        result = {
            "benchmark": "context paging: resume after swap-out, evidence in a 2,048-token window",
            "resume_ttft_ratio": resume["ratio"],
            "evidence_in_context_paging": evidence["paging"],
            "evidence_in_context_truncation": evidence["truncation"],
            "evidence_ratio": ratio,
            "goals": {
                "resume_ttft_ratio": {"max": GOAL_RESUME, "value": resume["ratio"],
                                      "met": resume["ratio"] <= GOAL_RESUME},
                "evidence_ratio": {"min": GOAL_EVIDENCE, "value": ratio,
                                   "met": ratio is None and evidence["paging"] > 0 or (ratio or 0) >= GOAL_EVIDENCE},
            },
            "all_questions": args.questions == 0, "per_type": args.questions, "skipped": dict(skipped),
            "resume": resume, "evidence": evidence,
            "load": {**load_info, "note": "os.getloadavg() (1, 5, 15 min); the machine has other users"},
            "machine": machine_info({"llama_cpp_python": "llama-cpp-python", "chromadb": "chromadb",
                                     "sentence_transformers": "sentence-transformers"}),
            "git": git_state(), "command": command_line(),
        }  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    write_docs(args.docs, SECTION, render(result, display_path(args.out)))
    paging, truncation = result["evidence_in_context_paging"], result["evidence_in_context_truncation"]
    console.print(f"resume_ttft_ratio {result['resume_ttft_ratio']}, evidence {paging} (paging) vs {truncation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
