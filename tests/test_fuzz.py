"""Issue 12: a fuzzer at the gRPC boundary. Every RPC the kernel serves (ours, health and reflection: the list is
checked against what the kernel's reflection service reports, so nothing is skipped silently) receives bodies drawn
from its request descriptor by tests/fuzz_protos.py: well-typed messages with extreme values, random bytes, mutated
messages and hand-made wire records. One real kernel (SQLite, the real embedding model), the agent's own token (the
admin token for admin RPCs, found by asking with the agent's first).

For every case: the status is never INTERNAL or UNKNOWN, and a refused call (INVALID_ARGUMENT, NOT_FOUND ...)
changes nothing the agent can see through the service's read RPCs (notes and links, file trees and their newest
change, the context and its events, LLM accounting, agents). Streams are read for a few messages and cancelled.
After the run: the health service answers, no stream slot leaked, its syscall table holds no INTERNAL, and RSS is
bounded (refused requests replayed lap after lap do not grow it).

The kernel's LLM is tests/fake_llm.py's backend: what is fuzzed is the validation at the boundary, which runs
before any generation, and the real model would spend the time budget generating (random bytes cannot be given a
small max_tokens). `test_llm_inputs_with_the_real_model` sends drawn LLM requests (max_tokens 1-2) to the real
model; tests/test_llm_inputs.py holds its regressions.

Budget: AIOS_FUZZ_SECONDS (all RPCs together, default 25) and AIOS_FUZZ_EXAMPLES (per RPC, default 60), whichever
ends first. Runs are reproducible (derandomized, no example database). `-s` prints cases and statuses per RPC.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from syscalls.records import SyscallStatus
from tests.conftest import ThreadedKernel, kernel_config
from tests.fake_llm import FakeBackend
from tests.fuzz_protos import int_range, messages, request_bodies, texts

SECONDS = float(os.environ.get("AIOS_FUZZ_SECONDS", "25"))
EXAMPLES = int(os.environ.get("AIOS_FUZZ_EXAMPLES", "60"))

_CALL_S = 20.0  # a unary call's deadline: a boundary check answers in far less
_STREAM_S = 10.0
_STREAM_MESSAGES = 6  # a stream is cancelled after this many messages ...
_QUIET_S = 0.3  # ... or this long after its last one (a watch stays open)
_MIN_CASES = 4  # every RPC gets at least this many, past its share of the time
# RSS (the kernel runs in this process). What a run adds includes what its accepted calls stored: every tree or
# agent with data holds a vector collection of ~3 MiB, so only an explosion fails the first bound. The second is the
# one a leak fails: refused requests replayed lap after lap must not grow RSS.
_RSS_GROWTH_MB = 2048
_REPLAY_PER_RPC = 4  # refused requests kept per RPC for the replay
_REPLAY_LAPS = max(2, EXAMPLES // 100)
_REPLAY_GROWTH_MB = 32
_BAD = {"INTERNAL", "UNKNOWN"}
# A call refused with one of these must have changed nothing. (CANCELLED and DEADLINE_EXCEEDED are not refusals:
# the work may have been done.)
_REFUSALS = {"INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "FAILED_PRECONDITION",
             "OUT_OF_RANGE", "UNAUTHENTICATED", "ABORTED", "RESOURCE_EXHAUSTED"}  # fmt: skip
_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
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


# -- the kernel ------------------------------------------------------------------------------------------------


class _Backend(FakeBackend):
    """The fake model, with the chat-template signature context paging calls and short replies."""

    def __init__(self) -> None:
        super().__init__(eos_after=8)

    def render_chat(self, messages: list[Any], add_generation_prompt: bool = True) -> str:  # type: ignore[override]
        return super().render_chat(messages)


class _BugLog(logging.Handler):
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
    bugs: _BugLog
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
                call = self.channel.stream_stream(rpc.path)(iter(bodies), metadata=self.md(admin), timeout=_STREAM_S)
                return _read_stream(call)
            try:
                self.channel.stream_unary(rpc.path)(iter(bodies), metadata=self.md(admin), timeout=_CALL_S)
                return Outcome("OK", "")
            except grpc.RpcError as exc:
                return Outcome(exc.code().name, exc.details() or "")
        assert isinstance(body, bytes)
        if m.server_streaming:
            return _read_stream(self.channel.unary_stream(rpc.path)(body, metadata=self.md(admin), timeout=_STREAM_S))
        try:
            self.channel.unary_unary(rpc.path)(body, metadata=self.md(admin), timeout=_CALL_S)
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
        s = stub.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), metadata=self.md(), timeout=_CALL_S)
        # The counts, and the notes the hints name (what most drawn updates, links and shares reach): not every
        # note, whose number grows with the run.
        notes: list[Any] = []
        for note_id in self.seed_notes:
            try:
                n = stub.GetNote(memory_pb2.GetNoteRequest(id=note_id), metadata=self.md(), timeout=_CALL_S)
            except grpc.RpcError as exc:
                notes.append(exc.code().name)
                continue
            notes.append((n.version, n.pinned, n.HasField("archived_at"), tuple(n.shared_with)))
        try:
            reply = stub.GetNeighbours(memory_pb2.GetNeighboursRequest(id=self.seed_notes[0]), metadata=self.md(),
                                       timeout=_CALL_S)  # fmt: skip
            links: Any = sorted((x.from_id, x.to_id, x.kind, x.reason, x.weight) for x in reply.links)
        except grpc.RpcError as exc:
            links = exc.code().name
        return (s.notes, s.archived, s.pinned, s.links, s.shared_with_me, notes, links)

    def _files(self) -> tuple[Any, ...]:
        stub = files_pb2_grpc.FileServiceStub(self.channel)
        trees = stub.ListTrees(files_pb2.ListTreesRequest(), metadata=self.md(), timeout=_CALL_S).trees
        heads = []
        for tree in ("", self.shared_tree):
            history = stub.History(files_pb2.FileHistoryRequest(tree=tree, path="/", limit=1), metadata=self.md(),
                                   timeout=_CALL_S)  # fmt: skip
            heads.append([c.change_id for c in history.changes])
        return (sorted((t.name, t.kind, sorted(t.grants.items())) for t in trees), heads)

    def _context(self) -> tuple[Any, ...]:
        stub = context_pb2_grpc.ContextServiceStub(self.channel)
        s = stub.GetContextStats(context_pb2.GetContextStatsRequest(), metadata=self.md(), timeout=_CALL_S)
        c = stub.GetContext(context_pb2.GetContextRequest(), metadata=self.md(), timeout=_CALL_S)
        while True:  # the newest event id, read on from where the last look ended
            events = stub.ListContextEvents(context_pb2.ListContextEventsRequest(after_id=self.event_cursor,
                                            limit=1000), metadata=self.md(), timeout=_CALL_S).events  # fmt: skip
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
        s = stub.GetScheduler(llm_pb2.GetSchedulerRequest(), metadata=self.md(admin=True), timeout=_CALL_S)
        agents = sorted((a.agent_id, a.requests, a.prompt_tokens, a.completion_tokens, a.quota_tokens_per_minute)
                        for a in s.agents)  # fmt: skip
        return (s.policy, s.quantum, agents)

    def _agents(self) -> tuple[Any, ...]:
        stub = admin_pb2_grpc.AdminServiceStub(self.channel)
        agents = stub.ListAgents(admin_pb2.ListAgentsRequest(include_revoked=True), metadata=self.md(admin=True),
                                 timeout=_CALL_S).agents  # fmt: skip
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


def _rss() -> int:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap pages back, so RSS shows what is still held
    except OSError:
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[World]:
    base = tmp_path_factory.mktemp("fuzz")
    # No background writers besides the file indexer (whose tables no fingerprint reads): summaries by the model
    # and idle swaps would change the context between two looks. Indexing stops at 16 KiB a file so huge drawn
    # files do not keep both cores busy embedding.
    config = kernel_config(base / "data", context={"summary_llm": 0, "idle_swap_s": 0}, fs={"index_max_bytes": 16_384})
    threaded = ThreadedKernel(config, embedder)
    threaded.kernel = Kernel(config, embedder=embedder, llm_backend=_Backend())
    bugs = _BugLog()
    loggers = [logging.getLogger(name) for name in ("aios", "grpc")]
    for logger in loggers:
        logger.addHandler(bugs)
    with threaded as kernel, Client(kernel.target, kernel.admin_token) as admin:
        creds = {name: admin.create_agent(name) for name in ("fuzzer", "peer", "victim")}
        me, peer, victim = (creds[n].agent.id for n in ("fuzzer", "peer", "victim"))
        with Client(kernel.target, creds["fuzzer"].token, timeout=60) as agent, \
                Client(kernel.target, creds["peer"].token, timeout=60) as other:  # fmt: skip
            notes = [agent.add_note(text, tags=["seed"]) for text in
                     ("the staging database moved to Riga", "Ana reviews the fuzzer on Fridays",
                      "release 1.4 ships the semantic file system")]  # fmt: skip
            agent.link_notes(notes[0].id, notes[1].id, reason="seed")
            theirs = other.add_note("a note the peer shares", share_with=[me]).id
            private = other.add_note("a note the peer keeps").id
            agent.write_file("/a.txt", "alpha\nbeta\n")
            agent.write_file("/a.txt", "alpha\ngamma\n")
            agent.write_file("/dir/b.md", "# notes\nthe staging database\n")
            shared = "fuzz-team"
            agent.create_tree(shared)
            agent.grant(shared, peer, "write")
            agent.write_file("/shared.txt", "shared words", tree=shared)
            agent.set_core_block("human", "likes short answers")
            update = agent.append_messages([("user", "hello there"), ("assistant", "hi"), ("user", "Riga it is")])
            message_ids = [m.id for m in update.messages]
            evicted = agent.page_out(ids=message_ids[:1])
        src = base / "host-in"
        (src / "sub").mkdir(parents=True)
        (src / "one.txt").write_text("imported\n")
        (src / "sub" / "two.md").write_text("# two\n")
        os.mkfifo(base / "host-fifo")
        (base / "host-loop").symlink_to(base / "host-loop")
        host_paths = [str(src), str(src / "sub"), str(src / "one.txt"), str(base / "host-missing"), "", "relative",
                      *(str(base / f"host-out-{i}") for i in range(3)), str(base / "host-in" / ".." / "host-out-9"),
                      str(base / "host-fifo"), str(base / "host-loop" / "x"), str(src / "one.txt" / "x"),
                      str(base / ("n" * 300)), str(base / "host-in" / "tail/")]  # fmt: skip
        note_ids = [n.id for n in notes] + [theirs, private, "0" * 32, ""]
        any_ids = note_ids + message_ids + [*evicted.evicted_ids]
        hints: dict[str, list[Any]] = {
            "id": any_ids, "note_id": note_ids, "from_id": note_ids, "to_id": note_ids, "ids": message_ids,
            "agent_id": [peer, me, victim], "agent_ids": [peer, me, victim], "share_with": [peer, me],
            "path": ["/", "/a.txt", "/dir", "/dir/b.md", "/new.txt", "/dir/new/c.txt", "/shared.txt"],
            "src": ["/a.txt", "/dir", "/dir/b.md"], "dst": ["/moved.txt", "/dir/copy.md", "/dir/sub"],
            "path_a": ["/a.txt"], "path_b": ["/dir/b.md"], "path_prefix": ["/", "/dir", "/dir/"], "dest": ["/", "/in"],
            "tree": ["", shared, "nosuch"], "tree_b": ["", shared], "name": [shared, "fuzz-new", "ok_name-1"],
            "role": ["user", "assistant", "system", "tool"], "policy": ["fifo", "rr", "fair"],
            "mode": ["read", "write"],
            "kind": ["related", "supports"], "scope": ["own", "shared", "all"], "label": ["human", "persona", "x"],
            "glob": ["*", "**/*.md", "*.txt"], "mime": ["text/plain", "application/json"], "mime_prefix": ["text/"],
            "query": ["staging database", "Riga", "fuzzer"], "content": ["a fresh note about Lisbon", "hello"],
            "text": ["hello", "You are terse."], "prompt": ["Once upon a time"], "session": ["", "s1"],
            "json_schema": ['{"type": "string", "maxLength": 5}', '{"type": "integer"}'],
            "grammar": ['root ::= "yes" | "no"', "root ::= [a-z]+"], "stop": ["\n", "."],
            "service": ["", "aios.v1.MemoryService", "nosuch"],
            "file_containing_symbol": ["aios.v1.MemoryService", "aios.v1.Note", "nosuch"],
            "file_by_filename": ["aios/v1/memory.proto", "nosuch.proto"],
            "list_services": ["", "*"], "host": ["", "localhost"],
        }  # fmt: skip
        # Admin RPCs that take an agent id never get the fuzzing agent's: revoking its token would end the run.
        admin_hints = {**hints, "agent_id": [victim, peer]}
        channel = grpc.insecure_channel(kernel.target, [("grpc.max_receive_message_length", -1),
                                                        ("grpc.max_send_message_length", -1)])  # fmt: skip
        w = World(
            kernel,
            channel,
            creds["fuzzer"].token,
            kernel.admin_token,
            me,
            hints,
            admin_hints,
            base,
            host_paths,
            shared,
            bugs,
            [n.id for n in notes],
        )
        w.rss_start = _rss()
        try:
            yield w
        finally:
            channel.close()
            for logger in loggers:
                logger.removeHandler(bugs)


# -- the fuzzing -----------------------------------------------------------------------------------------------


def _safe_host_path(world: World, rpc: Rpc, body: bytes) -> bytes:
    """Import reads and Export writes the kernel's own file system: a drawn absolute path outside the test's
    temporary directory (a mutated body can turn one into "/") is replaced by one inside it."""
    if rpc.name not in ("FileService.Import", "FileService.Export"):
        return body
    cls = files_pb2.ImportRequest if rpc.method.name == "Import" else files_pb2.ExportRequest
    try:
        request = cls.FromString(body)
    except Exception:
        return body  # the kernel refuses it as undecodable
    p = request.host_path
    if not p or not os.path.isabs(p) or "\x00" in p:
        return body
    if Path(os.path.realpath(p)).is_relative_to(os.path.realpath(world.host_root)):
        return body
    request.host_path = str(world.host_root / "host-out-x")
    return request.SerializeToString()


def _bodies(world: World, rpc: Rpc, admin: bool) -> st.SearchStrategy[Any]:
    hints = world.admin_hints if admin else world.hints
    overrides = {"host_path": st.sampled_from(world.host_paths)} if rpc.method.name in ("Import", "Export") else {}
    one = request_bodies(rpc.request, hints, overrides)
    if not rpc.method.client_streaming:
        return one
    first = st.just([])
    if rpc.request.full_name == "aios.v1.WriteChunk":  # a well-formed header first, often: then data is read
        header = messages(files_pb2.WriteRequest.DESCRIPTOR, hints).map(lambda h: files_pb2.WriteChunk(header=h))
        first = st.one_of(header.map(lambda m: [("message", m.SerializeToString())]), first)
    return st.builds(lambda a, b: a + b, first, st.lists(one, max_size=4))


def _is_admin_rpc(world: World, rpc: Rpc) -> bool:
    """An RPC is the admin's when it refuses the agent's token with PERMISSION_DENIED (asked once)."""
    if rpc.name not in world.admin_rpcs:
        empty: bytes | list[bytes] = [] if rpc.method.client_streaming else b""
        outcome = world.send(rpc, empty, admin=False)
        world.settle()
        world.admin_rpcs[rpc.name] = outcome.status == "PERMISSION_DENIED" and "admin" in outcome.detail
    return world.admin_rpcs[rpc.name]


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.name)
def test_rpc_boundary(world: World, rpc: Rpc) -> None:
    admin = _is_admin_rpc(world, rpc)
    stop_at = time.monotonic() + SECONDS / len(RPCS)
    state = {"before": world.fingerprint(rpc), "failing": False}
    stats, modes = world.stats[rpc.name], world.modes[rpc.name]
    replay: list[tuple[Rpc, Any, bool]] = []

    @_SETTINGS
    @given(drawn=_bodies(world, rpc, admin))
    def case(drawn: Any) -> None:
        if not state["failing"] and time.monotonic() > stop_at and sum(stats.values()) >= _MIN_CASES:
            return
        if isinstance(drawn, list):
            mode = "+".join(sorted({m for m, _ in drawn})) or "empty"
            body: bytes | list[bytes] = [_safe_host_path(world, rpc, b) for _, b in drawn]
        else:
            mode, raw = drawn
            body = _safe_host_path(world, rpc, raw)
        bugs = len(world.bugs.records)
        try:
            outcome = world.send(rpc, body, admin)
            world.settle()
            stats[outcome.status + (" (cancelled)" if outcome.cancelled else "")] += 1
            modes[mode] += 1
            log = "\n".join(world.bugs.records[bugs:])[-3000:]
            if outcome.status in _BAD or "metadata size exceeds" in outcome.detail:
                state["failing"] = True
            assert outcome.status not in _BAD, f"{rpc.name} answered {outcome.status}: {outcome.detail}\n{log}"
            # gRPC's own refusal of an answer whose status message is too large: the client never saw the answer.
            assert "metadata size exceeds" not in outcome.detail, f"{rpc.name}: {outcome.detail}"
            after = world.fingerprint(rpc)
            if outcome.status in _REFUSALS and not outcome.messages and len(replay) < _REPLAY_PER_RPC:
                replay.append((rpc, body, admin))
            if outcome.status in _REFUSALS and not outcome.messages:
                if after != state["before"]:
                    state["failing"] = True
                assert after == state["before"], (
                    f"{rpc.name} refused with {outcome.status} ({outcome.detail}) yet changed what the agent sees"
                )
        finally:
            state["before"] = world.fingerprint(rpc)

    case()
    world.refused.extend(replay)


def test_every_served_service_is_fuzzed(world: World) -> None:
    """The kernel's reflection service lists what it serves: each service is in RPCS with every method."""
    stub = world.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    (reply,) = stub(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=_CALL_S)
    served = {s.name for s in reply.list_services_response.service}
    assert served == {r.service for r in RPCS}


