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
import sys

from _common import ROOT, add_data_arg, add_output_args, result_of, update_docs, wrote
from _kernel_measure import K
from _kernel_report import SECTION, render_section
from _kernel_run import run
from _longmemeval import LONGMEMEVAL

DEFAULT_OUT = ROOT / "bench" / "results" / "kernel.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--notes", type=int, default=10_000, help="notes to add (default 10000)")
    parser.add_argument("--queries", type=int, default=200, help="search queries per round (default 200)")
    add_output_args(parser, DEFAULT_OUT, "JSON result (default bench/results/kernel.json)")
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
    add_data_arg(parser, LONGMEMEVAL)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kernel data and logs)")
    args = parser.parse_args(argv)
    if args.notes < K or args.queries < 1 or args.search_rounds < 1:
        parser.error(f"--notes must be at least {K}, --queries and --search-rounds at least 1")

    result = result_of(args, lambda: run(args))
    update_docs(args, SECTION, render_section, result)

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
    console.print(wrote(args, SECTION))
    if result["kernel"]["log_problems"]:
        console.print(f"[yellow]kernel log problems:[/] {result['kernel']['log_problems'][:5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
