"""What a fuzz run at the gRPC boundary sends into (tests/test_fuzz.py, tests/test_fuzz_llm.py): the RPCs the kernel
serves, the World that sends a body to one of them (a stream is read for a few messages and cancelled) and reads
what a refused call must leave as it was (its fingerprint, through the service's read RPCs), the run's budget
(AIOS_FUZZ_SECONDS, AIOS_FUZZ_EXAMPLES), requests with every field of a kind set to one value, and this process's RSS.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, settings

from aios._proto.aios.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    context_pb2,
    context_pb2_grpc,
    files_pb2,
    files_pb2_grpc,
    llm_pb2,
    llm_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from aios.kernel import Kernel
from aios.syscalls.records import SyscallStatus
from tests.fuzz_protos import int_range

SECONDS = float(os.environ.get("AIOS_FUZZ_SECONDS", "25"))
EXAMPLES = int(os.environ.get("AIOS_FUZZ_EXAMPLES", "60"))

CALL_S = 20.0  # a unary call's deadline: a boundary check answers in far less
STREAM_S = 10.0
_STREAM_MESSAGES = 6  # a stream is cancelled after this many messages ...
_QUIET_S = 0.3  # ... or this long after its last one (a watch stays open)
MIN_CASES = 4  # every RPC gets at least this many, past its share of the time
BAD = {"INTERNAL", "UNKNOWN"}
# A call refused with one of these must have changed nothing. (CANCELLED and DEADLINE_EXCEEDED are not refusals:
# the work may have been done.)
REFUSALS = {"INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "FAILED_PRECONDITION",
             "OUT_OF_RANGE", "UNAUTHENTICATED", "ABORTED", "RESOURCE_EXHAUSTED"}  # fmt: skip
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                     suppress_health_check=list(HealthCheck), print_blob=False)  # fmt: skip


@dataclass(frozen=True)
class Rpc:
    service: str  # full name, e.g. aios.v1.MemoryService
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    @property
    def name(self) -> str:
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method.name}"

    @property
    def request(self) -> Descriptor:
        return self.method.input_type


def _rpcs() -> list[Rpc]:
    modules = (memory_pb2, files_pb2, context_pb2, llm_pb2, health_pb2, reflection_pb2, admin_pb2)
    out = [Rpc(s.full_name, m) for mod in modules for s in mod.DESCRIPTOR.services_by_name.values() for m in s.methods]
    # Revoking and reissuing come last: they may take tokens away from the agents the other RPCs name.
    last = ("AdminService.RevokeAgent", "AdminService.ReissueToken")
    return sorted(out, key=lambda r: r.name in last)


RPCS = _rpcs()


class BugLog(logging.Handler):
    """The kernel's log of what it answered INTERNAL (or gRPC UNKNOWN) for, to show with a failure."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class Outcome:
    status: str
    detail: str
    messages: int = 0  # streamed responses received
    cancelled: bool = False  # by us, after reading what we wanted