def test_after_the_run_the_kernel_answers_and_holds_no_more_than_it_should(world: World) -> None:
    health = world.channel.unary_unary("/grpc.health.v1.Health/Check",
                                       request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                       response_deserializer=health_pb2.HealthCheckResponse.FromString)  # fmt: skip
    for service in ["", *sorted({r.service for r in RPCS})]:
        reply = health(health_pb2.HealthCheckRequest(service=service), timeout=_CALL_S)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service

    # Every stream the fuzzer opened was closed: the agent can open as many as the limit allows, at once.
    watch = world.channel.unary_stream("/aios.v1.FileService/Watch",
                                       request_serializer=files_pb2.WatchRequest.SerializeToString,
                                       response_deserializer=files_pb2.FileEvent.FromString)  # fmt: skip
    calls = [watch(files_pb2.WatchRequest(), metadata=world.md(), timeout=_STREAM_S)
             for _ in range(world.kernel.config.limits.max_streams_per_agent)]  # fmt: skip
    try:
        assert all(next(call).op == "subscribed" for call in calls)
    finally:
        for call in calls:
            call.cancel()

    internal = [r for r in world.kernel.table.recent(limit=1 << 30) if r.error in _BAD]
    assert not internal, [(r.kind, r.error) for r in internal[:5]]

    growth = _rss() - world.rss_start

    def replay() -> None:
        for rpc, body, admin in world.refused:
            world.send(rpc, body, admin)
            world.settle()

    replay()  # caches and allocator pools fill on the first lap
    before = _rss()
    for _ in range(_REPLAY_LAPS):
        replay()
    leak = _rss() - before

    total = sum(sum(c.values()) for c in world.stats.values())
    print(f"\nfuzz: {total} cases over {len(world.stats)} RPCs; RSS {growth / 2**20:+.0f} MiB; "
          f"{len(world.refused)} refused requests replayed {_REPLAY_LAPS} more times: RSS {leak / 2**20:+.1f} MiB "
          f"(AIOS_FUZZ_SECONDS={SECONDS:g}, AIOS_FUZZ_EXAMPLES={EXAMPLES})")  # fmt: skip
    for name, counts in world.stats.items():
        statuses = " ".join(f"{k}={v}" for k, v in counts.most_common())
        sent = " ".join(f"{k}={v}" for k, v in world.modes[name].most_common())
        who = " [admin]" if world.admin_rpcs.get(name) else ""
        print(f"  {name}{who}: {sum(counts.values())} cases; {statuses}; sent {sent}")
    assert growth < _RSS_GROWTH_MB << 20, f"RSS grew {growth / 2**20:.0f} MiB over {total} cases"
    assert leak < _REPLAY_GROWTH_MB << 20, f"replaying refused requests grew RSS by {leak / 2**20:.0f} MiB"


