"""The client's context-paging methods: append, chat with the assembled window, core blocks, paging, recall."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Unpack

from aios.client import _types as t
from aios.client._inputs import Sampling
from aios.client._ops.llm import Messages
from aios.client._sync.caller import Caller

__all__ = ["ContextCalls"]


class ContextCalls(Caller):
    def append_message(self, content: str, role: str = "user") -> t.ContextUpdate:
        """Append one message to the caller's context (no generation); a user message pages relevant memories in."""
        return self._call(self._ops.context.append_messages([(role, content)]))

    def append_messages(self, messages: Messages) -> t.ContextUpdate:
        """Append messages in order, in one call; old ones are paged out as the window fills."""
        return self._call(self._ops.context.append_messages(messages))

    def chat_with_context(self, content: str, **sampling: Unpack[Sampling]) -> t.ContextReply:
        """Append a user message, assemble the window, generate and record the reply. `sampling` as for chat;
        max_tokens defaults to the kernel's reply reserve."""
        return self._call(self._ops.context.chat_with_context(content, sampling, stream=False))

    def chat_with_context_stream(self, content: str, **sampling: Unpack[Sampling]) -> Iterator[t.ContextChunk]:
        """Like chat_with_context, streaming the reply's text; the last chunk carries the reply."""
        yield from self._stream(self._ops.context.chat_with_context(content, sampling, stream=True))

    def get_context(self) -> t.AssembledContext:
        """The assembled window with token accounting per section."""
        return self._call(self._ops.context.get_context())

    def set_system_prompt(self, text: str) -> t.ContextUpdate:
        return self._call(self._ops.context.set_system_prompt(text))

    def set_core_block(self, label: str, value: str, limit_tokens: int = 0) -> t.ContextUpdate:
        """Create or replace a core block (always in the window); limit_tokens 0 keeps its limit or the default."""
        return self._call(self._ops.context.set_core_block(label, value, limit_tokens))

    def delete_core_block(self, label: str) -> t.ContextUpdate:
        return self._call(self._ops.context.delete_core_block(label))

    def page_in(self, item_id: str, pin: bool = False) -> t.ContextUpdate:
        """Put an evicted message or a note into the recalled section (kept across turns if pinned)."""
        return self._call(self._ops.context.page_in(item_id, pin))

    def page_out(self, ids: list[str] | None = None, oldest: int = 0) -> t.ContextUpdate:
        """Evict messages (or the oldest n unpinned) to recall storage now."""
        return self._call(self._ops.context.page_out(ids, oldest))

    def pin_in_context(self, item_id: str, pinned: bool = True) -> t.ContextUpdate:
        """Pin a message in the window (never evicted) or an item in the recalled section; pinned=False unpins."""
        return self._call(self._ops.context.set_pinned(item_id, pinned))

    def search_recall(self, query: str, k: int = 10) -> list[t.RecallHit]:
        """Hybrid search over the caller's paged-out messages."""
        return self._call(self._ops.context.search_recall(query, k))

    def context_stats(self) -> t.ContextStats:
        return self._call(self._ops.context.context_stats())

    def context_events(self, after_id: int = 0, limit: int = 100) -> list[t.ContextEvent]:
        """Memory-pressure and paging events after `after_id`, oldest first."""
        return self._call(self._ops.context.context_events(after_id, limit))

    def reset_context(self) -> t.ContextUpdate:
        """Start a new conversation: the window's messages go to recall storage (searchable, pageable back in), the
        summary and recalled section are cleared; the system prompt and core blocks stay."""
        return self._call(self._ops.context.reset())

    def swap_out_context(self, drop: bool = False) -> t.KVSwap:
        """Move the context's saved KV state to disk now (drop=True: discard it, the next turn prefills in full)."""
        return self._call(self._ops.context.swap_out(drop))
