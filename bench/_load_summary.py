"""Load benchmark, the figures of a phase: per-operation latency and refusals, health checks, RSS growth, and the
goals met or not (bench/load.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from _common import percentile
from _load_agents import ALLOWED_REFUSALS, MIX, Agent

GOAL_HEALTH_MAX_MS = 1000.0
GOAL_RSS_GROWTH_PCT = 10.0
RSS_WINDOW_S = 10.0  # RSS growth: the mean of the last window against the mean of the first after warm-up


def ops_summary(agents: list[Agent], elapsed: float) -> dict[str, Any]:
    out = {}
    for kind in MIX:
        ms = [x for a in agents for x in a.ms.get(kind, [])]
        refused = Counter({c: n for a in agents for (k, c), n in a.refused.items() if k == kind})
        out[kind] = {"ok": len(ms), "per_s": round(len(ms) / elapsed, 2),
                     "p50_ms": round(percentile(ms, 50), 1) if ms else None,
                     "p95_ms": round(percentile(ms, 95), 1) if ms else None,
                     "refused": dict(refused)}  # fmt: skip
    return out


def refusal_summary(agents: list[Agent]) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    for agent in agents:
        for (_, code), n in agent.refused.items():
            codes[code] += n
    bad = {c: n for c, n in codes.items() if c not in ALLOWED_REFUSALS}
    return {"by_status": dict(codes), "unexpected": bad, "examples": [e for a in agents for e in a.examples][:10]}


def health_summary(health: list[tuple[float, float, str]]) -> dict[str, Any]:
    ms = [m for _, m, _ in health]
    failed = [h for h in health if h[2] != "SERVING"]
    return {"polls": len(ms), "max_ms": max(ms, default=0.0), "p50_ms": round(percentile(ms, 50), 2) if ms else None,
            "p99_ms": round(percentile(ms, 99), 2) if ms else None, "not_serving": len(failed),
            "not_serving_examples": failed[:5]}  # fmt: skip


def rss_summary(samples: list[tuple[float, float, int]], warmup_s: float) -> dict[str, Any]:
    after = [s for s in samples if s[0] >= warmup_s] or samples
    first = [mb for t, mb, _ in after if t < after[0][0] + RSS_WINDOW_S]
    last = [mb for t, mb, _ in after if t > after[-1][0] - RSS_WINDOW_S]
    start, end = sum(first) / len(first), sum(last) / len(last)
    curve = [s for i, s in enumerate(samples) if i % 5 == 0 or i == len(samples) - 1]
    return {
        "warmup_s": warmup_s,
        "start_mb": round(start, 1), "end_mb": round(end, 1), "max_mb": max(mb for _, mb, _ in samples),
        "at_launch_mb": samples[0][1], "growth_pct": round((end - start) / start * 100, 2),
        "threads_start": after[0][2], "threads_end": after[-1][2],
        "window_s": RSS_WINDOW_S,
        "curve": [[t, mb] for t, mb, _ in curve],
    }  # fmt: skip


def goals(load: dict[str, Any] | None, stops: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if load is not None:
        out["refusals_only_backpressure"] = {"allowed": list(ALLOWED_REFUSALS),
                                             "met": not load["refusals"]["unexpected"]}  # fmt: skip
        out["health_max_ms"] = {"max": GOAL_HEALTH_MAX_MS, "met": load["health"]["max_ms"] < GOAL_HEALTH_MAX_MS
                                and not load["health"]["not_serving"]}  # fmt: skip
        out["rss_growth_pct"] = {"max": GOAL_RSS_GROWTH_PCT, "met": load["rss"]["growth_pct"] < GOAL_RSS_GROWTH_PCT}
        out["stop_under_load_exit_0"] = {"met": load["stop_under_load"]["exit_code"] == 0}
        out["acked_writes_kept_after_load"] = {"met": load["verify"]["lost"] == 0}
    if stops is not None:
        out["stops_exit_0"] = {"met": stops["nonzero_exits"] == 0 and bool(stops["runs"])}
        out["acked_writes_kept_over_stops"] = {"met": stops["lost"] == 0}
    return out