# -- what the fuzzer found, one fixed case each ---------------------------------------------------------------

_OURS = [r for r in RPCS if r.service.startswith("aios.v1.")]


def _filled(descriptor: Descriptor, value_of: Callable[[FieldDescriptor], Any]) -> Any:
    """A request of `descriptor` with every scalar field `value_of` gives a value (not None) set to it, down into
    the messages it holds (ChatRequest.params, AddNoteRequest.note ...); maps and Timestamps are left empty."""
    msg = message_factory.GetMessageClass(descriptor)()
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry or f.message_type.full_name == "google.protobuf.Timestamp":
                continue
            sub = _filled(f.message_type, value_of)
            if sub.ByteSize():
                getattr(msg, f.name).extend([sub]) if f.is_repeated else getattr(msg, f.name).CopyFrom(sub)
        elif (value := value_of(f)) is not None:
            getattr(msg, f.name).append(value) if f.is_repeated else setattr(msg, f.name, value)
    return msg


def _strings(value: str) -> Callable[[FieldDescriptor], Any]:
    return lambda f: value if f.type == FieldDescriptor.TYPE_STRING else None


def _floats(value: float) -> Callable[[FieldDescriptor], Any]:
    return lambda f: value if f.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE) else None


def _ints(end: int) -> Callable[[FieldDescriptor], Any]:
    """Every integer field at its lowest (end 0) or highest (end 1) value."""
    return lambda f: None if (r := int_range(f)) is None or f.type == FieldDescriptor.TYPE_ENUM else r[end]


