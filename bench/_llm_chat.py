"""LLM benchmark, one chat turn on each side (streamed, timed at the client), a concurrent chat workload of many
agents, and its summary: throughput, TTFT, turnaround, fairness, tokens (bench/llm_multiagent.py)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import Meter, percentile
from _llm_workload import SAMPLING, SYSTEM, user_turn

# -- one turn on each side --------------------------------------------------------------------------


@dataclass
class Turn:
    agent: int
    turn: int
    start: float  # perf_counter at send
    ttft_s: float  # to the first non-empty text delta, at the client (the whole turn if there is none)
    total_s: float
    text: str
    finish_reason: str
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    server: dict[str, float] = field(default_factory=dict)  # the kernel's own timing
    messages: list[dict[str, str]] = field(default_factory=list, repr=False)  # the prompt, set by run_chat

    @property
    def end(self) -> float:
        return self.start + self.total_s


TurnFn = Callable[[int, int, list[dict[str, str]], int], Turn]  # (agent, turn, messages, max_tokens) -> Turn


def kernel_turn(client: Any, session: str = "", stop: threading.Event | None = None) -> TurnFn:
    def run(agent: int, turn: int, messages: list[dict[str, str]], max_tokens: int) -> Turn:
        t0 = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        last = None
        stream = client.chat_stream(messages, session=session, max_tokens=max_tokens, **SAMPLING)
        try:
            for chunk in stream:
                if chunk.delta:
                    first = first or time.perf_counter()
                    parts.append(chunk.delta)
                if chunk.finish_reason:
                    last = chunk
                if stop is not None and stop.is_set():
                    break
        finally:
            stream.close()  # a broken-off stream cancels the RPC, and the kernel drops the request
        t1 = time.perf_counter()
        out = Turn(agent, turn, t0, (first or t1) - t0, t1 - t0, "".join(parts), last.finish_reason if last else "")
        if last is not None and last.usage is not None and last.timing is not None:
            out.completion_tokens = last.usage.completion_tokens
            out.prompt_tokens = last.usage.prompt_tokens
            out.cached_tokens = last.usage.cached_tokens
            out.server = {"queue_s": last.timing.queue_s, "ttft_s": last.timing.ttft_s,
                          "total_s": last.timing.total_s, "preemptions": last.timing.preemptions,
                          "context_switches": last.timing.context_switches}  # fmt: skip
        return out

    return run


def llama_server_turn(http: Any) -> TurnFn:
    def run(agent: int, turn: int, messages: list[dict[str, str]], max_tokens: int) -> Turn:
        body = {"messages": messages, "max_tokens": max_tokens, "stream": True, **SAMPLING}
        t0 = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish = ""
        with http.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue  # blank separators and ": ping" comments
                data = line[len("data: ") :]
                if data == "[DONE]":
                    break
                choice = json.loads(data)["choices"][0]
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    first = first or time.perf_counter()
                    parts.append(delta)
                finish = choice.get("finish_reason") or finish
        t1 = time.perf_counter()
        return Turn(agent, turn, t0, (first or t1) - t0, t1 - t0, "".join(parts), finish)

    return run


# -- a concurrent chat workload ---------------------------------------------------------------------


@dataclass
class ChatRun:
    start: float
    turns: list[Turn]
    errors: list[str]
    n_agents: int
    turns_per_agent: int


def run_chat(
    fns: Sequence[TurnFn], turns: int, max_tokens: int, progress: Any, label: str, first_topic: int = 0,
    on_start: Callable[[], None] | None = None,
) -> ChatRun:  # fmt: skip
    """Each agent (a thread) has a `turns`-turn conversation; all start together."""
    task = progress.add_task(label, total=len(fns) * turns)
    barrier = threading.Barrier(len(fns) + 1)
    done: list[Turn] = []
    errors: list[str] = []
    lock = threading.Lock()

    def agent(i: int) -> None:
        messages = [{"role": "system", "content": SYSTEM}]
        barrier.wait()
        for t in range(turns):
            messages.append({"role": "user", "content": user_turn(first_topic + i, t)})
            try:
                result = fns[i](i, t, messages, max_tokens)
                result.messages = list(messages)
            except Exception as exc:  # recorded; this agent stops
                with lock:
                    errors.append(f"agent {i} turn {t}: {type(exc).__name__}: {exc}"[:500])
                return
            messages.append({"role": "assistant", "content": result.text})
            with lock:
                done.append(result)
            progress.advance(task)

    threads = [threading.Thread(target=agent, args=(i,), daemon=True) for i in range(len(fns))]
    for th in threads:
        th.start()
    if on_start:
        on_start()
    barrier.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    return ChatRun(start, sorted(done, key=lambda x: (x.agent, x.turn)), errors, len(fns), turns)


def dist(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None, "max": None}
    return {"p50": round(percentile(values, 50), 4), "p95": round(percentile(values, 95), 4),
            "mean": round(sum(values) / len(values), 4), "max": round(max(values), 4)}  # fmt: skip


def summarize(run: ChatRun) -> dict[str, Any]:
    from aios.llm import jain_index

    turns = run.turns
    end = max((t.end for t in turns), default=run.start)
    wall = max(end - run.start, 1e-9)
    per_agent = []
    for a in range(run.n_agents):
        mine = [t for t in turns if t.agent == a]
        a_end = max((t.end for t in mine), default=run.start)
        span = max(a_end - run.start, 1e-9)
        tokens = sum(t.completion_tokens or 0 for t in mine)
        per_agent.append({
            "agent": a, "turns": len(mine), "elapsed_s": round(span, 3),
            "turns_per_s": round(len(mine) / span, 5), "completion_tokens": tokens,
            "ttft_mean_s": round(sum(t.ttft_s for t in mine) / len(mine), 4) if mine else None,
        })  # fmt: skip
    out: dict[str, Any] = {
        "agents": run.n_agents,
        "turns_per_agent": run.turns_per_agent,
        "completed_turns": len(turns),
        "wall_s": round(wall, 3),
        "turns_per_s": round(len(turns) / wall, 4),
        "ttft_s": dist([t.ttft_s for t in turns]),
        "turnaround_s": dist([t.total_s for t in turns]),
        "jain_fairness": round(jain_index([a["turns_per_s"] for a in per_agent]), 4),
        "per_agent": per_agent,
        "finish_reasons": dict(Counter(t.finish_reason or "?" for t in turns)),
        "reply_chars_mean": round(sum(len(t.text) for t in turns) / max(1, len(turns)), 1),
        "errors": run.errors,
    }
    if turns and all(t.completion_tokens is not None for t in turns):
        prompt = sum(t.prompt_tokens or 0 for t in turns)
        cached = sum(t.cached_tokens or 0 for t in turns)
        completion = sum(t.completion_tokens or 0 for t in turns)
        out |= {
            "prompt_tokens": prompt,
            "cached_tokens": cached,
            "prefilled_tokens": prompt - cached,
            "completion_tokens": completion,
            "completion_tokens_per_s": round(completion / wall, 3),
            "jain_fairness_tokens": round(
                jain_index([a["completion_tokens"] / a["elapsed_s"] for a in per_agent if a["elapsed_s"]]), 4
            ),
            "server_ttft_s": dist([t.server["ttft_s"] for t in turns if t.server]),
            "server_queue_s": dist([t.server["queue_s"] for t in turns if t.server]),
            "preemptions": sum(int(t.server.get("preemptions", 0)) for t in turns),
            "context_switches": sum(int(t.server.get("context_switches", 0)) for t in turns),
        }
    return out


def count_tokens_post_hoc(admin: Any, summary: dict[str, Any], run: ChatRun) -> None:
    """The baseline's streamed chunks carry no token counts: count its prompts (rendered with the chat
    template, as the server does) and replies with the same tokenizer (the kernel's, idle by then)."""
    counts = [admin.count_tokens(t.text) if t.text else 0 for t in run.turns]
    prompts = [admin.count_tokens(messages=t.messages) for t in run.turns]
    for t, n in zip(run.turns, counts, strict=True):
        t.completion_tokens = n
    wall = summary["wall_s"]
    summary["prompt_tokens"] = sum(prompts)
    summary["completion_tokens"] = sum(counts)
    summary["completion_tokens_per_s"] = round(sum(counts) / wall, 3)
    summary["token_counts_note"] = (
        "counted after the run with the same tokenizer (the reply texts, without the end token); the server "
        "reuses only the KV prefix its previous request shares with a prompt and prefills the rest"
    )


def meter_figures(m: Meter) -> dict[str, Any]:
    """A Meter's figures, the process measured being a server (the kernel or llama_cpp.server)."""
    d = m.as_dict()
    return {"wall_s": d["wall_s"], "server_cpu_s": d["kernel_cpu_s"], "bench_cpu_s": d["bench_cpu_s"],
            "others_cpu_s": d["others_cpu_s"], "others_cores_avg": d["others_cores_avg"]}  # fmt: skip
