"""What Client and AsyncClient share: targets, metadata, request building, reply conversion, errors.

Each operation is built once here as (stub method, request, parser); the two clients only differ in
how they make the call (httpx's BaseClient / Client / AsyncClient split).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from aios._proto.aios.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    context_pb2,
    context_pb2_grpc,
    files_pb2,
    files_pb2_grpc,
    llm_pb2,
    llm_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from aios.client import _types as t
from aios.client._inputs import (
    NewNote,
    NoteChanges,
    NoteFields,
    RetrieveFilters,
    Sampling,
    SearchOptions,
    Time,
    check_options,
)
from aios.config import DEFAULT_PORT
from aios.errors import InvalidArgument, Unauthenticated, error_for_code

DEFAULT_TARGET = f"127.0.0.1:{DEFAULT_PORT}"
STREAM_CHUNK = 1 << 20
"""Bytes per message when a file is streamed."""
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


Messages = list[dict[str, str]] | list[tuple[str, str]]
NoteInput = str | tuple[str, Mapping[str, str]] | Mapping[str, Any] | NewNote
"""One note for add_notes: its content, (content, metadata), a dict of NewNote's fields, or a NewNote."""


class Op(NamedTuple):
    method: Any
    request: Any
    parse: Callable[[Any], Any]


@contextlib.contextmanager
def map_errors() -> Iterator[None]:
    """Turn grpc.RpcError into the aios error tree; nothing else escapes."""
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        raise error_for_code(code.name if code else "UNKNOWN", details or "") from None


_Builder = TypeVar("_Builder", bound=Callable[..., Any])


def _refusals_are_invalid(build: _Builder) -> _Builder:
    @functools.wraps(build)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return build(*args, **kwargs)
        except (TypeError, ValueError) as exc:  # protobuf's word for a wrong type or an out-of-range value
            raise InvalidArgument(f"{build.__name__.lstrip('_')}: {exc}") from None

    return checked  # type: ignore[return-value]


def _requests_checked(cls: type) -> type:
    """Wrap every request builder (a method returning an Op) so a request protobuf refuses to build, e.g.
    a negative k or a metadata value that is not a string, is an InvalidArgument like the kernel's own
    refusals. Done once here, so no builder can forget it and the clients' `_call` stays a plain call."""
    for name, member in list(vars(cls).items()):
        if callable(member) and getattr(member, "__annotations__", {}).get("return") == "Op":
            setattr(cls, name, _refusals_are_invalid(member))
    return cls


class Stubs:
    def __init__(self, channel: Any) -> None:
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.memory = memory_pb2_grpc.MemoryServiceStub(channel)
        self.files = files_pb2_grpc.FileServiceStub(channel)
        self.context = context_pb2_grpc.ContextServiceStub(channel)
        self.llm = llm_pb2_grpc.LLMServiceStub(channel)


