"""The faces benchmark's measurements (bench/faces.py): one `aios serve` with its HTTP face, the same calls over gRPC
(the SDK `Client`) and over HTTP (the `openai` package; the `mcp` client for search) interleaved A/B, and 8 agents
(half over each face) chatting at once for a fixed time."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import git_state, loadavg, machine_info, percentile
from _servers import KernelProcess, free_port

KERNEL_ENV = {"AIOS_METRICS_PORT": "-1", "AIOS_LLM_ENRICHMENT": "0"}
PROMPT = "The capital of France is"
CHAT = [{"role": "user", "content": "Name one colour of the rainbow."}]
QUERY = "where did I leave the spare key?"
NOTES = [f"Note {i}: the spare key is under flowerpot {i}; the bike is in shed {i % 7}; lunch was soup {i % 5}."
         for i in range(60)]  # fmt: skip


class McpSession:
    """An MCP client session over streamable HTTP, owned by a task on a loop in a thread of its own (the session's
    cancel scopes must be entered and left by one task); `recall` is timed on that loop, without the thread hop."""

    def __init__(self, url: str, token: str) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(url, token),), daemon=True)
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"MCP session did not open: {self._error!r}")

    async def _main(self, url: str, token: str) -> None:
        import httpx2
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        self.loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            async with http, streamable_http_client(url, http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    self.session = session
                    self._ready.set()
                    await self._stop.wait()
        except BaseException as exc:  # reported by __init__ when it happens before the session opened
            self._error = exc
            self._ready.set()

    async def _recall(self, query: str, k: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        result = await self.session.call_tool("recall", {"query": query, "k": k})
        took = time.perf_counter() - t0
        if result.is_error or result.structured_content is None:
            raise RuntimeError(f"recall failed: {result.content}")
        return took, len(result.structured_content["hits"])

    def recall(self, query: str, k: int) -> tuple[float, int]:
        return asyncio.run_coroutine_threadsafe(self._recall(query, k), self.loop).result(120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _stats(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p90_ms": round(percentile(ms, 90), 2),
            "mean_ms": round(sum(ms) / len(ms), 2), "min_ms": round(min(ms), 2)}  # fmt: skip


def ab(grpc_call: Callable[[], float], http_call: Callable[[], float], n: int, warmup: int) -> dict[str, Any]:
    """`n` timed calls of each, alternating (gRPC then HTTP on even rounds, HTTP then gRPC on odd), after `warmup`
    untimed rounds; each call returns its own latency in seconds."""
    for _ in range(warmup):
        grpc_call(), http_call()
    grpc: list[float] = []
    http: list[float] = []
    for i in range(n):
        if i % 2 == 0:
            grpc.append(grpc_call())
            http.append(http_call())
        else:
            http.append(http_call())
            grpc.append(grpc_call())
    g, h = _stats(grpc), _stats(http)
    return {"grpc": g, "http": h, "ratio_p50": round(h["p50_ms"] / g["p50_ms"], 3),
            "ratio_p90": round(h["p90_ms"] / g["p90_ms"], 3)}  # fmt: skip


def overhead(kernel: KernelProcess, base: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    """The three A/B pairs for one agent: a 1-token completion, a search (gRPC Search vs the MCP `recall` tool on
    the HTTP face), and the model's description (no model work: gRPC ModelInfo vs GET /v1/models)."""
    import openai

    from aios.client import Client

    oa = openai.OpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=120)
    with Client(kernel.target, token, timeout=120) as client:
        client.add_notes(NOTES)
        model = oa.models.list().data[0].id
        grpc_text = client.complete(PROMPT, max_tokens=1, temperature=0).text
        http_text = oa.completions.create(model=model, prompt=PROMPT, max_tokens=1, temperature=0).choices[0].text
        completion = ab(lambda: _timed(lambda: client.complete(PROMPT, max_tokens=1, temperature=0)),
                        lambda: _timed(lambda: oa.completions.create(model=model, prompt=PROMPT, max_tokens=1,
                                                                     temperature=0)),
                        args.n, args.warmup_calls)  # fmt: skip
        completion["same_token"] = grpc_text == http_text
        mcp = McpSession(f"{base}/mcp/", token)
        try:
            grpc_hits = len(client.search(QUERY, k=5))
            http_hits = mcp.recall(QUERY, 5)[1]
            search = ab(lambda: _timed(lambda: client.search(QUERY, k=5)), lambda: mcp.recall(QUERY, 5)[0],
                        args.n, args.warmup_calls)  # fmt: skip
            search["hits"] = {"grpc": grpc_hits, "http": http_hits}
        finally:
            mcp.close()
        info = ab(lambda: _timed(client.model_info), lambda: _timed(oa.models.list), args.n, args.warmup_calls)
    oa.close()
    return {"model": model, "completion_1_token": completion, "search": search, "model_info": info}


