"""Issue 12: a fuzzer at the gRPC boundary. Every RPC the kernel serves (ours, health and reflection: the list is
checked against what the kernel's reflection service reports, so nothing is skipped silently) receives bodies drawn
from its request descriptor by tests/fuzz_protos.py: well-typed messages with extreme values, random bytes, mutated
messages and hand-made wire records. One real kernel (SQLite, the real embedding model; tests/fuzz_kernel.py seeds
it), the agent's own token (the admin token for admin RPCs, found by asking with the agent's first).

For every case: the status is never INTERNAL or UNKNOWN, and a refused call (INVALID_ARGUMENT, NOT_FOUND ...)
changes nothing the agent can see through the service's read RPCs (notes and links, file trees and their newest
change, the context and its events, LLM accounting, agents). Streams are read for a few messages and cancelled.
After the run: the health service answers, no stream slot leaked, its syscall table holds no INTERNAL, and RSS is
bounded (refused requests replayed lap after lap do not grow it). Then what the fuzzer found, one fixed case each,
on the same kernel.

The kernel's LLM is tests/fake_llm.py's backend: what is fuzzed is the validation at the boundary, which runs
before any generation, and the real model would spend the time budget generating (random bytes cannot be given a
small max_tokens). tests/test_fuzz_llm.py sends drawn LLM requests (max_tokens 1-2) to the real model;
tests/test_llm_inputs.py holds its regressions.

Budget: AIOS_FUZZ_SECONDS (all RPCs together, default 25) and AIOS_FUZZ_EXAMPLES (per RPC, default 60), whichever
ends first. Runs are reproducible (derandomized, no example database). `-s` prints cases and statuses per RPC.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import given
from hypothesis import strategies as st

from aios._proto.aios.v1 import admin_pb2, context_pb2, files_pb2, llm_pb2, memory_pb2
from aios.client import Client
from aios.embeddings import Embedder
from tests.conftest import ThreadedKernel, kernel_config
from tests.fuzz_kernel import seeded_world
from tests.fuzz_protos import messages, request_bodies
from tests.fuzz_world import (
    BAD,
    CALL_S,
    EXAMPLES,
    MIN_CASES,
    REFUSALS,
    RPCS,
    SECONDS,
    SETTINGS,
    STREAM_S,
    BugLog,
    Rpc,
    World,
    filled,
    floats,
    ints,
    is_admin_rpc,
    rss,
    strings,
)

# RSS (the kernel runs in this process). What a run adds includes what its accepted calls stored: every tree or
# agent with data holds a vector collection of ~3 MiB, so only an explosion fails the first bound. The second is the
# one a leak fails: refused requests replayed lap after lap must not grow RSS.
_RSS_GROWTH_MB = 2048
_REPLAY_PER_RPC = 4  # refused requests kept per RPC for the replay
_REPLAY_LAPS = max(2, EXAMPLES // 100)
_REPLAY_GROWTH_MB = 32


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[World]:
    with seeded_world(tmp_path_factory.mktemp("fuzz"), embedder) as w:
        yield w


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


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.name)
def test_rpc_boundary(world: World, rpc: Rpc) -> None:
    admin = is_admin_rpc(world, rpc)
    stop_at = time.monotonic() + SECONDS / len(RPCS)
    state = {"before": world.fingerprint(rpc), "failing": False}
    stats, modes = world.stats[rpc.name], world.modes[rpc.name]
    replay: list[tuple[Rpc, Any, bool]] = []

    @SETTINGS
    @given(drawn=_bodies(world, rpc, admin))
    def case(drawn: Any) -> None:
        if not state["failing"] and time.monotonic() > stop_at and sum(stats.values()) >= MIN_CASES:
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
            if outcome.status in BAD or "metadata size exceeds" in outcome.detail:
                state["failing"] = True
            assert outcome.status not in BAD, f"{rpc.name} answered {outcome.status}: {outcome.detail}\n{log}"
            # gRPC's own refusal of an answer whose status message is too large: the client never saw the answer.
            assert "metadata size exceeds" not in outcome.detail, f"{rpc.name}: {outcome.detail}"
            after = world.fingerprint(rpc)
            if outcome.status in REFUSALS and not outcome.messages and len(replay) < _REPLAY_PER_RPC:
                replay.append((rpc, body, admin))
            if outcome.status in REFUSALS and not outcome.messages:
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
    (reply,) = stub(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_S)
    served = {s.name for s in reply.list_services_response.service}
    assert served == {r.service for r in RPCS}


def test_after_the_run_the_kernel_answers_and_holds_no_more_than_it_should(world: World) -> None:
    health = world.channel.unary_unary("/grpc.health.v1.Health/Check",
                                       request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                       response_deserializer=health_pb2.HealthCheckResponse.FromString)  # fmt: skip
    for service in ["", *sorted({r.service for r in RPCS})]:
        reply = health(health_pb2.HealthCheckRequest(service=service), timeout=CALL_S)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service

    # Every stream the fuzzer opened was closed: the agent can open as many as the limit allows, at once.
    watch = world.channel.unary_stream("/aios.v1.FileService/Watch",
                                       request_serializer=files_pb2.WatchRequest.SerializeToString,
                                       response_deserializer=files_pb2.FileEvent.FromString)  # fmt: skip
    calls = [watch(files_pb2.WatchRequest(), metadata=world.md(), timeout=STREAM_S)
             for _ in range(world.kernel.config.limits.max_streams_per_agent)]  # fmt: skip
    try:
        assert all(next(call).op == "subscribed" for call in calls)
    finally:
        for call in calls:
            call.cancel()

    internal = [r for r in world.kernel.table.recent(limit=1 << 30) if r.error in BAD]
    assert not internal, [(r.kind, r.error) for r in internal[:5]]

    growth = rss() - world.rss_start

    def replay() -> None:
        for rpc, body, admin in world.refused:
            world.send(rpc, body, admin)
            world.settle()

    replay()  # caches and allocator pools fill on the first lap
    before = rss()
    for _ in range(_REPLAY_LAPS):
        replay()
    leak = rss() - before

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


def test_a_nul_in_any_string_field_is_refused_before_storage(world: World) -> None:
    """On PostgreSQL a NUL in an id, label, mime type ... answered INTERNAL from 16 RPCs (SQLite let most through:
    NOT_FOUND, or stored). Every RPC now refuses it as it decodes the request, naming the field."""
    checked = 0
    for rpc in _OURS:
        request = filled(rpc.request, strings("a\x00b"))
        if not request.ByteSize():
            continue
        body = request.SerializeToString()
        outcome = world.send(rpc, [body] if rpc.method.client_streaming else body, admin=is_admin_rpc(world, rpc))
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
            request = filled(rpc.request, floats(value))
            if not request.ByteSize():
                break
            outcome = world.send(rpc, request.SerializeToString(), admin=is_admin_rpc(world, rpc))
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
        outcome = world.send(rpc, request.SerializeToString(), admin=is_admin_rpc(world, rpc))
        world.settle()
        assert outcome.status in REFUSALS and says in outcome.detail, (name, says, outcome)
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
        assert outcome.status not in BAD, (name, outcome)


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
                      BugLog(), [])  # fmt: skip
            sent = 0
            for rpc in _OURS:
                for value_of in (strings("a\x00b"), ints(0), ints(1), floats(math.nan)):
                    request = filled(rpc.request, value_of)
                    if not request.ByteSize():
                        continue
                    body = request.SerializeToString()
                    outcome = w.send(rpc, [body] if rpc.method.client_streaming else body, is_admin_rpc(w, rpc))
                    w.settle()
                    assert outcome.status not in BAD, (rpc.name, request, outcome)
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
    before = rss()
    for _ in range(6):
        lap()
    assert rss() - before < 16 << 20
