"""LLM benchmark, the kernel's own view of a run (scheduler, model and KV counters, its slices per agent) and the
skewed load: one agent flooding the model while light agents chat (bench/llm_multiagent.py)."""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from _common import Meter
from _llm_chat import Turn, dist, kernel_turn, meter_figures, run_chat, summarize
from _llm_workload import SYSTEM, flood_prompt

# -- the kernel's own view of a run -----------------------------------------------------------------


class KernelProbe:
    """Scheduler, model and KV counters of the kernel around a run (deltas), and its slices for the agents."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.before: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        info = self.admin.model_info()
        return {"context_switches": info.context_switches, **{f"kv_{k}": v for k, v in info.kv.items()}}

    def start(self) -> None:
        self.before = self.snapshot()

    def finish(self, agent_ids: dict[str, str], wall_s: float) -> dict[str, Any]:
        after = self.snapshot()
        levels = ("kv_ram", "kv_disk", "kv_sessions", "kv_resident", "kv_kv_cells", "kv_max_batch")  # not counters
        delta = {
            k: round(after[k] - self.before.get(k, 0), 4)
            for k in after
            if isinstance(after[k], int | float) and not k.startswith(levels)
        }
        state = self.admin.scheduler()
        events = [e for e in self.admin.scheduler_events(wall_s + 5.0) if e.agent_id in agent_ids]
        by_role: dict[str, dict[str, float]] = {}
        for e in events:
            role = agent_ids[e.agent_id]
            r = by_role.setdefault(role, {"slices": 0, "busy_s": 0.0, "generated": 0, "prefilled": 0, "switched": 0})
            r["slices"] += 1
            r["busy_s"] = round(r["busy_s"] + e.end_s - e.start_s, 4)
            r["generated"] += e.generated
            r["prefilled"] += e.prefilled
            r["switched"] += int(e.switched)
        busy = sum(r["busy_s"] for r in by_role.values())
        span = (max(e.end_s for e in events) - min(e.start_s for e in events)) if events else 0.0
        return {
            "counters": delta,
            "levels": {k: v for k, v in after.items() if k.startswith(levels)},
            "scheduler_jain_fairness_60s": round(state.jain_fairness, 4),
            "slices": by_role,
            "model_busy_s": round(busy, 3),
            "model_busy_share_of_span": round(busy / span, 4) if span else None,
            "slice_ms": dist([(e.end_s - e.start_s) * 1000 for e in events]),
        } | self._after_light(events, agent_ids)

    @staticmethod
    def _after_light(events: list[Any], agent_ids: dict[str, str]) -> dict[str, Any]:
        """Skewed runs: the flood's slices that began after the light agents' last one ended (the flood is
        cancelled then, so these are work the kernel did for requests whose callers were going away)."""
        light_end = max((e.end_s for e in events if agent_ids[e.agent_id].startswith("light")), default=None)
        if light_end is None or "flood" not in agent_ids.values():
            return {}
        late = [e for e in events if agent_ids[e.agent_id] == "flood" and e.start_s >= light_end]
        return {"flood_slices_after_light_done": len(late),
                "flood_busy_s_after_light_done": round(sum(e.end_s - e.start_s for e in late), 3)}  # fmt: skip


# -- the skewed load --------------------------------------------------------------------------------


def run_skew(
    target: str, admin: Any, policy: str, quantum: int, args: argparse.Namespace, progress: Any, kernel_pid: int | None,
) -> tuple[dict[str, Any], float]:  # fmt: skip
    from aios.client import Client

    admin.set_policy(policy, quantum)
    flood_agent = admin.create_agent(f"skew-{policy}-flood")
    flood = Client(target, flood_agent.token, timeout=600)
    light_agents = [admin.create_agent(f"skew-{policy}-light{i}") for i in range(args.light_agents)]
    lights = [Client(target, a.token, timeout=600) for a in light_agents]
    roles = {flood_agent.agent.id: "flood"} | {a.agent.id: f"light{i}" for i, a in enumerate(light_agents)}
    stop = threading.Event()
    flood_turns: list[Turn] = []
    flood_errors: list[str] = []
    flood_cancelled: list[int] = []
    lock = threading.Lock()

    def flood_worker(w: int) -> None:
        turn_fn = kernel_turn(flood, session=f"flood-{w}", stop=stop)
        n = 0
        while not stop.is_set():
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": flood_prompt(w, n)}]
            try:
                result = turn_fn(w, n, messages, args.flood_max_tokens)
            except Exception as exc:
                with lock:
                    if stop.is_set():  # its channel was closed: the request was cancelled
                        flood_cancelled.append(w)
                    else:
                        flood_errors.append(f"flood {w}: {type(exc).__name__}: {exc}"[:300])
                return
            with lock:
                flood_turns.append(result)
            n += 1

    def wait_for_flood() -> None:
        """Start the light agents once the flood's requests are all with the scheduler."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = admin.scheduler()
            queued = sum(1 for w in [*s.waiting, *s.running] if w.agent_id == flood_agent.agent.id)
            if queued >= args.flood:
                return
            time.sleep(0.05)

    probe = KernelProbe(admin)
    probe.start()
    meter = Meter(kernel_pid)
    flooders = [threading.Thread(target=flood_worker, args=(w,), daemon=True) for w in range(args.flood)]
    t_flood = time.perf_counter()
    with meter():
        for th in flooders:
            th.start()
        run = run_chat([kernel_turn(c) for c in lights], args.turns, args.max_tokens, progress,
                       f"skew, {policy}: light agents", first_topic=5, on_start=wait_for_flood)  # fmt: skip
        stop.set()
        t_stop = time.perf_counter()
        # Cancel the flood's requests in flight or queued: closing its channel cancels every RPC on it (a
        # worker blocked on a queued request would otherwise only notice `stop` at its first token).
        flood.close()
        for th in flooders:
            th.join(120)
        drain_s = time.perf_counter() - t_stop
        # The flood's requests are cancelled when their streams close; the model should be idle at once.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = admin.scheduler()
            if not s.waiting and not s.running:
                break
            time.sleep(0.05)
        idle_s = time.perf_counter() - t_stop
    span = time.perf_counter() - t_flood
    light = summarize(run)
    window_end = max((t.end for t in run.turns), default=run.start)
    during = [t for t in flood_turns if t.end <= window_end]
    result = {
        "policy": policy,
        "quantum": quantum if policy != "fifo" else None,
        "light": light,
        "flood": {
            "workers": args.flood,
            "max_tokens": args.flood_max_tokens,
            "requests_finished_while_light_agents_ran": len(during),
            "requests_cancelled_at_the_end": len(flood_cancelled) + sum(1 for t in flood_turns if t.end > window_end),
            "ttft_s": dist([t.ttft_s for t in during]),
            "errors": flood_errors,
        },
        "flood_started_before_light_s": round(run.start - t_flood, 3),
        "flood_stop_join_s": round(drain_s, 3),
        "model_idle_after_stop_s": round(idle_s, 3),
        "cpu": meter_figures(meter),
        "kernel": probe.finish(roles, span),
    }
    for c in lights:
        c.close()
    return result, t_flood
