from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
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
from aios.client._fileobj import open_remote
from aios.client._inputs import NoteChanges, NoteFields, RetrieveFilters, Sampling, SearchOptions
from aios.errors import DeadlineExceeded, ResourceExhausted

__all__ = ["Client"]


class Client(BaseClient):
    """Blocking client. `Client(target, token)`; token defaults to $AIOS_TOKEN, target to $AIOS_TARGET."""

    def __init__(self, target: str | None = None, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(target, token, **kwargs)
        self._channel = grpc.insecure_channel(self.target, _CHANNEL_OPTIONS)
        self._stubs = Stubs(self._channel)

    def as_agent(self, agent_id: str) -> Client:
        """A client for the admin acting in `agent_id`'s namespace, sharing this connection."""
        other = Client.__new__(Client)
        BaseClient.__init__(other, self.target, self._token, timeout=self.timeout, act_as=agent_id,
                            priority=self._priority)  # fmt: skip
        other._channel, other._stubs = self._channel, self._stubs
        return other

    def _call(self, op: Op) -> Any:
        with map_errors():
            return op.parse(op.method(op.request, metadata=self._metadata, timeout=self.timeout))

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def whoami(self) -> t.Identity:
        return self._call(self._whoami())

    def add_note(self, content: str, metadata: Mapping[str, str] | None = None, **fields: Unpack[NoteFields]) -> t.Note:
        """Add a note. `fields`: keywords, context, tags (else extracted), category, event_at (datetime or
        epoch seconds), importance (0-1), pinned, share_with (agent ids)."""
        return self._call(self._add_note(content, metadata, fields))

    def add_notes(self, notes: Sequence[NoteInput]) -> list[t.Note]:
        """Add notes in one transaction (all or none). Each is a string, (content, metadata), a dict of
        NewNote's fields or a NewNote: everything add_note takes."""
        return self._call(self._add_notes(notes))

    def get_note(self, note_id: str) -> t.Note:
        return self._call(self._get_note(note_id))

    def delete_note(self, note_id: str) -> None:
        self._call(self._delete_note(note_id))

    def search(self, query: str, k: int = 10, **options: Unpack[SearchOptions]) -> list[t.SearchHit]:
        """Hybrid search. `options`: tags, category, created_after/before, event_after/before (datetime or
        epoch seconds), scope (own | shared | all), include_archived, expand_links, as_of (the reference time for
        time expressions in the query such as "last week"; default now)."""
        return self._call(self._search(query, k, options))

    def update_note(self, note_id: str, **fields: Unpack[NoteChanges]) -> t.Note:
        """content, context, keywords, tags, category, importance; expected_version for a conditional update."""
        return self._call(self._update_note(note_id, fields))

    def archive_note(self, note_id: str) -> t.Note:
        return self._call(self._set_flags(note_id, archived=True))

    def restore_note(self, note_id: str) -> t.Note:
        return self._call(self._set_flags(note_id, archived=False))

    def pin_note(self, note_id: str, pinned: bool = True) -> t.Note:
        return self._call(self._set_flags(note_id, pinned=pinned))

    def share_note(self, note_id: str, agent_ids: list[str], unshare: bool = False) -> t.Note:
        return self._call(self._share(note_id, agent_ids, unshare))

    def link_notes(self, from_id: str, to_id: str, kind: str = "related", reason: str = "",
                   weight: float | None = None) -> t.NoteLink:  # fmt: skip
        return self._call(self._link(from_id, to_id, kind, reason, weight))

    def unlink_notes(self, from_id: str, to_id: str) -> None:
        self._call(self._unlink(from_id, to_id))

    def neighbours(self, note_id: str, depth: int = 1) -> tuple[list[t.Note], list[t.NoteLink]]:
        return self._call(self._neighbours(note_id, depth))

    def history(self, note_id: str) -> list[t.NoteVersion]:
        return self._call(self._history(note_id))

    def undo_evolution(self, note_id: str) -> int:
        return self._call(self._undo_evolution(note_id))

    def graph(self, limit: int = 200, include_archived: bool = False) -> tuple[list[t.Note], list[t.NoteLink]]:
        """The caller's most recent notes and the links among them."""
        return self._call(self._graph(limit, include_archived))

    def consolidate(self, min_age_s: float | None = None, weak_below: float | None = None,
                    min_group: int = 3) -> t.ConsolidationReport:  # fmt: skip
        """Summarise old or fading related notes now (sources archived) and refresh the profile note."""
        return self._call(self._consolidate(min_age_s, weak_below, min_group))

    def run_decay(self) -> int:
        return self._call(self._run_decay())

    def memory_stats(self) -> t.MemoryStats:
        return self._call(self._memory_stats())

    def create_agent(self, name: str) -> t.AgentCredentials:
        return self._call(self._create_agent(name))

    def list_agents(self, include_revoked: bool = False) -> list[t.Agent]:
        return self._call(self._list_agents(include_revoked))

    def revoke_agent(self, agent_id: str) -> t.Agent:
        return self._call(self._revoke_agent(agent_id))

    def reissue_token(self, agent_id: str) -> t.AgentCredentials:
        """A new token for the agent (shown once); its old token is refused from now on."""
        return self._call(self._reissue_token(agent_id))

    def ps(self, agent_id: str | None = None, limit: int = 50) -> list[t.Syscall]:
        return self._call(self._ps(agent_id, limit))

    def stats(self) -> t.KernelStats:
        return self._call(self._stats())

    def status(self, subsystem: str) -> t.SubsystemStatus:
        return self._call(self._status(subsystem))

    def chat(self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        """Generate the assistant's reply. `sampling`: max_tokens, temperature, top_p, top_k, min_p,
        repeat_penalty, seed, stop, json_schema (dict or str), grammar (GBNF)."""
        return self._call(self._chat(messages, session, sampling, stream=False))

    def chat_stream(
        self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> Iterator[t.CompletionChunk]:
        """Like chat, streaming text as it is produced; the last chunk has finish_reason, usage, timing."""
        op = self._chat(messages, session, sampling, stream=True)
        with map_errors():
            for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    def complete(self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        return self._call(self._complete(prompt, session, sampling, stream=False))

    def complete_stream(
        self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> Iterator[t.CompletionChunk]:
        op = self._complete(prompt, session, sampling, stream=True)
        with map_errors():
            for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    def count_tokens(self, text: str = "", messages: Messages | None = None) -> int:
        return self._call(self._count_tokens(text, messages))

    def model_info(self) -> t.ModelInfo:
        return self._call(self._model_info())

    def scheduler(self) -> t.SchedulerState:
        return self._call(self._scheduler())

    def set_policy(self, policy: str, quantum: int | None = None) -> t.SchedulerState:
        return self._call(self._set_policy(policy, quantum))

    def scheduler_events(self, last_s: float = 0.0) -> list[t.SchedulerEvent]:
        """Recorded scheduling slices (who ran on the model when); `last_s` limits them to recent ones."""
        return self._call(self._scheduler_events(last_s))

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        self._call(self._set_quota(agent_id, tokens_per_minute))

    def reindex(self, agent_id: str | None = None, *, files: bool = False) -> Iterator[t.ReindexProgress]:
        """Rebuild memory's vector index from SQL (all agents, or one); `files=True`: the file index instead."""
        op = self._reindex(agent_id, files)
        with map_errors():
            for message in op.method(op.request, metadata=self._metadata, timeout=None):
                yield op.parse(message)

    # -- context paging ----------------------------------------------------------------------------

    def append_message(self, content: str, role: str = "user") -> t.ContextUpdate:
        """Append one message to the caller's context (no generation); a user message pages relevant memories in."""
        return self._call(self._append_messages([(role, content)]))

    def append_messages(self, messages: Messages) -> t.ContextUpdate:
        """Append messages in order, in one call; old ones are paged out as the window fills."""
        return self._call(self._append_messages(messages))

    def chat_with_context(self, content: str, **sampling: Unpack[Sampling]) -> t.ContextReply:
        """Append a user message, assemble the window, generate and record the reply. `sampling` as for chat;
        max_tokens defaults to the kernel's reply reserve."""
        return self._call(self._chat_with_context(content, sampling, stream=False))

    def get_context(self) -> t.AssembledContext:
        """The assembled window with token accounting per section."""
        return self._call(self._get_context())

    def set_system_prompt(self, text: str) -> t.ContextUpdate:
        return self._call(self._set_system_prompt(text))

    def set_core_block(self, label: str, value: str, limit_tokens: int = 0) -> t.ContextUpdate:
        """Create or replace a core block (always in the window); limit_tokens 0 keeps its limit or the default."""
        return self._call(self._set_core_block(label, value, limit_tokens))

    def delete_core_block(self, label: str) -> t.ContextUpdate:
        return self._call(self._delete_core_block(label))

    def page_in(self, item_id: str, pin: bool = False) -> t.ContextUpdate:
        """Put an evicted message or a note into the recalled section (kept across turns if pinned)."""
        return self._call(self._page_in(item_id, pin))

    def page_out(self, ids: list[str] | None = None, oldest: int = 0) -> t.ContextUpdate:
        """Evict messages (or the oldest n unpinned) to recall storage now."""
        return self._call(self._page_out(ids, oldest))

    def pin_in_context(self, item_id: str, pinned: bool = True) -> t.ContextUpdate:
        """Pin a message in the window (never evicted) or an item in the recalled section; pinned=False unpins."""
        return self._call(self._set_pinned(item_id, pinned))

    def search_recall(self, query: str, k: int = 10) -> list[t.RecallHit]:
        """Hybrid search over the caller's paged-out messages."""
        return self._call(self._search_recall(query, k))

    def context_stats(self) -> t.ContextStats:
        return self._call(self._context_stats())

    def context_events(self, after_id: int = 0, limit: int = 100) -> list[t.ContextEvent]:
        """Memory-pressure and paging events after `after_id`, oldest first."""
        return self._call(self._context_events(after_id, limit))

    def swap_out_context(self, drop: bool = False) -> t.KVSwap:
        """Move the context's saved KV state to disk now (drop=True: discard it, the next turn prefills in full)."""
        return self._call(self._swap_out(drop))

    def chat_with_context_stream(self, content: str, **sampling: Unpack[Sampling]) -> Iterator[t.ContextChunk]:
        """Like chat_with_context, streaming the reply's text; the last chunk carries the reply."""
        op = self._chat_with_context(content, sampling, stream=True)
        with map_errors():
            for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    # -- files ---------------------------------------------------------------------------------------
    # `tree`: "" is the agent's own tree; otherwise a shared tree it owns or was granted.

    def write_file(
        self, path: str, data: bytes | str | Iterable[bytes] | BinaryIO, *, tree: str = "", append: bool = False,
        expected_version: int | None = None, mime: str = "",
    ) -> t.FileInfo:  # fmt: skip
        """Write (or append to) a file as a new version; parents are created. `expected_version` makes the
        write conditional (0: only if the file does not exist) and fails with FailedPrecondition otherwise.
        Large contents, iterables and file objects are streamed."""
        small = _small_payload(data)
        if small is not None:
            return self._call(self._write_file(path, small, tree, append, expected_version, mime))
        op = self._write_file_stream(path, _payload_chunks(data), tree, append, expected_version, mime)
        return self._call(op)

    def read_file(self, path: str, *, tree: str = "", version: int = 0) -> bytes:
        """The file's content (version 0: the current one); one message, or streamed when it is large."""
        try:
            return self._call(self._read_file(path, tree, version, stream=False))
        except ResourceExhausted:  # larger than one message
            return b"".join(data for _, data in self._stream(self._read_file(path, tree, version, stream=True)))

    def open(self, path: str, mode: str = "r", *, tree: str = "", encoding: str | None = None) -> Any:
        """A file object: "r"/"rb" reads the current version; "w"/"wb" and "a"/"ab" write a new version when
        closed ("w" only if nobody changed the file since it was opened)."""
        return open_remote(self, path, mode, tree, encoding)

    def stat(self, path: str, *, tree: str = "", version: int = 0) -> t.FileInfo:
        return self._call(self._stat(path, tree, version))

    def list_files(
        self, path: str = "/", *, tree: str = "", glob: str = "", recursive: bool = False,
        include_deleted: bool = False,
    ) -> list[t.FileInfo]:  # fmt: skip
        return self._call(self._list_files(path, tree, glob, recursive, include_deleted))

    def mkdir(self, path: str, *, tree: str = "") -> t.FileInfo:
        return self._call(self._mkdir(path, tree))

    def delete_file(
        self, path: str, *, tree: str = "", recursive: bool = False, expected_version: int | None = None
    ) -> t.FileChange:
        """Delete a file or directory; a deletion is a version too (read old versions, or roll back)."""
        return self._call(self._delete_file(path, tree, recursive, expected_version))

    def move(self, src: str, dst: str, *, tree: str = "", expected_version: int | None = None) -> t.FileInfo:
        return self._call(self._move(src, dst, tree, expected_version))

    def copy(self, src: str, dst: str, *, tree: str = "") -> t.FileInfo:
        return self._call(self._copy(src, dst, tree))

    def file_history(
        self, path: str = "/", *, tree: str = "", limit: int = 100
    ) -> list[t.FileVersion] | list[t.FileChangeRecord]:
        """Newest first: a file's versions (FileVersion), or a directory's changes (FileChangeRecord: one per
        change, with the versions it made below the directory in `files`). Both have `change_id`, `op`,
        `path`, `agent_id`, `detail` and `at`: `rollback("/", change_id=file_history("/")[1].change_id)` undoes
        the latest change. `limit` counts rows (versions or changes)."""
        return self._call(self._file_history(path, tree, limit))

    def diff(self, path: str, from_version: int, to_version: int = 0, *, tree: str = "", context_lines: int = 3) -> str:
        """A unified diff (`diff -u`, with its "\\ No newline at end of file"); to_version 0: the current one."""
        return self._call(self._diff(path, from_version, to_version, tree, context_lines))

    def rollback(
        self, path: str = "/", *, tree: str = "", version: int | None = None, change_id: int | None = None,
        at: datetime | float | None = None,
    ) -> t.FileChange:  # fmt: skip
        """Restore a file to a version, or a file or directory tree to its state after a change or at a time.
        The rollback is a new change, so it can be rolled back too. FailedPrecondition when it is already in
        that state (nothing would change, and nothing is recorded)."""
        return self._call(self._rollback(path, tree, version, change_id, at))

    def retrieve(
        self, query: str, k: int = 5, *, tree: str = "", **filters: Unpack[RetrieveFilters]
    ) -> list[t.FileHit]:
        """Files by meaning and words, with their best passages. `filters`: path_prefix, glob, keywords
        (all must occur), mime_prefix, all_trees (search every tree you can read)."""
        return self._call(self._retrieve(query, k, tree, filters))

    def summarize(self, path: str, *, tree: str = "", version: int = 0) -> t.FileSummary:
        return self._call(self._summarize(path, tree, version))

    def group_files(
        self, query: str = "", *, groups: int = 0, tree: str = "", path_prefix: str = "/", limit: int = 0
    ) -> list[t.FileGroup]:
        return self._call(self._group_files(query, groups, tree, path_prefix, limit))

    def join_files(
        self, path_a: str, path_b: str, k: int = 5, *, tree: str = "", tree_b: str = ""
    ) -> list[t.PassagePair]:
        return self._call(self._join_files(path_a, path_b, k, tree, tree_b))

    def watch(
        self, path_prefix: str = "/", *, tree: str = "", timeout: float | None = None
    ) -> Generator[t.FileEvent, None, None]:
        """Change events under `path_prefix` (create, write, append, move, copy, delete, rollback, mkdir,
        import) in the order they commit: `for event in client.watch("/inbox", timeout=60): ...`

        Returns once the kernel has subscribed (its first message says so; this method consumes it), so every
        change that commits after `watch()` returns is delivered: no need to wait before acting. A missing
        tree or a bad prefix raises here.

        The events have no end of their own: the iterator ends `timeout` seconds after the call, or when it
        is closed (`.close()`); with `timeout=None` a loop over it waits for events until then."""
        op = self._watch(path_prefix, tree)
        call = op.method(op.request, metadata=self._metadata, timeout=timeout)
        try:
            with map_errors():
                next(call)  # the kernel's "subscribed" message
        except BaseException:
            call.cancel()
            raise
        return _events(call, op.parse)

    def create_tree(self, name: str) -> t.FileTree:
        return self._call(self._create_tree(name))

    def grant(self, tree: str, agent_id: str, mode: str = "read") -> t.FileTree:
        """Give an agent read or write access to a shared tree you own; mode "" revokes."""
        return self._call(self._grant(tree, agent_id, mode))

    def list_trees(self) -> list[t.FileTree]:
        return self._call(self._list_trees())

    def import_dir(
        self, agent_id: str, host_path: str, dest: str = "/", *, tree: str = ""
    ) -> Iterator[t.TransferProgress]:
        """Admin: copy a directory of the kernel's machine into an agent's tree (one change); yields progress."""
        return self._stream(self._import_dir(agent_id, host_path, dest, tree))

    def export_tree(
        self, agent_id: str, host_path: str, path: str = "/", *, tree: str = "", change_id: int = 0
    ) -> Iterator[t.TransferProgress]:
        """Admin: write a tree (as of `change_id`, 0: now) to a new directory on the kernel's machine."""
        return self._stream(self._export_tree(agent_id, host_path, path, tree, change_id))

    def _stream(self, op: Op) -> Iterator[Any]:
        with map_errors():
            for message in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(message)


def _events(call: Any, parse: Callable[[Any], t.FileEvent]) -> Generator[t.FileEvent, None, None]:
    try:
        with map_errors():
            for message in call:
                yield parse(message)
    except DeadlineExceeded:
        return  # the caller's `timeout`: watching is over
    finally:
        call.cancel()
