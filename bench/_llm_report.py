"""LLM benchmark, the `## LLM: multi-agent chat` section of docs/benchmarks.md and the summary printed after a run
(bench/llm_multiagent.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _common import commit_note, section_head, yes
from _llm_run import GOAL_JAIN, GOAL_RATIO

SECTION = "## LLM: multi-agent chat"
REPRODUCE = ".venv/bin/python bench/llm_multiagent.py"


def _s(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def render_section(r: dict[str, Any], json_path: str) -> str:
    ours, theirs, m, cfg, load = r["ours"], r["theirs"], r["machine"], r["config"], r["load"]
    g = r["goals"]
    ratio = lambda a, b: f"{a / b:.2f}" if a is not None and b else "—"  # noqa: E731
    rows = [
        "| Measure | aios kernel | llama_cpp.server | Ratio kernel / server | Goal | Met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| Completed turns/s | {_s(ours['turns_per_s'], 3)} | {_s(theirs['turns_per_s'], 3)} "
        f"| {r['turns_per_s_ratio_vs_llama_cpp_server']:.2f} | ≥ {g['turns_per_s_ratio_vs_llama_cpp_server']['min']}× "
        f"| {yes(g['turns_per_s_ratio_vs_llama_cpp_server']['met'])} |",
        f"| TTFT p50, s | {_s(ours['ttft_s']['p50'])} | {_s(theirs['ttft_s']['p50'])} "
        f"| {ratio(ours['ttft_s']['p50'], theirs['ttft_s']['p50'])} | — | — |",
        f"| TTFT p95, s | {_s(ours['ttft_s']['p95'])} | {_s(theirs['ttft_s']['p95'])} "
        f"| {ratio(ours['ttft_s']['p95'], theirs['ttft_s']['p95'])} | — | — |",
        f"| Turnaround p50, s | {_s(ours['turnaround_s']['p50'])} | {_s(theirs['turnaround_s']['p50'])} "
        f"| {ratio(ours['turnaround_s']['p50'], theirs['turnaround_s']['p50'])} | — | — |",
        f"| Jain's fairness (agents' turns/s) | {ours['jain_fairness']:.3f} | {theirs['jain_fairness']:.3f} | "
        f"| ≥ {g['jain_fairness']['min']} (kernel) | {yes(g['jain_fairness']['met'])} |",
        f"| Generated tokens/s | {_s(ours.get('completion_tokens_per_s'), 1)} "
        f"| {_s(theirs.get('completion_tokens_per_s'), 1)} "
        f"| {ratio(ours.get('completion_tokens_per_s'), theirs.get('completion_tokens_per_s'))} | — | — |",
        f"| Wall time, s | {_s(ours['wall_s'], 1)} | {_s(theirs['wall_s'], 1)} | | | |",
        f"| Server CPU, s | {_s(ours['cpu']['server_cpu_s'], 1)} | {_s(theirs['cpu']['server_cpu_s'], 1)} | | | |",
    ]
    pol_rows = [
        "| Policy | Turns/s | TTFT p50, s | TTFT p95, s | Turnaround p95, s | Jain | Preemptions | KV switches "
        "| Prefilled tokens |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, p in r["policies"].items():
        label = name if p.get("quantum") is None else f"{name} (quantum {p['quantum']})"
        pol_rows.append(
            f"| {label} | {p['turns_per_s']:.3f} | {_s(p['ttft_s']['p50'])} | {_s(p['ttft_s']['p95'])} "
            f"| {_s(p['turnaround_s']['p95'])} | {p['jain_fairness']:.3f} | {p.get('preemptions', '—')} "
            f"| {p['kernel']['counters'].get('context_switches', '—')} | {p.get('prefilled_tokens', '—')} |"
        )
    skew_rows = [
        "| Policy | Light TTFT p50, s | Light TTFT p95, s | Light turnaround p50, s | Light turnaround p95, s "
        "| Light turns/s | Model time: flood / light, s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in r["skew"].items():
        light, sl = s["light"], s["kernel"]["slices"]
        flood_busy = sl.get("flood", {}).get("busy_s", 0.0)
        light_busy = sum(v["busy_s"] for k, v in sl.items() if k.startswith("light"))
        label = name if s.get("quantum") is None else f"{name} (quantum {s['quantum']})"
        skew_rows.append(
            f"| {label} | {_s(light['ttft_s']['p50'])} | {_s(light['ttft_s']['p95'])} "
            f"| {_s(light['turnaround_s']['p50'])} | {_s(light['turnaround_s']['p95'])} | {light['turns_per_s']:.3f} "
            f"| {flood_busy:.1f} / {light_busy:.1f} |"
        )
    wl, ident, pc = r["workload"], r["identical_replies"], r["prompt_check"]
    errors = [*ours["errors"], *theirs["errors"]]
    for p in r["policies"].values():
        errors += p["errors"]
    for s in r["skew"].values():
        errors += s["light"]["errors"] + s["flood"]["errors"]
    problems = r["servers"]["log_problems"]
    quick = (
        "**This is a `--quick` sanity run with a small workload, not the benchmark; rerun without `--quick` for "
        "the figures.**\n\n"
        if r.get("quick")
        else ""
    )
    timeline = r.get("timeline")
    kv = {**r["ours"]["kernel"].get("levels", {}), **r["ours"]["kernel"]["counters"]}
    lines = [
        *section_head(SECTION, "llm_multiagent.py", json_path),
        quick
        + f"One model ({r['model'].get('file', r['model']['name'])}, {r['model']['file_mb']} MB), "
        f"{cfg['n_threads']} thread, "
        f"n_ctx {cfg['n_ctx']}, OMP_WAIT_POLICY=PASSIVE, on both sides. **Multi-agent chat**: {cfg['agents']} agents "
        f"at once (a thread each), each a {cfg['turns']}-turn conversation: a system prompt shared by all "
        f"({wl['system_prompt_tokens']} tokens), then per turn a user message ({wl['user_turn_tokens']['min']}-"
        f"{wl['user_turn_tokens']['max']} tokens, mean {wl['user_turn_tokens']['mean']}) and the assistant's reply "
        f"(max_tokens {cfg['max_tokens']}, greedy), appended to the history, so the context grows. The aios kernel "
        f"(`aios serve`, policy {cfg['main_policy']}, quantum {cfg['quantum']}; each agent its own identity, so "
        f"the kernel keeps each one's KV state between turns) against llama-cpp-python's OpenAI-compatible server "
        f"(`python -m llama_cpp.server {cfg['llama_cpp_server_flags']}`: one lock, so requests run one at a "
        f"time; it reuses the KV prefix of the last request it ran only), sent the same conversations as full "
        f"message lists by concurrent httpx clients. Both stream (SDK `chat_stream`, SSE); TTFT is measured at the "
        f"client to the first non-empty text. The kernel runs first, then the server; never both at once. Jain's "
        f"index is over the agents' completed turns per second (each agent's turns over its own elapsed time).",
        "",
        *rows,
        "",
        f"Where the difference comes from: the kernel prefilled {ours.get('prefilled_tokens', '—')} of "
        f"{ours.get('prompt_tokens', '—')} prompt tokens (the rest restored or kept as KV state); llama_cpp.server "
        f"was sent {theirs.get('prompt_tokens', '—')} prompt tokens and can skip only the prefix a prompt shares "
        f"with the request it ran just before (the system prompt, as a rule, when agents take turns). The kernel "
        f"keeps up to {kv.get('kv_max_batch', '—')} sessions resident in one llama.cpp context "
        f"({kv.get('kv_kv_cells', '—')} KV cells) and decodes them together, one forward pass giving each its "
        f"next token; llama_cpp.server generates one request's tokens at a time "
        f"({ours.get('completion_tokens', '—')} and {theirs.get('completion_tokens', '—')} reply tokens here). "
        f"The kernel made {kv.get('context_switches', '—')} context switches (a session brought into the "
        f"context: {kv.get('kv_saves', '—')} KV saves in {_s(kv.get('kv_save_s'))} s, "
        f"{kv.get('kv_restores', '—')} restores in {_s(kv.get('kv_restore_s'))} s). Replies identical on both sides: "
        f"{ident['first_turns']} of {ident['first_turns_total']} first turns (same prompt: "
        f"{pc['kernel_prompt_tokens']} vs {pc['llama_cpp_server_prompt_tokens']} prompt tokens), "
        f"{ident['all_turns']} of {ident['turns']} turns in all (later prompts differ once a reply does).",
        "",
        *_batch_lines(r.get("batch_scaling"), ours, theirs),
        "**Policies** (the same workload on the kernel, fresh agents for each):",
        "",
        *pol_rows,
        "",
        f"**Skewed load**: one agent floods the model ({cfg['flood_workers']} concurrent requests in a loop, each "
        f"its own session, max_tokens {cfg['flood_max_tokens']}) while {cfg['light_agents']} light agents have "
        f"their {cfg['turns']}-turn conversations (as above); the light agents start once the flood's requests "
        f"are queued, and the flood stops (its streams are cancelled) when they are done.",
        "",
        *skew_rows,
        "",
        (
            f"Scheduler timeline of the fair skewed run (one lane per agent, a bar per slice; a dark edge marks a "
            f"KV context switch): [{Path(timeline['path']).name}](../{timeline['path']}).\n\n"
            f"![LLM scheduler timeline, fair policy, skewed load](../{timeline['path']})\n"
            if timeline
            else "No timeline was written.\n"
        ),
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM, {m['platform']}; Python {m['python']}, "
        f"llama-cpp-python {m['llama_cpp_python']}, grpcio {m['grpcio']}, httpx {m['httpx']}. Run on {m['date']} at "
        f"commit {commit_note(r['git'])}. "
        f"Load average (1/5/15 min): {' / '.join(map(str, load['before']))} before, "
        f"{' / '.join(map(str, load['after']))} after; other processes used {ours['cpu']['others_cores_avg']} "
        f"cores on average during the kernel's chat run and {theirs['cpu']['others_cores_avg']} during the "
        f"server's.",
        "",
        "Errors: "
        + ("none" if not errors else f"{len(errors)}, e.g. `{errors[0][:200]}`")
        + "; server logs: "
        + ("no errors." if not any(problems.values()) else
           "; ".join(f"{k}: {len(v)} error lines, e.g. `{v[0][:160]}`" for k, v in problems.items() if v) + "."),
        "",
        f"Reproduce: `{REPRODUCE}` (options `--agents N --turns N --out PATH`, `--quick` for a small sanity run, "
        f"`--help` for the rest). Raw figures: `{json_path}`.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def _batch_lines(b: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    if not b:
        return []
    rates, speedup = b["tokens_per_s"], b["speedup_vs_1"]
    widths = list(rates)
    bound = ""
    if b.get("prefill_tokens_per_s") and ours.get("prefilled_tokens") and theirs.get("prompt_tokens"):
        p, d1, dn = b["prefill_tokens_per_s"], rates[widths[0]], rates[widths[-1]]
        kernel_s = ours["prefilled_tokens"] / p + ours["completion_tokens"] / dn
        server_s = theirs["prompt_tokens"] / p + theirs["completion_tokens"] / d1
        bound = (
            f" Prefill runs at {p} tokens/s (a 200-token prompt in one pass): per token barely cheaper than a "
            f"decode, so compute, not the number of passes, is what costs here. At these rates the kernel's own "
            f"model work in the chat run ({ours['prefilled_tokens']} tokens prefilled, {ours['completion_tokens']} "
            f"decoded {widths[-1]} at a time) takes at least {kernel_s:.1f} s, and the server's at most "
            f"{server_s:.1f} s (every prompt token prefilled, none reused; replies one token a pass): "
            f"a ceiling of {server_s / kernel_s:.1f}× for the turns/s ratio on this machine with this model, "
            f"whatever the scheduling."
        )
    return [
        f"**What batching gives on this machine** (the kernel's backend in a fresh process, {b['steps']} greedy "
        f"passes a width, median of {len(b['rounds'][widths[0]])} interleaved rounds, one thread; load "
        f"{b['load']['before'][0]} before): decode tokens/s when one forward pass feeds "
        + ", ".join(f"{w} session{'s' if w != '1' else ''}: {rates[w]} ({speedup[w]}×)" for w in widths)
        + ". On one CPU thread llama.cpp's matrix products cost nearly as much per extra sequence as the first, "
        "so a batch of 8 gives well under 8× the tokens of one; the server's cost, re-prefilling conversations, "
        "is the part the kernel avoids." + bound,
        "",
    ]


def print_summary(r: dict[str, Any], out: Path, docs: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ours, theirs, g = r["ours"], r["theirs"], r["goals"]
    cfg = r["config"]
    title = f"multi-agent chat: {cfg['agents']} agents × {cfg['turns']} turns" + (" (quick)" if r["quick"] else "")
    t = Table(title=title)
    for col in ("measure", "aios kernel", "llama_cpp.server", "ratio", "goal", "met"):
        t.add_column(col, justify="left" if col in ("measure", "goal") else "right")
    t.add_row("turns/s", f"{ours['turns_per_s']:.3f}", f"{theirs['turns_per_s']:.3f}",
              f"{r['turns_per_s_ratio_vs_llama_cpp_server']:.2f}", f"≥ {GOAL_RATIO}",
              str(g["turns_per_s_ratio_vs_llama_cpp_server"]["met"]))  # fmt: skip
    for q in ("p50", "p95"):
        t.add_row(f"TTFT {q}, s", _s(ours["ttft_s"][q]), _s(theirs["ttft_s"][q]), "", "", "")
    t.add_row("Jain (turns/s)", f"{ours['jain_fairness']:.3f}", f"{theirs['jain_fairness']:.3f}", "",
              f"≥ {GOAL_JAIN}", str(g["jain_fairness"]["met"]))  # fmt: skip
    t.add_row("generated tok/s", _s(ours.get("completion_tokens_per_s"), 1),
              _s(theirs.get("completion_tokens_per_s"), 1), "", "", "")  # fmt: skip
    console.print(t)
    p = Table(title="policies on the kernel")
    for col in ("policy", "turns/s", "TTFT p50", "TTFT p95", "Jain", "preemptions", "switches"):
        p.add_column(col, justify="left" if col == "policy" else "right")
    for name, x in r["policies"].items():
        p.add_row(name, f"{x['turns_per_s']:.3f}", _s(x["ttft_s"]["p50"]), _s(x["ttft_s"]["p95"]),
                  f"{x['jain_fairness']:.3f}", str(x.get("preemptions")),
                  str(x["kernel"]["counters"].get("context_switches")))  # fmt: skip
    console.print(p)
    s = Table(title="skewed load: light agents")
    for col in ("policy", "TTFT p50", "TTFT p95", "turnaround p50", "turnaround p95", "flood / light model s"):
        s.add_column(col, justify="left" if col == "policy" else "right")
    for name, x in r["skew"].items():
        sl = x["kernel"]["slices"]
        light_busy = sum(v["busy_s"] for k, v in sl.items() if k.startswith("light"))
        s.add_row(name, _s(x["light"]["ttft_s"]["p50"]), _s(x["light"]["ttft_s"]["p95"]),
                  _s(x["light"]["turnaround_s"]["p50"]), _s(x["light"]["turnaround_s"]["p95"]),
                  f"{sl.get('flood', {}).get('busy_s', 0.0):.1f} / {light_busy:.1f}")  # fmt: skip
    console.print(s)
    console.print(f"load before {r['load']['before']}, after {r['load']['after']}")
    console.print(f"wrote {out}" + (f" and the '{SECTION[3:]}' section of {docs}" if docs else ""))
    problems = r["servers"]["log_problems"]
    if any(problems.values()):
        console.print(f"[yellow]server log problems:[/] {problems}")
