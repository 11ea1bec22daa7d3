#!/usr/bin/env python
"""Load benchmark: many agents with mixed syscalls against one kernel process; backpressure, health latency,
memory over time, and clean stops.

One run:

1. load: `aios serve` as a real process and N agents (default 32), each an SDK `Client` in a thread of its own,
   doing a random mix of syscalls without pause for D seconds (default 120): note add/search/get/update, file
   write/read/retrieve, context append/assemble and a few LLM chats with a small max_tokens. Meanwhile a
   health check (grpc.health.v1) is polled every second and the kernel's RSS is sampled every second. Every
   refusal is recorded by status: under load only RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED are acceptable.
2. SIGTERM under that load: the agents keep going while the kernel stops; it must exit 0. The kernel is then
   started again and every write an agent had acknowledged (notes with their content, file versions with
   their SHA-256) is read back.
3. stops: S times in a row (default 20), on one data directory, with note enrichment on: start the kernel
   (checking that every note acknowledged before the previous stop is there), run a few agents with the same
   mix, add a batch of notes (so enrichment is pending), and SIGTERM while the model generates for them. Each
   exit code is recorded; a non-zero one (-11 was a crash: the model freed under its users) fails the goal.

Writes the JSON result (default bench/results/load.json) and regenerates the `## Load: many agents, memory
over time and clean stops` section of docs/benchmarks.md from it.

    .venv/bin/python bench/load.py                                # the full run (~9 minutes)
    .venv/bin/python bench/load.py --duration 30 --stops 3 --out /tmp/load.json --no-docs
    AIOS_LOAD_DURATION_S=20 .venv/bin/python bench/load.py --stops 0 --no-docs
    .venv/bin/python bench/load.py --docs-only                    # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import os
import sys

from _common import ROOT, add_data_arg, add_output_args, repository_first, result_of, update_docs
from _load_phases import run
from _load_report import SECTION, render_section
from _load_summary import RSS_WINDOW_S
from _longmemeval import LONGMEMEVAL

repository_first()

DEFAULT_OUT = ROOT / "bench" / "results" / "load.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    parser.add_argument("--agents", type=int, default=32, help="agents in the load phase (default 32)")
    parser.add_argument("--duration", type=float, default=float(os.environ.get("AIOS_LOAD_DURATION_S", 120)),
                        help="seconds of load, 0 skips it (default 120) [env AIOS_LOAD_DURATION_S]")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=None, help="seconds before RSS growth is measured "
                        "(default a sixth of the duration, at least 10)")  # fmt: skip
    parser.add_argument("--stops", type=int, default=20, help="SIGTERMs in a row with enrichment pending, 0 to skip")
    parser.add_argument("--stop-agents", type=int, default=8, help="agents loading the kernel in each stop run")
    parser.add_argument("--timeout", type=float, default=30.0, help="client deadline per syscall, s (default 30)")
    parser.add_argument("--seed", type=int, default=12)
    add_output_args(parser, DEFAULT_OUT, "JSON result (default bench/results/load.json)")
    add_data_arg(parser, LONGMEMEVAL)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kernel data and logs)")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(10.0, args.duration / 6)
    if args.agents < 1 or args.stop_agents < 1 or args.stops < 0 or args.duration < 0:
        parser.error("--agents and --stop-agents must be at least 1, --stops and --duration not negative")
    if 0 < args.duration < args.warmup + 2 * RSS_WINDOW_S:
        parser.error(f"--duration must be at least the warm-up plus {2 * RSS_WINDOW_S:.0f} s")

    result = result_of(args, lambda: run(args))
    update_docs(args, SECTION, render_section, result)

    from rich.console import Console

    console = Console()
    for name, goal in result["goals"].items():
        console.print(f"{name}: {'met' if goal['met'] else '[red]NOT met[/]'}")
    if result["load_phase"]:
        lp = result["load_phase"]
        console.print(f"RSS {lp['rss']['start_mb']} -> {lp['rss']['end_mb']} MB ({lp['rss']['growth_pct']:+.1f} %), "
                      f"health max {lp['health']['max_ms']} ms, refusals {lp['refusals']['by_status']}")  # fmt: skip
    if result["stops_phase"]:
        console.print(f"stops: exit codes {result['stops_phase']['exit_codes']}")
    console.print(f"load before {result['load']['start']}, after {result['load']['end']}; wrote {args.out}")
    return 0 if all(goal["met"] for goal in result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
