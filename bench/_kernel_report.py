"""Kernel benchmark, the `## Kernel: batch add and search` section of docs/benchmarks.md (bench/kernel.py)."""

from __future__ import annotations

from typing import Any

from _common import commit_note, section_head, yes

SECTION = "## Kernel: batch add and search"
REPRODUCE = "make bench"
REPRODUCE_RAW = ".venv/bin/python bench/kernel.py"


def _fmt(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def render_section(r: dict[str, Any], json_path: str) -> str:
    m, load, ph = r["machine"], r["load"], r["phases"]
    goal_add, goal_p50 = r["goals"]["add_throughput_ratio"], r["goals"]["search_p50_ratio"]
    rows = [
        "| Measure | Kernel (gRPC) | In-process | Ratio kernel / in-process | Goal | Met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| Batch add, notes/s | {_fmt(r['kernel_add_notes_per_s'])} | {_fmt(r['inprocess_add_notes_per_s'])} "
        f"| {r['add_throughput_ratio']:.2f} | ≥ {goal_add['min']} | {yes(goal_add['met'])} |",
        f"| Search p50, ms | {_fmt(r['kernel_search_p50_ms'], 2)} | {_fmt(r['inprocess_search_p50_ms'], 2)} "
        f"| {r['search_p50_ratio']:.2f} | ≤ {goal_p50['max']} | {yes(goal_p50['met'])} |",
        f"| Search p95, ms | {_fmt(r['kernel_search_p95_ms'], 2)} | {_fmt(r['inprocess_search_p95_ms'], 2)} "
        f"| {r['search_p95_ratio']:.2f} | — | — |",
    ]
    phase_rows = [
        "| Phase | Wall s | Kernel CPU s | Bench process CPU s | Other processes CPU s (cores) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, p in ph.items():
        phase_rows.append(
            f"| {name} | {p['wall_s']:.2f} | {p['kernel_cpu_s']:.1f} | {p['bench_cpu_s']:.1f} "
            f"| {p['others_cpu_s']:.1f} ({p['others_cores_avg']}) |"
        )
    rows.append(f"| Batch add, median of per-batch ratios | | | {r['add_throughput_ratio_batch_median']:.2f} | | |")
    rounds = "; ".join(
        f"round {i}: kernel p50 {x['kernel']['p50_ms']:.2f} / p95 {x['kernel']['p95_ms']:.2f} ms, in-process "
        f"p50 {x['inprocess']['p50_ms']:.2f} / p95 {x['inprocess']['p95_ms']:.2f} ms, top-10 overlap "
        f"{x['top10_overlap_mean']:.3f}"
        for i, x in enumerate(r["search_rounds"], 1)
    )
    problems = r["kernel"]["log_problems"]
    lines = [
        *section_head(SECTION, "kernel.py", json_path),
        f"The kernel (`aios serve`, a subprocess on localhost, driven with the SDK's `Client`) against the same work "
        f"done in-process: the kernel's model (all-MiniLM-L6-v2) through sentence-transformers "
        f"(batch_size={r['encode_batch_size']}, normalize_embeddings=True) and an embedded Chroma collection "
        f"(cosine). **Batch add**: {r['notes']:,} notes in batches of {r['batch_size']} (`Client.add_notes` vs "
        f"encode + `collection.upsert`). **Search**: {r['queries']} single queries one after another, k={r['k']}, "
        f"over those notes (`Client.search` vs encode + `collection.query`), after {r['warmup_queries']} uncounted "
        f"warm-up queries; {len(r['search_rounds'])} rounds, the best p50 and p95 of each side kept. Order: "
        f"{r['order']}; the two never run at once. In-process threading: {_env_note(r['environment'])}.",
        "",
        *rows,
        "",
        f"Texts: {r['texts']['notes']}. Queries: {r['texts']['queries']}.",
        "",
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM, {m['platform']}; Python {m['python']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads), sentence-transformers {m['sentence_transformers']}, "
        f"chromadb {m['chromadb']}, grpcio {m['grpcio']}. Run on {m['date']} at commit "
        f"{commit_note(r['git'])}.",
        "",
        f"Load average (1/5/15 min): {' / '.join(map(str, load['before']))} before, "
        f"{' / '.join(map(str, load['after']))} after. CPU per phase (other processes: what the rest of the "
        f"machine used meanwhile, from /proc/stat):",
        "",
        *phase_rows,
        "",
        f"Search rounds: {rounds}.",
        "",
        "Kernel log: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (runs `{REPRODUCE_RAW}`; options `--notes N --queries N --out PATH`, "
        f"`--sequential`, `--inprocess-env default`, `--help` for the rest). "
        f"Raw figures: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


def _env_note(env: dict[str, Any]) -> str:
    if env["inprocess_env"] == "kernel":
        return (
            "the kernel's settings on both sides (TOKENIZERS_PARALLELISM=false, OMP_WAIT_POLICY=PASSIVE), so the "
            "ratios measure the kernel's path rather than a threading choice (`--inprocess-env default` gives the "
            "baseline the libraries' defaults instead: spinning OpenMP threads, faster on an idle machine, far "
            "slower on a busy one)"
        )
    return (
        "the libraries' defaults (spinning OpenMP threads, tokenizer parallelism on), while the kernel sets "
        "TOKENIZERS_PARALLELISM=false and OMP_WAIT_POLICY=PASSIVE for itself"
    )