@_requests_checked
class BaseClient:
    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = 60.0,
        act_as: str | None = None,
        priority: int | None = None,
    ) -> None:
        self.target = target or os.environ.get("AIOS_TARGET") or DEFAULT_TARGET
        token = token or os.environ.get("AIOS_TOKEN")
        if not token:
            raise Unauthenticated("no token: pass token= or set AIOS_TOKEN")
        self.timeout = timeout
        self._token = token
        self._act_as = act_as
        self._priority = priority
        metadata = [("authorization", f"Bearer {token}")]
        if act_as:
            metadata.append(("x-aios-act-as", act_as))
        if priority is not None:
            metadata.append(("x-aios-priority", str(priority)))
        self._metadata = tuple(metadata)

    # -- operations: one builder per syscall -------------------------------------------------------

    def _whoami(self) -> Op:
        return Op(self._stubs.admin.GetIdentity, admin_pb2.GetIdentityRequest(), _identity)

    def _add_note(self, content: str, metadata: Mapping[str, str] | None, fields: Mapping[str, Any]) -> Op:
        check_options(fields, NoteFields, "add_note")
        note = _to_proto_new_note(NewNote(content, metadata, **fields))
        return Op(self._stubs.memory.AddNote, memory_pb2.AddNoteRequest(note=note), _note)

    def _add_notes(self, notes: Sequence[NoteInput]) -> Op:
        if isinstance(notes, str | bytes | Mapping | NewNote):  # one note where a list of them belongs
            raise InvalidArgument("add_notes takes a list of notes; add_note adds one")
        msgs = [_to_proto_new_note(_new_note_of(n, i)) for i, n in enumerate(notes)]
        return Op(
            self._stubs.memory.AddNotes,
            memory_pb2.AddNotesRequest(notes=msgs),
            lambda r: [_note(n) for n in r.notes],
        )

    def _get_note(self, note_id: str) -> Op:
        return Op(self._stubs.memory.GetNote, memory_pb2.GetNoteRequest(id=note_id), _note)

    def _delete_note(self, note_id: str) -> Op:
        return Op(self._stubs.memory.DeleteNote, memory_pb2.DeleteNoteRequest(id=note_id), lambda r: None)

    def _search(self, query: str, k: int, options: SearchOptions) -> Op:
        check_options(options, SearchOptions, "search")
        given: dict[str, Any] = {key: value for key, value in options.items() if value is not None}
        times = {key: _ts(given.pop(key), key) for key in list(given) if key in _SEARCH_TIMES}
        return Op(
            self._stubs.memory.SearchNotes,
            memory_pb2.SearchNotesRequest(query=query, k=k, **given, **times),
            lambda r: [t.SearchHit(_note(h.note), h.score, dict(h.signals)) for h in r.hits],
        )

    def _update_note(self, note_id: str, changes: NoteChanges) -> Op:
        check_options(changes, NoteChanges, "update_note")
        fields: dict[str, Any] = {key: value for key, value in changes.items() if value is not None}
        request = memory_pb2.UpdateNoteRequest(id=note_id, expected_version=fields.pop("expected_version", 0))
        for key in ("keywords", "tags"):
            if key in fields:
                getattr(request, key).extend(fields.pop(key))
                setattr(request, f"set_{key}", True)
        for key, value in fields.items():
            setattr(request, key, value)
        return Op(self._stubs.memory.UpdateNote, request, _note)

    def _set_flags(self, note_id: str, archived: bool | None = None, pinned: bool | None = None) -> Op:
        request = memory_pb2.SetNoteFlagsRequest(id=note_id)
        if archived is not None:
            request.archived = archived
        if pinned is not None:
            request.pinned = pinned
        return Op(self._stubs.memory.SetNoteFlags, request, _note)

    def _share(self, note_id: str, agent_ids: list[str], unshare: bool) -> Op:
        request = memory_pb2.ShareNoteRequest(id=note_id, agent_ids=agent_ids, unshare=unshare)
        return Op(self._stubs.memory.ShareNote, request, _note)

    def _link(self, from_id: str, to_id: str, kind: str, reason: str, weight: float | None) -> Op:
        request = memory_pb2.LinkNotesRequest(from_id=from_id, to_id=to_id, kind=kind, reason=reason)
        if weight is not None:
            request.weight = weight
        return Op(self._stubs.memory.LinkNotes, request, _link)

    def _unlink(self, from_id: str, to_id: str) -> Op:
        request = memory_pb2.UnlinkNotesRequest(from_id=from_id, to_id=to_id)
        return Op(self._stubs.memory.UnlinkNotes, request, lambda r: None)

    def _neighbours(self, note_id: str, depth: int) -> Op:
        return Op(
            self._stubs.memory.GetNeighbours,
            memory_pb2.GetNeighboursRequest(id=note_id, depth=depth),
            lambda r: ([_note(n) for n in r.notes], [_link(x) for x in r.links]),
        )

    def _history(self, note_id: str) -> Op:
        return Op(
            self._stubs.memory.GetHistory,
            memory_pb2.GetHistoryRequest(id=note_id),
            lambda r: [
                t.NoteVersion(v.version, v.content, v.context, list(v.keywords), list(v.tags), v.category, v.cause,
                              _time(v.created_at))
                for v in r.versions
            ],
        )  # fmt: skip

    def _undo_evolution(self, note_id: str) -> Op:
        request = memory_pb2.UndoEvolutionRequest(note_id=note_id)
        return Op(self._stubs.memory.UndoEvolution, request, lambda r: r.reverted)

    def _graph(self, limit: int, include_archived: bool) -> Op:
        return Op(
            self._stubs.memory.GetGraph,
            memory_pb2.GetGraphRequest(limit=limit, include_archived=include_archived),
            lambda r: ([_note(n) for n in r.notes], [_link(x) for x in r.links]),
        )

    def _consolidate(self, min_age_s: float | None, weak_below: float | None, min_group: int) -> Op:
        request = memory_pb2.ConsolidateRequest(min_group=min_group)
        if min_age_s is not None:
            request.min_age_s = min_age_s
        if weak_below is not None:
            request.weak_below = weak_below
        return Op(
            self._stubs.memory.Consolidate,
            request,
            lambda r: t.ConsolidationReport(r.groups, list(r.summary_ids), r.archived, r.profile_id),
        )

    def _run_decay(self) -> Op:
        return Op(self._stubs.memory.RunDecay, memory_pb2.RunDecayRequest(), lambda r: r.archived)

    def _memory_stats(self) -> Op:
        return Op(
            self._stubs.memory.GetMemoryStats,
            memory_pb2.GetMemoryStatsRequest(),
            lambda r: t.MemoryStats(r.notes, r.archived, r.pinned, r.links, r.shared_with_me, r.mean_retention),
        )

    def _create_agent(self, name: str) -> Op:
        return Op(
            self._stubs.admin.CreateAgent,
            admin_pb2.CreateAgentRequest(name=name),
            lambda r: t.AgentCredentials(_agent(r.agent), r.token),
        )

    def _list_agents(self, include_revoked: bool) -> Op:
        return Op(
            self._stubs.admin.ListAgents,
            admin_pb2.ListAgentsRequest(include_revoked=include_revoked),
            lambda r: [_agent(a) for a in r.agents],
        )

    def _revoke_agent(self, agent_id: str) -> Op:
        return Op(self._stubs.admin.RevokeAgent, admin_pb2.RevokeAgentRequest(agent_id=agent_id), _agent)

    def _reissue_token(self, agent_id: str) -> Op:
        return Op(
            self._stubs.admin.ReissueToken,
            admin_pb2.ReissueTokenRequest(agent_id=agent_id),
            lambda r: t.AgentCredentials(_agent(r.agent), r.token),
        )

    def _ps(self, agent_id: str | None, limit: int) -> Op:
        return Op(
            self._stubs.admin.ListSyscalls,
            admin_pb2.ListSyscallsRequest(agent_id=agent_id or "", limit=limit),
            lambda r: [_syscall(s) for s in r.syscalls],
        )

    def _stats(self) -> Op:
        return Op(self._stubs.admin.GetStats, admin_pb2.GetStatsRequest(), _stats)

    def _reindex(self, agent_id: str | None, files: bool) -> Op:
        return Op(
            self._stubs.admin.Reindex,
            admin_pb2.ReindexRequest(agent_id=agent_id or "", files=files),
            lambda r: t.ReindexProgress(r.done, r.total),
        )

    # -- files -------------------------------------------------------------------------------------

    def _write_file(self, path: str, content: bytes, tree: str, append: bool, expected: int | None, mime: str) -> Op:
        request = files_pb2.WriteRequest(tree=tree, path=path, content=content, append=append, mime=mime)
        if expected is not None:
            request.expected_version = expected
        return Op(self._stubs.files.Write, request, _file)

    def _write_file_stream(
        self, path: str, chunks: Iterable[bytes], tree: str, append: bool, expected: int | None, mime: str
    ) -> Op:
        header = self._write_file(path, b"", tree, append, expected, mime).request

        def messages() -> Iterator[files_pb2.WriteChunk]:
            yield files_pb2.WriteChunk(header=header)
            for chunk in chunks:
                for i in range(0, len(chunk), STREAM_CHUNK):
                    yield files_pb2.WriteChunk(data=bytes(chunk[i : i + STREAM_CHUNK]))

        return Op(self._stubs.files.WriteStream, messages(), _file)

    def _read_file(self, path: str, tree: str, version: int, stream: bool) -> Op:
        request = files_pb2.ReadRequest(tree=tree, path=path, version=version)
        if stream:
            return Op(self._stubs.files.ReadStream, request, _read_chunk)
        return Op(self._stubs.files.Read, request, lambda r: r.content)

    def _stat(self, path: str, tree: str, version: int) -> Op:
        return Op(self._stubs.files.Stat, files_pb2.StatRequest(tree=tree, path=path, version=version), _file)

    def _list_files(self, path: str, tree: str, glob: str, recursive: bool, include_deleted: bool) -> Op:
        request = files_pb2.ListRequest(tree=tree, path=path, glob=glob, recursive=recursive,
                                        include_deleted=include_deleted)  # fmt: skip
        return Op(self._stubs.files.List, request, lambda r: [_file(f) for f in r.entries])

    def _mkdir(self, path: str, tree: str) -> Op:
        return Op(self._stubs.files.MakeDir, files_pb2.MakeDirRequest(tree=tree, path=path), _file)

    def _delete_file(self, path: str, tree: str, recursive: bool, expected: int | None) -> Op:
        request = files_pb2.DeleteRequest(tree=tree, path=path, recursive=recursive)
        if expected is not None:
            request.expected_version = expected
        return Op(self._stubs.files.Delete, request, _change)

    def _move(self, src: str, dst: str, tree: str, expected: int | None) -> Op:
        request = files_pb2.MoveRequest(tree=tree, src=src, dst=dst)
        if expected is not None:
            request.expected_version = expected
        return Op(self._stubs.files.Move, request, _file)

    def _copy(self, src: str, dst: str, tree: str) -> Op:
        return Op(self._stubs.files.Copy, files_pb2.CopyRequest(tree=tree, src=src, dst=dst), _file)

    def _file_history(self, path: str, tree: str, limit: int) -> Op:
        request = files_pb2.FileHistoryRequest(tree=tree, path=path, limit=limit)
        return Op(self._stubs.files.History, request, _file_history)

    def _diff(self, path: str, from_version: int, to_version: int, tree: str, context_lines: int) -> Op:
        request = files_pb2.DiffRequest(tree=tree, path=path, from_version=from_version, to_version=to_version,
                                        context_lines=context_lines)  # fmt: skip
        return Op(self._stubs.files.Diff, request, lambda r: r.diff)

    def _rollback(self, path: str, tree: str, version: int | None, change_id: int | None, at: Any) -> Op:
        if sum(x is not None for x in (version, change_id, at)) != 1:
            raise InvalidArgument("rollback needs exactly one of version=, change_id= or at=")
        request = files_pb2.RollbackRequest(tree=tree, path=path)
        if version is not None:
            request.version = version
        elif change_id is not None:
            request.change_id = change_id
        else:
            request.at.CopyFrom(_ts(at, "at"))
        return Op(self._stubs.files.Rollback, request, _change)

    def _retrieve(self, query: str, k: int, tree: str, options: RetrieveFilters) -> Op:
        check_options(options, RetrieveFilters, "retrieve")
        request = files_pb2.RetrieveRequest(tree=tree, query=query, k=k, **options)
        return Op(self._stubs.files.Retrieve, request, lambda r: [_file_hit(h) for h in r.hits])

    def _summarize(self, path: str, tree: str, version: int) -> Op:
        request = files_pb2.SummarizeRequest(tree=tree, path=path, version=version)
        return Op(self._stubs.files.Summarize, request,
                  lambda s: t.FileSummary(s.path, s.version, s.text, s.method, s.cached))  # fmt: skip

    def _group_files(self, query: str, groups: int, tree: str, path_prefix: str, limit: int) -> Op:
        request = files_pb2.GroupByRequest(tree=tree, query=query, groups=groups, path_prefix=path_prefix, limit=limit)
        return Op(self._stubs.files.GroupBy, request, lambda r: [
            t.FileGroup(g.name, list(g.keywords), [_file(f) for f in g.files]) for g in r.groups
        ])  # fmt: skip

    def _join_files(self, path_a: str, path_b: str, k: int, tree: str, tree_b: str) -> Op:
        request = files_pb2.JoinRequest(tree=tree, path_a=path_a, tree_b=tree_b, path_b=path_b, k=k)
        return Op(self._stubs.files.Join, request, lambda r: [
            t.PassagePair(_passage(p.a), _passage(p.b), p.score) for p in r.pairs
        ])  # fmt: skip

    def _watch(self, path_prefix: str, tree: str) -> Op:
        request = files_pb2.WatchRequest(tree=tree, path_prefix=path_prefix)
        return Op(self._stubs.files.Watch, request, lambda e: t.FileEvent(
            e.change_id, e.op, e.tree, e.path, e.version, e.agent_id, _time(e.at)
        ))  # fmt: skip

    def _create_tree(self, name: str) -> Op:
        return Op(self._stubs.files.CreateTree, files_pb2.CreateTreeRequest(name=name), _tree)

    def _grant(self, tree: str, agent_id: str, mode: str) -> Op:
        return Op(self._stubs.files.Grant, files_pb2.GrantRequest(tree=tree, agent_id=agent_id, mode=mode), _tree)

    def _list_trees(self) -> Op:
        return Op(self._stubs.files.ListTrees, files_pb2.ListTreesRequest(), lambda r: [_tree(x) for x in r.trees])

    def _import_dir(self, agent_id: str, host_path: str, dest: str, tree: str) -> Op:
        request = files_pb2.ImportRequest(agent_id=agent_id, tree=tree, host_path=host_path, dest=dest)
        return Op(self._stubs.files.Import, request, _transfer)

    def _export_tree(self, agent_id: str, host_path: str, path: str, tree: str, change_id: int) -> Op:
        request = files_pb2.ExportRequest(agent_id=agent_id, tree=tree, path=path, host_path=host_path,
                                          change_id=change_id)  # fmt: skip
        return Op(self._stubs.files.Export, request, _transfer)

    # -- llm ---------------------------------------------------------------------------------------

    def _chat(self, messages: Messages, session: str, sampling: Sampling, stream: bool) -> Op:
        request = llm_pb2.ChatRequest(messages=_messages(messages), params=_params(sampling), session=session)
        if stream:
            return Op(self._stubs.llm.ChatStream, request, _chunk)
        return Op(self._stubs.llm.Chat, request, _completion)

    def _complete(self, prompt: str, session: str, sampling: Sampling, stream: bool) -> Op:
        request = llm_pb2.CompleteRequest(prompt=prompt, params=_params(sampling), session=session)
        if stream:
            return Op(self._stubs.llm.CompleteStream, request, _chunk)
        return Op(self._stubs.llm.Complete, request, _completion)

    def _count_tokens(self, text: str, messages: Messages | None) -> Op:
        request = llm_pb2.CountTokensRequest(text=text, messages=_messages(messages or []))
        return Op(self._stubs.llm.CountTokens, request, lambda r: r.tokens)

    def _model_info(self) -> Op:
        return Op(self._stubs.llm.GetModelInfo, llm_pb2.GetModelInfoRequest(), _model_info)

    def _scheduler(self) -> Op:
        return Op(self._stubs.llm.GetScheduler, llm_pb2.GetSchedulerRequest(), _scheduler)

    def _set_policy(self, policy: str, quantum: int | None) -> Op:
        request = llm_pb2.SetSchedulerPolicyRequest(policy=policy, quantum=quantum or 0)
        return Op(self._stubs.llm.SetSchedulerPolicy, request, _scheduler)

    def _scheduler_events(self, last_s: float) -> Op:
        request = llm_pb2.GetSchedulerEventsRequest(last_s=last_s)
        return Op(
            self._stubs.llm.GetSchedulerEvents,
            request,
            lambda r: [
                t.SchedulerEvent(e.request_id, e.agent_id, e.job_class, e.start_s, e.end_s, e.prefilled, e.generated,
                                 e.switched, e.finished)
                for e in r.events
            ],
        )  # fmt: skip

    def _set_quota(self, agent_id: str, tokens_per_minute: int) -> Op:
        request = llm_pb2.SetQuotaRequest(agent_id=agent_id, tokens_per_minute=tokens_per_minute)
        return Op(self._stubs.llm.SetQuota, request, lambda r: None)

    def _status(self, subsystem: str) -> Op:
        stubs = {"files": self._stubs.files, "context": self._stubs.context, "llm": self._stubs.llm}
        if subsystem not in stubs:
            raise InvalidArgument(f"unknown subsystem {subsystem!r}; one of {', '.join(stubs)}")
        return Op(
            stubs[subsystem].GetStatus,
            common_pb2.GetStatusRequest(),
            lambda r: t.SubsystemStatus(r.name, r.available, r.detail),
        )

    # -- context paging ----------------------------------------------------------------------------

    def _append_messages(self, messages: Messages) -> Op:
        request = context_pb2.AppendMessagesRequest(messages=_messages(messages))
        return Op(self._stubs.context.AppendMessages, request, _context_update)

    def _chat_with_context(self, content: str, sampling: Sampling, stream: bool) -> Op:
        params = _params(sampling, default_max_tokens=0)  # 0: the kernel's reply reserve
        request = context_pb2.ChatWithContextRequest(content=content, params=params)
        if stream:
            return Op(self._stubs.context.ChatWithContextStream, request, _context_chunk)
        return Op(self._stubs.context.ChatWithContext, request, _context_reply)

    def _get_context(self) -> Op:
        return Op(self._stubs.context.GetContext, context_pb2.GetContextRequest(), _assembled_context)

    def _set_system_prompt(self, text: str) -> Op:
        request = context_pb2.SetSystemPromptRequest(text=text)
        return Op(self._stubs.context.SetSystemPrompt, request, _context_update)

    def _set_core_block(self, label: str, value: str, limit_tokens: int) -> Op:
        request = context_pb2.SetCoreBlockRequest(label=label, value=value, limit_tokens=limit_tokens)
        return Op(self._stubs.context.SetCoreBlock, request, _context_update)

    def _delete_core_block(self, label: str) -> Op:
        request = context_pb2.DeleteCoreBlockRequest(label=label)
        return Op(self._stubs.context.DeleteCoreBlock, request, _context_update)

    def _page_in(self, item_id: str, pin: bool) -> Op:
        return Op(self._stubs.context.PageIn, context_pb2.PageInRequest(id=item_id, pin=pin), _context_update)

    def _page_out(self, ids: list[str] | None, oldest: int) -> Op:
        request = context_pb2.PageOutRequest(ids=ids or [], oldest=oldest)
        return Op(self._stubs.context.PageOut, request, _context_update)

    def _set_pinned(self, item_id: str, pinned: bool) -> Op:
        request = context_pb2.SetPinnedRequest(id=item_id, pinned=pinned)
        return Op(self._stubs.context.SetPinned, request, _context_update)

    def _search_recall(self, query: str, k: int) -> Op:
        return Op(
            self._stubs.context.SearchRecall,
            context_pb2.SearchRecallRequest(query=query, k=k),
            lambda r: [
                t.RecallHit(h.note_id, h.message_id, h.role, h.content, h.score, _time(h.created_at)) for h in r.hits
            ],
        )

    def _context_stats(self) -> Op:
        return Op(
            self._stubs.context.GetContextStats,
            context_pb2.GetContextStatsRequest(),
            lambda r: t.ContextStats(**{f.name: getattr(r, f.name) for f in r.DESCRIPTOR.fields}),
        )

    def _context_events(self, after_id: int, limit: int) -> Op:
        return Op(
            self._stubs.context.ListContextEvents,
            context_pb2.ListContextEventsRequest(after_id=after_id, limit=limit),
            lambda r: [t.ContextEvent(e.id, e.kind, _time(e.at), e.fraction, e.tokens, e.detail) for e in r.events],
        )

    def _swap_out(self, drop: bool) -> Op:
        return Op(
            self._stubs.context.SwapOut, context_pb2.SwapOutRequest(drop=drop), lambda r: t.KVSwap(r.where, r.bytes)
        )

    _stubs: Stubs