@dataclass
class World:
    kernel: Kernel
    channel: grpc.Channel
    agent_token: str
    admin_token: str
    agent_id: str
    hints: dict[str, list[Any]]
    admin_hints: dict[str, list[Any]]
    host_root: Path
    host_paths: list[str]
    shared_tree: str
    bugs: BugLog
    seed_notes: list[str]  # the fuzzing agent's notes the hints name
    rss_start: int = 0
    stats: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    modes: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    admin_rpcs: dict[str, bool] = field(default_factory=dict)  # RPC name -> needs the admin token
    refused: list[tuple[Rpc, Any, bool]] = field(default_factory=list)  # (rpc, body, admin) to replay
    event_cursor: int = 0

    def md(self, admin: bool = False) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.admin_token if admin else self.agent_token}")]

    # -- sending ---------------------------------------------------------------------------------------

    def send(self, rpc: Rpc, body: bytes | list[bytes], admin: bool) -> Outcome:
        m = rpc.method
        if m.client_streaming:
            bodies = body if isinstance(body, list) else [body]
            if m.server_streaming:
                call = self.channel.stream_stream(rpc.path)(iter(bodies), metadata=self.md(admin), timeout=STREAM_S)
                return _read_stream(call)
            try:
                self.channel.stream_unary(rpc.path)(iter(bodies), metadata=self.md(admin), timeout=CALL_S)
                return Outcome("OK", "")
            except grpc.RpcError as exc:
                return Outcome(exc.code().name, exc.details() or "")
        assert isinstance(body, bytes)
        if m.server_streaming:
            return _read_stream(self.channel.unary_stream(rpc.path)(body, metadata=self.md(admin), timeout=STREAM_S))
        try:
            self.channel.unary_unary(rpc.path)(body, metadata=self.md(admin), timeout=CALL_S)
            return Outcome("OK", "")
        except grpc.RpcError as exc:
            return Outcome(exc.code().name, exc.details() or "")

    def settle(self) -> None:
        """Wait until no syscall is queued or running: a call we cancelled (or whose deadline passed) may still
        be finishing in the kernel, and must not be taken for a change made by the next one."""
        deadline = time.monotonic() + 30
        while any(
            r.status in (SyscallStatus.QUEUED, SyscallStatus.RUNNING) for r in self.kernel.table.recent(limit=64)
        ):
            assert time.monotonic() < deadline, "a cancelled syscall is still running after 30 s"
            time.sleep(0.01)

    # -- what a refused call must leave as it was ---------------------------------------------------------

    def fingerprint(self, rpc: Rpc) -> tuple[Any, ...]:
        service = rpc.service.rsplit(".", 1)[-1]
        parts: list[Any] = []
        if service in ("MemoryService", "ContextService"):  # context paging writes recall notes
            parts.append(self._memory())
        if service == "FileService":
            parts.append(self._files())
        if service == "ContextService":
            parts.append(self._context())
        if service in ("LLMService", "ContextService") or rpc.name == "FileService.Summarize":
            parts.append(self._llm())
        if service == "AdminService":
            parts.append(self._agents())
        return tuple(parts)

    def _memory(self) -> tuple[Any, ...]:
        stub = memory_pb2_grpc.MemoryServiceStub(self.channel)
        s = stub.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), metadata=self.md(), timeout=CALL_S)
        # The counts, and the notes the hints name (what most drawn updates, links and shares reach): not every
        # note, whose number grows with the run.
        notes: list[Any] = []
        for note_id in self.seed_notes:
            try:
                n = stub.GetNote(memory_pb2.GetNoteRequest(id=note_id), metadata=self.md(), timeout=CALL_S)
            except grpc.RpcError as exc:
                notes.append(exc.code().name)
                continue
            notes.append((n.version, n.pinned, n.HasField("archived_at"), tuple(n.shared_with)))
        try:
            reply = stub.GetNeighbours(memory_pb2.GetNeighboursRequest(id=self.seed_notes[0]), metadata=self.md(),
                                       timeout=CALL_S)  # fmt: skip
            links: Any = sorted((x.from_id, x.to_id, x.kind, x.reason, x.weight) for x in reply.links)
        except grpc.RpcError as exc:
            links = exc.code().name
        return (s.notes, s.archived, s.pinned, s.links, s.shared_with_me, notes, links)

    def _files(self) -> tuple[Any, ...]:
        stub = files_pb2_grpc.FileServiceStub(self.channel)
        trees = stub.ListTrees(files_pb2.ListTreesRequest(), metadata=self.md(), timeout=CALL_S).trees
        heads = []
        for tree in ("", self.shared_tree):
            history = stub.History(files_pb2.FileHistoryRequest(tree=tree, path="/", limit=1), metadata=self.md(),
                                   timeout=CALL_S)  # fmt: skip
            heads.append([c.change_id for c in history.changes])
        return (sorted((t.name, t.kind, sorted(t.grants.items())) for t in trees), heads)

    def _context(self) -> tuple[Any, ...]:
        stub = context_pb2_grpc.ContextServiceStub(self.channel)
        s = stub.GetContextStats(context_pb2.GetContextStatsRequest(), metadata=self.md(), timeout=CALL_S)
        c = stub.GetContext(context_pb2.GetContextRequest(), metadata=self.md(), timeout=CALL_S)
        while True:  # the newest event id, read on from where the last look ended
            events = stub.ListContextEvents(context_pb2.ListContextEventsRequest(after_id=self.event_cursor,
                                            limit=1000), metadata=self.md(), timeout=CALL_S).events  # fmt: skip
            if not events:
                break
            self.event_cursor = events[-1].id
        stats = (s.page_outs, s.flushes, s.page_ins, s.recall_queries, s.recall_hits, s.summary_tokens,
                 s.active_messages, s.evicted_messages, s.kv_swaps)  # fmt: skip
        window = (c.system_prompt, [(b.label, b.value, b.limit_tokens) for b in c.core], c.summary,
                  [(m.id, m.pinned) for m in c.messages], [(i.id, i.pinned) for i in c.recalled])  # fmt: skip
        return (stats, window, self.event_cursor)

    def _llm(self) -> tuple[Any, ...]:
        stub = llm_pb2_grpc.LLMServiceStub(self.channel)
        s = stub.GetScheduler(llm_pb2.GetSchedulerRequest(), metadata=self.md(admin=True), timeout=CALL_S)
        agents = sorted((a.agent_id, a.requests, a.prompt_tokens, a.completion_tokens, a.quota_tokens_per_minute)
                        for a in s.agents)  # fmt: skip
        return (s.policy, s.quantum, agents)

    def _agents(self) -> tuple[Any, ...]:
        stub = admin_pb2_grpc.AdminServiceStub(self.channel)
        agents = stub.ListAgents(admin_pb2.ListAgentsRequest(include_revoked=True), metadata=self.md(admin=True),
                                 timeout=CALL_S).agents  # fmt: skip
        return tuple(sorted((a.id, a.name, a.revoked) for a in agents))