def test_a_nul_in_any_string_field_is_refused_before_storage(world: World) -> None:
    """On PostgreSQL a NUL in an id, label, mime type ... answered INTERNAL from 16 RPCs (SQLite let most through:
    NOT_FOUND, or stored). Every RPC now refuses it as it decodes the request, naming the field."""
    checked = 0
    for rpc in _OURS:
        request = _filled(rpc.request, _strings("a\x00b"))
        if not request.ByteSize():
            continue
        body = request.SerializeToString()
        outcome = world.send(rpc, [body] if rpc.method.client_streaming else body, admin=_is_admin_rpc(world, rpc))
        world.settle()
        assert outcome.status == "INVALID_ARGUMENT" and "must not contain NUL" in outcome.detail, (rpc.name, outcome)
        checked += 1
    assert checked > 50


def test_nan_and_infinities_are_refused_in_every_float(world: World) -> None:
    """LinkNotes with weight NaN answered INTERNAL (SQLite stores NaN as NULL); NaN or inf passed every
    `not lo <= x <= hi` check written as `x < lo` (repeat_penalty, last_s, min_age_s)."""
    checked = 0
    for rpc in _OURS:
        for value in (math.nan, math.inf, -math.inf):
            request = _filled(rpc.request, _floats(value))
            if not request.ByteSize():
                break
            outcome = world.send(rpc, request.SerializeToString(), admin=_is_admin_rpc(world, rpc))
            world.settle()
            assert outcome.status == "INVALID_ARGUMENT" and "finite" in outcome.detail, (rpc.name, value, outcome)
            checked += 1
    assert checked >= 5 * 3  # LinkNotes, Consolidate, Chat(Stream), Complete(Stream), ChatWithContext(Stream) ...


