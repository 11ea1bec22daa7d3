#!/usr/bin/env python
"""Load benchmark: many agents with mixed syscalls against one kernel process; backpressure, health latency,
memory over time, and clean stops.

One run:

1. load: `aios serve` as a real process and N agents (default 32), each an SDK `Client` in a thread of its own,
   doing a random mix of syscalls without pause for D seconds (default 120): note add/search/get/update, file
   write/read/retrieve, context append/assemble and a few LLM chats with a small max_tokens. Meanwhile a
   health check (grpc.health.v1) is polled every second and the kernel's RSS is sampled every second. Every
   refusal is recorded by status: under load only RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED are acceptable.
2. SIGTERM under that load: the agents keep going while the kernel stops; it must exit 0. The kernel is then
   started again and every write an agent had acknowledged (notes with their content, file versions with
   their SHA-256) is read back.
3. stops: S times in a row (default 20), on one data directory, with note enrichment on: start the kernel
   (checking that every note acknowledged before the previous stop is there), run a few agents with the same
   mix, add a batch of notes (so enrichment is pending), and SIGTERM while the model generates for them. Each
   exit code is recorded; a non-zero one (-11 was a crash: the model freed under its users) fails the goal.

Writes the JSON result (default bench/results/load.json) and regenerates the `## Load: many agents, memory
over time and clean stops` section of docs/benchmarks.md from it.

    .venv/bin/python bench/load.py                                # the full run (~9 minutes)
    .venv/bin/python bench/load.py --duration 30 --stops 3 --out /tmp/load.json --no-docs
    AIOS_LOAD_DURATION_S=20 .venv/bin/python bench/load.py --stops 0 --no-docs
    .venv/bin/python bench/load.py --docs-only                    # rewrite the docs section from the JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import lzma
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import LONGMEMEVAL, KernelProcess, git_state, percentile, read_text, repository_first, short_texts
from _common import display_path as _display_path
from _common import machine_info as common_machine_info
from _common import write_docs as _write_docs

repository_first()

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "load.json"
DEFAULT_DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Load: many agents, memory over time and clean stops"
REPRODUCE = ".venv/bin/python bench/load.py"

ALLOWED_REFUSALS = ("RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED")
GOAL_HEALTH_MAX_MS = 1000.0
GOAL_RSS_GROWTH_PCT = 10.0
RSS_WINDOW_S = 10.0  # RSS growth: the mean of the last window against the mean of the first after warm-up
FILES_PER_AGENT = 16  # paths an agent rewrites (new versions), so the file count stays bounded
TEXTS = 4_000
STOP_NOTES = 40
KERNEL_ENV = {"AIOS_METRICS_PORT": "-1"}

# Relative frequencies of the operations an agent draws from.
MIX = {
    "note.add": 14, "note.search": 14, "note.get": 10, "note.update": 8,
    "file.write": 10, "file.read": 10, "file.retrieve": 10,
    "context.append": 10, "context.assemble": 8, "llm.chat": 2,
}  # fmt: skip


def load_texts(data: Path) -> tuple[list[str], dict[str, Any]]:
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        sessions = [json.loads(line)["turns"] for line in f]
    texts, info = short_texts(sessions, TEXTS)
    return texts, info | {"source": _display_path(data)}


# -- what the agents acknowledged -------------------------------------------------------------------


@dataclass
class Acked:
    """One agent's acknowledged writes: note id -> the contents it may hold (the last acknowledged one, and
    any later attempt that failed but may have been applied), path -> (version, sha256) last acknowledged."""

    token: str
    notes: dict[str, set[str]] = field(default_factory=dict)
    files: dict[str, tuple[int, str]] = field(default_factory=dict)


def verify(target: str, ledgers: list[Acked]) -> dict[str, Any]:
    """Read back every acknowledged note and file version through a fresh kernel."""
    from aios.client import Client
    from aios.errors import AiosError

    out: dict[str, Any] = {"notes": 0, "notes_missing": 0, "notes_changed": 0, "files": 0, "files_missing": 0,
                           "files_changed": 0, "examples": []}  # fmt: skip
    for ledger in ledgers:
        with Client(target, ledger.token, timeout=60) as agent:
            for note_id, contents in ledger.notes.items():
                out["notes"] += 1
                try:
                    content = agent.get_note(note_id).content
                except AiosError as exc:
                    out["notes_missing"] += 1
                    out["examples"].append(f"note {note_id}: {exc.code}")
                    continue
                if content not in contents:
                    out["notes_changed"] += 1
                    out["examples"].append(f"note {note_id}: content is not an acknowledged one")
            for path, (version, sha) in ledger.files.items():
                out["files"] += 1
                try:
                    info = agent.stat(path, version=version)
                except AiosError as exc:
                    out["files_missing"] += 1
                    out["examples"].append(f"file {path} v{version}: {exc.code}")
                    continue
                if info.sha256 != sha:
                    out["files_changed"] += 1
                    out["examples"].append(f"file {path} v{version}: another sha256")
    out["examples"] = out["examples"][:20]
    out["lost"] = sum(out[k] for k in ("notes_missing", "notes_changed", "files_missing", "files_changed"))
    return out


# -- one agent --------------------------------------------------------------------------------------


class Agent(threading.Thread):
    """An SDK client in a thread doing random operations until `stop` is set. Outcomes before `sigterm_at`
    count as under load; later ones as during the stop."""

    def __init__(self, index: int, target: str, token: str, texts: list[str], seed: int, stop: threading.Event,
                 timeout: float) -> None:  # fmt: skip
        super().__init__(name=f"agent-{index}", daemon=True)
        from aios.client import Client

        self.client = Client(target, token, timeout=timeout)
        self.ledger = Acked(token)
        self.rng = random.Random(seed)
        self.texts = texts
        self.stop = stop
        self.sigterm_at = float("inf")
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.refused: Counter[tuple[str, str]] = Counter()
        self.after_sigterm: Counter[str] = Counter()
        self.examples: list[str] = []
        self._versions: dict[str, int] = {}
        self._ops: dict[str, Callable[[], None]] = {
            "note.add": self.note_add, "note.search": self.note_search, "note.get": self.note_get,
            "note.update": self.note_update, "file.write": self.file_write, "file.read": self.file_read,
            "file.retrieve": self.file_retrieve, "context.append": self.context_append,
            "context.assemble": self.context_assemble, "llm.chat": self.llm_chat,
        }  # fmt: skip

    def text(self) -> str:
        return self.rng.choice(self.texts)

    def run(self) -> None:
        from aios.errors import AiosError

        kinds, weights = list(MIX), list(MIX.values())
        while not self.stop.is_set():
            kind = self.rng.choices(kinds, weights)[0]
            t0 = time.perf_counter()
            try:
                self._ops[kind]()
            except AiosError as exc:
                self._refusal(kind, exc.code, str(exc))
            except Exception as exc:  # noqa: BLE001 - any other failure is a finding, recorded as such
                self._refusal(kind, f"CLIENT:{type(exc).__name__}", str(exc))
            else:
                if time.monotonic() < self.sigterm_at:
                    self.ms[kind].append((time.perf_counter() - t0) * 1000)
        self.client.close()

    def _refusal(self, kind: str, code: str, message: str) -> None:
        if time.monotonic() >= self.sigterm_at:
            self.after_sigterm[code] += 1
            self.stop.wait(0.2)  # as a client would: no busy loop against a kernel that is going away
            return
        self.refused[(kind, code)] += 1
        if code not in ALLOWED_REFUSALS and len(self.examples) < 5:
            self.examples.append(f"{kind}: {code}: {message[:200]}")

    # The operations. A write is recorded once acknowledged; an update's new content is allowed before.
    def note_add(self) -> None:
        text = self.text()
        note = self.client.add_note(text)
        self.ledger.notes[note.id] = {text}

    def _own_note(self) -> str | None:
        return self.rng.choice(list(self.ledger.notes)) if self.ledger.notes else None

    def note_search(self) -> None:
        self.client.search(self.text()[:200], k=5)

    def note_get(self) -> None:
        if (note_id := self._own_note()) is not None:
            self.client.get_note(note_id)

    def note_update(self) -> None:
        if (note_id := self._own_note()) is None:
            return
        text = self.text()
        self.ledger.notes[note_id].add(text)  # it may be applied even if the reply is lost
        self.client.update_note(note_id, content=text)
        self.ledger.notes[note_id] = {text}

    def file_write(self) -> None:
        path = f"/load/{self.rng.randrange(FILES_PER_AGENT)}.txt"
        info = self.client.write_file(path, self.text())
        self.ledger.files[path] = (info.version, info.sha256)

    def file_read(self) -> None:
        if self.ledger.files:
            self.client.read_file(self.rng.choice(list(self.ledger.files)))

    def file_retrieve(self) -> None:
        self.client.retrieve(self.text()[:200], k=5)

    def context_append(self) -> None:
        self.client.append_message(self.text(), role=self.rng.choice(("user", "assistant")))

    def context_assemble(self) -> None:
        self.client.get_context()

    def llm_chat(self) -> None:
        self.client.chat([("user", self.text()[:300])], max_tokens=8)


# -- the watchers: health and RSS -------------------------------------------------------------------


class Watcher(threading.Thread):
    """Every `every_s`: a health check (its latency, or its error) and the kernel's RSS and thread count."""

    def __init__(self, target: str, pid: int, every_s: float = 1.0) -> None:
        super().__init__(name="watcher", daemon=True)
        import grpc

        self.channel = grpc.insecure_channel(target)
        self.pid, self.every_s = pid, every_s
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.health: list[tuple[float, float, str]] = []  # (s since start, ms, status)
        self.rss: list[tuple[float, float, int]] = []  # (s since start, MB, threads)

    def run(self) -> None:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        while not self.stop.is_set():
            tick = time.monotonic()
            status = read_text(f"/proc/{self.pid}/status")
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            threads = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:")), 0)
            if rss:
                self.rss.append((round(tick - self.t0, 2), round(rss / 1024, 1), threads))
            t0 = time.perf_counter()
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
                outcome = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except Exception as exc:  # noqa: BLE001 - a failed check is a finding
                outcome = f"error: {type(exc).__name__}"
            self.health.append((round(tick - self.t0, 2), round((time.perf_counter() - t0) * 1000, 2), outcome))
            self.stop.wait(max(0.0, self.every_s - (time.monotonic() - tick)))
        self.channel.close()


