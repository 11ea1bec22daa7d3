"""Load benchmark, the workload: agents (an SDK client in a thread each) doing a random mix of syscalls, the
ledger of what each had acknowledged and its read-back, and the watcher polling health and RSS (bench/load.py)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import display_path, read_text
from _longmemeval import session_turns, short_texts

ALLOWED_REFUSALS = ("RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED")
FILES_PER_AGENT = 16  # paths an agent rewrites (new versions), so the file count stays bounded
TEXTS = 4_000

# Relative frequencies of the operations an agent draws from.
MIX = {
    "note.add": 14, "note.search": 14, "note.get": 10, "note.update": 8,
    "file.write": 10, "file.read": 10, "file.retrieve": 10,
    "context.append": 10, "context.assemble": 8, "llm.chat": 2,
}  # fmt: skip


def load_texts(data: Path) -> tuple[list[str], dict[str, Any]]:
    texts, info = short_texts(list(session_turns(data)), TEXTS)
    return texts, info | {"source": display_path(data)}


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