# -- conversions from protobuf -----------------------------------------------------------------


def _time(ts: Timestamp) -> datetime:
    return ts.ToDatetime().astimezone()


def _opt_time(msg: Any, field: str) -> datetime | None:
    return _time(getattr(msg, field)) if msg.HasField(field) else None


_SEARCH_TIMES = ("created_after", "created_before", "event_after", "event_before", "as_of")


def _ts(value: Time, what: str) -> Timestamp:
    if isinstance(value, bool) or not isinstance(value, datetime | int | float):
        raise InvalidArgument(f"{what} must be a datetime or seconds since the epoch, got {value!r}")
    ts = Timestamp()
    seconds = value.timestamp() if isinstance(value, datetime) else value
    try:
        ts.FromNanoseconds(int(seconds * 1e9))
    except (OverflowError, ValueError):  # NaN, infinity, or beyond the years 1-9999 a Timestamp holds
        raise InvalidArgument(f"{what} is not a time a timestamp can hold: {value!r}") from None
    return ts


def _new_note_of(item: NoteInput, i: int) -> NewNote:
    """add_notes' i-th note as a NewNote; what does not describe a note is refused, never half-read."""
    if isinstance(item, NewNote):
        return item
    if isinstance(item, str):
        return NewNote(item)
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InvalidArgument(f"note {i}: a tuple is (content, metadata), got {len(item)} items; "
                                  "pass a dict or a NewNote for more fields")  # fmt: skip
        return NewNote(item[0], item[1])
    if isinstance(item, Mapping):
        check_options(item, NewNote, f"note {i}")
        if "content" not in item:
            raise InvalidArgument(f"note {i}: content is required")
        return NewNote(**item)
    raise InvalidArgument(f"note {i}: expected a string, (content, metadata), a dict or a NewNote, "
                          f"got {type(item).__name__}")  # fmt: skip


