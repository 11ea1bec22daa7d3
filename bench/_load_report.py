"""Load benchmark, the `## Load: many agents, memory over time and clean stops` section of docs/benchmarks.md
(bench/load.py)."""

from __future__ import annotations

from typing import Any

from _common import commit_note, section_head, yes
from _load_summary import GOAL_HEALTH_MAX_MS, GOAL_RSS_GROWTH_PCT

SECTION = "## Load: many agents, memory over time and clean stops"
REPRODUCE = ".venv/bin/python bench/load.py"


def render_section(r: dict[str, Any], json_path: str) -> str:
    g, s, m = r["goals"], r["settings"], r["machine"]
    met = lambda key: yes(g[key]["met"]) if key in g else "—"  # noqa: E731
    lines = section_head(SECTION, "load.py", json_path)
    load, stops = r["load_phase"], r["stops_phase"]
    if load is not None:
        rss, health, ref, sul, ver = (
            load["rss"],
            load["health"],
            load["refusals"],
            load["stop_under_load"],
            load["verify"],
        )
        lines += [
            f"One kernel (`aios serve`, default settings but the metrics port) and {s['agents']} agents, each an SDK "
            f"`Client` in its own thread, doing a random mix of syscalls without pause for {load['duration_s']:.0f} s "
            f"(weights: {', '.join(f'{k} {v}' for k, v in s['mix'].items())}; chats with max_tokens "
            f"{s['chat_max_tokens']}; client deadline {s['client_timeout_s']:.0f} s). A health check every second "
            f"and the kernel's RSS every second throughout; then SIGTERM while the agents go on, a restart, and every "
            f"acknowledged write read back.",
            "",
            "| Goal | Measured | Met |",
            "| --- | --- | --- |",
            f"| Refusals only RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED | {_codes(ref['by_status']) or 'none'} "
            f"| {met('refusals_only_backpressure')} |",
            f"| Health check max < {GOAL_HEALTH_MAX_MS:.0f} ms | max {health['max_ms']:.0f} ms, p50 "
            f"{health['p50_ms']} ms, p99 {health['p99_ms']} ms over {health['polls']} checks; "
            f"{health['not_serving']} not serving | {met('health_max_ms')} |",
            f"| RSS growth after {rss['warmup_s']:.0f} s warm-up < {GOAL_RSS_GROWTH_PCT:.0f} % "
            f"| {rss['start_mb']:.0f} → {rss['end_mb']:.0f} MB ({rss['growth_pct']:+.1f} %), max "
            f"{rss['max_mb']:.0f} MB, {rss['at_launch_mb']:.0f} MB when the load began; threads "
            f"{rss['threads_start']} → {rss['threads_end']} | {met('rss_growth_pct')} |",
            f"| SIGTERM under load exits 0 | exit {sul['exit_code']} after {sul['stop_s']:.1f} s (grace "
            f"{sul['grace_s']:.0f} s) | {met('stop_under_load_exit_0')} |",
            f"| Acknowledged writes kept | {ver['notes']:,} notes, {ver['files']:,} file versions read back; "
            f"{ver['lost']} lost or changed | {met('acked_writes_kept_after_load')} |",
            "",
            "| Operation | OK | Per s | p50 ms | p95 ms | Refused |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for kind, o in load["ops"].items():
            lines.append(f"| {kind} | {o['ok']:,} | {o['per_s']:.1f} | {_ms(o['p50_ms'])} | {_ms(o['p95_ms'])} "
                         f"| {_codes(o['refused']) or '—'} |")  # fmt: skip
        kv = rss.get("kv_snapshots_mb", {})
        curve = ", ".join(f"{t:.0f} s {mb:.0f}" for t, mb in rss["curve"][:: max(1, len(rss["curve"]) // 12)])
        lines += [
            "",
            f"RSS curve (MB, seconds since the load began): {curve}. Growth compares the mean of the first and the "
            f"last {rss['window_s']:.0f} s after warm-up. Of the RAM, the saved KV states of the agents' chat sessions "
            f"(a cache bounded by `llm.kv_ram_mb`, 256 MB by default, then spilled to disk) took "
            f"{kv.get('after_warmup', 0):.0f} MB after warm-up and {kv.get('end', 0):.0f} MB at the end. Outcomes "
            "after SIGTERM (not counted above): "
            f"{_codes(sul['outcomes_during_stop']) or 'none'}.",
            "",
        ]
    if stops is not None:
        lines += [
            f"**Stops**: {len(stops['runs'])} times in a row on one data directory with note enrichment on: start "
            f"(checking every note acknowledged before the previous stop), {s['stop_agents']} agents with the same "
            f"mix, {s['stop_notes']} notes added in one batch so enrichment is pending, SIGTERM while the model "
            f"generates for them (then up to 1.5 s later). Exit codes: {_codes(stops['exit_codes'])}; SIGTERM to exit "
            f"took {stops['stop_s_mean']:.1f} s on average, {stops['stop_s_max']:.1f} s at most (`Kernel.stop` at most "
            f"{stops['kernel_stop_s_max']:.1f} s, of which the drain of in-flight syscalls takes up to the grace; the "
            f"process exit after it at most {stops['exit_after_kernel_stop_s_max']:.1f} s); "
            f"{stops['acked_notes']:,} notes and {stops['acked_files']:,} file versions acknowledged, "
            f"{stops['lost']} lost. Exit 0 every time: {met('stops_exit_0')}; writes kept: "
            f"{met('acked_writes_kept_over_stops')}. Before the fix that came with this benchmark the kernel freed the "
            "model while enrichment workers were still tokenizing and exited -11 (SIGSEGV): 20 of 20 such stops, "
            "acknowledged writes still kept.",
            "",
        ]
    problems = (load or {}).get("log_problems", []) + (stops or {}).get("log_problems", [])
    load_avg = r["load"]
    lines += [
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM; Python {m['python']}, grpcio "
        f"{m['grpcio']}, llama-cpp-python {m['llama_cpp_python']}. Run on {m['date']} at commit "
        f"{commit_note(r['git'])}. Load "
        f"average (1/5/15 min): {' / '.join(map(str, load_avg['start']))} before, "
        f"{' / '.join(map(str, load_avg['end']))} after; the agents run in the benchmark's process on the same 2 "
        "cores as the kernel.",
        "",
        "Kernel logs: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (options `--agents N --duration S --stops N --out PATH`, env "
        f"AIOS_LOAD_DURATION_S; `--help` for the rest). Raw figures: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.1f}"
