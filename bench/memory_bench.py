#!/usr/bin/env python
"""Memory benchmark: retrieval quality on LongMemEval (turn level) and the speed of batch add and search.

Quality, on the LongMemEval dev subset (its README has the protocol): for each question a fresh memory holds
every user turn of the question's haystack as a note (its session's date as `event_at`) and is queried with
the question; gold = the user turns marked `has_answer`. `_abs` questions and questions with no user-side
`has_answer` turn are skipped. Two retrievers over the same turns:

- dense baseline: all-MiniLM-L6-v2, cosine top k in numpy (each turn's vector is the one the memory computed
  when it added the turn: the same model and settings, so no turn is encoded twice);
- aios: `memory.MemoryService.search` in-process, on real SQLite (FTS5) + Chroma + the kernel's embedder, the
  code `aios serve` runs: dense and lexical rankings fused by reciprocal rank, blended with retention.

Turn recall@k, recall_any@k and NDCG@k for k = 1, 3, 5, 10, overall and per question type, and session
recall_any@5 (an evidence session counts as found when any of its user turns is in the top 5 turns).

Speed, through a kernel subprocess (`aios serve`, no LLM, no metrics endpoint) and the SDK's `Client`:

- batch add: notes/s of `Client.add_notes` (batches of 250) ÷ notes/s of the raw in-process MiniLM encode of
  the same texts (batch_size=64, normalised); the two take turns batch by batch, so both see the same load;
- search: p50/p95 of `Client.search(k=10)` ÷ p50/p95 of (query encode + raw Chroma `collection.query`) over
  the same notes, at 10,000 notes and, with `--big N`, again after growing both sides to N notes.

Texts for speed: distinct LongMemEval user turns of at most 400 characters (file order); past those,
distinct assistant-turn paragraphs of 40-400 characters. Queries: the benchmark's questions.

Writes bench/results/memory.json and regenerates the `## Memory: retrieval quality and speed` section of
docs/benchmarks.md from it.

    .venv/bin/python bench/memory_bench.py                       # quality, then speed at 10k notes (~15 min)
    .venv/bin/python bench/memory_bench.py --quick               # a small sanity run (a few questions, small sizes)
    .venv/bin/python bench/memory_bench.py --only speed --big 30000   # re-measure speed, keep the quality figures
    .venv/bin/python bench/memory_bench.py --docs-only           # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    add_data_arg,
    add_output_args,
    repository_first,
    save_result,
    torch_machine_info,
    update_docs,
    wrote,
)
from _longmemeval import LONGMEMEVAL
from _memory_data import KS
from _memory_quality import QUICK, run_quality
from _memory_report import SECTION, assemble, render_section
from _memory_speed import KERNEL_ENV, run_speed

repository_first()

DEFAULT_OUT = ROOT / "bench" / "results" / "memory.json"
SPEED_QUERIES = 200  # speed: search queries per size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help=f"small sanity run: {QUICK['per_type']} questions a type, speed at "
                        f"{QUICK['notes']:,} and {QUICK['big']:,} notes, {QUICK['queries']} queries")  # fmt: skip
    parser.add_argument("--only", choices=("quality", "speed"), help="run one part; the other is kept from --out")
    parser.add_argument("--questions", type=int, default=0, help="quality: the first N kept questions (default all)")
    parser.add_argument("--notes", type=int, default=10_000, help="speed: notes for the add and first search")
    parser.add_argument("--big", type=int, default=0, help="speed: then grow both sides to N notes and search again")
    parser.add_argument("--queries", type=int, default=SPEED_QUERIES, help="speed: search queries per size")
    add_output_args(parser, DEFAULT_OUT)
    parser.add_argument("--save-vectors", type=Path, help="quality: save the turn vectors (npz) for analysis")
    add_data_arg(parser, LONGMEMEVAL)
    args = parser.parse_args(argv)
    if args.quick:
        args.notes, args.big, args.queries = QUICK["notes"], QUICK["big"], QUICK["queries"]

    from rich.console import Console

    console = Console(stderr=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.docs_only:
        result = previous
    else:
        os.environ.update(KERNEL_ENV)  # before torch loads: the OpenMP runtime and tokenizers read these once
        quality = speed = None
        if args.only != "quality":
            speed = run_speed(args, console) | {"quick": args.quick}
        if args.only != "speed":
            quality = run_quality(args, console) | {"quick": args.quick}
            quality["machine"] = torch_machine_info()
        if args.only and bool(previous.get("quick")) != args.quick:
            previous = {}  # never mix a quick part with a full one
        result = assemble(quality, speed, args, previous)
        save_result(args.out, result, indent=1)
    update_docs(args, SECTION, render_section, result)
    print_summary(result, console)
    console.print(wrote(args, SECTION))
    return 0


def print_summary(r: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    if r.get("quality_run"):
        table = Table(title="turn-level retrieval" + (" (quick)" if r.get("quick") else ""))
        table.add_column("metric")
        for k in KS:
            table.add_column(f"k={k}", justify="right")
        for name in ("dense_baseline", "aios"):
            for m in ("recall", "recall_any", "ndcg"):
                table.add_row(f"{name} {m}", *(f"{r[name]['turn'][f'{m}@{k}']:.3f}" for k in KS))
        console.print(table)
    goals = Table(title="goals")
    for col in ("goal", "value", "target", "met"):
        goals.add_column(col)
    for name, g in r["goals"].items():
        target = f">= {g['min']}" if "min" in g else f"<= {g['max']}"
        goals.add_row(name, f"{g['value']:.3f}", target, str(g["met"]))
    console.print(goals)


if __name__ == "__main__":
    sys.exit(main())
