"""The SDK sends what it is given or refuses it by name; bad requests get INVALID_ARGUMENT, never INTERNAL/UNKNOWN."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aios import errors
from aios._proto.aios.v1 import admin_pb2, context_pb2, files_pb2, llm_pb2, memory_pb2, memory_pb2_grpc
from aios.client import AsyncClient, Client, NewNote
from aios.kernel import Kernel

_BAD = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.fixture
def admin(sqlite_kernel: Kernel) -> Iterator[Client]:
    with Client(sqlite_kernel.target, sqlite_kernel.admin_token) as client:
        yield client


@pytest.fixture
def agent(admin: Client) -> Iterator[Client]:
    with Client(admin.target, admin.create_agent("sdk").token) as client:
        yield client


# -- batch adds carry every field ----------------------------------------------------------------------------


def test_add_notes_carries_every_field_add_note_takes(admin: Client, agent: Client) -> None:
    friend = admin.create_agent("friend").agent
    when = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    fields: dict[str, Any] = {
        "keywords": ["rotation", "deploy"], "context": "ops runbook", "tags": ["ops"], "category": "fact",
        "event_at": when, "importance": 0.75, "pinned": True, "share_with": [friend.id],
    }  # fmt: skip
    typed, as_dict, plain, pair = agent.add_notes([
        NewNote("The deploy key rotates every 90 days", {"team": "infra"}, **fields),
        {"content": "The VPN gateway moved", "event_at": when.timestamp(), "tags": ["net"], "importance": 0.5},
        "Lunch is at noon",
        ("Standup is at ten", {"team": "all"}),
    ])  # fmt: skip
    single = agent.add_note("The deploy key rotates every 90 days", {"team": "infra"}, **fields)
    for note in (typed, single):
        assert (note.metadata, note.keywords, note.context, note.tags, note.category) == (
            {"team": "infra"}, ["rotation", "deploy"], "ops runbook", ["ops"], "fact"
        )  # fmt: skip
        assert (note.event_at, note.importance, note.pinned, note.shared_with) == (when, 0.75, True, [friend.id])
    assert (as_dict.event_at, as_dict.tags, as_dict.importance) == (when, ["net"], 0.5)
    assert (plain.content, plain.metadata, plain.event_at) == ("Lunch is at noon", {}, None)
    assert pair.metadata == {"team": "all"}
    # What was sent is what is stored, not just what the reply echoed.
    assert agent.get_note(as_dict.id).event_at == when
    hits = agent.search("VPN gateway", k=1, event_after=datetime(2024, 2, 1, tzinfo=UTC))
    assert [h.note.id for h in hits] == [as_dict.id]


@pytest.mark.parametrize(
    ("notes", "named"),
    [
        ([("content", {}, datetime(2024, 1, 1, tzinfo=UTC))], "tuple"),  # the event time used to vanish
        ([("content",)], "tuple"),
        ([{"content": "x", "tag": ["ops"]}], "'tag'"),
        ([{"tags": ["ops"]}], "content"),
        ([42], "int"),
        ("one note", "list"),
        ([NewNote("x", event_at="yesterday")], "event_at"),  # type: ignore[arg-type]
        ([NewNote("x", event_at=float("nan"))], "event_at"),
        ([NewNote("x", {"n": 1})], "add_notes"),  # type: ignore[dict-item]
    ],
)
def test_add_notes_refuses_what_it_cannot_send(agent: Client, notes: Any, named: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=named):
        agent.add_notes(["a good note", *notes] if isinstance(notes, list) else notes)
    assert agent.memory_stats().notes == 0


# -- clear errors from the SDK -------------------------------------------------------------------------------


def test_sdk_refusals_are_invalid_argument_naming_the_option(agent: Client) -> None:
    calls = {
        "'tag'": lambda: agent.search("x", tag=["ops"]),  # type: ignore[call-arg]
        "'temprature'": lambda: agent.chat([("user", "hi")], temprature=0.5),  # type: ignore[call-arg]
        "'top'": lambda: agent.complete("hi", top=3),  # type: ignore[call-arg]
        "'maxtokens'": lambda: agent.chat_with_context("hi", maxtokens=3),  # type: ignore[call-arg]
        "'tagz'": lambda: agent.add_note("x", tagz=["ops"]),  # type: ignore[call-arg]
        "'importanc'": lambda: agent.update_note("n1", importanc=0.5),  # type: ignore[call-arg]
        "'path'": lambda: agent.retrieve("x", path="/a"),  # type: ignore[call-arg]
        "search: Value out of range": lambda: agent.search("x", k=-1),  # protobuf's refusal: k is unsigned
        "created_after": lambda: agent.search("x", created_after="last week"),  # type: ignore[typeddict-item]
        "subsystem": lambda: agent.status("nope"),
    }
    for named, call in calls.items():
        with pytest.raises(errors.InvalidArgument, match=named):
            call()
    with pytest.raises(errors.InvalidArgument, match="'temprature'"):
        list(agent.chat_stream([("user", "hi")], temprature=0.5))  # type: ignore[call-arg]
    assert agent.memory_stats().notes == 0


async def test_async_client_refuses_the_same(sqlite_kernel: Kernel) -> None:
    async with AsyncClient(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        creds = await admin.create_agent("async-sdk")
        async with AsyncClient(sqlite_kernel.target, creds.token) as agent:
            with pytest.raises(errors.InvalidArgument, match="'tag'"):
                await agent.search("x", tag=["ops"])  # type: ignore[call-arg]
            with pytest.raises(errors.InvalidArgument, match="'temprature'"):
                await agent.chat([("user", "hi")], temprature=0.5)  # type: ignore[call-arg]
            with pytest.raises(errors.InvalidArgument, match="tuple"):
                await agent.add_notes([("content", {}, 1.0)])  # type: ignore[list-item]
            when = datetime(2020, 5, 17, tzinfo=UTC)
            (note,) = await agent.add_notes([NewNote("Met Ada in Paris", event_at=when, tags=["travel"])])
            assert (note.event_at, note.tags) == (when, ["travel"])


async def test_async_client_opens_files_and_watches_like_client(sqlite_kernel: Kernel) -> None:
    async with AsyncClient(sqlite_kernel.target, sqlite_kernel.admin_token) as admin:
        creds = await admin.create_agent("async-files")
    async with AsyncClient(sqlite_kernel.target, creds.token) as agent:
        events = await agent.watch("/", timeout=60)
        async with await agent.open("/notes/a.txt", "w") as f:
            assert f.writable() and not f.readable()
            await f.write("first line\n")
        assert f.closed and f.info.version == 1
        async with await agent.open("/notes/a.txt", "a") as f:
            await f.write("second\n")
        async with await agent.open("/notes/a.txt") as f:
            assert await f.read() == "first line\nsecond\n"
        async with await agent.open("/notes/a.txt", "rb") as f:
            assert await f.readline() == b"first line\n"
            with pytest.raises(io.UnsupportedOperation):
                await f.write(b"x")
        with pytest.raises(ValueError, match="closed"):
            await f.read()
        with pytest.raises(errors.InvalidArgument, match="mode"):
            await agent.open("/notes/a.txt", "rw")
        stale = await agent.open("/notes/a.txt", "w")  # "w" writes only if nobody changed the file since
        await agent.write_file("/notes/a.txt", "meanwhile")
        await stale.write("lost")
        with pytest.raises(errors.FailedPrecondition):
            await stale.close()
        assert await agent.read_file("/notes/a.txt") == b"meanwhile"
        seen = []
        async for event in events:
            if event.path == "/notes/a.txt":
                seen.append(event.op)
            if len(seen) == 3:
                break
        await events.aclose()
        assert seen == ["create", "append", "write"]


def test_a_client_without_a_token_is_unauthenticated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIOS_TOKEN", raising=False)
    with pytest.raises(errors.Unauthenticated):
        Client("127.0.0.1:1")


# -- requests that do not decode -----------------------------------------------------------------------------


def _every_method() -> Iterator[tuple[str, bool, bool]]:
    """(path, request streaming, response streaming) of every RPC the kernel serves."""
    for module in (admin_pb2, memory_pb2, files_pb2, context_pb2, llm_pb2, health_pb2, reflection_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                yield f"/{service.full_name}/{m.name}", m.client_streaming, m.server_streaming


def _raw_call(channel: grpc.Channel, path: str, streams: tuple[bool, bool], data: bytes, token: str) -> None:
    kind = {(False, False): "unary_unary", (False, True): "unary_stream", (True, False): "stream_unary",
            (True, True): "stream_stream"}[streams]  # fmt: skip
    call = getattr(channel, kind)(path)  # no serializers: the bytes go out as they are
    reply = call(iter([data]) if streams[0] else data, metadata=[("authorization", f"Bearer {token}")], timeout=30)
    if streams[1]:
        list(reply)


def test_undecodable_requests_are_invalid_argument_on_every_rpc(
    sqlite_kernel: Kernel, admin: Client, agent: Client, caplog: pytest.LogCaptureFixture
) -> None:
    token = agent._token
    garbage = b"\xff\xff\xff"  # a field tag that never ends
    bad_utf8 = {  # well-formed protobuf with invalid UTF-8 in a string field
        "/aios.v1.MemoryService/AddNote": memory_pb2.AddNoteRequest(note=memory_pb2.NewNote(content="é"))
        .SerializeToString()
        .replace("é".encode(), b"\xc3\x28"),
        "/aios.v1.MemoryService/SearchNotes": b"\x0a\x02\xc3\x28",  # query
        "/aios.v1.AdminService/CreateAgent": b"\x0a\x01\xff",  # name
    }
    methods = list(_every_method())
    assert len(methods) > 40
    with grpc.insecure_channel(sqlite_kernel.target) as channel, caplog.at_level(logging.WARNING):
        for path, *streams in methods:
            for data in [garbage, *([bad_utf8[path]] if path in bad_utf8 else [])]:
                with pytest.raises(grpc.RpcError) as info:
                    _raw_call(channel, path, (streams[0], streams[1]), data, token)
                assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (path, info.value)
                assert "does not decode" in info.value.details()
    assert not [r for r in caplog.records if r.exc_info or "Unexpected" in r.getMessage()]
    assert agent.memory_stats().notes == 0 and [a.name for a in admin.list_agents()] == ["sdk"]


# -- probing AddNote / AddNotes / SearchNotes with odd values ------------------------------------------------

_ODD = ["", " ", "\x00", "a\x00b", "\x07\x1b[31m", "\u202e\u200b", "😀" * 50, "x" * 32_769, "'\"; DROP TABLE notes"]
_texts = st.one_of(st.text(st.characters(codec="utf-8"), max_size=40), st.sampled_from(_ODD))
_short = st.one_of(st.text(st.characters(codec="utf-8"), max_size=70), st.sampled_from(_ODD[:7]))
_lists = st.one_of(st.lists(_short, max_size=5), st.lists(st.just("tag"), min_size=30, max_size=300))
_floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def _timestamps(draw: st.DrawFn) -> Timestamp | None:
    seconds = draw(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-62135596800 - 5, 253402300799 + 5)))
    nanos = draw(st.one_of(st.just(0), st.integers(-(2**31), 2**31 - 1)))
    return draw(st.sampled_from([None, Timestamp(seconds=seconds, nanos=nanos)]))


@st.composite
def _new_notes(draw: st.DrawFn) -> memory_pb2.NewNote:
    note = memory_pb2.NewNote(
        content=draw(st.one_of(st.sampled_from(["A plain note"]), _texts)),
        metadata=draw(st.dictionaries(_short, _texts, max_size=draw(st.sampled_from([3, 70])))),
        keywords=draw(_lists), tags=draw(_lists), category=draw(_short), importance=draw(_floats),
        pinned=draw(st.booleans()), share_with=draw(st.lists(_short, max_size=2)),
    )  # fmt: skip
    if (context := draw(st.one_of(st.none(), _texts))) is not None:
        note.context = context
    if (event_at := draw(_timestamps())) is not None:
        note.event_at.CopyFrom(event_at)
    return note


@st.composite
def _searches(draw: st.DrawFn) -> memory_pb2.SearchNotesRequest:
    request = memory_pb2.SearchNotesRequest(
        query=draw(_texts), k=draw(st.integers(0, 2**32 - 1)), tags=draw(_lists), category=draw(_short),
        scope=draw(st.one_of(st.sampled_from(["own", "shared", "all", ""]), _short)),
        include_archived=draw(st.booleans()), expand_links=draw(st.booleans()),
    )  # fmt: skip
    for field in ("created_after", "created_before", "event_after", "event_before", "as_of"):
        if (ts := draw(_timestamps())) is not None:
            getattr(request, field).CopyFrom(ts)
    return request


# Inputs that once answered INTERNAL, after writing the note: a time a Timestamp cannot hold, NULs on PostgreSQL.
_ONCE_INTERNAL = [
    (
        "AddNote",
        memory_pb2.AddNoteRequest(note=memory_pb2.NewNote(content="x", event_at=Timestamp(seconds=-(2**62)))),
        1,
    ),
    ("AddNotes", memory_pb2.AddNotesRequest(notes=[memory_pb2.NewNote(content="x", share_with=["\x00"])]), 1),
    ("AddNote", memory_pb2.AddNoteRequest(note=memory_pb2.NewNote(content="x", category="a\x00")), 1),
]
_requests = st.one_of(
    st.builds(lambda n: ("AddNote", memory_pb2.AddNoteRequest(note=n), 1), _new_notes()),
    st.builds(
        lambda ns: ("AddNotes", memory_pb2.AddNotesRequest(notes=ns), len(ns)), st.lists(_new_notes(), max_size=3)
    ),
    st.builds(lambda r: ("SearchNotes", r, 0), _searches()),
)


# The SQL backends differ in what they refuse (PostgreSQL: a NUL anywhere); the vector store does not matter here.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
def test_odd_memory_requests_never_answer_internal_and_refusals_write_nothing(kernel: Kernel) -> None:
    with Client(kernel.target, kernel.admin_token) as admin:
        metadata = [("authorization", f"Bearer {admin.create_agent('prober').token}")]
    with grpc.insecure_channel(kernel.target) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)

        def notes() -> int:
            return stub.GetMemoryStats(memory_pb2.GetMemoryStatsRequest(), metadata=metadata).notes

        @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(_requests)
        @example(_ONCE_INTERNAL[0])
        @example(_ONCE_INTERNAL[1])
        @example(_ONCE_INTERNAL[2])
        def probe(case: tuple[str, Any, int]) -> None:
            method, request, adds = case
            before = notes()
            try:
                getattr(stub, method)(request, metadata=metadata, timeout=60)
            except grpc.RpcError as exc:
                assert exc.code() not in _BAD, (method, exc.details())
                assert notes() == before, f"a refused {method} wrote notes"
            else:
                assert notes() == before + adds

        probe()
