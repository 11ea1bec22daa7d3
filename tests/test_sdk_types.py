"""The SDK's result types against the protos they are converted from.

Every field of each proto message the SDK maps is a field of its result type (under its own name unless
RENAMED), or is listed in OMITTED with the reason; and the result type has no field the message lacks. A field
added to a proto fails here until the SDK type (and its conversion) carries it. Then each conversion is run on a
reply with every field set to a value of its own, and each field of the result must hold that value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from aios._proto.aios.v1 import admin_pb2, common_pb2, context_pb2, files_pb2, llm_pb2, memory_pb2
from aios.client import _types as t
from aios.client._ops import Operations

MAPPED: dict[type, type[Message]] = {
    t.Note: memory_pb2.Note,
    t.SearchHit: memory_pb2.SearchHit,
    t.NoteLink: memory_pb2.NoteLink,
    t.NoteVersion: memory_pb2.NoteVersion,
    t.ConsolidationReport: memory_pb2.ConsolidateResponse,
    t.MemoryStats: memory_pb2.MemoryStats,
    t.Identity: admin_pb2.Identity,
    t.Agent: admin_pb2.Agent,
    t.AgentCredentials: admin_pb2.CreateAgentResponse,
    t.Syscall: admin_pb2.Syscall,
    t.QueueStats: admin_pb2.QueueStats,
    t.AgentStats: admin_pb2.AgentSyscallStats,
    t.KernelStats: admin_pb2.KernelStats,
    t.ReindexProgress: admin_pb2.ReindexProgress,
    t.SubsystemStatus: common_pb2.SubsystemStatus,
    t.Usage: llm_pb2.Usage,
    t.Timing: llm_pb2.Timing,
    t.Completion: llm_pb2.Completion,
    t.CompletionChunk: llm_pb2.CompletionChunk,
    t.ModelInfo: llm_pb2.ModelInfo,
    t.LLMAgentStats: llm_pb2.AgentLLMStats,
    t.WaitingRequest: llm_pb2.WaitingRequest,
    t.SchedulerEvent: llm_pb2.SchedulerEvent,
    t.SchedulerState: llm_pb2.SchedulerState,
    t.ContextMessage: context_pb2.ContextMessage,
    t.CoreBlock: context_pb2.CoreBlock,
    t.RecalledItem: context_pb2.RecalledItem,
    t.ContextSection: context_pb2.ContextSection,
    t.Pressure: context_pb2.Pressure,
    t.ContextUpdate: context_pb2.ContextUpdate,
    t.ContextReply: context_pb2.ContextReply,
    t.ContextChunk: context_pb2.ContextChunk,
    t.AssembledContext: context_pb2.AssembledContext,
    t.RecallHit: context_pb2.RecallHit,
    t.ContextStats: context_pb2.ContextStats,
    t.ContextEvent: context_pb2.ContextEvent,
    t.KVSwap: context_pb2.SwapOutResponse,
    t.FileInfo: files_pb2.FileInfo,
    t.FileChange: files_pb2.ChangeResponse,
    t.FileVersion: files_pb2.FileVersion,
    t.FileChangeRecord: files_pb2.ChangeRecord,
    t.Passage: files_pb2.ChunkHit,
    t.FileHit: files_pb2.RetrieveHit,
    t.FileSummary: files_pb2.Summary,
    t.FileGroup: files_pb2.FileGroup,
    t.PassagePair: files_pb2.PassagePair,
    t.FileEvent: files_pb2.FileEvent,
    t.FileTree: files_pb2.Tree,
    t.TransferProgress: files_pb2.TransferProgress,
}
RENAMED: dict[type, dict[str, str]] = {t.FileHit: {"chunks": "passages"}}
"""proto field -> the result type's field, where the SDK names it otherwise."""
OMITTED: dict[type, dict[str, str]] = {
    t.Agent: {"revoked": "said by revoked_at, which is set exactly when the agent is revoked"},
}
"""proto field -> why the result type leaves it out."""


def _fields(sdk: type) -> set[str]:
    return {f.name for f in dataclasses.fields(sdk)}


def test_every_result_type_is_mapped_to_its_proto() -> None:
    assert set(MAPPED) == {getattr(t, name) for name in t.__all__}


@pytest.mark.parametrize("sdk", list(MAPPED), ids=lambda sdk: sdk.__name__)
def test_result_type_has_every_field_of_its_proto(sdk: type) -> None:
    renamed, omitted = RENAMED.get(sdk, {}), OMITTED.get(sdk, {})
    proto = {f.name for f in MAPPED[sdk].DESCRIPTOR.fields}
    assert set(omitted) <= proto, "OMITTED names a field the proto no longer has"
    expected = {renamed.get(name, name) for name in proto - set(omitted)}
    missing, extra = expected - _fields(sdk), _fields(sdk) - expected
    assert not missing, f"{sdk.__name__} lacks {sorted(missing)} of {MAPPED[sdk].DESCRIPTOR.full_name}"
    assert not extra, f"{sdk.__name__} has {sorted(extra)}, which {MAPPED[sdk].DESCRIPTOR.full_name} does not"


