"""The paging policy as pure functions: a fake token counter (one token a word, two more per turn), no kernel, no
model, no database."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest

from aios.config import ContextConfig
from aios.errors import FailedPrecondition, InvalidArgument
from aios.memory.context import policy
from aios.memory.context.assembly import choose_evictions, extractive_summary
from aios.memory.context.models import ContextMessage, RecalledItem
from aios.memory.context.state import Change, State

CONFIG = ContextConfig(window_tokens=400, reply_reserve=20, recall_tokens=60, keep_last_messages=2, summary_tokens=40)


class WordCounter:
    """One token a word; a turn's markers are two more, the generation prompt one."""

    exact = False

    def text(self, text: str) -> int:
        return max(1, len(text.split()))

    def head(self, content: str) -> int:
        return self.text(content) + 2

    def chunk(self, role: str, content: str) -> int:
        return self.text(content) + 2

    def reply(self) -> int:
        return 1


COUNT = WordCounter()
LIMITS = policy.Limits.of(CONFIG, 0)


def words(i: int, n: int = 30) -> str:
    return f"Message {i}. " + " ".join(f"w{i}x{j}" for j in range(n - 2))


def ids(messages: Sequence[ContextMessage]) -> list[str]:
    return [m.id for m in messages]


def state(*messages: str) -> State:
    st = State.new("agent", "You are terse.")
    if messages:
        policy.add_messages(st, Change(), [("user", m) for m in messages], LIMITS, COUNT, 1.0, new_id=_ids())
    return st


def _ids() -> Callable[[], str]:
    """Readable message ids: m0, m1, ..."""
    n = itertools.count()
    return lambda: f"m{next(n)}"


def test_the_budget_follows_the_config_and_the_models_window() -> None:
    assert (LIMITS.window, LIMITS.budget, LIMITS.recall_budget, LIMITS.flush_tokens) == (400, 380, 60, 320)
    assert (LIMITS.target, LIMITS.summary_limit, LIMITS.keep_last) == (200, 40, 2)
    assert policy.Limits.of(ContextConfig(), 2048).window == 2048  # 0: the model's n_ctx
    assert policy.Limits.of(ContextConfig(window_tokens=8192), 2048).window == 2048  # never more than the model's
    assert policy.Limits.of(ContextConfig(), 0).window == 4096  # unknown (estimates)
    with pytest.raises(InvalidArgument, match="context window of 100 tokens"):
        policy.Limits.of(ContextConfig(window_tokens=100), 0)


def test_appending_past_the_threshold_pages_the_oldest_out_into_the_summary() -> None:
    st, new_id = State.new("agent", "You are terse."), _ids()
    flushes = 0
    for i in range(24):
        change = Change()
        policy.add_messages(st, change, [("user", words(i))], LIMITS, COUNT, float(i), new_id=new_id)
        base = policy.base_tokens(policy.pieces(st, COUNT))
        assert base <= LIMITS.flush_tokens  # never over the threshold after a call
        if change.evicted:
            flushes += 1
            assert change.peak > LIMITS.flush_tokens
            assert sum(m.tokens for m in change.evicted) >= change.peak - LIMITS.target  # to the target, not just under
            assert [m.seq for m in change.evicted] == sorted(m.seq for m in change.evicted)  # oldest first
            assert st.events[-1] == ("flush", f"{len(change.evicted)} messages paged out")
        else:
            assert change.peak == base
    assert flushes >= 2 and st.stats["flushes"] == flushes
    assert st.stats["page_outs"] == 24 - len(st.messages)
    assert st.summary.splitlines()[-1].startswith("- user: Message") and COUNT.text(st.summary) <= 40
    assert [m.seq for m in st.messages] == list(range(25 - len(st.messages), 25))  # the newest stay, in order


def test_pinned_and_the_last_messages_are_spared() -> None:
    st = state(*(words(i) for i in range(6)))
    st.messages[0] = ContextMessage(**{**st.messages[0].__dict__, "pinned": True})
    change = Change()
    policy.add_messages(st, change, [("user", words(i)) for i in range(6, 11)], LIMITS, COUNT, 2.0, new_id=_ids())
    assert change.evicted and st.messages[0].seq == 1 and st.messages[0].pinned
    assert all(m.seq not in (10, 11) for m in change.evicted)


def test_a_message_larger_than_the_room_is_refused_and_changes_nothing() -> None:
    st = state(words(0))
    before = (list(st.messages), st.next_seq)
    with pytest.raises(InvalidArgument, match="the message is .* tokens; at most"):
        policy.add_messages(st, Change(), [("user", words(1, 400))], LIMITS, COUNT, 1.0)
    assert (st.messages, st.next_seq) == before
    policy.add_messages(st, Change(), [("assistant", words(1, 400))], LIMITS, COUNT, 1.0, check=False)  # a reply


