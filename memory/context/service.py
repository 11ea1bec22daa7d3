"""Context-window paging: each agent's conversation kept within the model's window, paged out and back in.

The window is main memory, recall storage (notes in the memory subsystem) is disk. Every write assembles
the window with exact token counts; past the flush threshold the oldest messages are evicted (never the
system prompt, the core blocks, pinned messages or the last few), folded into a recursive summary
(extractive at once, refined by the LLM at background priority) and written to recall storage as notes.
On each user turn the hybrid search pages the most relevant evicted messages and notes back into a bounded
recalled section. State is in SQL and committed before a call returns; the KV state of the assembled
prompt lives in the LLM core under the session "ctx" and is reused across turns and context switches.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aios.config import ContextConfig
from aios.errors import AiosError, FailedPrecondition, InvalidArgument, NotFound
from aios.text import keywords_of
from memory.context._schema import context_blocks, context_events, context_messages, context_quarantine, contexts
from memory.context.assembly import (
    Piece,
    TokenCounter,
    build_pieces,
    choose_evictions,
    extractive_summary,
)
from memory.context.models import (
    ROLES,
    AssembledContext,
    ContextEvent,
    ContextMessage,
    ContextStats,
    ContextUpdate,
    CoreBlock,
    Pressure,
    RecalledItem,
    RecallHit,
    Section,
    TurnResult,
)
from memory.models import NewNote, SearchFilters
from memory.service import MemoryService

__all__ = ["ContextService", "Quarantined", "quarantined"]

log = logging.getLogger("aios.context")
SESSION = "ctx"
SUMMARY_SESSION = "ctx-summary"
RECALL_CATEGORY = "recall"
SECTIONS = ("system", "core", "summary", "recalled", "messages", "reply")
_MAX_BATCH = 1_000
_MAX_QUERY_CHARS = 1_000
_MAX_EVENTS = 1_000
_MAX_ID = 2**63 - 1  # event ids are signed 64-bit integers in SQL
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_COUNTERS = ("page_outs", "flushes", "page_ins", "recall_queries", "recall_hits", "warnings", "kv_swaps")


@dataclass(frozen=True)
class Quarantined:
    """A paged-out message whose recall note could not be written: kept in SQL, out of start-up repair."""

    message_id: str
    agent_id: str
    reason: str
    at: float


def quarantined(engine: Engine) -> list[Quarantined]:
    """The quarantined messages, oldest first (what `aios admin doctor` lists)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(context_quarantine).order_by(context_quarantine.c.at)).all()
    return [Quarantined(r.message_id, r.agent_id, r.reason, r.at) for r in rows]


@dataclass
class _State:
    agent_id: str
    exists: bool
    system_prompt: str
    summary: str
    summary_version: int
    recalled: list[RecalledItem]
    anchor: int | None
    next_seq: int
    level: str
    stats: dict[str, int]
    blocks: list[CoreBlock]
    messages: list[ContextMessage]
    events: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Change:
    """What one call changes, written in one transaction."""

    added: list[ContextMessage] = field(default_factory=list)
    evicted: list[ContextMessage] = field(default_factory=list)
    pinned: dict[str, bool] = field(default_factory=dict)
    peak: int = 0


