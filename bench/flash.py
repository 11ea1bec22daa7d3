#!/usr/bin/env python
"""LLM weights from flash: decode speed and memory of a memory-mapped model under a resident budget.

`aios.llm.flash.Residency` keeps embeddings, norms, attention and as many early-layer FFN tensors as fit in
a budget resident and evicts the rest of the mapped GGUF after every forward pass (MADV_PAGEOUT + fadvise
DONTNEED, so they are really read from storage again). Naive: the evicted weights come back by page faults
only; prefetch: MADV_WILLNEED over the evicted ranges before each pass. This script measures, each
configuration in a fresh subprocess (so RSS and the page cache do not leak from one to the next), on a
private copy of the model (pages another process maps cannot be evicted):

1. decode: tokens/s over N greedy tokens after a short prompt, bytes read and major faults per token, at
   resident budgets 100 / 75 / 50 / 25 % of the model, naive vs prefetch; plus, at 50 %, naive with the
   kernel's fault read-around disabled (MADV_RANDOM on the streamed ranges: one page per fault);
2. time to first token, cold (the model dropped from the page cache before loading) and warm (cached);
3. RssAnon: at start, just before loading the model (the interpreter and libraries) and its peak;
4. the disk's read throughput (O_DIRECT, buffered after DONTNEED, 4 KiB random reads), which bounds
   streamed decode.

Writes the JSON result (default bench/results/flash.json) and regenerates the
`## LLM: weights from flash` section of docs/benchmarks.md from it.

    .venv/bin/python bench/flash.py                 # the full run (a few minutes)
    .venv/bin/python bench/flash.py --quick         # 1 round, 16 tokens, no TTFT repeats
    .venv/bin/python bench/flash.py --docs-only     # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys

from _common import ROOT, add_output_args, result_of, update_docs, wrote
from _flash_disk import MB
from _flash_report import SECTION, render_section
from _flash_run import BUDGETS, run
from _flash_worker import N_CTX, RESULT_MARK, worker

DEFAULT_OUT = ROOT / "bench" / "results" / "flash.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64, help="greedy tokens timed per configuration (default 64)")
    parser.add_argument("--rounds", type=int, default=3, help="decode rounds; the median tok/s is kept (default 3)")
    parser.add_argument("--ttft-rounds", type=int, default=3, help="cold/warm first-token rounds (default 3)")
    parser.add_argument("--budgets", type=lambda s: tuple(int(x) for x in s.split(",")), default=BUDGETS,
                        help="resident budgets in %% (default 100,75,50,25)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1 round of 16 tokens, 1 TTFT round")
    add_output_args(parser, DEFAULT_OUT, "JSON result (default bench/results/flash.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = worker(json.loads(args.worker))
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0
    if args.quick:
        args.tokens, args.rounds, args.ttft_rounds = 16, 1, 1
    if args.tokens < 1 or args.rounds < 1 or args.ttft_rounds < 1:
        parser.error("--tokens, --rounds and --ttft-rounds must be at least 1")

    result = result_of(args, lambda: run(args))
    update_docs(args, SECTION, render_section, result)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"weights from flash ({result['settings']['tokens']} tokens, n_ctx {N_CTX})")
    for col in ("configuration", "tok/s", "MB read/token", "major faults/token", "peak RssAnon MB"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for name, c in result["decode"].items():
        table.add_row(name, f"{c['tok_per_s']:.1f}", f"{c['read_bytes_per_token'] / MB:.2f}",
                      f"{c['major_faults_per_token']:.1f}", f"{c['peak_rss_anon'] / MB:.1f}")  # fmt: skip
    console = Console()
    console.print(table)
    for key, goal in result["goals"].items():
        console.print(f"{key}: {result[key]} (goal {goal}) -> {'met' if goal['met'] else 'NOT met'}")
    console.print(f"load before {result['load']['before']}, after {result['load']['after']}")
    console.print(wrote(args, SECTION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
