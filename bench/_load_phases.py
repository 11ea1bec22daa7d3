"""Load benchmark, the phases: many agents against one kernel then SIGTERM under load and a read-back, and the
stops in a row with enrichment pending; `run` puts them into the JSON result (bench/load.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import command_line, git_state, machine_info
from _load_agents import FILES_PER_AGENT, MIX, Acked, Agent, Watcher, load_texts, verify
from _load_summary import goals, health_summary, ops_summary, refusal_summary, rss_summary
from _servers import KernelProcess

STOP_NOTES = 40
KERNEL_ENV = {"AIOS_METRICS_PORT": "-1"}


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def stop_split(kernel: KernelProcess) -> dict[str, Any]:
    """Where a stop's time went, from the kernel's log: `Kernel.stop` (SIGTERM seen to "kernel stopped"), the steps
    it logged as slow (the drain of in-flight syscalls takes up to the grace), and the rest (process exit)."""
    times: dict[str, float] = {}
    steps = []
    for line in kernel.log().splitlines():
        match = LOG_TIME.match(line)
        if match is None:
            continue
        at = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if "draining in-flight syscalls" in line:
            times["sigterm"] = at
        elif "aios: kernel stopped" in line:
            times["stopped"] = at
        elif "aios.kernel: stopping " in line:
            steps.append(line.split("aios.kernel: stopping ", 1)[1])
    if "sigterm" not in times or "stopped" not in times:
        return {"kernel_stop_s": None, "slow_steps": steps}
    return {"kernel_stop_s": round(times["stopped"] - times["sigterm"], 2), "slow_steps": steps}


def start_kernel(data_dir: Path, log_dir: Path, name: str, env: dict[str, str]) -> KernelProcess:
    kernel = KernelProcess(data_dir, log_dir, KERNEL_ENV | env)
    kernel.name = name  # its own log files
    kernel.stdout_path, kernel.stderr_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    kernel.start()
    kernel.wait_ready()
    return kernel


def sigterm(kernel: KernelProcess, agents: list[Agent], timeout: float = 120) -> None:
    """SIGTERM while the agents go on; their later outcomes count as during the stop."""
    now = time.monotonic()
    for agent in agents:
        agent.sigterm_at = now
    kernel.stop(timeout)


def kv_ram_mb(kernel: KernelProcess) -> float:
    from aios.client import Client

    with Client(kernel.target, kernel.admin_token(), timeout=30) as admin:
        return round(admin.model_info().kv.get("ram_bytes", 0) / 2**20, 1)


def run_load(args: argparse.Namespace, texts: list[str], tmp: Path, console: Any) -> dict[str, Any]:
    from aios.client import Client

    kernel = start_kernel(tmp / "load-data", tmp, "load-kernel", {})
    console.log(f"load: kernel ready on {kernel.target} after {kernel.ready_s:.1f} s (pid {kernel.pid})")
    stop = threading.Event()
    try:
        with Client(kernel.target, kernel.admin_token()) as admin:
            tokens = [admin.create_agent(f"load-{i}").token for i in range(args.agents)]
            grace_s = float(os.environ.get("AIOS_GRACE_PERIOD_S", 10.0))
        agents = [
            Agent(i, kernel.target, tok, texts, args.seed + i, stop, args.timeout) for i, tok in enumerate(tokens)
        ]
        assert kernel.pid is not None
        watcher = Watcher(kernel.target, kernel.pid)
        load_before = os.getloadavg()
        watcher.start()
        t0 = time.monotonic()
        for agent in agents:
            agent.start()
        kv_mb: dict[str, float] = {}  # the saved KV states of sessions (llm.kv_ram_mb bounds them), MB
        while (left := args.duration - (time.monotonic() - t0)) > 0:
            to_warm = args.warmup - (time.monotonic() - t0)
            time.sleep(min(left, 10, to_warm) if to_warm > 0 else min(left, 10))
            if "after_warmup" not in kv_mb and time.monotonic() - t0 >= args.warmup:
                kv_mb["after_warmup"] = kv_ram_mb(kernel)
            done = sum(len(v) for a in agents for v in a.ms.values())
            rss = watcher.rss[-1][1] if watcher.rss else 0
            console.log(f"load: {time.monotonic() - t0:.0f} s, {done:,} syscalls, RSS {rss:.0f} MB, "
                        f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
        elapsed = time.monotonic() - t0
        kv_mb["end"] = kv_ram_mb(kernel)
        load_after = os.getloadavg()
        watcher.stop.set()
        watcher.join()
        sigterm(kernel, agents)
        console.log(f"load: SIGTERM under load: exit {kernel.exit_code} after {kernel.stop_s:.1f} s")
        stop.set()
        for agent in agents:
            agent.join(args.timeout + 30)
    finally:
        stop.set()
        kernel.stop()
    problems = kernel.log_problems()

    again = start_kernel(tmp / "load-data", tmp, "load-verify", {"AIOS_LLM_ENRICHMENT": "0"})
    try:
        checked = verify(again.target, [a.ledger for a in agents])
    finally:
        again.stop()
    console.log(f"load: after restart, {checked['lost']} of {checked['notes']} notes and {checked['files']} file "
                "versions lost or changed")  # fmt: skip

    return {
        "duration_s": round(elapsed, 1),
        "agents": args.agents,
        "ops": ops_summary(agents, elapsed),
        "refusals": refusal_summary(agents),
        "health": health_summary(watcher.health),
        "rss": rss_summary(watcher.rss, args.warmup) | {"kv_snapshots_mb": kv_mb},
        "stop_under_load": {
            "exit_code": kernel.exit_code,
            "stop_s": round(kernel.stop_s or 0, 2),
            **stop_split(kernel),
            "grace_s": grace_s,
            "outcomes_during_stop": dict(sum((a.after_sigterm for a in agents), Counter())),
        },  # fmt: skip
        "verify": checked,
        "verify_kernel_exit_code": again.exit_code,
        "kernel_ready_s": kernel.ready_s,
        "log_problems": problems,
        "load": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in load_after]},
    }


def run_stops(args: argparse.Namespace, texts: list[str], tmp: Path, console: Any) -> dict[str, Any]:
    """Start, load, add notes (enrichment pending), SIGTERM while the model works for them; `args.stops` times on
    one data directory; each start checks the notes acknowledged before the previous stop."""
    from aios.client import Client

    data = tmp / "stops-data"
    env = {"AIOS_LLM_ENRICHMENT": "on"}
    ledger: dict[str, Acked] = {}
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    rng = random.Random(args.seed)
    for i in range(args.stops + 1):
        kernel = start_kernel(data, tmp, f"stops-{i}", env)
        stop = threading.Event()
        agents: list[Agent] = []
        try:
            checked = verify(kernel.target, list(ledger.values()))
            if i == args.stops:  # the last start only checks what the last stop left
                runs.append({"run": i, "verify": checked})
                break
            with Client(kernel.target, kernel.admin_token()) as admin:
                tokens = [admin.create_agent(f"stops-{i}-{j}").token for j in range(args.stop_agents)]
                agents = [Agent(j, kernel.target, tok, texts, args.seed * 1000 + i * 100 + j, stop, args.timeout)
                          for j, tok in enumerate(tokens)]  # fmt: skip
                for agent in agents:
                    agent.start()
                writer = agents[0].client
                batch = rng.sample(texts, STOP_NOTES)
                for note in writer.add_notes(batch):
                    agents[0].ledger.notes[note.id] = {note.content}
                deadline = time.monotonic() + 30
                while not admin.scheduler().running and time.monotonic() < deadline:
                    time.sleep(0.05)
                generating = bool(admin.scheduler().running)
                time.sleep(rng.uniform(0, 1.5))
            sigterm(kernel, agents)
        finally:
            stop.set()
            kernel.stop()
        for agent in agents:
            agent.join(args.timeout + 30)
            ledger[f"{i}-{agent.name}"] = agent.ledger
        problems += kernel.log_problems()[:5]
        runs.append({"run": i, "exit_code": kernel.exit_code, "stop_s": round(kernel.stop_s or 0, 2),
                     **stop_split(kernel), "model_generating_at_sigterm": generating, "verify_before": checked,
                     "syscalls_ok": sum(len(v) for a in agents for v in a.ms.values()),
                     "refused": dict(sum((Counter({c: n}) for a in agents for (_, c), n in a.refused.items()),
                                         Counter()))})  # fmt: skip
        console.log(f"stops: run {i + 1}/{args.stops}: exit {kernel.exit_code} after {kernel.stop_s:.1f} s (model "
                    f"generating: {generating}); {checked['lost']} acknowledged writes lost before it")  # fmt: skip
    stops = [r for r in runs if "exit_code" in r]
    lost = sum(r["verify"]["lost"] if "verify" in r else r["verify_before"]["lost"] for r in runs)
    return {
        "runs": stops,
        "final_verify": runs[-1].get("verify"),
        "exit_codes": Counter(str(r["exit_code"]) for r in stops),
        "nonzero_exits": sum(r["exit_code"] != 0 for r in stops),
        "stop_s_max": max((r["stop_s"] for r in stops), default=0.0),
        "stop_s_mean": round(sum(r["stop_s"] for r in stops) / len(stops), 2) if stops else 0.0,
        "kernel_stop_s_max": max((r["kernel_stop_s"] or 0.0 for r in stops), default=0.0),
        "exit_after_kernel_stop_s_max": round(
            max((r["stop_s"] - r["kernel_stop_s"] for r in stops if r["kernel_stop_s"] is not None), default=0.0), 2
        ),  # fmt: skip
        "acked_notes": sum(len(a.notes) for a in ledger.values()),
        "acked_files": sum(len(a.files) for a in ledger.values()),
        "lost": lost,
        "log_problems": problems[:20],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rich.console import Console

    console = Console(stderr=True)
    os.environ["HF_HUB_OFFLINE"] = "1"
    texts, texts_info = load_texts(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-load-"))
    load_start = os.getloadavg()
    try:
        load = run_load(args, texts, tmp, console) if args.duration > 0 else None
        stops = run_stops(args, texts, tmp, console) if args.stops > 0 else None
    finally:
        if args.keep:
            console.log(f"kept {tmp} (kernel data and logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    packages = {"grpcio": "grpcio", "llama_cpp_python": "llama-cpp-python", "chromadb": "chromadb"}
    return {
        "benchmark": "load: many agents, memory over time and clean stops",
        "goals": goals(load, stops),
        "load_phase": load,
        "stops_phase": stops,
        "settings": {
            "agents": args.agents,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "mix": MIX,
            "stops": args.stops,
            "stop_agents": args.stop_agents,
            "stop_notes": STOP_NOTES,
            "client_timeout_s": args.timeout,
            "files_per_agent": FILES_PER_AGENT,
            "seed": args.seed,
            "kernel_env": KERNEL_ENV,
            "chat_max_tokens": 8,
        },  # fmt: skip
        "texts": texts_info,
        "machine": machine_info(packages),
        "load": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
            "note": "os.getloadavg() (1, 5, 15 min) of the whole machine",
        },  # fmt: skip
        "git": git_state(),
        "command": command_line(),
    }