def _read_stream(call: Any) -> Outcome:
    """Read up to _STREAM_MESSAGES messages, going quiet for _QUIET_S after one ends the call too; then cancel."""
    got, cancelled = 0, threading.Event()
    timer: threading.Timer | None = None

    def cancel() -> None:
        cancelled.set()
        call.cancel()

    try:
        for _ in call:
            got += 1
            if timer is not None:
                timer.cancel()
            if got >= _STREAM_MESSAGES:
                cancel()
                break
            timer = threading.Timer(_QUIET_S, cancel)
            timer.start()
        code = call.code()
        return Outcome("OK" if cancelled.is_set() else code.name, call.details() or "", got, cancelled.is_set())
    except grpc.RpcError as exc:
        if cancelled.is_set() and exc.code() == grpc.StatusCode.CANCELLED:
            return Outcome("OK", "", got, True)
        return Outcome(exc.code().name, exc.details() or "", got)
    finally:
        if timer is not None:
            timer.cancel()


def rss() -> int:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap pages back, so RSS shows what is still held
    except OSError:
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def is_admin_rpc(world: World, rpc: Rpc) -> bool:
    """An RPC is the admin's when it refuses the agent's token with PERMISSION_DENIED (asked once)."""
    if rpc.name not in world.admin_rpcs:
        empty: bytes | list[bytes] = [] if rpc.method.client_streaming else b""
        outcome = world.send(rpc, empty, admin=False)
        world.settle()
        world.admin_rpcs[rpc.name] = outcome.status == "PERMISSION_DENIED" and "admin" in outcome.detail
    return world.admin_rpcs[rpc.name]


# -- requests with every field of a kind set to one value ------------------------------------------------------


def filled(descriptor: Descriptor, value_of: Callable[[FieldDescriptor], Any]) -> Any:
    """A request of `descriptor` with every scalar field `value_of` gives a value (not None) set to it, down into
    the messages it holds (ChatRequest.params, AddNoteRequest.note ...); maps and Timestamps are left empty."""
    msg = message_factory.GetMessageClass(descriptor)()
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry or f.message_type.full_name == "google.protobuf.Timestamp":
                continue
            sub = filled(f.message_type, value_of)
            if sub.ByteSize():
                getattr(msg, f.name).extend([sub]) if f.is_repeated else getattr(msg, f.name).CopyFrom(sub)
        elif (value := value_of(f)) is not None:
            getattr(msg, f.name).append(value) if f.is_repeated else setattr(msg, f.name, value)
    return msg


def strings(value: str) -> Callable[[FieldDescriptor], Any]:
    return lambda f: value if f.type == FieldDescriptor.TYPE_STRING else None


def floats(value: float) -> Callable[[FieldDescriptor], Any]:
    return lambda f: value if f.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE) else None


def ints(end: int) -> Callable[[FieldDescriptor], Any]:
    """Every integer field at its lowest (end 0) or highest (end 1) value."""
    return lambda f: None if (r := int_range(f)) is None or f.type == FieldDescriptor.TYPE_ENUM else r[end]