class ContextService:
    def __init__(
        self, engine: Engine, memory: MemoryService, llm: Any, config: ContextConfig, max_chars: int = 32_768,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._memory = memory
        self._llm = llm
        self.config = config
        self._max_chars = max_chars
        self._clock = clock
        self._count = TokenCounter(llm)
        n_ctx = llm.core.backend.n_ctx if self._count.exact else 0
        self.window = min(config.window_tokens or n_ctx or 4096, n_ctx or 1 << 30)
        self.budget = int(config.flush_fraction * self.window) - config.reply_reserve
        self.recall_budget = config.recall_tokens or int(0.15 * self.window)
        self.flush_tokens = self.budget - self.recall_budget
        self.target = min(int(config.evict_to_fraction * self.window), self.flush_tokens)
        self.summary_limit = min(config.summary_tokens, max(16, self.budget // 8))
        if self.flush_tokens < 64:
            raise InvalidArgument(
                f"context window of {self.window} tokens leaves {self.flush_tokens} for messages after the reply "
                f"reserve ({config.reply_reserve}) and the recalled section ({self.recall_budget}); raise "
                "context.window_tokens or lower the reserves"
            )
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._last_active: dict[str, float] = {}
        self._summaries: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._repair()
        self._stopping.clear()
        for target, name in ((self._summary_worker, "aios-ctx-summary"), (self._idle_worker, "aios-ctx-idle")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        self._summaries.put(None)
        for thread in self._threads:
            thread.join(30)
        self._threads = []

    def _repair(self) -> None:
        """Messages evicted (committed) whose recall note was not written before a crash: write it now. One the
        memory subsystem refuses is quarantined (`_to_recall`), so it is tried once, not at every start."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(context_messages).where(
                    context_messages.c.evicted_at.is_not(None),
                    context_messages.c.note_id.is_(None),
                    context_messages.c.id.not_in(sa.select(context_quarantine.c.message_id)),
                )
            ).all()
        by_agent: dict[str, list[ContextMessage]] = {}
        for row in rows:
            by_agent.setdefault(row.agent_id, []).append(_message(row))
        for agent_id, messages in by_agent.items():
            log.warning("context: writing %d paged-out messages of %s to recall storage", len(messages), agent_id)
            self._to_recall(agent_id, messages)

    # -- syscalls --------------------------------------------------------------------------------------

    def append(self, agent_id: str, messages: Sequence[tuple[str, str]]) -> ContextUpdate:
        """Append messages; a user message among them pages relevant memories in; past the threshold, pages out."""
        self._check_messages(messages)
        with self._lock(agent_id):
            st = self._load(agent_id)
            change = _Change()
            self._add(st, change, messages)
            return self._commit(st, change, recall_for=_last_user(change.added))

    def chat(
        self, agent_id: str, content: str, params: Any, *, priority: int = 5,
        on_text: Callable[[str], None] | None = None, should_stop: Callable[[], bool] = lambda: False,
    ) -> TurnResult:  # fmt: skip
        """Append a user message, assemble, generate (streaming through `on_text`), record the reply."""
        from aios.llm import ChatMessage

        self._check_messages([("user", content)])
        if params.max_tokens > self.config.reply_reserve:
            raise InvalidArgument(f"max_tokens must be at most the reply reserve ({self.config.reply_reserve})")
        if not self._llm.available:
            raise FailedPrecondition(self._llm.unavailable_reason)
        self._llm.check_params(params)
        with self._lock(agent_id):
            st = self._load(agent_id)
            change = _Change()
            self._add(st, change, [("user", content)])
            self._commit(st, change, recall_for=_last_user(change.added))
            pieces = self._pieces(st)
            prompt = [ChatMessage(p.role, p.content) for p in pieces if p.section != "reply"]
            completion = self._llm.chat(agent_id, prompt, params, session=SESSION, priority=priority,
                                        on_text=on_text, should_stop=should_stop)  # fmt: skip
            self._last_active[agent_id] = self._clock()
            change = _Change()
            if completion.text.strip() and completion.finish_reason != "cancelled":  # a cut-off reply is not kept
                self._add(st, change, [("assistant", completion.text)], check=False)
            update = self._commit(st, change, recall_for=None)
            return TurnResult(update, completion, sum(p.tokens for p in pieces))

    def get(self, agent_id: str) -> AssembledContext:
        with self._lock(agent_id):
            st = self._load(agent_id)
            pieces = self._pieces(st)
            total = sum(p.tokens for p in pieces)
            sections = []
            for name in SECTIONS:
                mine = [p for p in pieces if p.section == name]
                items = {"core": len(st.blocks), "recalled": len(st.recalled)}.get(name, len(mine))
                sections.append(Section(name, sum(p.tokens for p in mine), items if mine else 0))
            return AssembledContext(
                agent_id, st.system_prompt, st.blocks, st.summary, st.recalled, st.messages,
                [(p.role, p.content) for p in pieces if p.section != "reply"], sections, total, self._count.exact,
                self._pressure(st, pieces, _Change(peak=self._base(pieces))),
            )  # fmt: skip

    def set_system_prompt(self, agent_id: str, text: str) -> ContextUpdate:
        self._check_text(text, "system prompt")
        tokens = self._count.head(text)
        if tokens > self.budget // 4:
            raise InvalidArgument(f"the system prompt is {tokens} tokens; at most {self.budget // 4}")
        with self._lock(agent_id):
            st = self._load(agent_id)
            self._check_room(st, st.blocks, tokens)
            st.system_prompt = text
            return self._commit(st, _Change(), recall_for=None)

    def set_core_block(self, agent_id: str, label: str, value: str, limit_tokens: int = 0) -> ContextUpdate:
        if not _LABEL.match(label):
            raise InvalidArgument("a core block label is 1-64 letters, digits, '_', '.', '-'")
        self._check_text(value, f"core block {label!r}", allow_empty=True)
        with self._lock(agent_id):
            st = self._load(agent_id)
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
            self._check_room(st, blocks, self._count.head(st.system_prompt))
            st.blocks = blocks
            return self._commit(st, _Change(), recall_for=None, blocks=True)

    def delete_core_block(self, agent_id: str, label: str) -> ContextUpdate:
        with self._lock(agent_id):
            st = self._load(agent_id)
            if not any(b.label == label for b in st.blocks):
                raise NotFound(f"no core block {label!r}")
            st.blocks = [b for b in st.blocks if b.label != label]
            return self._commit(st, _Change(), recall_for=None, blocks=True)

    def page_in(self, agent_id: str, item_id: str, pin: bool = False) -> ContextUpdate:
        """Put an evicted message or a note into the recalled section now (kept across turns if pinned)."""
        _check_id(item_id)
        with self._lock(agent_id):
            st = self._load(agent_id)
            if any(m.id == item_id for m in st.messages):
                raise FailedPrecondition(f"message {item_id} is in the window already")
            item = self._item(agent_id, item_id, pin)
            kept = [i for i in st.recalled if i.id != item.id]
            if self._recall_tokens([item]) > self.recall_budget:
                item = self._clip(item)
            while kept and self._recall_tokens([*kept, item]) > self.recall_budget:
                drop = next((i for i in reversed(kept) if not i.pinned), None)
                if drop is None:
                    raise FailedPrecondition("the recalled section is full of pinned items; unpin one first")
                kept.remove(drop)
            st.recalled = [*kept, item]
            st.stats["page_ins"] += 1
            st.events.append(("page_in", f"{item.kind} {item.id}"))
            return self._commit(st, _Change(), recall_for=None)

    def page_out(self, agent_id: str, ids: Sequence[str] = (), oldest: int = 0) -> ContextUpdate:
        """Evict the given messages (or the `oldest` n unpinned ones) to recall storage; ids of recalled items
        take them out of the recalled section."""
        if not ids and oldest <= 0:
            raise InvalidArgument("give message ids or oldest > 0")
        if ids and oldest:
            raise InvalidArgument("give message ids or oldest, not both")
        if len(ids) > _MAX_BATCH:
            raise InvalidArgument(f"at most {_MAX_BATCH} ids at once")
        for i in ids:
            _check_id(i)
        with self._lock(agent_id):
            st = self._load(agent_id)
            active = {m.id: m for m in st.messages}
            recalled = {i.id for i in st.recalled}
            chosen = [m for m in st.messages if not m.pinned][:oldest] if oldest else []
            for i in ids:
                if i in active:
                    if active[i].pinned:
                        raise FailedPrecondition(f"message {i} is pinned; unpin it first")
                    chosen.append(active[i])
                elif i not in recalled:
                    self._known_message(agent_id, i)
                    raise FailedPrecondition(f"message {i} is not in the window")
            st.recalled = [i for i in st.recalled if i.id not in set(ids)]
            change = _Change(peak=self._base(self._pieces(st)))
            self._evict(st, change, chosen)
            return self._commit(st, change, recall_for=None)

    def set_pinned(self, agent_id: str, item_id: str, pinned: bool) -> ContextUpdate:
        """Pin a message in the window (never evicted) or an item in the recalled section (kept across turns)."""
        _check_id(item_id)
        with self._lock(agent_id):
            st = self._load(agent_id)
            active = next((m for m in st.messages if m.id == item_id), None)
            change = _Change()
            if active is not None:
                pinned_tokens = sum(m.tokens for m in st.messages if m.pinned and m.id != item_id)
                if pinned and pinned_tokens + active.tokens > self.flush_tokens // 2:
                    raise FailedPrecondition(f"pinned messages may hold at most {self.flush_tokens // 2} tokens")
                change.pinned[item_id] = pinned
                st.messages = [replace(m, pinned=pinned) if m.id == item_id else m for m in st.messages]
                return self._commit(st, change, recall_for=None)
            if any(i.id == item_id for i in st.recalled):
                st.recalled = [replace(i, pinned=pinned) if i.id == item_id else i for i in st.recalled]
                return self._commit(st, change, recall_for=None)
        if pinned:
            return self.page_in(agent_id, item_id, pin=True)
        self._item(agent_id, item_id, False)  # NOT_FOUND for an unknown id; unpinning what is not pinned is a no-op
        return self._update_only(agent_id)

    def search_recall(self, agent_id: str, query: str, k: int = 10) -> list[RecallHit]:
        filters = SearchFilters(category=RECALL_CATEGORY, scope="own")
        hits = self._memory.search(agent_id, query, k, filters)
        return [_recall_hit(h.note, h.score) for h in hits]

    def stats(self, agent_id: str) -> ContextStats:
        with self._lock(agent_id):
            st = self._load(agent_id)
            with self._engine.connect() as conn:
                evicted = conn.execute(
                    sa.select(sa.func.count()).where(
                        context_messages.c.agent_id == agent_id, context_messages.c.evicted_at.is_not(None)
                    )
                ).scalar_one()
            s = st.stats
            return ContextStats(
                s["page_outs"], s["flushes"], s["page_ins"], s["recall_queries"], s["recall_hits"],
                s["recall_hits"] / s["recall_queries"] if s["recall_queries"] else 0.0,
                self._count.text(st.summary) if st.summary else 0, len(st.messages), evicted,
                sum(p.tokens for p in self._pieces(st)), self.window, s["warnings"], s["kv_swaps"],
            )  # fmt: skip

    def events(self, agent_id: str, after_id: int = 0, limit: int = 100) -> list[ContextEvent]:
        if not 1 <= limit <= _MAX_EVENTS or after_id < 0:
            raise InvalidArgument(f"limit must be 1-{_MAX_EVENTS} and after_id >= 0")
        after_id = min(after_id, _MAX_ID)  # no event lies beyond it; a larger bound would overflow the SQL integer
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(context_events)
                .where(context_events.c.agent_id == agent_id, context_events.c.id > after_id)
                .order_by(context_events.c.id)
                .limit(limit)
            ).all()
        return [ContextEvent(r.id, r.kind, r.at, r.fraction, r.tokens, r.detail) for r in rows]

    def swap_out(self, agent_id: str, drop: bool = False) -> tuple[str, int]:
        """Move the agent's saved KV state to disk now (or drop it, so the next turn prefills in full)."""
        where, size = self._llm.swap_out(agent_id, SESSION, drop) if self._llm.available else ("none", 0)
        if size:
            with self._lock(agent_id):
                st = self._load(agent_id)
                st.stats["kv_swaps"] += 1
                st.events.append(("kv_swap", f"{where} {size} bytes"))
                self._commit(st, _Change(), recall_for=None)
        return where, size

    # -- assembly and accounting ----------------------------------------------------------------------

    def _pieces(self, st: _State) -> list[Piece]:
        return build_pieces(st.system_prompt, self._count.head(st.system_prompt), st.blocks, st.summary,
                            st.messages, st.recalled, st.anchor, self._count)  # fmt: skip

    @staticmethod
    def _base(pieces: list[Piece]) -> int:
        return sum(p.tokens for p in pieces if p.section != "recalled")

    def _pressure(self, st: _State, pieces: list[Piece], change: _Change) -> Pressure:
        total = sum(p.tokens for p in pieces)
        fraction = total / self.window
        level = "flushed" if change.evicted else ("warning" if fraction >= self.config.warn_fraction else "ok")
        return Pressure(level, fraction, total, self.window, self.budget, self.config.warn_fraction,
                        self.flush_tokens, change.peak or self._base(pieces))  # fmt: skip

    def _fixed(self, st: _State, blocks: Sequence[CoreBlock], system_tokens: int) -> int:
        core = self._count.chunk("system", "Core memory:\n" + "\n".join(f"[{b.label}] {b.value}" for b in blocks))
        return system_tokens + (core if blocks else 0) + self.summary_limit + 24 + self._count.reply()

    def _check_room(self, st: _State, blocks: Sequence[CoreBlock], system_tokens: int) -> None:
        room = self.flush_tokens - self._fixed(st, blocks, system_tokens)
        if room < max(64, self.flush_tokens // 4):
            raise InvalidArgument(f"that would leave {room} tokens for messages; keep the system prompt and "
                                  "core blocks smaller")  # fmt: skip

    # -- the paging itself -----------------------------------------------------------------------------

    def _add(self, st: _State, change: _Change, messages: Sequence[tuple[str, str]], check: bool = True) -> None:
        room = self.flush_tokens - self._fixed(st, st.blocks, self._count.head(st.system_prompt))
        now = self._clock()
        new = []
        for i, (role, content) in enumerate(messages):
            tokens = self._count.chunk(role, content)
            if check and tokens > room:
                where = f"message {i}" if len(messages) > 1 else "the message"
                raise InvalidArgument(f"{where} is {tokens} tokens; at most {room} fit in this window")
            new.append(ContextMessage(uuid.uuid4().hex, st.next_seq + i, role, content, tokens, now))
        st.next_seq += len(new)
        st.messages = [*st.messages, *new]
        change.added += new
        change.peak = self._base(self._pieces(st))
        if change.peak > self.flush_tokens:
            self._evict(st, change, [], fit=True)

    def _evict(self, st: _State, change: _Change, chosen: list[ContextMessage], fit: bool = False) -> None:
        for _ in range(16):  # each round's summary may grow; a few rounds always converge
            if fit:
                excess = self._base(self._pieces(st)) - (self.target if not change.evicted else self.flush_tokens)
                chosen = choose_evictions(st.messages, excess, self.config.keep_last_messages)
            if not chosen:
                break
            ids = {m.id for m in chosen}
            st.messages = [m for m in st.messages if m.id not in ids]
            st.summary = extractive_summary(st.summary, [(m.role, m.content) for m in chosen], self.summary_limit,
                                            self._count.text)  # fmt: skip
            st.summary_version += 1
            change.evicted += chosen
            if not fit or self._base(self._pieces(st)) <= self.flush_tokens:
                break
            chosen = []
        if change.evicted:
            st.stats["page_outs"] += len(change.evicted)
            st.stats["flushes"] += 1
            st.events.append(("flush", f"{len(change.evicted)} messages paged out"))

    def _recall(self, st: _State, message: ContextMessage) -> None:
        """Page in the evicted messages and notes most relevant to a new user message (hybrid search)."""
        pinned = [i for i in st.recalled if i.pinned]
        st.recalled, st.anchor = pinned, message.seq
        if self._memory.count(st.agent_id) == 0:
            return
        query = message.content[:_MAX_QUERY_CHARS]
        hits = self._memory.search(st.agent_id, query, self.config.recall_k, SearchFilters(scope="own"))
        st.stats["recall_queries"] += 1
        taken = {i.id for i in pinned}
        added = 0
        for hit in hits:
            item = _item_of(hit.note, hit.score, self._count)
            if item.id in taken:
                continue
            if st.recalled and self.recall_budget - self._recall_tokens(st.recalled) < 24:
                break
            if self._recall_tokens([*st.recalled, item]) > self.recall_budget:
                item = self._clip(item, st.recalled)
                if item.tokens <= 0:
                    continue
            st.recalled.append(item)
            taken.add(item.id)
            added += 1
        if added:
            st.stats["recall_hits"] += 1
            st.stats["page_ins"] += added
            st.events.append(("page_in", f"{added} items recalled for message {message.id}"))

    def _recall_tokens(self, items: Sequence[RecalledItem]) -> int:
        from memory.context.assembly import recalled_text

        return self._count.chunk("system", recalled_text(items)) if items else 0

    def _clip(self, item: RecalledItem, others: Sequence[RecalledItem] = ()) -> RecalledItem:
        """The item cut to fit the recalled section's budget after `others`."""
        content = item.content
        while content:
            candidate = replace(item, content=content + ("…" if content != item.content else ""))
            if self._recall_tokens([*others, candidate]) <= self.recall_budget:
                return replace(candidate, tokens=self._count.text(candidate.content))
            content = content[: int(len(content) * 0.8)]
        return replace(item, content="", tokens=0)

    def _commit(self, st: _State, change: _Change, recall_for: ContextMessage | None, blocks: bool = False) -> Any:
        if recall_for is not None:
            self._recall(st, recall_for)
        if not change.added and not change.evicted:
            change.peak = self._base(self._pieces(st))
            if change.peak > self.flush_tokens:  # an edit (core block, system prompt) left too little room
                self._evict(st, change, [], fit=True)
        pieces = self._pieces(st)
        pressure = self._pressure(st, pieces, change)
        level = "warning" if pressure.fraction >= self.config.warn_fraction else "ok"
        if level == "warning" and st.level != "warning":
            st.stats["warnings"] += 1
            st.events.append(("pressure_warning", f"{pressure.fraction:.0%} of the window"))
        st.level = level
        now = self._clock()
        with self._engine.begin() as conn:
            self._save(conn, st, change, now, pressure, blocks)
        if change.evicted:
            self._to_recall(st.agent_id, change.evicted)
            if self.config.summary_llm and self._llm.available:
                self._summaries.put(st.agent_id)
        st.events = []
        return ContextUpdate(pressure, change.added, [m.id for m in change.evicted], list(st.recalled))

    def _to_recall(self, agent_id: str, messages: Sequence[ContextMessage]) -> None:
        """Write evicted messages to recall storage: notes (searchable, linked to the agent's other notes).

        The messages are committed as evicted already, so a message the memory subsystem refuses must not fail
        the call nor, through start-up repair, every later start: the others are written one by one and it is
        quarantined (kept, listed by `aios admin doctor`)."""
        for start in range(0, len(messages), _MAX_BATCH):
            batch = messages[start : start + _MAX_BATCH]
            try:
                self._write_recall(agent_id, batch)
            except AiosError:
                for m in batch:
                    try:
                        self._write_recall(agent_id, [m])
                    except AiosError as exc:
                        self._quarantine(agent_id, m, exc)

    def _write_recall(self, agent_id: str, batch: Sequence[ContextMessage]) -> None:
        notes = self._memory.add(agent_id, [
            NewNote(m.content, {"ctx_message_id": m.id, "role": m.role, "seq": str(m.seq)},
                    keywords=keywords_of(m.content), category=RECALL_CATEGORY, event_at=m.created_at)
            for m in batch
        ])  # fmt: skip
        with self._engine.begin() as conn:
            for m, note in zip(batch, notes, strict=True):
                conn.execute(sa.update(context_messages).where(context_messages.c.id == m.id)
                             .values(note_id=note.id))  # fmt: skip

    def _quarantine(self, agent_id: str, message: ContextMessage, exc: AiosError) -> None:
        log.warning("context: paged-out message %s of %s quarantined (no recall note): %s; `aios admin doctor` "
                    "lists it", message.id, agent_id, exc.message)  # fmt: skip
        row = {"message_id": message.id, "agent_id": agent_id, "reason": f"{exc.code}: {exc.message}",
               "at": self._clock()}  # fmt: skip
        with self._engine.begin() as conn:
            conn.execute(sa.insert(context_quarantine).values(**row))

    # -- storage ---------------------------------------------------------------------------------------

    def _load(self, agent_id: str) -> _State:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(contexts).where(contexts.c.agent_id == agent_id)).first()
            blocks = conn.execute(
                sa.select(context_blocks).where(context_blocks.c.agent_id == agent_id).order_by(context_blocks.c.label)
            ).all()
            messages = conn.execute(
                sa.select(context_messages)
                .where(context_messages.c.agent_id == agent_id, context_messages.c.evicted_at.is_(None))
                .order_by(context_messages.c.seq)
            ).all()
        core = [CoreBlock(b.label, b.value, b.limit_tokens, b.tokens, b.updated_at) for b in blocks]
        active = [_message(m) for m in messages]
        if row is None:
            return _State(agent_id, False, self.config.system_prompt, "", 0, [], None, 1, "ok",
                          dict.fromkeys(_COUNTERS, 0), core, active)  # fmt: skip
        recalled = [RecalledItem(**i) for i in row.recalled]
        stats = {**dict.fromkeys(_COUNTERS, 0), **row.stats}
        return _State(agent_id, True, row.system_prompt, row.summary, row.summary_version, recalled,
                      row.recall_anchor, row.next_seq, row.level, stats, core, active)  # fmt: skip

    def _save(self, conn: Connection, st: _State, change: _Change, now: float, p: Pressure, blocks: bool) -> None:
        values = {
            "system_prompt": st.system_prompt, "summary": st.summary, "summary_version": st.summary_version,
            "recalled": [i.__dict__ for i in st.recalled], "recall_anchor": st.anchor, "next_seq": st.next_seq,
            "level": st.level, "stats": dict(st.stats), "updated_at": now,
        }  # fmt: skip
        if st.exists:
            conn.execute(sa.update(contexts).where(contexts.c.agent_id == st.agent_id).values(**values))
        else:
            conn.execute(sa.insert(contexts).values(agent_id=st.agent_id, created_at=now, **values))
            st.exists = True
        added = {m.id for m in change.added}
        evicted = {m.id for m in change.evicted}
        if change.added:
            conn.execute(sa.insert(context_messages), [
                {"id": m.id, "agent_id": st.agent_id, "seq": m.seq, "role": m.role, "content": m.content,
                 "tokens": m.tokens, "pinned": m.pinned, "created_at": m.created_at,
                 "evicted_at": now if m.id in evicted else None, "note_id": None}
                for m in change.added
            ])  # fmt: skip
        gone = [i for i in evicted if i not in added]
        if gone:
            conn.execute(sa.update(context_messages).where(context_messages.c.id.in_(gone)).values(evicted_at=now))
        for message_id, pinned in change.pinned.items():
            conn.execute(sa.update(context_messages).where(context_messages.c.id == message_id).values(pinned=pinned))
        if blocks:
            conn.execute(sa.delete(context_blocks).where(context_blocks.c.agent_id == st.agent_id))
            if st.blocks:
                conn.execute(sa.insert(context_blocks), [
                    {"agent_id": st.agent_id, "label": b.label, "value": b.value, "limit_tokens": b.limit_tokens,
                     "tokens": b.tokens, "updated_at": b.updated_at} for b in st.blocks
                ])  # fmt: skip
        if st.events:
            conn.execute(sa.insert(context_events), [
                {"agent_id": st.agent_id, "kind": kind, "at": now, "fraction": p.fraction, "tokens": p.tokens,
                 "detail": detail} for kind, detail in st.events
            ])  # fmt: skip

    def _item(self, agent_id: str, item_id: str, pin: bool) -> RecalledItem:
        """An evicted message or a visible note as a recalled item; NOT_FOUND otherwise."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(context_messages).where(
                context_messages.c.id == item_id, context_messages.c.agent_id == agent_id)).first()  # fmt: skip
        if row is not None:
            content = f"[{row.role}] {row.content}"
            return RecalledItem(row.id, "message", content, self._count.text(content), pin)
        note = self._memory.get(agent_id, item_id)  # NOT_FOUND unless the agent may read it
        return replace(_item_of(note, 0.0, self._count), pinned=pin)

    def _known_message(self, agent_id: str, message_id: str) -> None:
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(context_messages.c.id).where(
                context_messages.c.id == message_id, context_messages.c.agent_id == agent_id)).first()  # fmt: skip
        if found is None:
            raise NotFound(f"no message {message_id!r} in this context")

    def _update_only(self, agent_id: str) -> ContextUpdate:
        with self._lock(agent_id):
            st = self._load(agent_id)
            pieces = self._pieces(st)
            return ContextUpdate(self._pressure(st, pieces, _Change()), [], [], list(st.recalled))

    def _lock(self, agent_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(agent_id, threading.Lock())

    # -- background work -------------------------------------------------------------------------------

    def _summary_worker(self) -> None:
        while True:
            agent_id = self._summaries.get()
            if agent_id is None or self._stopping.is_set():
                return
            try:
                self._refine_summary(agent_id)
            except Exception:  # an LLM that fails leaves the extractive summary in place
                log.warning("context: summary refinement for %s failed", agent_id, exc_info=True)

    def _refine_summary(self, agent_id: str) -> None:
        from aios.llm import ChatMessage, JobClass, SamplingParams

        with self._engine.connect() as conn:
            row = conn.execute(sa.select(contexts.c.summary, contexts.c.summary_version)
                               .where(contexts.c.agent_id == agent_id)).first()  # fmt: skip
        if row is None or not row.summary.strip():
            return
        words = max(20, self.summary_limit * 2 // 3)
        ask = (f"Rewrite this running summary of a conversation in at most {words} words. Keep names, numbers "
               f"and dates; drop chit-chat.\n\n{row.summary}")  # fmt: skip
        reply = self._llm.chat(agent_id, [ChatMessage("user", ask)], SamplingParams(max_tokens=self.summary_limit),
                               session=SUMMARY_SESSION, job_class=JobClass.BACKGROUND,
                               should_stop=self._stopping.is_set)  # fmt: skip
        text = reply.text.strip()
        if not text or reply.finish_reason not in ("stop", "length"):
            return
        text = extractive_summary(text, [], self.summary_limit, self._count.text)
        with self._lock(agent_id), self._engine.begin() as conn:
            done = conn.execute(
                sa.update(contexts)
                .where(contexts.c.agent_id == agent_id, contexts.c.summary_version == row.summary_version)
                .values(summary=text, summary_version=row.summary_version + 1)
            ).rowcount
            if done:
                conn.execute(sa.insert(context_events).values(agent_id=agent_id, kind="summary", at=self._clock(),
                                                              fraction=0.0, tokens=self._count.text(text),
                                                              detail="refined by the LLM"))  # fmt: skip

    def _idle_worker(self) -> None:
        idle = self.config.idle_swap_s
        if not idle:
            return
        while not self._stopping.wait(min(30.0, max(0.5, idle / 4))):
            now = self._clock()
            for agent_id, at in list(self._last_active.items()):
                if now - at >= idle:
                    self._last_active.pop(agent_id, None)
                    try:
                        self.swap_out(agent_id)
                    except Exception:
                        log.warning("context: swapping out %s failed", agent_id, exc_info=True)

    # -- validation ------------------------------------------------------------------------------------

    def _check_messages(self, messages: Sequence[tuple[str, str]]) -> None:
        if not messages:
            raise InvalidArgument("at least one message is required")
        if len(messages) > _MAX_BATCH:
            raise InvalidArgument(f"at most {_MAX_BATCH} messages at once")
        for i, (role, content) in enumerate(messages):
            where = f"message {i}" if len(messages) > 1 else "message"
            if role not in ROLES:
                raise InvalidArgument(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
            self._check_text(content, where)

    def _check_text(self, text: str, what: str, allow_empty: bool = False) -> None:
        if not allow_empty and not text.strip():
            raise InvalidArgument(f"{what} must not be empty")
        if len(text) > self._max_chars:
            raise InvalidArgument(f"{what} has {len(text)} characters; the limit is {self._max_chars}")
        if "\x00" in text:
            raise InvalidArgument(f"{what} must not contain NUL characters")


def _last_user(messages: Sequence[ContextMessage]) -> ContextMessage | None:
    return next((m for m in reversed(messages) if m.role == "user"), None)


def _check_id(item_id: str) -> None:
    if not item_id or len(item_id) > 64:
        raise InvalidArgument("an id is 1-64 characters")


def _message(row: Any) -> ContextMessage:
    return ContextMessage(row.id, row.seq, row.role, row.content, row.tokens, row.created_at, row.pinned,
                          row.evicted_at, row.note_id or "")  # fmt: skip


def _item_of(note: Any, score: float, count: TokenCounter) -> RecalledItem:
    message_id = note.metadata.get("ctx_message_id", "")
    if message_id:
        content = f"[{note.metadata.get('role', 'user')}] {note.content}"
        return RecalledItem(message_id, "message", content, count.text(content), False, score)
    return RecalledItem(note.id, "note", note.content, count.text(note.content), False, score)


def _recall_hit(note: Any, score: float) -> RecallHit:
    return RecallHit(note.id, note.metadata.get("ctx_message_id", ""), note.metadata.get("role", ""), note.content,
                     score, note.event_at or note.created_at)  # fmt: skip