def _to_proto_new_note(n: NewNote) -> memory_pb2.NewNote:
    note = memory_pb2.NewNote(
        content=n.content, metadata=dict(n.metadata or {}), keywords=n.keywords or [], tags=n.tags or [],
        category=n.category, importance=n.importance, pinned=n.pinned, share_with=n.share_with or [],
    )  # fmt: skip
    if n.context is not None:
        note.context = n.context
    if n.event_at is not None:
        note.event_at.CopyFrom(_ts(n.event_at, "event_at"))
    return note


def _note(n: memory_pb2.Note) -> t.Note:
    return t.Note(
        n.id, n.agent_id, n.content, dict(n.metadata), _time(n.created_at), list(n.keywords), n.context,
        list(n.tags), n.category, _opt_time(n, "event_at"), _opt_time(n, "last_accessed"), n.access_count,
        n.strength_s, n.importance, n.pinned, _opt_time(n, "archived_at"), n.enrichment, n.version,
        list(n.shared_with), n.retention, list(n.user_fields),
    )  # fmt: skip


def _link(x: memory_pb2.NoteLink) -> t.NoteLink:
    return t.NoteLink(x.from_id, x.to_id, x.kind, x.reason, x.weight, _time(x.created_at))


def _identity(r: admin_pb2.Identity) -> t.Identity:
    return t.Identity(r.agent_id, r.name, r.is_admin)