def test_settle_warns_once_and_an_edit_that_leaves_no_room_pages_out() -> None:
    st = state(*(words(i) for i in range(9)))  # about 290 of 400 tokens: over the 70 % warning
    p = policy.settle(st, Change(), LIMITS, COUNT)
    assert p.level == "warning" and st.level == "warning" and st.stats["warnings"] == 1
    assert st.events[-1][0] == "pressure_warning"
    policy.settle(st, Change(), LIMITS, COUNT)
    assert st.stats["warnings"] == 1  # still warning: not a new event
    st.system_prompt = words(99, 60)  # the edit the service allowed leaves the messages too little room
    change = Change()
    p = policy.settle(st, change, LIMITS, COUNT)
    assert change.evicted and p.level == "flushed" and p.peak_tokens > LIMITS.flush_tokens
    assert policy.base_tokens(policy.pieces(st, COUNT)) <= LIMITS.flush_tokens


def item(i: str, n: int, pinned: bool = False) -> RecalledItem:
    return RecalledItem(i, "note", " ".join(["word"] * n), n, pinned)


def test_recall_fills_the_section_within_its_budget_and_keeps_pinned_items() -> None:
    st = state(words(0))
    st.recalled = [item("pinned", 5, pinned=True), item("stale", 5)]
    message = st.messages[-1]
    policy.take_recalled(st, message, [item("pinned", 5), item("a", 8), item("b", 8), item("c", 30)], LIMITS, COUNT)
    assert [i.id for i in st.recalled] == ["pinned", "a", "b", "c"] and st.anchor == message.seq
    assert policy.recall_tokens(st.recalled, COUNT) <= LIMITS.recall_budget
    assert st.recalled[-1].content.endswith("…") and st.recalled[-1].tokens < 30  # the last one clipped
    assert (st.stats["recall_queries"], st.stats["recall_hits"], st.stats["page_ins"]) == (1, 1, 3)
    policy.take_recalled(st, message, None, LIMITS, COUNT)  # recall storage empty: nothing searched
    assert [i.id for i in st.recalled] == ["pinned"] and st.stats["recall_queries"] == 1


def test_an_explicit_page_in_makes_the_newest_unpinned_items_give_way() -> None:
    st = state(words(0))
    st.recalled = [item("p", 10, pinned=True), item("a", 10), item("b", 10)]
    policy.admit(st, item("new", 20), LIMITS, COUNT)
    assert [i.id for i in st.recalled] == ["p", "a", "new"] and st.events[-1] == ("page_in", "note new")
    st.recalled = [item("p", 25, pinned=True), item("q", 25, pinned=True)]
    with pytest.raises(FailedPrecondition, match="full of pinned items"):
        policy.admit(st, item("new", 20), LIMITS, COUNT)
    st.recalled = []
    policy.admit(st, item("huge", 500), LIMITS, COUNT)  # clipped alone to the budget
    assert st.recalled[-1].id == "huge" and policy.recall_tokens(st.recalled[-1:], COUNT) <= LIMITS.recall_budget


def test_page_out_choice_and_pin_limit() -> None:
    st = state(*(words(i) for i in range(5)))
    st.messages[0] = ContextMessage(**{**st.messages[0].__dict__, "pinned": True})
    st.recalled = [item("note-1", 3)]
    chosen, missing = policy.choose_page_out(st, [], 2)
    assert ids(chosen) == ids(st.messages[1:3]) and missing is None
    assert policy.choose_page_out(st, ["note-1", st.messages[4].id], 0) == ([st.messages[4]], None)
    assert policy.choose_page_out(st, [st.messages[4].id, "nowhere", "x"], 0) == ([st.messages[4]], "nowhere")
    with pytest.raises(FailedPrecondition, match="pinned"):
        policy.choose_page_out(st, [st.messages[0].id], 0)
    change = Change()
    policy.evict(st, change, chosen, LIMITS, COUNT)
    assert ids(change.evicted) == ids(chosen) and st.stats["page_outs"] == 2 and "Message 1." in st.summary
    policy.check_pin(st, st.messages[1], LIMITS)
    big = ContextMessage("big", 99, "user", "x", LIMITS.flush_tokens, 0.0)
    with pytest.raises(FailedPrecondition, match="pinned messages may hold at most"):
        policy.check_pin(st, big, LIMITS)


def test_pressure_levels() -> None:
    st = state(words(0))
    ps = policy.pieces(st, COUNT)
    assert policy.pressure(ps, Change(), LIMITS).level == "ok"
    flushed = policy.pressure(ps, Change(evicted=[st.messages[0]], peak=999), LIMITS)
    assert flushed.level == "flushed" and flushed.peak_tokens == 999 and flushed.tokens == sum(p.tokens for p in ps)


def test_eviction_choice_and_extractive_summary() -> None:
    msgs = [ContextMessage(str(i), i, "user", f"m{i}. more", 10, 0.0, pinned=(i == 1)) for i in range(8)]
    chosen = choose_evictions(msgs, 25, keep_last=4)
    assert [m.id for m in chosen] == ["0", "2", "3"]  # oldest first, the pinned one spared, not the last four
    assert [m.id for m in choose_evictions(msgs, 1000, keep_last=4)][-1] == "6"  # never the newest
    text = extractive_summary("- user: old.", [("user", "First sentence. Second one."), ("assistant", "Ok!")], 100,
                              lambda s: len(s.split()))  # fmt: skip
    assert text.splitlines() == ["- user: old.", "- user: First sentence.", "- assistant: Ok!"]
    assert extractive_summary(text, [("user", "new fact")], 6, lambda s: len(s.split())).splitlines()[-1] == (
        "- user: new fact")  # fmt: skip
