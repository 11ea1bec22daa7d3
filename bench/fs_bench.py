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
   characters, then distinct assistant-turn paragraphs of 40-400, as bench/memory_bench.py uses), written one by
   one, indexed, then 200 `retrieve(question, k=5)` one after another after 5 warm-up queries: p50/p95.

Keyword baseline (grep-style): the question's terms are those the kernel's lexical search takes
(`aios.lexical.terms_of`: [A-Za-z0-9]+ words, lowercased, distinct, without stopwords or words under 3
letters); a file's words are the same [A-Za-z0-9]+ words, lowercased. Files rank by how many distinct terms
they hold, ties by how often the terms occur in all, then by haystack order. No stemming, no idf.

Writes bench/results/fs.json and regenerates the `## File system (LSFS)` section of docs/benchmarks.md.

    .venv/bin/python bench/fs_bench.py                  # all three parts (~30 min on 2 cores)
    .venv/bin/python bench/fs_bench.py --quick          # a small sanity run
    .venv/bin/python bench/fs_bench.py --only io        # re-measure one part, keep the others from the JSON
    .venv/bin/python bench/fs_bench.py --docs-only      # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from _common import ROOT, add_data_arg, add_output_args, repository_first, save_result, update_docs, wrote
from _fs_io import run_io
from _fs_latency import run_latency
from _fs_quality import run_quality
from _fs_report import SECTION, assemble, render_section
from _longmemeval import LONGMEMEVAL

repository_first()

DEFAULT_OUT = ROOT / "bench" / "results" / "fs.json"
LATENCY_FILES = 10_000
LATENCY_QUERIES = 200


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
    add_output_args(parser, DEFAULT_OUT)
    add_data_arg(parser, LONGMEMEVAL)
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
        save_result(args.out, result, indent=1)
    update_docs(args, SECTION, render_section, result)
    print_summary(result, console)
    console.print(wrote(args, SECTION))
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
