"""LLM benchmark, one run: both servers, the kernel against llama_cpp.server, the policies, the skewed load and
its timeline, what batching gives on this machine, and the JSON result (bench/llm_multiagent.py)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Meter, command_line, display_path, git_state, loadavg, machine_info, progress_bar
from _llm_chat import count_tokens_post_hoc, kernel_turn, llama_server_turn, meter_figures, run_chat, summarize
from _llm_probe import KernelProbe, run_skew
from _llm_workload import (
    LLAMA_SERVER_FLAGS,
    N_BATCH,
    N_CTX,
    N_THREADS,
    SAMPLING,
    SERVER_ENV,
    SYSTEM,
    start_kernel,
    start_llama_server,
    user_turn,
)

GOAL_RATIO = 5.0  # kernel completed turns/s over llama_cpp.server's, at least
GOAL_JAIN = 0.95  # Jain's index over the agents' completed turns/s on the kernel, at least


def llm_machine_info() -> dict[str, Any]:
    packages = {"llama_cpp_python": "llama-cpp-python", "aios": "aios", "grpcio": "grpcio", "httpx": "httpx"}
    return machine_info(packages)


BATCH_WIDTHS = (1, 2, 4, 8)
BATCH_SCRIPT = """
import json, sys, time
from aios.llm.kvcache import KVStore
from aios.llm.local import LlamaCppBackend, default_model_path
from aios.llm.types import SamplingParams

widths, steps, rounds = json.loads(sys.argv[1])
backend = LlamaCppBackend(default_model_path(), 4096, 1, KVStore(1 << 30, None, 0), n_seq=max(widths))
prompts = [backend.tokenize(f"<|im_start|>user\\nTell me about the number {i}.<|im_end|>\\n<|im_start|>assistant\\n")
           for i in range(max(widths))]
out = {str(w): [] for w in widths}
for r in range(rounds):
    for w in widths:
        keys = [f"a{i}/r{r}w{w}" for i in range(w)]
        for key, prompt in zip(keys, prompts):
            backend.prepare(key, prompt, pinned=keys)
        samplers = {key: backend.new_sampler(SamplingParams(temperature=0.0)) for key in keys}
        tokens = {key: prompt[-1] for key, prompt in zip(keys, prompts)}
        started = time.perf_counter()
        for _ in range(steps):
            backend.feed(tokens)
            tokens = {key: backend.sample(key, samplers[key]) for key in keys}
        out[str(w)].append(w * steps / (time.perf_counter() - started))
        for key in keys:
            backend.evict(key, save=False)
prompt = backend.tokenize("The quick brown fox jumps over the lazy dog. " * 30)[:201]
out["prefill"] = []
for r in range(rounds):
    started = time.perf_counter()
    backend.prepare(f"p/{r}", prompt)  # 200 tokens in one pass
    out["prefill"].append(200 / (time.perf_counter() - started))
    backend.evict(f"p/{r}", save=False)