def _agent(a: admin_pb2.Agent) -> t.Agent:
    return t.Agent(a.id, a.name, _time(a.created_at), _opt_time(a, "revoked_at"))


def _syscall(s: admin_pb2.Syscall) -> t.Syscall:
    status = admin_pb2.SyscallStatus.Name(s.status).removeprefix("SYSCALL_STATUS_").lower()
    return t.Syscall(
        s.id, s.agent_id, s.kind, s.resource, s.priority, status, s.error, _time(s.created_at),
        _opt_time(s, "started_at"), _opt_time(s, "finished_at"), _opt_time(s, "deadline"), s.agent_name,
    )  # fmt: skip


def _agent_stats(a: admin_pb2.AgentSyscallStats) -> t.AgentStats:
    return t.AgentStats(a.agent_id, a.syscalls, a.failed, a.mean_waiting_ms, a.mean_turnaround_ms,
                        a.p95_turnaround_ms, a.agent_name)  # fmt: skip


def _stats(r: admin_pb2.KernelStats) -> t.KernelStats:
    return t.KernelStats(
        queues=[t.QueueStats(q.resource, q.queued, q.running, q.capacity, q.workers) for q in r.queues],
        agents=[_agent_stats(a) for a in r.agents],
        notes=r.notes,
        agents_registered=r.agents_registered,
        uptime_s=r.uptime_s,
    )