_HEX = "0123456789abcdef" * 2


def _bounds(world: World) -> list[tuple[str, Any, str]]:
    """(RPC, request, what the refusal says): repeated fields and strings that had no bound."""
    m, f, c, llm = memory_pb2, files_pb2, context_pb2, llm_pb2
    note = world.hints["note_id"][0]
    many_ids = [_HEX[: 32 - len(str(i))] + str(i) for i in range(257)]
    return [
        ("MemoryService.ShareNote", m.ShareNoteRequest(id=note, agent_ids=many_ids), "at most 256"),
        ("MemoryService.AddNote", m.AddNoteRequest(note=m.NewNote(content="x", share_with=many_ids)), "at most 256"),
        ("MemoryService.AddNote", m.AddNoteRequest(note=m.NewNote(content="x", context="c" * 1025)), "at most 1024"),
        ("MemoryService.UpdateNote", m.UpdateNoteRequest(id=note, context="c" * 1025), "at most 1024"),
        ("MemoryService.SearchNotes", m.SearchNotesRequest(query="q" * 32_769), "at most 32768"),
        ("MemoryService.LinkNotes", m.LinkNotesRequest(from_id=note, to_id=world.hints["note_id"][1], weight=5),
         "between 0 and 1"),
        ("MemoryService.LinkNotes", m.LinkNotesRequest(from_id=note, to_id=world.hints["note_id"][1],
                                                       reason="r" * 1025), "at most 1024"),
        ("LLMService.CountTokens", llm.CountTokensRequest(messages=[llm.ChatMessage(role="user")] * 4097),
         "at most 4096"),
        ("LLMService.Complete", llm.CompleteRequest(prompt="hi", session="s" * 129), "at most 128"),
        ("ContextService.SearchRecall", c.SearchRecallRequest(query="q" * 32_769), "at most 32768"),
        ("FileService.Retrieve", f.RetrieveRequest(query="q", keywords=["k"] * 33), "at most 32"),
        ("FileService.Retrieve", f.RetrieveRequest(query="q", keywords=["k" * 65]), "at most 64"),
        ("FileService.List", f.ListRequest(path="/", glob="*" * 257), "at most 256"),
        ("FileService.Write", f.WriteRequest(path="/m.txt", content=b"x", mime="m" * 256), "at most 255"),
        ("FileService.GroupBy", f.GroupByRequest(query="q" * 32_769), "at most 32768"),
        # An INTEGER column: PostgreSQL refused the number in the query (INTERNAL), SQLite found nothing.
        ("FileService.Read", f.ReadRequest(path="/a.txt", version=2**31), "must be 0-2147483647"),
        ("FileService.Rollback", f.RollbackRequest(path="/", change_id=-(2**63)), "must be 0-2147483647"),
        # A status message quoting the request whole passed gRPC's 16 KiB for trailers: the client got
        # RESOURCE_EXHAUSTED "metadata size exceeds", never the kernel's answer.
        ("FileService.CreateTree", f.CreateTreeRequest(name="N" * 100_000), "(clipped)"),
        ("AdminService.RevokeAgent", admin_pb2.RevokeAgentRequest(agent_id="x" * 100_000), "(clipped)"),
        # What the host's file system refuses under host_path answered INTERNAL.
        ("FileService.Import", f.ImportRequest(agent_id=world.agent_id, host_path=str(world.host_root / ("n" * 300))),
         "File name too long"),
        ("FileService.Export", f.ExportRequest(agent_id=world.agent_id,
                                               host_path=str(world.host_root / "host-loop" / "x")),
         "symbolic links"),
    ]  # fmt: skip


