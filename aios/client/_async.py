from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc

from aios.client import _types as t
from aios.client._base import _CHANNEL_OPTIONS, BaseClient, Messages, Op, Stubs, map_errors

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

    async def add_note(self, content: str, metadata: Mapping[str, str] | None = None, **fields: Any) -> t.Note:
        """Add a note. `fields`: keywords, context, tags (else extracted), category, event_at (datetime or
        epoch seconds), importance (0-1), pinned, share_with (agent ids)."""
        return await self._call(self._add_note(content, metadata, fields))

    async def add_notes(self, notes: list[str | tuple[str, Mapping[str, str]]]) -> list[t.Note]:
        return await self._call(self._add_notes(notes))

    async def get_note(self, note_id: str) -> t.Note:
        return await self._call(self._get_note(note_id))

    async def delete_note(self, note_id: str) -> None:
        await self._call(self._delete_note(note_id))

    async def search(self, query: str, k: int = 10, **options: Any) -> list[t.SearchHit]:
        """Hybrid search. `options`: tags, category, created_after/before, event_after/before (datetime or
        epoch seconds), scope (own | shared | all), include_archived, expand_links."""
        return await self._call(self._search(query, k, options))

    async def update_note(self, note_id: str, **fields: Any) -> t.Note:
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

    async def ps(self, agent_id: str | None = None, limit: int = 50) -> list[t.Syscall]:
        return await self._call(self._ps(agent_id, limit))

    async def stats(self) -> t.KernelStats:
        return await self._call(self._stats())

    async def status(self, subsystem: str) -> t.SubsystemStatus:
        return await self._call(self._status(subsystem))

    async def chat(self, messages: Messages, *, session: str = "", **sampling: Any) -> t.Completion:
        """Generate the assistant's reply. `sampling`: max_tokens, temperature, top_p, top_k, min_p,
        repeat_penalty, seed, stop, json_schema (dict or str), grammar (GBNF)."""
        return await self._call(self._chat(messages, session, sampling, stream=False))

    async def chat_stream(
        self, messages: Messages, *, session: str = "", **sampling: Any
    ) -> AsyncIterator[t.CompletionChunk]:
        """Like chat, streaming text as it is produced; the last chunk has finish_reason, usage, timing."""
        op = self._chat(messages, session, sampling, stream=True)
        with map_errors():
            async for chunk in op.method(op.request, metadata=self._metadata, timeout=self.timeout):
                yield op.parse(chunk)

    async def complete(self, prompt: str, *, session: str = "", **sampling: Any) -> t.Completion:
        return await self._call(self._complete(prompt, session, sampling, stream=False))

    async def complete_stream(
        self, prompt: str, *, session: str = "", **sampling: Any
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

    async def reindex(self, agent_id: str | None = None) -> AsyncIterator[t.ReindexProgress]:
        op = self._reindex(agent_id)
        with map_errors():
            async for message in op.method(op.request, metadata=self._metadata, timeout=None):
                yield op.parse(message)