print(json.dumps(out))
"""


def batch_scaling(steps: int = 32, rounds: int = 3) -> dict[str, Any]:
    """Decode tokens/s of the kernel's backend when one forward pass feeds 1, 2, 4, 8 sessions (greedy, one
    thread), in a fresh process, rounds interleaving the widths: what batching can give on this machine."""
    load = loadavg()
    done = subprocess.run([sys.executable, "-c", BATCH_SCRIPT, json.dumps([BATCH_WIDTHS, steps, rounds])],
                          capture_output=True, text=True, check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                          cwd=ROOT)  # fmt: skip
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    prefill = rates.pop("prefill")
    median = {w: sorted(r)[len(r) // 2] for w, r in rates.items()}
    return {"tokens_per_s": {w: round(v, 1) for w, v in median.items()},
            "rounds": {w: [round(x, 1) for x in r] for w, r in rates.items()},
            "speedup_vs_1": {w: round(v / median["1"], 2) for w, v in median.items()},
            "prefill_tokens_per_s": round(sorted(prefill)[len(prefill) // 2], 1),
            "steps": steps, "load": {"before": load, "after": loadavg()}}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from rich.console import Console

    from aios.client import Client
    from aios.llm.local import default_model_path
    from aios.shell import write_timeline

    console = Console(stderr=True)
    os.environ.update(SERVER_ENV)
    load: dict[str, list[float]] = {"before": loadavg()}
    model = default_model_path()
    tmp = Path(tempfile.mkdtemp(prefix="aios-llm-bench-"))
    kernel = start_kernel(tmp, args.quantum)
    server, base_url = start_llama_server(tmp, model)
    clients: list[Any] = []
    try:
        with console.status("starting the kernel and llama_cpp.server"):

            def server_ready() -> bool:
                try:
                    return httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            kernel_ready_s = kernel.wait_ready(300)
            server_ready_s = server.wait_until(server_ready, 300)
        target = kernel.target
        console.log(f"kernel ready on {target} after {kernel_ready_s:.1f} s (pid {kernel.pid}); "
                    f"llama_cpp.server on {base_url} after {server_ready_s:.1f} s (pid {server.pid})")  # fmt: skip
        admin = Client(target, kernel.admin_token(), timeout=600)
        clients.append(admin)
        info = admin.model_info()
        machine = llm_machine_info()

        def agents(prefix: str, n: int) -> tuple[list[Any], dict[str, str]]:
            creds = [admin.create_agent(f"{prefix}-{i}") for i in range(n)]
            made = [Client(target, c.token, timeout=600) for c in creds]
            clients.extend(made)
            return made, {c.agent.id: f"agent{i}" for i, c in enumerate(creds)}

        def http_clients(n: int) -> list[Any]:
            made = [httpx.Client(base_url=base_url, timeout=600) for _ in range(n)]
            clients.extend(made)
            return made

        # Uncounted warm-up on each side (first eval, allocations), and a check that both render the same
        # prompt: the non-streamed baseline reply reports its prompt tokens.
        warm_msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_turn(0, 0)}]
        (warm,), _ = agents("warmup", 1)
        ours_warm = warm.chat(warm_msgs, max_tokens=args.max_tokens, **SAMPLING)
        theirs_warm = httpx.post(f"{base_url}/v1/chat/completions", timeout=600, json={
            "messages": warm_msgs, "max_tokens": args.max_tokens, **SAMPLING}).json()  # fmt: skip
        prompt_check = {
            "kernel_prompt_tokens": ours_warm.usage.prompt_tokens,
            "llama_cpp_server_prompt_tokens": theirs_warm["usage"]["prompt_tokens"],
            "same_reply": ours_warm.text.strip() == theirs_warm["choices"][0]["message"]["content"].strip(),
        }
        turn_tokens = [admin.count_tokens(user_turn(a, t)) for a in range(args.agents) for t in range(args.turns)]
        system_tokens = admin.count_tokens(SYSTEM)

        result: dict[str, Any] = {}
        with progress_bar(console, 34, remaining=False) as progress:
            # 1. the kernel against llama_cpp.server, one after the other (never at once).
            admin.set_policy(args.main_policy, args.quantum)
            ours_clients, ours_ids = agents("main", args.agents)
            probe = KernelProbe(admin)
            probe.start()
            meter = Meter(kernel.pid)
            with meter():
                ours_run = run_chat([kernel_turn(c) for c in ours_clients], args.turns, args.max_tokens, progress,
                                    f"chat: aios kernel ({args.main_policy})")  # fmt: skip
            ours = summarize(ours_run) | {"cpu": meter_figures(meter), "kernel": probe.finish(ours_ids, meter.wall_s)}
            load["after_ours"] = loadavg()

            meter = Meter(server.pid)
            with meter():
                theirs_run = run_chat([llama_server_turn(h) for h in http_clients(args.agents)], args.turns,
                                      args.max_tokens, progress, "chat: llama_cpp.server")  # fmt: skip
            theirs = summarize(theirs_run) | {"cpu": meter_figures(meter)}
            count_tokens_post_hoc(admin, theirs, theirs_run)
            load["after_theirs"] = loadavg()
            pairs = {(t.agent, t.turn): t.text for t in theirs_run.turns}
            same = sum(1 for t in ours_run.turns if pairs.get((t.agent, t.turn)) == t.text)
            first_same = sum(1 for t in ours_run.turns if t.turn == 0 and pairs.get((t.agent, 0)) == t.text)

            # 2. policies on the kernel.
            policies: dict[str, Any] = {}
            for policy in args.policies:
                admin.set_policy(policy, args.quantum)
                cl, ids = agents(f"policy-{policy}", args.agents)
                probe = KernelProbe(admin)
                probe.start()
                meter = Meter(kernel.pid)
                with meter():
                    pr = run_chat([kernel_turn(c) for c in cl], args.turns, args.max_tokens, progress,
                                  f"policy: {policy}")  # fmt: skip
                policies[policy] = summarize(pr) | {
                    "quantum": args.quantum if policy != "fifo" else None,
                    "cpu": meter_figures(meter),
                    "kernel": probe.finish(ids, meter.wall_s),
                }
            load["after_policies"] = loadavg()

            # 3. skewed load: fifo, then fair (its timeline is written right after it).
            skew: dict[str, Any] = {}
            timeline = None
            for policy in args.skew_policies:
                skew[policy], started = run_skew(target, admin, policy, args.quantum, args, progress, kernel.pid)
                if policy == "fair" and args.timeline:
                    # Slices that ended since this run's flood began (the previous run had drained by then).
                    last_s = time.perf_counter() - started
                    args.timeline.parent.mkdir(parents=True, exist_ok=True)
                    slices = write_timeline(admin, args.timeline, last_s)
                    timeline = {"path": display_path(args.timeline), "last_s": round(last_s, 2), "slices": slices}
            load["after_skew"] = loadavg()

        model_after = admin.model_info()
        result = {
            "ours": ours,
            "theirs": theirs,
            "identical_replies": {
                "all_turns": same,
                "first_turns": first_same,
                "turns": len(ours_run.turns),
                "first_turns_total": args.agents,
            },
            "policies": policies,
            "skew": skew,
            "timeline": timeline,
            "model": {
                "name": info.model,
                "file": model.name,
                "path": display_path(Path(info.path)),
                "file_mb": round(model.stat().st_size / 1e6, 1),
                "n_ctx": info.n_ctx,
                "kv_after_run": dict(model_after.kv),
            },
            "prompt_check": prompt_check,
            "workload": {
                "system_prompt_tokens": system_tokens,
                "user_turn_tokens": {
                    "min": min(turn_tokens),
                    "max": max(turn_tokens),
                    "mean": round(sum(turn_tokens) / len(turn_tokens), 1),
                },
            },
        }
    finally:
        for c in clients:
            try:
                c.close()
            except Exception:
                pass
        with console.status("stopping the servers (SIGTERM)"):
            kernel.stop()
            server.stop()
        problems = {"kernel": kernel.log_problems(), "llama_cpp_server": server.log_problems()}
        if args.keep:
            console.log(f"kept {tmp} (kernel data and both servers' logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = loadavg()

    ours, theirs = result["ours"], result["theirs"]
    ratio = ours["turns_per_s"] / theirs["turns_per_s"] if theirs["turns_per_s"] else float("inf")
    return {
        "benchmark": "llm: multi-agent chat",
        "quick": args.quick,
        "turns_per_s_ratio_vs_llama_cpp_server": round(ratio, 3),
        "jain_fairness": ours["jain_fairness"],
        "ttft_p95_s": ours["ttft_s"]["p95"],
        "ttft_p50_s": ours["ttft_s"]["p50"],
        "goals": {
            "turns_per_s_ratio_vs_llama_cpp_server": {"min": GOAL_RATIO, "met": ratio >= GOAL_RATIO},
            "jain_fairness": {"min": GOAL_JAIN, "met": ours["jain_fairness"] >= GOAL_JAIN},
        },
        "config": {
            "agents": args.agents,
            "turns": args.turns,
            "max_tokens": args.max_tokens,
            "main_policy": args.main_policy,
            "quantum": args.quantum,
            "policies": args.policies,
            "skew_policies": args.skew_policies,
            "light_agents": args.light_agents,
            "flood_workers": args.flood,
            "flood_max_tokens": args.flood_max_tokens,
            "n_ctx": N_CTX,
            "n_threads": N_THREADS,
            "n_batch": N_BATCH,
            "sampling": SAMPLING,
            "server_env": SERVER_ENV,
            "llama_cpp_server_flags": LLAMA_SERVER_FLAGS,
        },
        **{k: v for k, v in result.items() if k not in ("ours", "theirs")},
        "ours": ours,
        "theirs": theirs,
        "machine": machine,
        "load": {**load, "note": "os.getloadavg() (1, 5, 15 min); cpu.others_cpu_s: CPU of other processes meanwhile"},
        "servers": {
            "kernel_ready_s": round(kernel_ready_s, 2),
            "llama_cpp_server_ready_s": round(server_ready_s, 2),
            "kernel_exit_code": kernel.exit_code,
            "llama_cpp_server_exit_code": server.exit_code,
            "log_problems": problems,
        },
        "git": git_state(),
        "command": command_line(),
    }