def test_unbounded_fields_are_bounded_and_refusals_write_nothing(world: World) -> None:
    by_name = {r.name: r for r in RPCS}
    for name, request, says in _bounds(world):
        rpc = by_name[name]
        before = world.fingerprint(rpc)
        outcome = world.send(rpc, request.SerializeToString(), admin=_is_admin_rpc(world, rpc))
        world.settle()
        assert outcome.status in _REFUSALS and says in outcome.detail, (name, says, outcome)
        assert len(outcome.detail.encode()) <= 1024, name
        assert world.fingerprint(rpc) == before, name


def test_the_last_instant_a_timestamp_holds_is_a_time_the_kernel_can_use(world: World) -> None:
    """9999-12-31T23:59:59.999999999 is a valid Timestamp, but as a float it rounds up into year 10000: a search
    with it as `as_of` answered INTERNAL (datetime: year 10000 is out of range)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    last = Timestamp(seconds=253_402_300_799, nanos=999_999_999)
    by_name = {r.name: r for r in RPCS}
    for name, request in [
        ("MemoryService.SearchNotes", memory_pb2.SearchNotesRequest(query="what happened yesterday", as_of=last)),
        ("MemoryService.SearchNotes", memory_pb2.SearchNotesRequest(query="Riga", created_before=last)),
        ("FileService.Rollback", files_pb2.RollbackRequest(path="/", at=last)),
    ]:
        outcome = world.send(by_name[name], request.SerializeToString(), admin=False)
        assert outcome.status not in _BAD, (name, outcome)


def test_extreme_values_on_postgresql_never_answer_internal(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, postgres: Any
) -> None:
    """What only PostgreSQL refuses, on every RPC: a NUL in every string field (INTERNAL from 16 RPCs), every
    integer field at its highest and lowest value (a version or change id past 2^31 - 1 answered INTERNAL:
    NumericValueOutOfRange on an INTEGER column), and NaN in every float. The fuzzing above runs on SQLite."""
    base = tmp_path_factory.mktemp("fuzz-pg")
    config = kernel_config(base / "data", database_url=postgres.new(), llm={"backend": "none"})
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        creds = admin.create_agent("pg-fuzzer")
        with Client(kernel.target, creds.token) as agent:
            agent.add_note("a note to find")
            agent.write_file("/a.txt", "alpha\n")
        with grpc.insecure_channel(kernel.target) as channel:
            w = World(kernel, channel, creds.token, kernel.admin_token, creds.agent.id, {}, {}, base, [], "",
                      _BugLog(), [])  # fmt: skip
            sent = 0
            for rpc in _OURS:
                for value_of in (_strings("a\x00b"), _ints(0), _ints(1), _floats(math.nan)):
                    request = _filled(rpc.request, value_of)
                    if not request.ByteSize():
                        continue
                    body = request.SerializeToString()
                    outcome = w.send(rpc, [body] if rpc.method.client_streaming else body, _is_admin_rpc(w, rpc))
                    w.settle()
                    assert outcome.status not in _BAD, (rpc.name, request, outcome)
                    sent += 1
    assert sent > 100


def test_reindexing_again_and_again_holds_no_more_memory(world: World) -> None:
    """Each Reindex dropped and re-created the agents' and trees' Chroma collections, and Chroma kept ~2.5 MiB of
    every one it deleted: the 1,000-case run grew the kernel by 1.1 GiB, mostly so."""
    reindex = next(r for r in RPCS if r.name == "AdminService.Reindex")
    bodies = [admin_pb2.ReindexRequest(files=files).SerializeToString() for files in (False, True)]

    def lap() -> None:
        for body in bodies:
            outcome = world.send(reindex, body, admin=True)
            world.settle()
            assert outcome.status == "OK", outcome

    lap()
    before = _rss()
    for _ in range(6):
        lap()
    assert _rss() - before < 16 << 20


# -- the real model --------------------------------------------------------------------------------------------

_LLM_RPCS = [r for r in RPCS if r.name in ("LLMService.Chat", "LLMService.Complete", "LLMService.CountTokens",
                                           "ContextService.ChatWithContext")]  # fmt: skip


@pytest.fixture(scope="module")
def real_model(llm_kernel: Kernel) -> Iterator[tuple[Kernel, str]]:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        yield llm_kernel, admin.create_agent("fuzz-real").token


@pytest.mark.parametrize("rpc", _LLM_RPCS, ids=lambda r: r.name)
def test_llm_inputs_with_the_real_model(real_model: tuple[Kernel, str], rpc: Rpc) -> None:
    """Well-typed LLM requests (max_tokens 1 or 2, so the model stops at once) meet the real tokenizer, chat
    template and constraint checks: never INTERNAL or UNKNOWN. Texts stay short here: prefilling a long one
    takes seconds on one thread, and tests/test_llm_inputs.py sends the huge ones."""
    kernel, token = real_model
    hints = {"role": ["user", "assistant", "system"], "grammar": ['root ::= "yes" | "no"'],
             "json_schema": ['{"type": "boolean"}']}  # fmt: skip
    text = st.one_of(st.just("Say hello."), texts().filter(lambda t: len(t) <= 300))
    overrides = {"content": text, "prompt": text, "text": text}
    strategy = messages(rpc.request, hints, overrides)
    with grpc.insecure_channel(kernel.target) as channel:
        send = channel.unary_unary(rpc.path)
        stop_at, cases = time.monotonic() + max(2.0, SECONDS / 10), [0]

        @settings(_SETTINGS, max_examples=min(EXAMPLES, 15))
        @given(request=strategy)
        def case(request: Any) -> None:
            if time.monotonic() > stop_at and cases[0] >= _MIN_CASES:
                return
            cases[0] += 1
            if "params" in rpc.request.fields_by_name:  # present, or the default of 256 tokens applies
                request.params.max_tokens = max(1, min(request.params.max_tokens, 2))
            try:
                send(request.SerializeToString(), metadata=[("authorization", f"Bearer {token}")], timeout=120)
            except grpc.RpcError as exc:
                assert exc.code().name not in _BAD, f"{rpc.name}: {exc.code().name} {exc.details()}"

        case()
