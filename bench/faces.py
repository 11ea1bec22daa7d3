#!/usr/bin/env python
"""Faces benchmark: the HTTP face beside gRPC, on one kernel: overhead of the HTTP path and fairness across faces.

One run, one `aios serve` (default settings, the bundled model; metrics port and note enrichment off) with its
HTTP face:

1. overhead: one agent makes the same call over gRPC (the SDK `Client`) and over HTTP, alternating A/B (gRPC
   first on even rounds, HTTP first on odd ones) after a few untimed rounds: a 1-token completion (`complete` vs
   the `openai` package's `completions.create`, max_tokens 1, temperature 0, same prompt), a search over 60 notes
   (`search` vs the MCP `recall` tool over streamable HTTP at /mcp, which is the HTTP face's search; the OpenAI API
   has none), and the model's description with no model work (`model_info` vs GET /v1/models).
2. fairness: 8 agents, 4 over HTTP (`openai` chat completions) and 4 over gRPC (SDK `chat`), each chatting turn
   after turn (max_tokens 16, temperature 0, one short question) for a warm-up and then a measured window; turns/s
   per agent, Jain's index over the 8, and the mean of each group.

Writes the JSON result (default bench/results/faces.json) and regenerates the `## Faces: HTTP beside gRPC`
section of docs/benchmarks.md from it.

    .venv/bin/python bench/faces.py                        # the full run (~5 minutes)
    .venv/bin/python bench/faces.py --n 10 --duration 10 --warmup 3 --out /tmp/faces.json --no-docs
    .venv/bin/python bench/faces.py --docs-only            # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _common import (
    ROOT,
    add_output_args,
    commit_note,
    fmt_load,
    repository_first,
    result_of,
    section_head,
    update_docs,
    wrote,
    yes,
)
from _faces_run import run

repository_first()

DEFAULT_OUT = ROOT / "bench" / "results" / "faces.json"
SECTION = "## Faces: HTTP beside gRPC"
REPRODUCE = ".venv/bin/python bench/faces.py"


def _pair(name: str, p: dict[str, Any]) -> str:
    g, h = p["grpc"], p["http"]
    return (f"| {name} | {g['p50_ms']:.1f} / {g['p90_ms']:.1f} | {h['p50_ms']:.1f} / {h['p90_ms']:.1f} "
            f"| {p['ratio_p50']:.2f}× | {p['ratio_p90']:.2f}× |")  # fmt: skip


def render_section(r: dict[str, Any], json_path: str) -> str:
    g, s, m, o, f = r["goals"], r["settings"], r["machine"], r["overhead"], r["fairness"]
    lines = section_head(SECTION, "faces.py", json_path)
    grp = f["group_mean_turns_per_s"]
    lines += [
        f"One kernel (`aios serve`, the bundled model `{o['model']}`, default settings but the metrics port and note "
        f"enrichment off) serving gRPC and its HTTP face. Overhead: one agent makes each call over both paths, "
        f"alternating A/B after {s['warmup_calls']} untimed rounds, {s['n']} timed calls per path. Fairness: "
        f"{s['agents']} agents at once, {s['agents'] // 2} over HTTP (the `openai` package, chat completions) and "
        f"{s['agents'] // 2} over gRPC (SDK `chat`), turn after turn (max_tokens {s['max_tokens']}, temperature 0) for "
        f"{s['warmup_s']:.0f} s of warm-up and a measured {s['duration_s']:.0f} s.",
        "",
        "| Goal | Measured | Met |",
        "| --- | --- | --- |",
        f"| Jain's index over the {s['agents']} agents' turns/s ≥ {g['jain_turns_per_s']['goal']} "
        f"| {f['jain']:.4f} (over tokens/s {f['jain_tokens']:.4f}); HTTP group {grp['http']:.3f} turns/s, gRPC group "
        f"{grp['grpc']:.3f} (HTTP/gRPC {f['http_over_grpc']}) | {yes(g['jain_turns_per_s']['met'])} |",
        f"| 1-token completion, HTTP p50 / gRPC p50 ≤ {g['completion_http_over_grpc']['goal']}× "
        f"| {o['completion_1_token']['ratio_p50']:.2f}× | {yes(g['completion_http_over_grpc']['met'])} |",
        f"| Search, HTTP (MCP `recall`) p50 / gRPC p50 ≤ {g['search_http_over_grpc']['goal']}× "
        f"| {o['search']['ratio_p50']:.2f}× | {yes(g['search_http_over_grpc']['met'])} |",
        "",
        "| Call | gRPC p50 / p90 ms | HTTP p50 / p90 ms | HTTP/gRPC p50 | HTTP/gRPC p90 |",
        "| --- | ---: | ---: | ---: | ---: |",
        _pair("1-token completion (`complete` / `POST /v1/completions`)", o["completion_1_token"]),
        _pair(f"search, k 5 over {s['notes']} notes (`search` / MCP `recall`)", o["search"]),
        _pair("model description, no model work (`model_info` / `GET /v1/models`)", o["model_info"]),
        "",
        "| Agent | Face | Turns | Turns/s | Tokens/s | p50 turn ms |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i, a in enumerate(f["agents"]):
        lines.append(f"| {i} | {a['face']} | {a['turns']} | {a['turns_per_s']:.3f} | {a['tokens_per_s']:.2f} "
                     f"| {a['p50_turn_ms'] if a['p50_turn_ms'] is not None else '—'} |")  # fmt: skip
    errors = f"; agent errors: {'; '.join(f['errors'])}" if f["errors"] else ""
    lines += [
        "",
        f"The HTTP search goes through the MCP server mounted on the HTTP face (a JSON-RPC tool call over streamable "
        f"HTTP, which then makes the gRPC call): it measures the whole HTTP path an MCP client takes. The machine "
        f"is shared: load average {fmt_load(r['load']['start'])} before and {fmt_load(r['load']['end'])} after (1 / 5 "
        f"/ 15 min){errors}.",
        "",
        f"Machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['ram_gb']} GB RAM; Python {m['python']}, grpcio "
        f"{m['grpcio']}, openai {m['openai']}, mcp {m['mcp']}, uvicorn {m['uvicorn']}. Commit {commit_note(r['git'])}, "
        f"{m['date']}, {r['wall_s']:.0f} s. Reproduce: `{REPRODUCE}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    parser.add_argument("--agents", type=int, default=8, help="agents chatting at once, half over HTTP (default 8)")
    parser.add_argument("--n", type=int, default=100, help="timed calls per path in each overhead pair (default 100)")
    parser.add_argument("--warmup-calls", type=int, default=10, help="untimed A/B rounds first (default 10)")
    parser.add_argument("--warmup", type=float, default=10.0, help="fairness warm-up, s (default 10)")
    parser.add_argument("--duration", type=float, default=60.0, help="fairness measured window, s (default 60)")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens of each chat turn (default 16)")
    parser.add_argument("--goal-jain", type=float, default=0.95)
    parser.add_argument("--goal-ratio", type=float, default=1.3)
    add_output_args(parser, DEFAULT_OUT, "JSON result (default bench/results/faces.json)")
    args = parser.parse_args(argv)
    if args.agents < 2 or args.agents % 2 or args.n < 2 or args.duration <= 0 or args.warmup < 0:
        parser.error("--agents must be even and at least 2, --n at least 2, --duration positive")

    result = result_of(args, lambda: run(args))
    update_docs(args, SECTION, render_section, result)

    from rich.console import Console

    console = Console()
    for name, goal in result["goals"].items():
        console.print(f"{name}: {goal['measured']} (goal {goal['goal']}) {'met' if goal['met'] else '[red]NOT met[/]'}")
    console.print(f"load before {result['load']['start']}, after {result['load']['end']}; {wrote(args, SECTION)}")
    return 0 if all(goal["met"] for goal in result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
