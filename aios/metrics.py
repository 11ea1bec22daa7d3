"""A Prometheus text-format endpoint (`GET /metrics`) on its own small HTTP server thread.

The figures are kernel-wide and labelled by agent id, so only the admin may read them: a scrape sends
`Authorization: Bearer <admin token>` (Prometheus: `authorization: {credentials_file: <data-dir>/admin.token}`);
anything else gets 401.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aios.lifecycle import WorkerHealth
    from aios.llm import LLMService
    from memory import MemoryService
    from syscalls import ResourceQueue, SyscallTable

__all__ = ["MetricsServer", "collect", "render"]

log = logging.getLogger("aios.metrics")

Sample = tuple[str, dict[str, str], float]


def render(samples: list[tuple[str, str, str, list[Sample]]]) -> str:
    """(name, type, help, samples) families to Prometheus text exposition format."""
    lines = []
    for name, kind, help_text, rows in samples:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for metric, labels, value in rows:
            label = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(f"{metric}{{{label}}} {value:g}" if label else f"{metric} {value:g}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    def __init__(self, host: str, port: int, collect: Callable[[], str], authorize: Callable[[str], bool]) -> None:
        """`authorize(token)` says whether a request's bearer token may read the metrics (False, not an error,
        for a token the kernel does not know)."""
        collect_ = collect

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                try:
                    allowed = scheme.lower() == "bearer" and authorize(token.strip())
                    body = collect_().encode() if allowed else b""
                except Exception:
                    log.exception("metrics collection failed")
                    self.send_error(500, "metrics collection failed")
                    return
                if not allowed:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer realm="aios metrics"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="aios-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def collect(
    table: SyscallTable,
    queues: list[ResourceQueue],
    memory: MemoryService,
    llm: LLMService,
    files: Any = None,
    agent_names: dict[str, str] | None = None,
    workers: Sequence[WorkerHealth] = (),
) -> str:
    """The kernel's metrics: syscall queues, per-agent syscall figures, notes, files, LLM scheduling, and the
    background workers' health (bugs and postponed jobs, aios/lifecycle.py).

    Per-agent series are labelled with the agent's id (stable across renames); `aios_agent_info` maps each
    id to its name, to join on in a query (`* on (agent) group_left(agent_name) aios_agent_info`).
    """
    families: list[Any] = [
        ("aios_queue_waiting", "gauge", "Syscalls waiting per resource queue",
         [("aios_queue_waiting", {"resource": q.name}, q.queued) for q in queues]),
        ("aios_queue_running", "gauge", "Syscalls running per resource queue",
         [("aios_queue_running", {"resource": q.name}, q.running) for q in queues]),
    ]  # fmt: skip
    per_agent = table.metrics()
    families += [
        (name, kind, doc, [(name, {"agent": m.agent_id}, getattr(m, attr)) for m in per_agent])
        for name, kind, doc, attr in [
            ("aios_syscalls_total", "counter", "Finished syscalls per agent (recent history)", "syscalls"),
            ("aios_syscalls_failed_total", "counter", "Failed syscalls per agent (recent history)", "failed"),
            ("aios_syscall_waiting_ms", "gauge", "Mean queue wait per agent", "mean_waiting_ms"),
            ("aios_syscall_turnaround_ms", "gauge", "Mean turnaround per agent", "mean_turnaround_ms"),
        ]
    ]
    if agent_names is not None:
        info = [("aios_agent_info", {"agent": i, "agent_name": n}, 1) for i, n in agent_names.items()]
        families.append(("aios_agent_info", "gauge", "1 per agent: its id and name", info))
    families.append(("aios_notes", "gauge", "Notes stored", [("aios_notes", {}, memory.count())]))
    if files is not None:
        families += [
            ("aios_files", "gauge", "Live files stored", [("aios_files", {}, files.count())]),
            ("aios_fs_index_backlog", "gauge", "Files waiting to be (re)indexed",
             [("aios_fs_index_backlog", {}, files.index.backlog if files.index else 0)]),
        ]  # fmt: skip
    families += [
        ("aios_worker_errors_total", "counter", "Bugs in a background worker's jobs (logged with a traceback)",
         [("aios_worker_errors_total", {"worker": w.name}, w.errors) for w in workers]),
        ("aios_worker_postponed_total", "counter", "Background jobs postponed: the model or the disk was away",
         [("aios_worker_postponed_total", {"worker": w.name}, w.postponed) for w in workers]),
    ]  # fmt: skip
    if llm.available:
        state = llm.scheduler_state()
        families += [
            (name, kind, doc, [(name, {"agent": a.agent_id}, value(a)) for a in state.agents])
            for name, kind, doc, value in [
                ("aios_llm_requests_total", "counter", "LLM requests", lambda a: a.requests),
                ("aios_llm_prompt_tokens_total", "counter", "Prompt tokens", lambda a: a.prompt_tokens),
                ("aios_llm_completion_tokens_total", "counter", "Generated tokens", lambda a: a.completion_tokens),
                ("aios_llm_cached_tokens_total", "counter", "Prompt tokens reused from KV", lambda a: a.cached_tokens),
                ("aios_llm_queue_seconds", "gauge", "Mean LLM queue wait", lambda a: a.mean(a.queue_s)),
                ("aios_llm_ttft_seconds", "gauge", "Mean time to first token", lambda a: a.mean(a.ttft_s)),
                ("aios_llm_tpot_seconds", "gauge", "Mean time per output token", lambda a: a.mean(a.tpot_s)),
                ("aios_llm_turnaround_seconds", "gauge", "Mean turnaround", lambda a: a.mean(a.turnaround_s)),
            ]
        ]  # fmt: skip
        families += [
            ("aios_llm_jain_fairness", "gauge", "Jain's index over agents' tokens, last minute",
             [("aios_llm_jain_fairness", {}, state.jain_fairness)]),
            ("aios_llm_tokens_per_second", "gauge", "Generated tokens per second, last minute",
             [("aios_llm_tokens_per_second", {}, state.tokens_per_s)]),
            ("aios_llm_waiting", "gauge", "LLM requests waiting", [("aios_llm_waiting", {}, len(state.waiting))]),
        ]  # fmt: skip
    return render(families)
