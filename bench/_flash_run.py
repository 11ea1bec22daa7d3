"""Flash benchmark, one run: a private copy of the model, every configuration in a fresh worker process (rounds
interleaving them), the disk before and after, and the JSON result (bench/flash.py)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, command_line, git_state, machine_info
from _flash_disk import MB, disk_throughput, storage_info, warm_cache
from _flash_worker import N_CTX, N_THREADS, PROMPT, RESULT_MARK

SCRIPT = Path(__file__).resolve().with_name("flash.py")
"""The entry script: a worker is `flash.py --worker CFG` in a fresh process."""
BUDGETS = (100, 75, 50, 25)
GOAL_PREFETCH_VS_NAIVE = 3.5  # at 50 %: prefetch tok/s / naive tok/s, at least
GOAL_PREFETCH_VS_RESIDENT = 0.30  # at 50 %: prefetch tok/s / fully resident tok/s, at least
GOAL_PEAK_ANON = 0.5  # peak RssAnon / model size, below
ROUND_KEYS = ("tok_per_s", "read_bytes_per_token", "major_faults_per_token", "prefetch_ms_per_token",
              "evict_ms_per_token", "others_cores", "peak_rss_anon")  # fmt: skip


def flash_machine_info() -> dict[str, Any]:
    return machine_info({"llama_cpp_python": "llama_cpp_python", "gguf": "gguf", "aios": "aios"})


def spawn(cfg: dict[str, Any]) -> dict[str, Any]:
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--worker", json.dumps(cfg)],
        capture_output=True, text=True, env=env, timeout=1800, cwd=ROOT,
    )  # fmt: skip
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith(RESULT_MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"worker {cfg} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(line[len(RESULT_MARK) :])
    result["spawn_to_first_token_s"] = result.pop("first_token_wall_time") - started
    return result


def decode_configs(budgets: tuple[int, ...]) -> list[tuple[str, dict[str, Any]]]:
    configs: list[tuple[str, dict[str, Any]]] = []
    for pct in budgets:
        if pct >= 100:
            configs.append((f"{pct}% resident", {"budget_pct": pct, "prefetch": True}))
            continue
        configs.append((f"{pct}% naive", {"budget_pct": pct, "prefetch": False}))
        configs.append((f"{pct}% prefetch", {"budget_pct": pct, "prefetch": True}))
        if pct == 50:
            configs.append(
                (f"{pct}% naive, no read-around", {"budget_pct": pct, "prefetch": False, "madv_random": True})
            )
    return configs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median tok/s (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["tok_per_s"])
    return ordered[(len(ordered) - 1) // 2]


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("tok_per_s", "ms_per_token_p50", "ms_per_token_max", "read_bytes_per_token", "major_faults_per_token",
            "prefetch_ms_per_token", "evict_ms_per_token", "decode_cpu_s", "decode_s", "others_cores",
            "peak_rss_anon", "peak_rss_anon_decode", "peak_rss_anon_load", "load_s", "prefill_and_first_token_s",
            "load_to_first_token_s")  # fmt: skip
    s = {k: _round(run[k]) for k in keys}
    s["cpu_share"] = _round(run["decode_cpu_s"] / run["decode_s"]) if run["decode_s"] else None
    s["residency"] = run["residency"]
    for key in ("mem_start", "mem_before_load", "mem_after_load"):
        s[key] = run[key]
    s["probe"], s["attach"] = run["probe"], {k: _round(v) for k, v in run["attach"].items()}
    for key in ("load_before", "load_after"):
        s[key] = [round(x, 2) for x in run[key]]
    return s


def _round(x: Any, digits: int = 4) -> Any:
    return round(x, digits) if isinstance(x, float) else x


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    load_start = os.getloadavg()
    machine = flash_machine_info()
    from aios.llm.local import default_model_path

    source = default_model_path()
    tmp = Path(tempfile.mkdtemp(prefix="aios-flash-bench-"))
    try:
        model = tmp / "model.gguf"
        with console.status(f"copying {source.name} to a private file"):
            shutil.copyfile(source, model)
            fd = os.open(model, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        model_bytes = model.stat().st_size
        console.log(f"model {source.name}: {model_bytes / MB:.1f} MB, private copy {model}")

        decode = decode_configs(args.budgets)
        ttft = [
            ("cold, 100% resident", {"budget_pct": 100, "prefetch": True, "drop_cache": True}),
            ("warm, 100% resident", {"budget_pct": 100, "prefetch": True, "drop_cache": False}),
            ("cold, 50% prefetch", {"budget_pct": 50, "prefetch": True, "drop_cache": True}),
            ("warm, 50% prefetch", {"budget_pct": 50, "prefetch": True, "drop_cache": False}),
        ]
        plan: list[tuple[str, str, dict[str, Any]]] = []
        for _ in range(args.rounds):  # rounds interleave the configurations, so a load spike hits them all
            plan += [("decode", name, cfg | {"tokens": args.tokens}) for name, cfg in decode]
        for _ in range(args.ttft_rounds):
            plan += [("ttft", name, cfg | {"tokens": 0}) for name, cfg in ttft]

        decode_runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in decode}
        ttft_runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in ttft}
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("disk read throughput", total=len(plan) + 2)
            disk = storage_info(model) | {"runs": [disk_throughput(model)]}
            progress.advance(task)
            for kind, name, cfg in plan:
                progress.update(task, description=f"{kind}: {name}")
                if not cfg.get("drop_cache"):
                    warm_cache(model)  # every configuration starts from the whole file cached
                got = spawn(cfg | {"model": str(model)})
                (decode_runs if kind == "decode" else ttft_runs)[name].append(got)
                if kind == "decode":
                    progress.console.log(
                        f"{name}: {got['tok_per_s']:.1f} tok/s, {got['read_bytes_per_token'] / MB:.2f} MB read and "
                        f"{got['major_faults_per_token']:.1f} major faults per token, load {got['load_after'][0]:.2f}"
                    )
                else:
                    progress.console.log(
                        f"{name}: first token after {got['load_to_first_token_s'] * 1000:.0f} ms "
                        f"(cached before load {got['cached_before_load']:.0%})"
                    )
                progress.advance(task)
            progress.update(task, description="disk read throughput, again")
            disk["runs"].append(disk_throughput(model))  # the disk is shared too: once before, once after
            progress.advance(task)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    configs: dict[str, Any] = {}
    for name, runs in decode_runs.items():
        med = _median_run(runs)
        configs[name] = _summary(med) | {
            "budget_pct": med["config"]["budget_pct"],
            "prefetch": med["config"]["prefetch"],
            "madv_random": bool(med["config"].get("madv_random")),
            "rounds_tok_per_s": [round(r["tok_per_s"], 2) for r in runs],
            "rounds": [
                {k: _round(r[k]) for k in ROUND_KEYS}
                | {
                    "cpu_share": _round(r["decode_cpu_s"] / r["decode_s"]),
                    "load_1min_before_after": [round(r["load_before"][0], 2), round(r["load_after"][0], 2)],
                }
                for r in runs
            ],
        }
    first = next(iter(decode_runs.values()))[0]
    same_output = {name: all(r["tokens"] == first["tokens"] for r in runs) for name, runs in decode_runs.items()}
    ttft_out = {
        name: {
            "load_to_first_token_s": _round(statistics.median(r["load_to_first_token_s"] for r in runs)),
            "runs_load_to_first_token_s": [_round(r["load_to_first_token_s"]) for r in runs],
            "load_s": _round(statistics.median(r["load_s"] for r in runs)),
            "prefill_and_first_token_s": _round(statistics.median(r["prefill_and_first_token_s"] for r in runs)),
            "spawn_to_first_token_s": _round(statistics.median(r["spawn_to_first_token_s"] for r in runs)),
            "import_s": _round(statistics.median(r["import_s"] for r in runs)),
            "cached_before_load": [r["cached_before_load"] for r in runs],
            "read_bytes_load": [r["mem_after_load"]["read_bytes"] - r["mem_before_load"]["read_bytes"] for r in runs],
            "read_bytes_prefill": [r["prefill_read_bytes"] for r in runs],
            "prompt_tokens": runs[0]["prompt_tokens"],
        }
        for name, runs in ttft_runs.items()
    }

    def tps(name: str) -> float | None:
        return configs[name]["tok_per_s"] if name in configs else None

    naive50, prefetch50, resident = tps("50% naive"), tps("50% prefetch"), tps("100% resident")
    vs_naive = prefetch50 / naive50 if prefetch50 and naive50 else None
    vs_resident = prefetch50 / resident if prefetch50 and resident else None

    def per_round(a: str, b: str) -> list[float]:  # the same round ran both under about the same load
        return [
            round(x["tok_per_s"] / y["tok_per_s"], 4)
            for x, y in zip(decode_runs.get(a, []), decode_runs.get(b, []), strict=False)
        ]

    per_round_ratios = {
        "prefetch_vs_naive_at_50pct": per_round("50% prefetch", "50% naive"),
        "prefetch_vs_resident_at_50pct": per_round("50% prefetch", "100% resident"),
        "prefetch_vs_naive_no_read_around_at_50pct": per_round("50% prefetch", "50% naive, no read-around"),
    }
    all_runs = [r for runs in decode_runs.values() for r in runs] + [r for runs in ttft_runs.values() for r in runs]
    runs50 = decode_runs.get("50% prefetch") or all_runs
    peak_anon = max(r["peak_rss_anon"] for r in runs50)  # the goal's figure: the streaming configuration
    peak_decode = max(r["peak_rss_anon_decode"] for r in runs50)
    resident_runs = decode_runs.get("100% resident") or []
    before_load = statistics.median(r["mem_before_load"]["rss_anon"] for r in all_runs)
    at_start = statistics.median(r["mem_start"]["rss_anon"] for r in all_runs)
    attach = [r["attach"] for r in runs50 if r["attach"]["s"]]
    return {
        "benchmark": "llm: weights from flash",
        "prefetch_vs_naive_at_50pct": _round(vs_naive),
        "prefetch_vs_resident_at_50pct": _round(vs_resident),
        "per_round_ratios": per_round_ratios,
        "ratios_note": "the headline ratios divide the configurations' median-round tok/s; per_round_ratios divide "
        "the tok/s of the same round (run minutes apart at most, under similar load)",
        "peak_rss_anon_ratio_to_model": _round(peak_anon / model_bytes),
        "goals": {
            "prefetch_vs_naive_at_50pct": {
                "min": GOAL_PREFETCH_VS_NAIVE,
                "met": vs_naive is not None and vs_naive >= GOAL_PREFETCH_VS_NAIVE,
            },
            "prefetch_vs_resident_at_50pct": {
                "min": GOAL_PREFETCH_VS_RESIDENT,
                "met": vs_resident is not None and vs_resident >= GOAL_PREFETCH_VS_RESIDENT,
            },
            "peak_rss_anon_ratio_to_model": {
                "max_exclusive": GOAL_PEAK_ANON,
                "met": peak_anon / model_bytes < GOAL_PEAK_ANON,
            },
        },
        "model": {"name": source.name, "bytes": model_bytes},
        "memory": {
            "peak_rss_anon": peak_anon,
            "peak_rss_anon_decode": peak_decode,
            "peak_rss_anon_all_runs": max(r["peak_rss_anon"] for r in all_runs),
            "peak_rss_anon_resident": max((r["peak_rss_anon"] for r in resident_runs), default=None),
            "peak_rss_anon_decode_resident": max((r["peak_rss_anon_decode"] for r in resident_runs), default=None),
            "rss_anon_at_start": at_start,
            "rss_anon_before_load": before_load,
            "model_anon_bytes": peak_anon - before_load,
            "model_anon_ratio_to_model": _round((peak_anon - before_load) / model_bytes),
            "model_anon_decode_ratio_to_model": _round((peak_decode - before_load) / model_bytes),
            "attach_s": _round(statistics.median(a["s"] for a in attach)) if attach else None,
            "attach_rss_anon_left": statistics.median(a["rss_anon_after"] - a["rss_anon_before"] for a in attach)
            if attach
            else None,
            "note": "peak_rss_anon: at 50 % budget with prefetch (the goals' configuration), the highest RssAnon "
            "seen by a thread polling /proc/self/status every 4 ms while loading and prefilling, and by samples "
            "every 8 decoded tokens and inside one forward pass; peak_rss_anon_decode: the same without the load's "
            "transient; before_load: after importing llama_cpp and aios.llm (interpreter and libraries); "
            "attach: Residency.attach (GGUF tensor table parse + first eviction) and the RssAnon it leaves behind",
        },
        "decode": configs,
        "same_tokens_as_first_config": same_output,
        "ttft": ttft_out,
        "disk": disk,
        "settings": {
            "tokens": args.tokens,
            "rounds": args.rounds,
            "ttft_rounds": args.ttft_rounds,
            "n_ctx": N_CTX,
            "n_threads": N_THREADS,
            "prompt": PROMPT,
            "budgets": list(args.budgets),
            "summary_of_rounds": "per configuration, the round with the median tok/s",
            "omp_wait_policy": "PASSIVE",
        },
        "machine": machine,
        "load": {
            "before": [round(x, 2) for x in load_start],
            "after": [round(x, 2) for x in os.getloadavg()],
            "note": "os.getloadavg() (1, 5, 15 min); decode[*].others_cores is the CPU the rest of the machine "
            "used meanwhile, in cores (from /proc/stat)",
        },
        "git": git_state(),
        "command": command_line(),
    }