def fairness(kernel: KernelProcess, base: str, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """One thread per agent, chat turns back to back; turns finished inside the measured window (after the warm-up)
    count. The first half of `tokens` chat over HTTP, the rest over gRPC."""
    import openai

    from aios.client import Client

    half = len(tokens) // 2
    t0 = [0.0]
    start = threading.Barrier(len(tokens) + 1, action=lambda: t0.__setitem__(0, time.perf_counter()))
    done: list[list[tuple[float, float, int]]] = [[] for _ in tokens]  # (finished at, latency, completion tokens)
    errors: list[str] = []
    sampling: dict[str, Any] = {"max_tokens": args.max_tokens, "temperature": 0}

    def agent(i: int) -> None:
        over_http = i < half
        try:
            if over_http:
                oa = openai.OpenAI(base_url=f"{base}/v1", api_key=tokens[i], max_retries=0, timeout=300)
                model = oa.models.list().data[0].id

                def turn() -> int:
                    reply = oa.chat.completions.create(model=model, messages=CHAT, **sampling)  # type: ignore[arg-type]
                    return reply.usage.completion_tokens if reply.usage else 0
            else:
                client = Client(kernel.target, tokens[i], timeout=300)

                def turn() -> int:
                    return client.chat(CHAT, **sampling).usage.completion_tokens

            turn()  # connections made before the clock starts
            start.wait()
            end = t0[0] + args.warmup + args.duration
            while (now := time.perf_counter()) < end:
                n = turn()
                done[i].append((time.perf_counter() - t0[0], time.perf_counter() - now, n))
            (oa if over_http else client).close()
        except Exception as exc:  # recorded: the run reports it rather than hanging
            errors.append(f"agent {i}: {exc!r}")
            start.abort()

    threads = [threading.Thread(target=agent, args=(i,), daemon=True) for i in range(len(tokens))]
    for t in threads:
        t.start()
    try:
        start.wait()  # every agent connected: the clock starts (the barrier's action)
    except threading.BrokenBarrierError:
        pass  # an agent failed; its error is in the result
    for t in threads:
        t.join(args.warmup + args.duration + 600)
    from aios.llm import jain_index

    lo, hi = args.warmup, args.warmup + args.duration
    agents = []
    for i, turns in enumerate(done):
        window = [(at, lat, n) for at, lat, n in turns if lo <= at <= hi]
        p50 = round(percentile([lat * 1000 for _, lat, _ in window], 50), 1) if window else None
        agents.append({"face": "http" if i < half else "grpc", "turns": len(window),
                       "turns_per_s": round(len(window) / args.duration, 4),
                       "tokens_per_s": round(sum(n for _, _, n in window) / args.duration, 3),
                       "p50_turn_ms": p50,
                       "turns_total": len(turns)})  # fmt: skip
    rates = [a["turns_per_s"] for a in agents]
    group = {face: round(sum(a["turns_per_s"] for a in agents if a["face"] == face) / half, 4)
             for face in ("http", "grpc")}  # fmt: skip
    return {"agents": agents, "jain": round(jain_index(rates), 4),
            "jain_tokens": round(jain_index([a["tokens_per_s"] for a in agents]), 4), "group_mean_turns_per_s": group,
            "http_over_grpc": round(group["http"] / group["grpc"], 3) if group["grpc"] else None,
            "errors": errors}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from aios.client import Client

    load_start = loadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aios-faces-") as tmp_name:
        tmp = Path(tmp_name)
        http_port = free_port()
        kernel = KernelProcess(tmp / "data", tmp, KERNEL_ENV | {"AIOS_HTTP_PORT": str(http_port)})
        kernel.start()
        try:
            kernel.wait_ready()
            base = f"http://127.0.0.1:{http_port}"
            kernel.wait_until(lambda: _answers(httpx, f"{base}/health"), 60)
            with Client(kernel.target, kernel.admin_token()) as admin:
                tokens = [admin.create_agent(f"faces-{i}").token for i in range(args.agents + 1)]
            over = overhead(kernel, base, tokens[-1], args)
            fair = fairness(kernel, base, tokens[: args.agents], args)
            problems = kernel.log_problems()
        finally:
            kernel.stop()
    goals = {
        "jain_turns_per_s": {"goal": args.goal_jain, "measured": fair["jain"],
                             "met": fair["jain"] >= args.goal_jain and not fair["errors"]},
        "completion_http_over_grpc": {"goal": args.goal_ratio, "measured": over["completion_1_token"]["ratio_p50"],
                                      "met": over["completion_1_token"]["ratio_p50"] <= args.goal_ratio},
        "search_http_over_grpc": {"goal": args.goal_ratio, "measured": over["search"]["ratio_p50"],
                                  "met": over["search"]["ratio_p50"] <= args.goal_ratio},
    }  # fmt: skip
    packages = {"grpcio": "grpcio", "openai": "openai", "mcp": "mcp", "uvicorn": "uvicorn",
                "llama_cpp_python": "llama-cpp-python"}  # fmt: skip
    return {
        "benchmark": "faces",
        "settings": {
            "agents": args.agents,
            "n": args.n,
            "warmup_calls": args.warmup_calls,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "max_tokens": args.max_tokens,
            "prompt": PROMPT,
            "chat": CHAT,
            "query": QUERY,
            "notes": len(NOTES),
            "kernel_env": KERNEL_ENV,
        },  # fmt: skip
        "goals": goals,
        "overhead": over,
        "fairness": fair,
        "kernel_log_problems": problems,
        "wall_s": round(time.perf_counter() - started, 1),
        "load": {"start": load_start, "end": loadavg()},
        "machine": machine_info(packages),
        "git": git_state(),
    }


def _answers(httpx: Any, url: str) -> bool:
    try:
        return bool(httpx.get(url, timeout=2).status_code == 200)
    except httpx.HTTPError:
        return False