# -- llm ------------------------------------------------------------------------------------------


def _messages(messages: Messages) -> list[llm_pb2.ChatMessage]:
    out = []
    for m in messages:
        role, content = (m["role"], m["content"]) if isinstance(m, dict) else m
        out.append(llm_pb2.ChatMessage(role=role, content=content))
    return out


def _params(sampling: Sampling, default_max_tokens: int = 256) -> llm_pb2.SamplingParams:
    """Sampling options; one left out (or None) keeps the kernel's default (temperature 0: greedy)."""
    check_options(sampling, Sampling, "sampling")
    given: dict[str, Any] = {key: value for key, value in sampling.items() if value is not None}
    if isinstance(given.get("json_schema"), dict):
        given["json_schema"] = json.dumps(given["json_schema"])
    return llm_pb2.SamplingParams(**{"max_tokens": default_max_tokens, **given})


def _usage(u: llm_pb2.Usage) -> t.Usage:
    return t.Usage(u.prompt_tokens, u.completion_tokens, u.cached_tokens)


def _timing(x: llm_pb2.Timing) -> t.Timing:
    return t.Timing(x.queue_s, x.ttft_s, x.total_s, x.preemptions, x.context_switches)


def _completion(c: llm_pb2.Completion) -> t.Completion:
    return t.Completion(c.text, c.finish_reason, _usage(c.usage), _timing(c.timing))


