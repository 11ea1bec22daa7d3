"""The paging policy, pure: the window's budget, what to page out and when, what fits in the recalled section.

Every function works on a `State` (one agent's context during a call), a `Change` (what the call changes) and a
`Counter`; none does I/O or reads a clock (the caller passes `now`), and each changes only the State and Change
it is given, so the policy is unit-tested with a fake counter (no kernel, no model, no database).
The service loads the state, applies these, saves the result and writes evicted messages to recall storage.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from aios.config import ContextConfig
from aios.errors import FailedPrecondition, InvalidArgument
from aios.memory.context.assembly import (
    Piece,
    build_pieces,
    choose_evictions,
    core_text,
    extractive_summary,
    recalled_text,
)
from aios.memory.context.models import ContextMessage, CoreBlock, Pressure, RecalledItem
from aios.memory.context.state import Change, State
from aios.memory.context.tokens import Counter

__all__ = [
    "Limits",
    "add_messages",
    "admit",
    "base_tokens",
    "check_pin",
    "check_room",
    "choose_page_out",
    "clip",
    "evict",
    "fixed_tokens",
    "pieces",
    "pressure",
    "recall_tokens",
    "settle",
    "take_recalled",
]

_ROUNDS = 16  # each eviction round's summary may grow; a few rounds always converge
_MIN_RECALL_ROOM = 24  # below this the recalled section takes no more items
_SUMMARY_SLACK = 24  # the summary section's heading and turn markers beside `summary_limit`


@dataclass(frozen=True)
class Limits:
    """The window's budget in tokens, from the config and the model's context window."""

    window: int
    budget: int
    """What the assembled context may hold: `flush_fraction` of the window minus the reply reserve."""
    recall_budget: int
    """The recalled section's share of the budget."""
    flush_tokens: int
    """Past this (everything but the recalled section), the oldest messages are paged out."""
    target: int
    """A flush pages out until the context is below this."""
    summary_limit: int
    warn_fraction: float
    keep_last: int

    @classmethod
    def of(cls, config: ContextConfig, n_ctx: int) -> Limits:
        """`n_ctx` is the model's window (0: unknown). INVALID_ARGUMENT if too little is left for messages."""
        window = min(config.window_tokens or n_ctx or 4096, n_ctx or 1 << 30)
        budget = int(config.flush_fraction * window) - config.reply_reserve
        recall_budget = config.recall_tokens or int(0.15 * window)
        flush_tokens = budget - recall_budget
        if flush_tokens < 64:
            raise InvalidArgument(
                f"context window of {window} tokens leaves {flush_tokens} for messages after the reply "
                f"reserve ({config.reply_reserve}) and the recalled section ({recall_budget}); raise "
                "context.window_tokens or lower the reserves"
            )
        target = min(int(config.evict_to_fraction * window), flush_tokens)
        summary_limit = min(config.summary_tokens, max(16, budget // 8))
        return cls(window, budget, recall_budget, flush_tokens, target, summary_limit, config.warn_fraction,
                   config.keep_last_messages)  # fmt: skip


# -- accounting ---------------------------------------------------------------------------------------


def pieces(st: State, count: Counter) -> list[Piece]:
    return build_pieces(st.system_prompt, count.head(st.system_prompt), st.blocks, st.summary, st.messages,
                        st.recalled, st.anchor, count)  # fmt: skip


def base_tokens(ps: Sequence[Piece]) -> int:
    """Everything but the recalled section: what the flush threshold is measured on."""
    return sum(p.tokens for p in ps if p.section != "recalled")


def pressure(ps: Sequence[Piece], change: Change, lim: Limits) -> Pressure:
    total = sum(p.tokens for p in ps)
    fraction = total / lim.window
    level = "flushed" if change.evicted else ("warning" if fraction >= lim.warn_fraction else "ok")
    return Pressure(level, fraction, total, lim.window, lim.budget, lim.warn_fraction, lim.flush_tokens,
                    change.peak or base_tokens(ps))  # fmt: skip


def fixed_tokens(blocks: Sequence[CoreBlock], system_tokens: int, lim: Limits, count: Counter) -> int:
    """What the window holds besides the messages and the recalled section, the summary at its largest."""
    core = count.chunk("system", core_text(blocks)) if blocks else 0
    return system_tokens + core + lim.summary_limit + _SUMMARY_SLACK + count.reply()


def check_room(blocks: Sequence[CoreBlock], system_tokens: int, lim: Limits, count: Counter) -> None:
    """INVALID_ARGUMENT if this system prompt and these core blocks leave too little room for messages."""
    room = lim.flush_tokens - fixed_tokens(blocks, system_tokens, lim, count)
    if room < max(64, lim.flush_tokens // 4):
        raise InvalidArgument(f"that would leave {room} tokens for messages; keep the system prompt and "
                              "core blocks smaller")  # fmt: skip


def settle(st: State, change: Change, lim: Limits, count: Counter) -> Pressure:
    """The call's last step before saving: an edit that left too little room pages out; the pressure level
    (a warning event when it crosses `warn_fraction`)."""
    if not change.added and not change.evicted:
        change.peak = base_tokens(pieces(st, count))
        if change.peak > lim.flush_tokens:  # an edit (core block, system prompt) left too little room
            evict(st, change, [], lim, count, fit=True)
    p = pressure(pieces(st, count), change, lim)
    level = "warning" if p.fraction >= lim.warn_fraction else "ok"
    if level == "warning" and st.level != "warning":
        st.stats["warnings"] += 1
        st.events.append(("pressure_warning", f"{p.fraction:.0%} of the window"))
    st.level = level
    return p


# -- paging out ---------------------------------------------------------------------------------------


def add_messages(
    st: State, change: Change, messages: Sequence[tuple[str, str]], lim: Limits, count: Counter, now: float,
    check: bool = True, new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> None:  # fmt: skip
    """Append messages (INVALID_ARGUMENT for one larger than the room, if `check`); past the flush threshold,
    page out."""
    room = lim.flush_tokens - fixed_tokens(st.blocks, count.head(st.system_prompt), lim, count)
    new = []
    for i, (role, content) in enumerate(messages):
        tokens = count.chunk(role, content)
        if check and tokens > room:
            where = f"message {i}" if len(messages) > 1 else "the message"
            raise InvalidArgument(f"{where} is {tokens} tokens; at most {room} fit in this window")
        new.append(ContextMessage(new_id(), st.next_seq + i, role, content, tokens, now))
    st.next_seq += len(new)
    st.messages = [*st.messages, *new]
    change.added += new
    change.peak = base_tokens(pieces(st, count))
    if change.peak > lim.flush_tokens:
        evict(st, change, [], lim, count, fit=True)


def evict(
    st: State, change: Change, chosen: list[ContextMessage], lim: Limits, count: Counter, fit: bool = False
) -> None:
    """Page out `chosen`, or (`fit`) the oldest messages until the context is below the target (below the flush
    threshold on a later round); each round folds the evicted messages into the extractive summary."""
    for _ in range(_ROUNDS):
        if fit:
            excess = base_tokens(pieces(st, count)) - (lim.target if not change.evicted else lim.flush_tokens)
            chosen = choose_evictions(st.messages, excess, lim.keep_last)
        if not chosen:
            break
        ids = {m.id for m in chosen}
        st.messages = [m for m in st.messages if m.id not in ids]
        st.summary = extractive_summary(st.summary, [(m.role, m.content) for m in chosen], lim.summary_limit,
                                        count.text)  # fmt: skip
        st.summary_version += 1
        change.evicted += chosen
        if not fit or base_tokens(pieces(st, count)) <= lim.flush_tokens:
            break
        chosen = []
    if change.evicted:
        st.stats["page_outs"] += len(change.evicted)
        st.stats["flushes"] += 1
        st.events.append(("flush", f"{len(change.evicted)} messages paged out"))


def reset(st: State, change: Change) -> None:
    """A new conversation: every active message (pinned too) is evicted, the summary and recalled section cleared;
    the system prompt and core blocks stay."""
    change.evicted += st.messages
    st.stats["page_outs"] += len(st.messages)
    st.events.append(("reset", f"{len(st.messages)} messages paged out"))
    st.messages = []
    st.summary = ""
    st.summary_version += 1  # a summary the worker is refining now is not written back
    st.recalled = []
    st.anchor = None


def choose_page_out(st: State, ids: Sequence[str], oldest: int) -> tuple[list[ContextMessage], str | None]:
    """The active messages an explicit page-out evicts (the `oldest` n unpinned, or those of `ids`), and the first
    id that is neither active nor recalled (None if all are). FAILED_PRECONDITION for a pinned message."""
    active = {m.id: m for m in st.messages}
    recalled = {i.id for i in st.recalled}
    chosen = [m for m in st.messages if not m.pinned][:oldest] if oldest else []
    for i in ids:
        if i in active:
            if active[i].pinned:
                raise FailedPrecondition(f"message {i} is pinned; unpin it first")
            chosen.append(active[i])
        elif i not in recalled:
            return chosen, i
    return chosen, None


def check_pin(st: State, message: ContextMessage, lim: Limits) -> None:
    """Pinned messages may hold at most half the room for messages."""
    pinned_tokens = sum(m.tokens for m in st.messages if m.pinned and m.id != message.id)
    if pinned_tokens + message.tokens > lim.flush_tokens // 2:
        raise FailedPrecondition(f"pinned messages may hold at most {lim.flush_tokens // 2} tokens")


# -- paging in ----------------------------------------------------------------------------------------


def recall_tokens(items: Sequence[RecalledItem], count: Counter) -> int:
    return count.chunk("system", recalled_text(items)) if items else 0


def clip(item: RecalledItem, lim: Limits, count: Counter, others: Sequence[RecalledItem] = ()) -> RecalledItem:
    """The item cut to fit the recalled section's budget after `others` (empty, 0 tokens, if nothing fits)."""
    content = item.content
    while content:
        candidate = replace(item, content=content + ("…" if content != item.content else ""))
        if recall_tokens([*others, candidate], count) <= lim.recall_budget:
            return replace(candidate, tokens=count.text(candidate.content))
        content = content[: int(len(content) * 0.8)]
    return replace(item, content="", tokens=0)


def take_recalled(
    st: State, message: ContextMessage, candidates: Sequence[RecalledItem] | None, lim: Limits, count: Counter
) -> None:
    """A new user message: the recalled section keeps its pinned items and goes just before the message, then
    takes the search's candidates (None: recall storage is empty, nothing was searched), best first, as many as
    its budget holds (the last one clipped)."""
    st.recalled, st.anchor = [i for i in st.recalled if i.pinned], message.seq
    if candidates is None:
        return
    st.stats["recall_queries"] += 1
    taken = {i.id for i in st.recalled}
    added = 0
    for item in candidates:
        if item.id in taken:
            continue
        if st.recalled and lim.recall_budget - recall_tokens(st.recalled, count) < _MIN_RECALL_ROOM:
            break
        if recall_tokens([*st.recalled, item], count) > lim.recall_budget:
            item = clip(item, lim, count, st.recalled)
            if item.tokens <= 0:
                continue
        st.recalled.append(item)
        taken.add(item.id)
        added += 1
    if added:
        st.stats["recall_hits"] += 1
        st.stats["page_ins"] += added
        st.events.append(("page_in", f"{added} items recalled for message {message.id}"))


def admit(st: State, item: RecalledItem, lim: Limits, count: Counter) -> None:
    """An explicit page-in: the item goes last in the recalled section (clipped to its budget), the newest
    unpinned items make way; FAILED_PRECONDITION if pinned items fill it."""
    kept = [i for i in st.recalled if i.id != item.id]
    if recall_tokens([item], count) > lim.recall_budget:
        item = clip(item, lim, count)
    while kept and recall_tokens([*kept, item], count) > lim.recall_budget:
        drop = next((i for i in reversed(kept) if not i.pinned), None)
        if drop is None:
            raise FailedPrecondition("the recalled section is full of pinned items; unpin one first")
        kept.remove(drop)
    st.recalled = [*kept, item]
    st.stats["page_ins"] += 1
    st.events.append(("page_in", f"{item.kind} {item.id}"))
