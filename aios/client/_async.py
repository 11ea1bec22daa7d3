from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Unpack

import grpc

from aios.client import _types as t
from aios.client._base import (
    _CHANNEL_OPTIONS,
    BaseClient,
    Messages,
    NoteInput,
    Op,
    Stubs,
    _payload_chunks,
    _small_payload,
    map_errors,
)
from aios.client._inputs import NoteChanges, NoteFields, RetrieveFilters, Sampling, SearchOptions
from aios.errors import DeadlineExceeded, ResourceExhausted

__all__ = ["AsyncClient"]


class AsyncClient(BaseClient):
    """asyncio client with the same methods as Client, awaited."""

    def __init__(self, target: str | None = None, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(target, token, **kwargs)
        self._channel = grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        self._stubs = Stubs(self._channel)

    def as_agent(self, agent_id: str) -> AsyncClient:
        """A client for the admin acting in `agent_id`'s namespace, sharing this connection."""
        other = AsyncClient.__new__(AsyncClient)
        BaseClient.__init__(other, self.target, self._token, timeout=self.timeout, act_as=agent_id,
                            priority=self._priority)  # fmt: skip
        other._channel, other._stubs = self._channel, self._stubs
        return other

    async def _call(self, op: Op) -> Any:
        with map_errors():
            return op.parse(await op.method(op.request, metadata=self._metadata, timeout=self.timeout))

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def whoami(self) -> t.Identity:
        return await self._call(self._whoami())

    async def add_note(
        self, content: str, metadata: Mapping[str, str] | None = None, **fields: Unpack[NoteFields]
    ) -> t.Note:
        """Add a note. `fields`: keywords, context, tags (else extracted), category, event_at (datetime or
        epoch seconds), importance (0-1), pinned, share_with (agent ids)."""
        return await self._call(self._add_note(content, metadata, fields))

    async def add_notes(self, notes: Sequence[NoteInput]) -> list[t.Note]:
        """Add notes in one transaction (all or none). Each is a string, (content, metadata), a dict of
        NewNote's fields or a NewNote: everything add_note takes."""
        return await self._call(self._add_notes(notes))

    async def get_note(self, note_id: str) -> t.Note:
        return await self._call(self._get_note(note_id))

    async def delete_note(self, note_id: str) -> None:
        await self._call(self._delete_note(note_id))

    async def search(self, query: str, k: int = 10, **options: Unpack[SearchOptions]) -> list[t.SearchHit]:
        """Hybrid search. `options`: tags, category, created_after/before, event_after/before (datetime or
        epoch seconds), scope (own | shared | all), include_archived, expand_links, as_of (the reference time for
        time expressions in the query such as "last week"; default now)."""
        return await self._call(self._search(query, k, options))

    async def update_note(self, note_id: str, **fields: Unpack[NoteChanges]) -> t.Note:
        """content, context, keywords, tags, category, importance; expected_version for a conditional update."""
        return await self._call(self._update_note(note_id, fields))

    async def archive_note(self, note_id: str) -> t.Note:
        return await self._call(self._set_flags(note_id, archived=True))

    async def restore_note(self, note_id: str) -> t.Note:
        return await self._call(self._set_flags(note_id, archived=False))

    async def pin_note(self, note_id: str, pinned: bool = True) -> t.Note:
        return await self._call(self._set_flags(note_id, pinned=pinned))

    async def share_note(self, note_id: str, agent_ids: list[str], unshare: bool = False) -> t.Note:
        return await self._call(self._share(note_id, agent_ids, unshare))

    async def link_notes(self, from_id: str, to_id: str, kind: str = "related", reason: str = "",
                   weight: float | None = None) -> t.NoteLink:  # fmt: skip
        return await self._call(self._link(from_id, to_id, kind, reason, weight))

    async def unlink_notes(self, from_id: str, to_id: str) -> None:
        await self._call(self._unlink(from_id, to_id))

    async def neighbours(self, note_id: str, depth: int = 1) -> tuple[list[t.Note], list[t.NoteLink]]:
        return await self._call(self._neighbours(note_id, depth))

    async def history(self, note_id: str) -> list[t.NoteVersion]:
        return await self._call(self._history(note_id))

    async def undo_evolution(self, note_id: str) -> int:
        return await self._call(self._undo_evolution(note_id))

    async def graph(self, limit: int = 200, include_archived: bool = False) -> tuple[list[t.Note], list[t.NoteLink]]:
        """The caller's most recent notes and the links among them."""
        return await self._call(self._graph(limit, include_archived))

    async def consolidate(self, min_age_s: float | None = None, weak_below: float | None = None,
                    min_group: int = 3) -> t.ConsolidationReport:  # fmt: skip
        """Summarise old or fading related notes now (sources archived) and refresh the profile note."""
        return await self._call(self._consolidate(min_age_s, weak_below, min_group))

    async def run_decay(self) -> int:
        return await self._call(self._run_decay())

    async def memory_stats(self) -> t.MemoryStats:
        return await self._call(self._memory_stats())

    async def create_agent(self, name: str) -> t.AgentCredentials:
        return await self._call(self._create_agent(name))

    async def list_agents(self, include_revoked: bool = False) -> list[t.Agent]:
        return await self._call(self._list_agents(include_revoked))

    async def revoke_agent(self, agent_id: str) -> t.Agent:
        return await self._call(self._revoke_agent(agent_id))

    async def reissue_token(self, agent_id: str) -> t.AgentCredentials:
        """A new token for the agent (shown once); its old token is refused from now on."""
        return await self._call(self._reissue_token(agent_id))

    async def ps(self, agent_id: str | None = None, limit: int = 50) -> list[t.Syscall]:
        return await self._call(self._ps(agent_id, limit))

    async def stats(self) -> t.KernelStats:
        return await self._call(self._stats())

    async def status(self, subsystem: str) -> t.SubsystemStatus:
        return await self._call(self._status(subsystem))

    async def chat(self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        """Generate the assistant's reply. `sampling`: max_tokens, temperature, top_p, top_k, min_p,
        repeat_penalty, seed, stop, json_schema (dict or str), grammar (GBNF)."""
        return await self._call(self._chat(messages, session, sampling, stream=False))

    async def chat_stream(
        self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> AsyncIterator[t.CompletionChunk]:
        """Like chat, streaming text as it is produced; the last chunk has finish_reason, usage, timing."""
        op = self._chat(messages, session, sampling, stream=True)
        with map_errors():
            async for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    async def complete(self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        return await self._call(self._complete(prompt, session, sampling, stream=False))

    async def complete_stream(
        self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> AsyncIterator[t.CompletionChunk]:
        op = self._complete(prompt, session, sampling, stream=True)
        with map_errors():
            async for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    async def count_tokens(self, text: str = "", messages: Messages | None = None) -> int:
        return await self._call(self._count_tokens(text, messages))

    async def model_info(self) -> t.ModelInfo:
        return await self._call(self._model_info())

    async def scheduler(self) -> t.SchedulerState:
        return await self._call(self._scheduler())

    async def set_policy(self, policy: str, quantum: int | None = None) -> t.SchedulerState:
        return await self._call(self._set_policy(policy, quantum))

    async def scheduler_events(self, last_s: float = 0.0) -> list[t.SchedulerEvent]:
        """Recorded scheduling slices (who ran on the model when); `last_s` limits them to recent ones."""
        return await self._call(self._scheduler_events(last_s))

    async def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        await self._call(self._set_quota(agent_id, tokens_per_minute))

    async def reindex(self, agent_id: str | None = None, *, files: bool = False) -> AsyncIterator[t.ReindexProgress]:
        op = self._reindex(agent_id, files)
        with map_errors():
            async for message in op.method(op.request, metadata=self._metadata, timeout=None):
                yield op.parse(message)

    # -- context paging ----------------------------------------------------------------------------

    async def append_message(self, content: str, role: str = "user") -> t.ContextUpdate:
        """Append one message to the caller's context (no generation); a user message pages relevant memories in."""
        return await self._call(self._append_messages([(role, content)]))

    async def append_messages(self, messages: Messages) -> t.ContextUpdate:
        """Append messages in order, in one call; old ones are paged out as the window fills."""
        return await self._call(self._append_messages(messages))

    async def chat_with_context(self, content: str, **sampling: Unpack[Sampling]) -> t.ContextReply:
        """Append a user message, assemble the window, generate and record the reply. `sampling` as for chat;
        max_tokens defaults to the kernel's reply reserve."""
        return await self._call(self._chat_with_context(content, sampling, stream=False))

    async def get_context(self) -> t.AssembledContext:
        """The assembled window with token accounting per section."""
        return await self._call(self._get_context())

    async def set_system_prompt(self, text: str) -> t.ContextUpdate:
        return await self._call(self._set_system_prompt(text))

    async def set_core_block(self, label: str, value: str, limit_tokens: int = 0) -> t.ContextUpdate:
        """Create or replace a core block (always in the window); limit_tokens 0 keeps its limit or the default."""
        return await self._call(self._set_core_block(label, value, limit_tokens))

    async def delete_core_block(self, label: str) -> t.ContextUpdate:
        return await self._call(self._delete_core_block(label))

    async def page_in(self, item_id: str, pin: bool = False) -> t.ContextUpdate:
        """Put an evicted message or a note into the recalled section (kept across turns if pinned)."""
        return await self._call(self._page_in(item_id, pin))

    async def page_out(self, ids: list[str] | None = None, oldest: int = 0) -> t.ContextUpdate:
        """Evict messages (or the oldest n unpinned) to recall storage now."""
        return await self._call(self._page_out(ids, oldest))

    async def pin_in_context(self, item_id: str, pinned: bool = True) -> t.ContextUpdate:
        """Pin a message in the window (never evicted) or an item in the recalled section; pinned=False unpins."""
        return await self._call(self._set_pinned(item_id, pinned))

    async def search_recall(self, query: str, k: int = 10) -> list[t.RecallHit]:
        """Hybrid search over the caller's paged-out messages."""
        return await self._call(self._search_recall(query, k))

    async def context_stats(self) -> t.ContextStats:
        return await self._call(self._context_stats())

    async def context_events(self, after_id: int = 0, limit: int = 100) -> list[t.ContextEvent]:
        """Memory-pressure and paging events after `after_id`, oldest first."""
        return await self._call(self._context_events(after_id, limit))

    async def swap_out_context(self, drop: bool = False) -> t.KVSwap:
        """Move the context's saved KV state to disk now (drop=True: discard it, the next turn prefills in full)."""
        return await self._call(self._swap_out(drop))

    async def chat_with_context_stream(
        self, content: str, **sampling: Unpack[Sampling]
    ) -> AsyncIterator[t.ContextChunk]:
        """Like chat_with_context, streaming the reply's text; the last chunk carries the reply."""
        op = self._chat_with_context(content, sampling, stream=True)
        with map_errors():
            async for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    # -- files ---------------------------------------------------------------------------------------
    # `tree`: "" is the agent's own tree; otherwise a shared tree it owns or was granted.

    async def write_file(
        self, path: str, data: bytes | str | Iterable[bytes] | BinaryIO, *, tree: str = "", append: bool = False,
        expected_version: int | None = None, mime: str = "",
    ) -> t.FileInfo:  # fmt: skip
        """Write (or append to) a file as a new version; see Client.write_file."""
        small = _small_payload(data)
        if small is not None:
            return await self._call(self._write_file(path, small, tree, append, expected_version, mime))
        op = self._write_file_stream(path, _payload_chunks(data), tree, append, expected_version, mime)
        return await self._call(op)

    async def read_file(self, path: str, *, tree: str = "", version: int = 0) -> bytes:
        try:
            return await self._call(self._read_file(path, tree, version, stream=False))
        except ResourceExhausted:  # larger than one message
            op = self._read_file(path, tree, version, stream=True)
            return b"".join([data async for _, data in self._stream(op)])

    async def stat(self, path: str, *, tree: str = "", version: int = 0) -> t.FileInfo:
        return await self._call(self._stat(path, tree, version))

    async def list_files(
        self, path: str = "/", *, tree: str = "", glob: str = "", recursive: bool = False,
        include_deleted: bool = False,
    ) -> list[t.FileInfo]:  # fmt: skip
        return await self._call(self._list_files(path, tree, glob, recursive, include_deleted))

    async def mkdir(self, path: str, *, tree: str = "") -> t.FileInfo:
        return await self._call(self._mkdir(path, tree))

    async def delete_file(
        self, path: str, *, tree: str = "", recursive: bool = False, expected_version: int | None = None
    ) -> t.FileChange:
        return await self._call(self._delete_file(path, tree, recursive, expected_version))

    async def move(self, src: str, dst: str, *, tree: str = "", expected_version: int | None = None) -> t.FileInfo:
        return await self._call(self._move(src, dst, tree, expected_version))

    async def copy(self, src: str, dst: str, *, tree: str = "") -> t.FileInfo:
        return await self._call(self._copy(src, dst, tree))

    async def file_history(
        self, path: str = "/", *, tree: str = "", limit: int = 100
    ) -> list[t.FileVersion] | list[t.FileChangeRecord]:
        """A file's versions or a directory's changes, newest first (see Client.file_history)."""
        return await self._call(self._file_history(path, tree, limit))

    async def diff(
        self, path: str, from_version: int, to_version: int = 0, *, tree: str = "", context_lines: int = 3
    ) -> str:
        return await self._call(self._diff(path, from_version, to_version, tree, context_lines))

    async def rollback(
        self, path: str = "/", *, tree: str = "", version: int | None = None, change_id: int | None = None,
        at: datetime | float | None = None,
    ) -> t.FileChange:  # fmt: skip
        return await self._call(self._rollback(path, tree, version, change_id, at))

    async def retrieve(
        self, query: str, k: int = 5, *, tree: str = "", **filters: Unpack[RetrieveFilters]
    ) -> list[t.FileHit]:
        return await self._call(self._retrieve(query, k, tree, filters))

    async def summarize(self, path: str, *, tree: str = "", version: int = 0) -> t.FileSummary:
        return await self._call(self._summarize(path, tree, version))

    async def group_files(
        self, query: str = "", *, groups: int = 0, tree: str = "", path_prefix: str = "/", limit: int = 0
    ) -> list[t.FileGroup]:
        return await self._call(self._group_files(query, groups, tree, path_prefix, limit))

    async def join_files(
        self, path_a: str, path_b: str, k: int = 5, *, tree: str = "", tree_b: str = ""
    ) -> list[t.PassagePair]:
        return await self._call(self._join_files(path_a, path_b, k, tree, tree_b))

    async def watch(
        self, path_prefix: str = "/", *, tree: str = "", timeout: float | None = None
    ) -> AsyncGenerator[t.FileEvent, None]:
        """Change events under `path_prefix` in the order they commit:
        `async for event in await client.watch("/inbox", timeout=60): ...`

        Awaiting it returns once the kernel has subscribed (its first message says so; this method consumes
        it), so every change that commits afterwards is delivered. The events end `timeout` seconds after the
        call or when the iterator is closed (`await it.aclose()`); with `timeout=None`, not before."""
        op = self._watch(path_prefix, tree)
        call = op.method(op.request, metadata=self._metadata, timeout=timeout)
        try:
            with map_errors():
                await call.read()  # the kernel's "subscribed" message
        except BaseException:
            call.cancel()
            raise
        return _events(call, op.parse)

    async def create_tree(self, name: str) -> t.FileTree:
        return await self._call(self._create_tree(name))

    async def grant(self, tree: str, agent_id: str, mode: str = "read") -> t.FileTree:
        return await self._call(self._grant(tree, agent_id, mode))

    async def list_trees(self) -> list[t.FileTree]:
        return await self._call(self._list_trees())

    async def import_dir(
        self, agent_id: str, host_path: str, dest: str = "/", *, tree: str = ""
    ) -> AsyncIterator[t.TransferProgress]:
        async for progress in self._stream(self._import_dir(agent_id, host_path, dest, tree)):
            yield progress

    async def export_tree(
        self, agent_id: str, host_path: str, path: str = "/", *, tree: str = "", change_id: int = 0
    ) -> AsyncIterator[t.TransferProgress]:
        async for progress in self._stream(self._export_tree(agent_id, host_path, path, tree, change_id)):
            yield progress

    async def _stream(self, op: Op) -> AsyncIterator[Any]:
        with map_errors():
            async for message in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(message)


async def _events(call: Any, parse: Callable[[Any], t.FileEvent]) -> AsyncGenerator[t.FileEvent, None]:
    try:
        with map_errors():
            # read() rather than `async for`: grpc.aio does not let one call mix the two, and watch() read
            # the first message already.
            while (message := await call.read()) is not grpc.aio.EOF:
                yield parse(message)
    except DeadlineExceeded:
        return  # the caller's `timeout`: watching is over
    finally:
        call.cancel()