# -- phases -----------------------------------------------------------------------------------------


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


# -- summaries --------------------------------------------------------------------------------------


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


# -- the run ----------------------------------------------------------------------------------------


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
        "machine": common_machine_info(packages),
        "load": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
            "note": "os.getloadavg() (1, 5, 15 min) of the whole machine",
        },  # fmt: skip
        "git": git_state(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


# -- the docs section -------------------------------------------------------------------------------


def render_section(r: dict[str, Any], json_path: str) -> str:
    g, s, m = r["goals"], r["settings"], r["machine"]
    yes = lambda key: ("**yes**" if g[key]["met"] else "**no**") if key in g else "—"  # noqa: E731
    lines = [
        SECTION,
        "",
        f"<!-- Generated by bench/load.py from {json_path}; edit the script, not this section. -->",
        "",
    ]
    load, stops = r["load_phase"], r["stops_phase"]
    if load is not None:
        rss, health, ref, sul, ver = (
            load["rss"],
            load["health"],
            load["refusals"],
            load["stop_under_load"],
            load["verify"],
        )
        lines += [
            f"One kernel (`aios serve`, default settings but the metrics port) and {s['agents']} agents, each an SDK "
            f"`Client` in its own thread, doing a random mix of syscalls without pause for {load['duration_s']:.0f} s "
            f"(weights: {', '.join(f'{k} {v}' for k, v in s['mix'].items())}; chats with max_tokens "
            f"{s['chat_max_tokens']}; client deadline {s['client_timeout_s']:.0f} s). A health check every second "
            f"and the kernel's RSS every second throughout; then SIGTERM while the agents go on, a restart, and every "
            f"acknowledged write read back.",
            "",
            "| Goal | Measured | Met |",
            "| --- | --- | --- |",
            f"| Refusals only RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED | {_codes(ref['by_status']) or 'none'} "
            f"| {yes('refusals_only_backpressure')} |",
            f"| Health check max < {GOAL_HEALTH_MAX_MS:.0f} ms | max {health['max_ms']:.0f} ms, p50 "
            f"{health['p50_ms']} ms, p99 {health['p99_ms']} ms over {health['polls']} checks; "
            f"{health['not_serving']} not serving | {yes('health_max_ms')} |",
            f"| RSS growth after {rss['warmup_s']:.0f} s warm-up < {GOAL_RSS_GROWTH_PCT:.0f} % "
            f"| {rss['start_mb']:.0f} → {rss['end_mb']:.0f} MB ({rss['growth_pct']:+.1f} %), max "
            f"{rss['max_mb']:.0f} MB, {rss['at_launch_mb']:.0f} MB when the load began; threads "
            f"{rss['threads_start']} → {rss['threads_end']} | {yes('rss_growth_pct')} |",
            f"| SIGTERM under load exits 0 | exit {sul['exit_code']} after {sul['stop_s']:.1f} s (grace "
            f"{sul['grace_s']:.0f} s) | {yes('stop_under_load_exit_0')} |",
            f"| Acknowledged writes kept | {ver['notes']:,} notes, {ver['files']:,} file versions read back; "
            f"{ver['lost']} lost or changed | {yes('acked_writes_kept_after_load')} |",
            "",
            "| Operation | OK | Per s | p50 ms | p95 ms | Refused |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for kind, o in load["ops"].items():
            lines.append(f"| {kind} | {o['ok']:,} | {o['per_s']:.1f} | {_ms(o['p50_ms'])} | {_ms(o['p95_ms'])} "
                         f"| {_codes(o['refused']) or '—'} |")  # fmt: skip
        kv = rss.get("kv_snapshots_mb", {})
        curve = ", ".join(f"{t:.0f} s {mb:.0f}" for t, mb in rss["curve"][:: max(1, len(rss["curve"]) // 12)])
        lines += [
            "",
            f"RSS curve (MB, seconds since the load began): {curve}. Growth compares the mean of the first and the "
            f"last {rss['window_s']:.0f} s after warm-up. Of the RAM, the saved KV states of the agents' chat sessions "
            f"(a cache bounded by `llm.kv_ram_mb`, 256 MB by default, then spilled to disk) took "
            f"{kv.get('after_warmup', 0):.0f} MB after warm-up and {kv.get('end', 0):.0f} MB at the end. Outcomes "
            "after SIGTERM (not counted above): "
            f"{_codes(sul['outcomes_during_stop']) or 'none'}.",
            "",
        ]
    if stops is not None:
        lines += [
            f"**Stops**: {len(stops['runs'])} times in a row on one data directory with note enrichment on: start "
            f"(checking every note acknowledged before the previous stop), {s['stop_agents']} agents with the same "
            f"mix, {s['stop_notes']} notes added in one batch so enrichment is pending, SIGTERM while the model "
            f"generates for them (then up to 1.5 s later). Exit codes: {_codes(stops['exit_codes'])}; SIGTERM to exit "
            f"took {stops['stop_s_mean']:.1f} s on average, {stops['stop_s_max']:.1f} s at most (`Kernel.stop` at most "
            f"{stops['kernel_stop_s_max']:.1f} s, of which the drain of in-flight syscalls takes up to the grace; the "
            f"process exit after it at most {stops['exit_after_kernel_stop_s_max']:.1f} s); "
            f"{stops['acked_notes']:,} notes and {stops['acked_files']:,} file versions acknowledged, "
            f"{stops['lost']} lost. Exit 0 every time: {yes('stops_exit_0')}; writes kept: "
            f"{yes('acked_writes_kept_over_stops')}. Before the fix that came with this benchmark the kernel freed the "
            "model while enrichment workers were still tokenizing and exited -11 (SIGSEGV): 20 of 20 such stops, "
            "acknowledged writes still kept.",
            "",
        ]
    problems = (load or {}).get("log_problems", []) + (stops or {}).get("log_problems", [])
    load_avg = r["load"]
    lines += [
        f"Machine: {m['cpu_count']} × {m['cpu_model']}, {m['ram_gb']} GB RAM; Python {m['python']}, grpcio "
        f"{m['grpcio']}, llama-cpp-python {m['llama_cpp_python']}. Run on {m['date']} at commit "
        f"`{(r['git']['commit'] or '?')[:12]}`{' (with uncommitted changes)' if r['git']['dirty'] else ''}. Load "
        f"average (1/5/15 min): {' / '.join(map(str, load_avg['start']))} before, "
        f"{' / '.join(map(str, load_avg['end']))} after; the agents run in the benchmark's process on the same 2 "
        "cores as the kernel.",
        "",
        "Kernel logs: "
        + ("no errors." if not problems else f"{len(problems)} error lines, e.g. `{problems[0][:200]}`."),
        "",
        f"Reproduce: `{REPRODUCE}` (options `--agents N --duration S --stops N --out PATH`, env "
        f"AIOS_LOAD_DURATION_S; `--help` for the rest). Raw figures: `{json_path}`.",
        "",
    ]
    return "\n".join(lines)


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    parser.add_argument("--agents", type=int, default=32, help="agents in the load phase (default 32)")
    parser.add_argument("--duration", type=float, default=float(os.environ.get("AIOS_LOAD_DURATION_S", 120)),
                        help="seconds of load, 0 skips it (default 120) [env AIOS_LOAD_DURATION_S]")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=None, help="seconds before RSS growth is measured "
                        "(default a sixth of the duration, at least 10)")  # fmt: skip
    parser.add_argument("--stops", type=int, default=20, help="SIGTERMs in a row with enrichment pending, 0 to skip")
    parser.add_argument("--stop-agents", type=int, default=8, help="agents loading the kernel in each stop run")
    parser.add_argument("--timeout", type=float, default=30.0, help="client deadline per syscall, s (default 30)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result (default bench/results/load.json)")
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="markdown file whose section to regenerate")
    parser.add_argument("--no-docs", action="store_true", help="do not touch the docs")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from --out")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("AIOS_BENCH_DATA", LONGMEMEVAL)),
                        help="LongMemEval dev directory [env AIOS_BENCH_DATA]")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (kernel data and logs)")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = max(10.0, args.duration / 6)
    if args.agents < 1 or args.stop_agents < 1 or args.stops < 0 or args.duration < 0:
        parser.error("--agents and --stop-agents must be at least 1, --stops and --duration not negative")
    if 0 < args.duration < args.warmup + 2 * RSS_WINDOW_S:
        parser.error(f"--duration must be at least the warm-up plus {2 * RSS_WINDOW_S:.0f} s")

    if args.docs_only:
        result = json.loads(args.out.read_text())
    else:
        result = run(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_docs:
        _write_docs(args.docs, SECTION, render_section(result, _display_path(args.out)))

    from rich.console import Console

    console = Console()
    for name, goal in result["goals"].items():
        console.print(f"{name}: {'met' if goal['met'] else '[red]NOT met[/]'}")
    if result["load_phase"]:
        lp = result["load_phase"]
        console.print(f"RSS {lp['rss']['start_mb']} -> {lp['rss']['end_mb']} MB ({lp['rss']['growth_pct']:+.1f} %), "
                      f"health max {lp['health']['max_ms']} ms, refusals {lp['refusals']['by_status']}")  # fmt: skip
    if result["stops_phase"]:
        console.print(f"stops: exit codes {result['stops_phase']['exit_codes']}")
    console.print(f"load before {result['load']['start']}, after {result['load']['end']}; wrote {args.out}")
    return 0 if all(goal["met"] for goal in result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