def _chunk(c: llm_pb2.CompletionChunk) -> t.CompletionChunk:
    last = bool(c.finish_reason)
    return t.CompletionChunk(c.delta, c.finish_reason, _usage(c.usage) if last else None,
                             _timing(c.timing) if last else None)  # fmt: skip


def _model_info(m: llm_pb2.ModelInfo) -> t.ModelInfo:
    kv = {f.name: getattr(m.kv, f.name) for f in m.kv.DESCRIPTOR.fields}
    weights = {f.name: getattr(m.weights, f.name) for f in m.weights.DESCRIPTOR.fields}
    return t.ModelInfo(m.backend, m.model, m.path, m.n_ctx, m.policy, m.quantum, m.context_switches, kv, weights)


def _waiting(w: llm_pb2.WaitingRequest) -> t.WaitingRequest:
    return t.WaitingRequest(w.id, w.agent_id, w.job_class, w.priority, w.waited_s)


def _scheduler(s: llm_pb2.SchedulerState) -> t.SchedulerState:
    agents = [
        t.LLMAgentStats(a.agent_id, a.requests, a.prompt_tokens, a.completion_tokens, a.cached_tokens,
                        a.mean_queue_s, a.mean_ttft_s, a.mean_tpot_s, a.mean_turnaround_s, a.preemptions,
                        a.virtual_counter, a.quota_tokens_per_minute)
        for a in s.agents
    ]  # fmt: skip
    return t.SchedulerState(s.policy, s.quantum, [_waiting(w) for w in s.running], [_waiting(w) for w in s.waiting],
                            agents, s.jain_fairness, s.tokens_per_s)  # fmt: skip