# -- each conversion copies each field -----------------------------------------------------------------------


class _Channel:
    """Enough of a channel for the stubs: a stub method is its RPC's path."""

    def unary_unary(self, path: str, *args: Any, **kwargs: Any) -> str:
        return path

    unary_stream = stream_unary = stream_stream = unary_unary


def _filled(cls: type[Message], seed: list[int], depth: int = 0) -> Message:
    """A message with every field set (one element per repeated field), each scalar to a value of its own."""
    msg = cls()
    for f in cls.DESCRIPTOR.fields:
        seed[0] += 1
        n = seed[0]
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value_field = f.message_type.fields_by_name["value"]
            getattr(msg, f.name)[f"key{n}"] = _scalar(value_field, n)
        elif f.message_type is not None:
            item = _message_value(f, seed, depth)
            if item is None:
                continue
            if f.is_repeated:
                getattr(msg, f.name).add().CopyFrom(item)
            else:
                getattr(msg, f.name).CopyFrom(item)
        elif f.is_repeated:
            getattr(msg, f.name).append(_scalar(f, n))
        else:
            setattr(msg, f.name, _scalar(f, n))
    return msg


def _message_value(f: FieldDescriptor, seed: list[int], depth: int) -> Message | None:
    if f.message_type.full_name == "google.protobuf.Timestamp":
        ts = Timestamp()
        ts.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC).replace(second=seed[0] % 60, minute=seed[0] // 60))
        return ts
    if depth > 4:
        return None
    return _filled(f.message_type._concrete_class, seed, depth + 1)


def _scalar(f: FieldDescriptor, n: int) -> Any:
    if f.type == FieldDescriptor.TYPE_BOOL:
        return True
    if f.type == FieldDescriptor.TYPE_STRING:
        return f"{f.name}-{n}"
    if f.type == FieldDescriptor.TYPE_BYTES:
        return f"{f.name}-{n}".encode()
    if f.type == FieldDescriptor.TYPE_ENUM:
        return f.enum_type.values[-1].number
    if f.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return n + 0.5
    return n


def _same(sdk: Any, proto: Any, where: str) -> None:
    """`sdk` (a result, a list of them, a datetime, a dict ...) holds what `proto` says."""
    if isinstance(proto, Timestamp):
        assert sdk == proto.ToDatetime(tzinfo=UTC), where
    elif isinstance(proto, Message) and isinstance(sdk, dict):  # a message of figures, e.g. ModelInfo.kv
        assert sdk == {f.name: getattr(proto, f.name) for f in proto.DESCRIPTOR.fields}, where
    elif isinstance(proto, llm_pb2.ChatMessage):  # AssembledContext.prompt: (role, content)
        assert sdk == (proto.role, proto.content), where
    elif isinstance(proto, Message):
        assert type(sdk) in MAPPED, f"{where}: {type(sdk).__name__} is not a mapped result type"
        renamed, omitted = RENAMED.get(type(sdk), {}), OMITTED.get(type(sdk), {})
        for f in proto.DESCRIPTOR.fields:
            if f.name not in omitted:
                value = getattr(proto, f.name)
                if f.type == FieldDescriptor.TYPE_ENUM:  # the SDK says the value's name, lower case
                    value = f.enum_type.values_by_number[value].name.lower().removeprefix("syscall_status_")
                _same(getattr(sdk, renamed.get(f.name, f.name)), value, f"{where}.{f.name}")
    elif hasattr(proto, "items"):  # a map field
        assert sdk == dict(proto), where
    elif hasattr(proto, "__len__") and not isinstance(proto, str | bytes):  # a repeated field
        assert isinstance(sdk, list) and len(sdk) == len(proto), where
        for i, (a, b) in enumerate(zip(sdk, proto, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert sdk == proto, f"{where}: {sdk!r} != {proto!r}"


Case = tuple[Callable[[Operations], Any], type[Message], Callable[[Any], Any]]
CASES: dict[str, Case] = {
    "get_note": (lambda o: o.memory.get_note("n"), memory_pb2.Note, lambda r: r),
    "search": (lambda o: o.memory.search("q", 3, {}), memory_pb2.SearchNotesResponse, lambda r: r.hits),
    "link": (lambda o: o.memory.link("a", "b", "related", "", None), memory_pb2.NoteLink, lambda r: r),
    "neighbours": (lambda o: o.memory.neighbours("n", 1), memory_pb2.NeighboursResponse, lambda r: r),
    "history": (lambda o: o.memory.history("n"), memory_pb2.HistoryResponse, lambda r: r.versions),
    "consolidate": (lambda o: o.memory.consolidate(None, None, 3), memory_pb2.ConsolidateResponse, lambda r: r),
    "memory_stats": (lambda o: o.memory.memory_stats(), memory_pb2.MemoryStats, lambda r: r),
    "whoami": (lambda o: o.admin.whoami(), admin_pb2.Identity, lambda r: r),
    "create_agent": (lambda o: o.admin.create_agent("a"), admin_pb2.CreateAgentResponse, lambda r: r),
    "reissue_token": (lambda o: o.admin.reissue_token("a"), admin_pb2.ReissueTokenResponse, lambda r: r),
    "list_agents": (lambda o: o.admin.list_agents(True), admin_pb2.ListAgentsResponse, lambda r: r.agents),
    "ps": (lambda o: o.admin.ps(None, 5), admin_pb2.ListSyscallsResponse, lambda r: r.syscalls),
    "stats": (lambda o: o.admin.stats(), admin_pb2.KernelStats, lambda r: r),
    "reindex": (lambda o: o.admin.reindex(None, False), admin_pb2.ReindexProgress, lambda r: r),
    "status": (lambda o: o.status("llm"), common_pb2.SubsystemStatus, lambda r: r),
    "chat": (lambda o: o.llm.chat([], "", {}, stream=False), llm_pb2.Completion, lambda r: r),
    "chat_stream": (lambda o: o.llm.chat([], "", {}, stream=True), llm_pb2.CompletionChunk, lambda r: r),
    "model_info": (lambda o: o.llm.model_info(), llm_pb2.ModelInfo, lambda r: r),
    "scheduler": (lambda o: o.llm.scheduler(), llm_pb2.SchedulerState, lambda r: r),
    "scheduler_events": (lambda o: o.llm.scheduler_events(0), llm_pb2.SchedulerEvents, lambda r: r.events),
    "get_context": (lambda o: o.context.get_context(), context_pb2.AssembledContext, lambda r: r),
    "append": (lambda o: o.context.append_messages([]), context_pb2.ContextUpdate, lambda r: r),
    "chat_ctx": (lambda o: o.context.chat_with_context("c", {}, False), context_pb2.ContextReply, lambda r: r),
    "chat_ctx_stream": (lambda o: o.context.chat_with_context("c", {}, True), context_pb2.ContextChunk, lambda r: r),
    "search_recall": (lambda o: o.context.search_recall("q", 3), context_pb2.SearchRecallResponse, lambda r: r.hits),
    "context_stats": (lambda o: o.context.context_stats(), context_pb2.ContextStats, lambda r: r),
    "context_events": (lambda o: o.context.context_events(0, 5), context_pb2.ContextEvents, lambda r: r.events),
    "swap_out": (lambda o: o.context.swap_out(False), context_pb2.SwapOutResponse, lambda r: r),
    "stat": (lambda o: o.files.stat("/f", "", 0), files_pb2.FileInfo, lambda r: r),
    "delete_file": (lambda o: o.files.delete_file("/f", "", False, None), files_pb2.ChangeResponse, lambda r: r),
    "dir_history": (lambda o: o.files.file_history("/", "", 5), files_pb2.FileHistoryResponse, lambda r: r.changes),
    "retrieve": (lambda o: o.files.retrieve("q", 3, "", {}), files_pb2.RetrieveResponse, lambda r: r.hits),
    "summarize": (lambda o: o.files.summarize("/f", "", 0), files_pb2.Summary, lambda r: r),
    "group_files": (lambda o: o.files.group_files("", 0, "", "/", 0), files_pb2.GroupByResponse, lambda r: r.groups),
    "join_files": (lambda o: o.files.join_files("/a", "/b", 3, "", ""), files_pb2.JoinResponse, lambda r: r.pairs),
    "watch": (lambda o: o.files.watch("/", ""), files_pb2.FileEvent, lambda r: r),
    "create_tree": (lambda o: o.files.create_tree("t"), files_pb2.Tree, lambda r: r),
    "import_dir": (lambda o: o.files.import_dir("a", "/h", "/", ""), files_pb2.TransferProgress, lambda r: r),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_conversion_copies_every_field(name: str) -> None:
    build, reply_type, counterpart = CASES[name]
    op = build(Operations(_Channel()))
    reply = _filled(reply_type, [0])
    result = op.parse(reply)
    if isinstance(result, tuple) and not dataclasses.is_dataclass(result):  # (notes, links)
        _same(list(result), [reply.notes, reply.links], name)
    else:
        _same(result, counterpart(reply), name)


def test_file_history_of_a_file_is_its_versions() -> None:
    op = Operations(_Channel()).files.file_history("/f", "", 5)
    reply = _filled(files_pb2.FileHistoryResponse, [0])
    reply.is_dir = False
    _same(op.parse(reply), reply.versions, "file_history")


def test_every_mapped_type_is_converted_somewhere() -> None:
    """Each result type turns up in some conversion above, so none is left unchecked by value."""
    seen: set[type] = set()

    def collect(value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            seen.add(type(value))
            for f in dataclasses.fields(value):
                collect(getattr(value, f.name))
        elif isinstance(value, list | tuple):
            for item in value:
                collect(item)

    for build, reply_type, _ in CASES.values():
        collect(build(Operations(_Channel())).parse(_filled(reply_type, [0])))
    collect(Operations(_Channel()).files.file_history("/f", "", 5).parse(files_pb2.FileHistoryResponse(
        versions=[files_pb2.FileVersion()])))  # fmt: skip
    assert set(MAPPED) - seen == set()
