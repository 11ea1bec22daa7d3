#!/usr/bin/env python
"""LLM benchmark: many agents chatting at once with one model, the kernel against llama-cpp-python's server.

One run, the same model (SmolLM2-135M-Instruct), one thread and the same context size on both sides:

1. multi-agent chat: N agents at once (a thread each), each a conversation of T turns whose context grows
   (a system prompt shared by all, then per turn a user message of ~20-40 tokens and the assistant's own
   reply appended to the history). The kernel (`aios serve`, each agent its own identity, so the kernel
   keeps each one's KV state across turns) against `python -m llama_cpp.server` (the same conversations
   sent as full message lists by concurrent httpx clients; the server serialises requests behind one lock
   and re-prefills any conversation that was not the last one it ran). Both sides stream, so the time to
   the first token (TTFT) is measured the same way, at the client.
2. policies: the same workload on the kernel under fifo, rr and fair (fresh agents each time, so no KV
   state carries over).
3. skewed load: one agent floods the model (concurrent long requests, in a loop) while a few light agents
   have their normal short conversations; the light agents' TTFT and turnaround under fifo and fair, and a
   scheduler timeline (SVG) of the fair run.

Writes the JSON result (default bench/results/llm_multiagent.json), the timeline
(bench/results/timeline_skewed.svg), and regenerates the `## LLM: multi-agent chat` section of
docs/benchmarks.md from the JSON.

    .venv/bin/python bench/llm_multiagent.py              # the full run
    .venv/bin/python bench/llm_multiagent.py --quick      # a small sanity run (a few minutes)
    .venv/bin/python bench/llm_multiagent.py --docs-only  # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import ROOT, add_output_args, result_of, update_docs
from _llm_report import SECTION, print_summary, render_section
from _llm_run import batch_scaling, run

DEFAULT_OUT = ROOT / "bench" / "results" / "llm_multiagent.json"
DEFAULT_TIMELINE = ROOT / "bench" / "results" / "timeline_skewed.svg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    parser.add_argument("--agents", type=int, default=8, help="concurrent agents in the chat runs (default 8)")
    parser.add_argument("--turns", type=int, default=6, help="turns per agent (default 6)")
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens per reply (default 32)")
    parser.add_argument("--quantum", type=int, default=16, help="rr and fair quantum, in tokens (default 16)")
    parser.add_argument("--main-policy", choices=("fifo", "rr", "fair"), default="fair",
                        help="the kernel's policy in the comparison with llama_cpp.server (default fair)")  # fmt: skip
    parser.add_argument("--light-agents", type=int, default=4, help="light agents in the skewed run (default 4)")
    parser.add_argument("--flood", type=int, default=16, help="concurrent requests of the flooding agent (default 16)")
    parser.add_argument("--flood-max-tokens", type=int, default=128, help="max_tokens of a flood request (default 128)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small sanity run: 3 agents × 2 turns, 2 light agents, a flood of 3 × 48 tokens",
    )
    add_output_args(parser, DEFAULT_OUT)
    parser.add_argument("--timeline", type=Path, default=DEFAULT_TIMELINE, help="SVG timeline of the fair skewed run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kernel data, logs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.turns, args.light_agents, args.flood, args.flood_max_tokens = 3, 2, 2, 3, 48
    args.policies = ["fifo", "rr", "fair"]
    args.skew_policies = ["fifo", "fair"]
    if min(args.agents, args.turns, args.max_tokens, args.quantum, args.light_agents, args.flood) < 1:
        parser.error("--agents, --turns, --max-tokens, --quantum, --light-agents and --flood must be at least 1")

    result = result_of(args, lambda: run(args) | {"batch_scaling": batch_scaling(rounds=1 if args.quick else 3)})
    update_docs(args, SECTION, render_section, result)
    print_summary(result, args.out, None if args.no_docs else args.docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