# -- context paging -------------------------------------------------------------------------------


def _context_message(m: context_pb2.ContextMessage) -> t.ContextMessage:
    return t.ContextMessage(m.id, m.seq, m.role, m.content, m.tokens, m.pinned, _time(m.created_at),
                            _opt_time(m, "evicted_at"), m.note_id)  # fmt: skip


def _recalled_item(i: context_pb2.RecalledItem) -> t.RecalledItem:
    return t.RecalledItem(i.id, i.kind, i.content, i.tokens, i.pinned, i.score)


def _pressure(p: context_pb2.Pressure) -> t.Pressure:
    return t.Pressure(p.level, p.fraction, p.tokens, p.window, p.budget, p.warn_fraction, p.flush_tokens,
                      p.peak_tokens)  # fmt: skip


def _context_update(u: context_pb2.ContextUpdate) -> t.ContextUpdate:
    return t.ContextUpdate(_pressure(u.pressure), [_context_message(m) for m in u.messages], list(u.evicted_ids),
                           [_recalled_item(i) for i in u.recalled])  # fmt: skip


def _context_reply(r: context_pb2.ContextReply) -> t.ContextReply:
    return t.ContextReply(_completion(r.completion), _context_update(r.update), r.prompt_tokens)


def _context_chunk(c: context_pb2.ContextChunk) -> t.ContextChunk:
    return t.ContextChunk(c.delta, _context_reply(c.reply) if c.HasField("reply") else None)


def _assembled_context(c: context_pb2.AssembledContext) -> t.AssembledContext:
    return t.AssembledContext(
        c.system_prompt, [t.CoreBlock(b.label, b.value, b.limit_tokens, b.tokens) for b in c.core], c.summary,
        [_recalled_item(i) for i in c.recalled], [_context_message(m) for m in c.messages],
        [(m.role, m.content) for m in c.prompt], [t.ContextSection(s.name, s.tokens, s.items) for s in c.sections],
        c.tokens, c.exact, _pressure(c.pressure),
    )  # fmt: skip


def _file(f: files_pb2.FileInfo) -> t.FileInfo:
    return t.FileInfo(f.tree, f.path, f.is_dir, f.version, f.size, f.sha256, f.mime, _time(f.created_at),
                      _time(f.modified_at), f.deleted, f.change_id)  # fmt: skip


def _change(c: files_pb2.ChangeResponse) -> t.FileChange:
    return t.FileChange(c.change_id, [_file(f) for f in c.files])


def _file_version(v: files_pb2.FileVersion) -> t.FileVersion:
    return t.FileVersion(v.path, v.version, v.change_id, v.op, v.size, v.sha256, v.deleted, v.agent_id, v.detail,
                         _time(v.at))  # fmt: skip


def _file_history(r: files_pb2.FileHistoryResponse) -> list[t.FileVersion] | list[t.FileChangeRecord]:
    if not r.is_dir:
        return [_file_version(v) for v in r.versions]
    return [
        t.FileChangeRecord(c.change_id, c.op, c.path, c.agent_id, c.detail, _time(c.at),
                           [_file_version(v) for v in c.files])
        for c in r.changes
    ]  # fmt: skip


def _passage(c: files_pb2.ChunkHit) -> t.Passage:
    return t.Passage(c.text, c.start, c.end, c.score)


def _file_hit(h: files_pb2.RetrieveHit) -> t.FileHit:
    return t.FileHit(_file(h.file), h.score, [_passage(c) for c in h.chunks])


def _tree(x: files_pb2.Tree) -> t.FileTree:
    return t.FileTree(x.name, x.owner_id, x.kind, dict(x.grants), x.access)


def _transfer(x: files_pb2.TransferProgress) -> t.TransferProgress:
    return t.TransferProgress(x.done, x.total, x.bytes, x.path)


def _read_chunk(c: files_pb2.ReadChunk) -> tuple[t.FileInfo | None, bytes]:
    return (_file(c.info) if c.HasField("info") else None), c.data


def _small_payload(data: Any) -> bytes | None:
    """The bytes to send in one Write message, or None when `data` must be streamed."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray | memoryview) and len(data) <= 4 * STREAM_CHUNK:
        return bytes(data)
    return None


def _payload_chunks(data: Any) -> Iterator[bytes]:
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    elif hasattr(data, "read"):
        while chunk := data.read(STREAM_CHUNK):
            yield chunk.encode() if isinstance(chunk, str) else chunk
    else:
        for chunk in data:
            yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)
