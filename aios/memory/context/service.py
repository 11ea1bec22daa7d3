"""Context-window paging: each agent's conversation kept within the model's window, paged out and back in.

The window is main memory, recall storage (notes in the memory subsystem) is disk. Every write assembles
the window with exact token counts; past the flush threshold the oldest messages are evicted (never the
system prompt, the core blocks, pinned messages or the last few), folded into a recursive summary
(extractive at once, refined by the LLM at background priority) and written to recall storage as notes.
On each user turn the hybrid search pages the most relevant evicted messages and notes back into a bounded
recalled section. State is in SQL and committed before a call returns; the KV state of the assembled
prompt lives in the LLM core under the session "ctx" and is reused across turns and context switches.

`ContextService` is the facade the syscalls call: under the agent's lock each call loads the state (`store`),
applies the paging policy (`policy`, pure), saves it in one transaction, then writes what was paged out to
recall storage (`recall`); `workers` hold the two background threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from aios.config import ContextConfig
from aios.errors import FailedPrecondition, InvalidArgument, NotFound
from aios.memory.context import checks, policy
from aios.memory.context.models import (
    AssembledContext,
    ContextEvent,
    ContextMessage,
    ContextStats,
    ContextUpdate,
    CoreBlock,
    RecallHit,
    Section,
    TurnResult,
)
from aios.memory.context.recall import MemoryPort, RecallStorage
from aios.memory.context.state import AgentLocks, Change, State
from aios.memory.context.store import ContextStore, Quarantined, quarantined
from aios.memory.context.tokens import TokenCounter
from aios.memory.context.workers import ContextWorkers

if TYPE_CHECKING:
    from aios.llm.port import LLMPort
    from aios.llm.types import SamplingParams

__all__ = ["ContextService", "Quarantined", "quarantined"]

SESSION = "ctx"
SECTIONS = ("system", "core", "summary", "recalled", "messages", "reply")
_MAX_ID = 2**63 - 1  # event ids are signed 64-bit integers in SQL


class ContextService:
    def __init__(
        self, engine: Engine, memory: MemoryPort, llm: LLMPort | None, config: ContextConfig, max_chars: int = 32_768,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.config = config
        self._llm = llm
        self._max_chars = max_chars
        self._clock = clock
        self._count = TokenCounter(llm)
        self.limits = policy.Limits.of(config, llm.n_ctx if llm is not None and self._count.exact else 0)
        lim = self.limits
        self.window, self.budget, self.recall_budget = lim.window, lim.budget, lim.recall_budget
        self.flush_tokens, self.target, self.summary_limit = lim.flush_tokens, lim.target, lim.summary_limit
        self._lock = AgentLocks()
        self._store = ContextStore(engine, config.system_prompt)
        self._recall = RecallStorage(memory, self._store, self._count, clock)
        self.workers = ContextWorkers(self._store, llm, self._count, config, lim.summary_limit, self._lock,
                                      self.swap_out, clock)  # fmt: skip

    def start(self) -> None:
        self._recall.repair()
        self.workers.start()

    def stop(self) -> None:
        self.workers.stop()

    # -- syscalls --------------------------------------------------------------------------------------

    def append(self, agent_id: str, messages: Sequence[tuple[str, str]]) -> ContextUpdate:
        """Append messages; a user message among them pages relevant memories in; past the threshold, pages out."""
        checks.check_messages(messages, self._max_chars)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            change = Change()
            self._add(st, change, messages)
            return self._commit(st, change, recall_for=_last_user(change.added))

    def chat(
        self, agent_id: str, content: str, params: SamplingParams, *, priority: int = 5,
        on_text: Callable[[str], None] | None = None, should_stop: Callable[[], bool] = lambda: False,
    ) -> TurnResult:  # fmt: skip
        """Append a user message, assemble, generate (streaming through `on_text`), record the reply."""
        from aios.llm.types import ChatMessage

        checks.check_messages([("user", content)], self._max_chars)
        if params.max_tokens > self.config.reply_reserve:
            raise InvalidArgument(f"max_tokens must be at most the reply reserve ({self.config.reply_reserve})")
        llm = self._llm
        if llm is None or not llm.available:
            raise FailedPrecondition(llm.unavailable_reason if llm is not None else "no language model is configured")
        llm.check_params(params)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            change = Change()
            self._add(st, change, [("user", content)])
            self._commit(st, change, recall_for=_last_user(change.added))
            pieces = policy.pieces(st, self._count)
            prompt = [ChatMessage(p.role, p.content) for p in pieces if p.section != "reply"]
            completion = llm.chat(agent_id, prompt, params, session=SESSION, priority=priority, on_text=on_text,
                                  should_stop=should_stop)  # fmt: skip
            self.workers.active(agent_id)
            change = Change()
            if completion.text.strip() and completion.finish_reason != "cancelled":  # a cut-off reply is not kept
                self._add(st, change, [("assistant", completion.text)], check=False)
            update = self._commit(st, change, recall_for=None)
            return TurnResult(update, completion, sum(p.tokens for p in pieces))

    def get(self, agent_id: str) -> AssembledContext:
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            pieces = policy.pieces(st, self._count)
            total = sum(p.tokens for p in pieces)
            sections = []
            for name in SECTIONS:
                mine = [p for p in pieces if p.section == name]
                items = {"core": len(st.blocks), "recalled": len(st.recalled)}.get(name, len(mine))
                sections.append(Section(name, sum(p.tokens for p in mine), items if mine else 0))
            pressure = policy.pressure(pieces, Change(peak=policy.base_tokens(pieces)), self.limits)
            return AssembledContext(
                agent_id, st.system_prompt, st.blocks, st.summary, st.recalled, st.messages,
                [(p.role, p.content) for p in pieces if p.section != "reply"], sections, total, self._count.exact,
                pressure,
            )  # fmt: skip

    def set_system_prompt(self, agent_id: str, text: str) -> ContextUpdate:
        checks.check_text(text, "system prompt", self._max_chars)
        tokens = self._count.head(text)
        if tokens > self.budget // 4:
            raise InvalidArgument(f"the system prompt is {tokens} tokens; at most {self.budget // 4}")
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            policy.check_room(st.blocks, tokens, self.limits, self._count)
            st.system_prompt = text
            return self._commit(st, Change(), recall_for=None)

    def set_core_block(self, agent_id: str, label: str, value: str, limit_tokens: int = 0) -> ContextUpdate:
        checks.check_label(label)
        checks.check_text(value, f"core block {label!r}", self._max_chars, allow_empty=True)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            current = next((b for b in st.blocks if b.label == label), None)
            limit = limit_tokens or (current.limit_tokens if current else self.config.core_block_tokens)
            if not 1 <= limit <= self.budget // 2:
                raise InvalidArgument(f"limit_tokens must be 1-{self.budget // 2}")
            tokens = self._count.text(value) if value else 0
            if tokens > limit:
                raise InvalidArgument(f"core block {label!r} is {tokens} tokens; its limit is {limit}")
            if current is None and len(st.blocks) >= self.config.max_core_blocks:
                raise InvalidArgument(f"at most {self.config.max_core_blocks} core blocks")
            block = CoreBlock(label, value, limit, tokens, self._clock())
            blocks = [block if b.label == label else b for b in st.blocks] if current else [*st.blocks, block]
            policy.check_room(blocks, self._count.head(st.system_prompt), self.limits, self._count)
            st.blocks = blocks
            return self._commit(st, Change(), recall_for=None, blocks=True)

    def delete_core_block(self, agent_id: str, label: str) -> ContextUpdate:
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            if not any(b.label == label for b in st.blocks):
                raise NotFound(f"no core block {label!r}")
            st.blocks = [b for b in st.blocks if b.label != label]
            return self._commit(st, Change(), recall_for=None, blocks=True)

    def page_in(self, agent_id: str, item_id: str, pin: bool = False) -> ContextUpdate:
        """Put an evicted message or a note into the recalled section now (kept across turns if pinned)."""
        checks.check_id(item_id)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            if any(m.id == item_id for m in st.messages):
                raise FailedPrecondition(f"message {item_id} is in the window already")
            policy.admit(st, self._recall.item(agent_id, item_id, pin), self.limits, self._count)
            return self._commit(st, Change(), recall_for=None)

    def page_out(self, agent_id: str, ids: Sequence[str] = (), oldest: int = 0) -> ContextUpdate:
        """Evict the given messages (or the `oldest` n unpinned ones) to recall storage; ids of recalled items
        take them out of the recalled section."""
        checks.check_page_out(ids, oldest)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            chosen, missing = policy.choose_page_out(st, ids, oldest)
            if missing is not None:
                if self._store.message(agent_id, missing) is None:
                    raise NotFound(f"no message {missing!r} in this context")
                raise FailedPrecondition(f"message {missing} is not in the window")
            dropped = set(ids)  # ids of recalled items leave the recalled section
            st.recalled = [i for i in st.recalled if i.id not in dropped]
            change = Change(peak=policy.base_tokens(policy.pieces(st, self._count)))
            policy.evict(st, change, chosen, self.limits, self._count)
            return self._commit(st, change, recall_for=None)

    def reset(self, agent_id: str) -> ContextUpdate:
        """Start a new conversation: the messages go to recall storage, the summary and recalled section are
        cleared and the saved KV state dropped (the next turn prefills in full); prompt and core blocks stay."""
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            change = Change()
            policy.reset(st, change)
            update = self._commit(st, change, recall_for=None)
        self.swap_out(agent_id, drop=True)
        return update

    def set_pinned(self, agent_id: str, item_id: str, pinned: bool) -> ContextUpdate:
        """Pin a message in the window (never evicted) or an item in the recalled section (kept across turns)."""
        checks.check_id(item_id)
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            active = next((m for m in st.messages if m.id == item_id), None)
            change = Change()
            if active is not None:
                if pinned:
                    policy.check_pin(st, active, self.limits)
                change.pinned[item_id] = pinned
                st.messages = [replace(m, pinned=pinned) if m.id == item_id else m for m in st.messages]
                return self._commit(st, change, recall_for=None)
            if any(i.id == item_id for i in st.recalled):
                st.recalled = [replace(i, pinned=pinned) if i.id == item_id else i for i in st.recalled]
                return self._commit(st, change, recall_for=None)
        if pinned:
            return self.page_in(agent_id, item_id, pin=True)
        self._recall.item(agent_id, item_id, False)  # NOT_FOUND for an unknown id; unpinning what is not pinned: no-op
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            pieces = policy.pieces(st, self._count)
            return ContextUpdate(policy.pressure(pieces, Change(), self.limits), [], [], list(st.recalled))

    def search_recall(self, agent_id: str, query: str, k: int = 10) -> list[RecallHit]:
        return self._recall.search(agent_id, query, k)

    def stats(self, agent_id: str) -> ContextStats:
        with self._lock(agent_id):
            st = self._store.load(agent_id)
            evicted = self._store.evicted_count(agent_id)
            s = st.stats
            return ContextStats(
                s["page_outs"], s["flushes"], s["page_ins"], s["recall_queries"], s["recall_hits"],
                s["recall_hits"] / s["recall_queries"] if s["recall_queries"] else 0.0,
                self._count.text(st.summary) if st.summary else 0, len(st.messages), evicted,
                sum(p.tokens for p in policy.pieces(st, self._count)), self.window, s["warnings"], s["kv_swaps"],
            )  # fmt: skip

    def events(self, agent_id: str, after_id: int = 0, limit: int = 100) -> list[ContextEvent]:
        checks.check_events_page(after_id, limit)
        # No event lies beyond _MAX_ID; a larger bound would overflow the SQL integer.
        return self._store.events(agent_id, min(after_id, _MAX_ID), limit)

    def swap_out(self, agent_id: str, drop: bool = False) -> tuple[str, int]:
        """Move the agent's saved KV state to disk now (or drop it, so the next turn prefills in full)."""
        llm = self._llm
        where, size = llm.swap_out(agent_id, SESSION, drop) if llm is not None and llm.available else ("none", 0)
        if size:
            with self._lock(agent_id):
                st = self._store.load(agent_id)
                st.stats["kv_swaps"] += 1
                st.events.append(("kv_swap", f"{where} {size} bytes"))
                self._commit(st, Change(), recall_for=None)
        return where, size

    # -- one call's steps ------------------------------------------------------------------------------

    def _add(self, st: State, change: Change, messages: Sequence[tuple[str, str]], check: bool = True) -> None:
        policy.add_messages(st, change, messages, self.limits, self._count, self._clock(), check)

    def _commit(
        self, st: State, change: Change, recall_for: ContextMessage | None, blocks: bool = False
    ) -> ContextUpdate:
        """Page in for a new user message, settle the pressure, save in one transaction, then write what was paged
        out to recall storage and have its summary refined."""
        if recall_for is not None:
            candidates = self._recall.candidates(st.agent_id, recall_for.content, self.config.recall_k)
            policy.take_recalled(st, recall_for, candidates, self.limits, self._count)
        pressure = policy.settle(st, change, self.limits, self._count)
        self._store.save(st, change, self._clock(), pressure, blocks)
        if change.evicted:
            self._recall.write(st.agent_id, change.evicted)
            self.workers.flushed(st.agent_id)
        st.events = []
        return ContextUpdate(pressure, change.added, [m.id for m in change.evicted], list(st.recalled))


def _last_user(messages: Sequence[ContextMessage]) -> ContextMessage | None:
    return next((m for m in reversed(messages) if m.role == "user"), None)
