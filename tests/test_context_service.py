"""ContextService built directly on the `storage` fixture (real SQL, Chroma and embedder for recall storage) with a
fake LLM port whose tokenizer counts what it is asked: no kernel, no GGUF. The SDK end-to-end tests with the real
model are in test_context.py."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from aios.config import ContextConfig
from aios.errors import FailedPrecondition
from aios.llm.port import LLMPort
from aios.llm.types import ChatMessage, Completion, JobClass, SamplingParams, Usage
from aios.memory import MemoryService
from aios.memory.context import ContextService
from aios.memory.context._schema import context_messages
from aios.memory.context.service import quarantined
from aios.memory.context.tokens import TokenCounter
from tests.conftest import Storage

CONFIG = ContextConfig(window_tokens=600, reply_reserve=32, recall_tokens=80, keep_last_messages=2, summary_tokens=48,
                       summary_llm=0, idle_swap_s=0)  # fmt: skip


class CountingLLM:
    """A local model as the port shows it: a ChatML template and a tokenizer of one token a whitespace-separated
    word, which records every text it is asked to count."""

    available = True
    unavailable_reason = ""
    n_ctx = 2048
    exact_tokens = True

    def __init__(self, reply: str = "Noted.") -> None:
        self.reply = reply
        self.counted: collections.Counter[str] = collections.Counter()
        self.chats: list[tuple[str, list[ChatMessage], str, JobClass]] = []
        self.during_chat: Callable[[], None] = lambda: None

    def count_tokens(self, text: str) -> int:
        self.counted[text] += 1
        return len(text.split())

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        text = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def chat(
        self, agent_id: str, messages: list[ChatMessage], params: SamplingParams, *, session: str = "",
        priority: int = 5, job_class: JobClass = JobClass.AGENT, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:  # fmt: skip
        self.chats.append((agent_id, messages, session, job_class))
        self.during_chat()
        if on_text is not None:
            on_text(self.reply)
        prompt = len(self.render_chat(messages).split())
        return Completion(self.reply, "stop", Usage(prompt, len(self.reply.split())), 0.0, 0.0, 0.0, 0, 0)

    def check_params(self, params: SamplingParams) -> None:
        pass

    def swap_out(self, agent_id: str, session: str = "", drop: bool = False) -> tuple[str, int]:
        return "disk", 1234


def fact(i: int) -> str:
    return f"Fact {i}: the courier number {i} delivered parcel P{i} to warehouse W{i % 5} on day {i}. " + "Ok. " * 16


@pytest.fixture
def memory(storage: Storage) -> MemoryService:
    return MemoryService(storage.engine, storage.embedder, storage.vectors, storage.config.limits,
                         agents=storage.agents)  # fmt: skip


@pytest.fixture
def llm() -> CountingLLM:
    return CountingLLM()


@pytest.fixture
def service(storage: Storage, memory: MemoryService, llm: CountingLLM) -> Iterator[ContextService]:
    assert isinstance(llm, LLMPort)
    service = ContextService(storage.engine, memory, llm, CONFIG, storage.config.limits.max_note_chars)
    service.start()
    yield service
    service.stop()


def test_a_turn_counts_each_piece_once(storage: Storage, service: ContextService, llm: CountingLLM) -> None:
    agent = storage.new_agent()
    service.set_system_prompt(agent, "You are a terse logistics assistant.")
    service.set_core_block(agent, "human", "The user runs the night shift at warehouse W2.")
    recalled = 0
    for i in range(24):
        llm.counted.clear()
        turn = service.chat(agent, fact(i), SamplingParams(max_tokens=16))
        repeated = {text: n for text, n in llm.counted.items() if n > 1}
        assert not repeated, f"turn {i} tokenized a piece more than once: {repeated}"
        assert any(fact(i) in text for text in llm.counted)  # the new message was counted (once)
        assert not any("terse logistics" in text for text in llm.counted)  # the unchanged system prompt: not again
        recalled += bool(turn.update.recalled)
        # What the model was fed is what the pieces add up to.
        assert turn.prompt_tokens == turn.completion.usage.prompt_tokens
    assert service.stats(agent).flushes >= 2 and recalled >= 1  # the turns paged out, summarised, paged back in
    c = service.get(agent)
    assert c.exact and c.tokens == len(llm.render_chat([ChatMessage(r, t) for r, t in c.prompt]).split())


def test_estimates_without_a_model_and_no_chat(storage: Storage, memory: MemoryService) -> None:
    service = ContextService(storage.engine, memory, None, CONFIG)
    agent = storage.new_agent()
    update = service.append(agent, [("user", fact(0)), ("assistant", "Noted.")])
    assert [m.role for m in update.messages] == ["user", "assistant"] and update.pressure.window == 600
    assert not service.get(agent).exact
    with pytest.raises(FailedPrecondition):
        service.chat(agent, "hello", SamplingParams(max_tokens=8))
    assert service.swap_out(agent) == ("none", 0)


def test_paged_out_messages_are_recall_notes_and_page_back_in(storage: Storage, service: ContextService) -> None:
    agent, other = storage.new_agent(), storage.new_agent()
    update = service.append(agent, [("user", fact(i)) for i in range(6)])
    out = service.page_out(agent, oldest=3)
    assert out.evicted == [m.id for m in update.messages[:3]] and out.pressure.level == "flushed"
    hits = service.search_recall(agent, "parcel P1 courier", k=3)
    assert update.messages[1].id in {h.message_id for h in hits}
    assert service.search_recall(other, "parcel P1 courier", k=3) == []
    back = service.page_in(agent, update.messages[1].id, pin=True)
    assert [(i.id, i.pinned) for i in back.recalled] == [(update.messages[1].id, True)]
    stats = service.stats(agent)
    assert (stats.page_outs, stats.evicted_messages, stats.page_ins, stats.kv_swaps) == (3, 3, 1, 0)
    service.swap_out(agent)
    assert service.stats(agent).kv_swaps == 1 and service.events(agent)[-1].kind == "kv_swap"


def test_refined_summary_runs_at_background_priority_and_loses_to_a_newer_flush(
    storage: Storage, service: ContextService, llm: CountingLLM
) -> None:
    agent = storage.new_agent()
    service.append(agent, [("user", fact(i)) for i in range(6)])
    service.page_out(agent, oldest=2)
    llm.reply = "Couriers 0 and 1 delivered parcels."
    service.workers.refine_summary(agent)
    assert service.get(agent).summary == llm.reply and service.events(agent)[-1].kind == "summary"
    _, _, session, job_class = llm.chats[-1]
    assert session == "ctx-summary" and job_class is JobClass.BACKGROUND
    # A flush while the LLM writes: the refinement of the older summary is dropped, not written over it.
    llm.reply, llm.during_chat = "Stale.", lambda: service.page_out(agent, oldest=1)
    service.workers.refine_summary(agent)
    summary = service.get(agent).summary
    assert summary != "Stale." and "Fact 2" in summary


def test_repair_writes_missing_recall_notes_and_quarantines_a_refused_one(
    storage: Storage, memory: MemoryService, llm: CountingLLM
) -> None:
    agent = storage.new_agent()
    with storage.engine.begin() as conn:  # what a crash between an eviction's commit and its notes leaves
        for seq, (message_id, content) in enumerate([("good", "the depot moved to Riga"), ("bad", "a NUL \x00")]):
            conn.execute(sa.insert(context_messages).values(
                id=message_id, agent_id=agent, seq=seq + 1, role="user", content=content, tokens=1, pinned=False,
                created_at=1.0, evicted_at=2.0, note_id=None))  # fmt: skip
    for _ in range(2):  # the refused one is quarantined once, not retried at every start
        service = ContextService(storage.engine, memory, llm, CONFIG)
        service.start()
        service.stop()
    with storage.engine.connect() as conn:
        notes = dict(conn.execute(sa.select(context_messages.c.id, context_messages.c.note_id)).all())
    assert notes["good"] and notes["bad"] is None
    assert [(q.message_id, q.agent_id) for q in quarantined(storage.engine)] == [("bad", agent)]


def test_token_counter_caches_by_content_and_exactness(llm: CountingLLM) -> None:
    count = TokenCounter(llm, entries=2)
    assert count.chunk("user", "hello there") == count.chunk("user", "hello there") == 3  # two words, one turn start
    assert sum(llm.counted.values()) == 1
    count.chunk("user", "a"), count.chunk("user", "b")  # the bound: the least recently used goes
    count.chunk("user", "hello there")
    assert sum(llm.counted.values()) == 4
    llm.exact_tokens = False  # the model went away: estimates, never a cached exact count
    assert count.chunk("user", "hello there") == 11 // 4 + 4 and sum(llm.counted.values()) == 4
