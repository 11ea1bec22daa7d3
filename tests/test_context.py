"""Context-window paging end to end: a kernel in-process with the real SmolLM2 model and the real embedding model,
the SDK against it. A small window (1,024 tokens) makes paging happen within a few dozen messages."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from aios import errors
from aios.client import AsyncClient, Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.shell import run_command
from tests.conftest import ThreadedKernel, free_port, kernel_config

WINDOW = {"window_tokens": 1024, "reply_reserve": 64, "recall_tokens": 160, "keep_last_messages": 4,
          "summary_tokens": 96, "summary_llm": 0, "idle_swap_s": 0}  # fmt: skip
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Quito", "Dakar", "Riga", "Perth", "Tunis", "Cusco", "Bergen"]


NAMES = ("Abigail Bartholomew Cornelius Dagmar Evangeline Fitzgerald Gwendolyn Horatio Isadora Jebediah Kassandra "
         "Leopold Marguerite Nathaniel Ophelia Peregrine Quentin Rosalind Sebastian Theodora Ulysses Valentina "
         "Wilhelmina Xavier Yolanda Zachariah Anastasia Barnaby Clementine Desmond Esmeralda Florian Genevieve "
         "Humphrey Ingrid Jasper Katarina Lysander Millicent Octavia Percival Rupert Seraphina Tobias Ursula "
         "Vivienne Winifred Ximena").split()  # fmt: skip


def fact(i: int) -> str:
    return (f"Note {i}: my colleague {NAMES[i]} moved to {CITIES[i % len(CITIES)]} in {1990 + i} and keeps a pet "
            f"{['tortoise', 'parrot', 'ferret', 'goldfish'][i % 4]} called Item{i}.")  # fmt: skip


@pytest.fixture(scope="module")
def ctx_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    config = kernel_config(tmp_path_factory.mktemp("ctx") / "data", context=WINDOW)
    with ThreadedKernel(config, embedder) as k:
        assert k.llm.available, k.llm.unavailable_reason
        yield k


def new_agent(kernel: Kernel, name: str) -> Client:
    with Client(kernel.target, kernel.admin_token) as admin:
        token = admin.create_agent(name).token
    return Client(kernel.target, token, timeout=120)


def test_token_accounting_equals_the_tokenizers_count(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "counter") as a:
        a.set_system_prompt("You are a terse assistant. Answer in one sentence.")
        a.set_core_block("human", "The user is called Ada and lives in Turin.")
        a.append_messages([("user", "Hello there!"), ("assistant", "Hi Ada, how can I help?"), ("user", "Ünïcödé ✓")])
        c = a.get_context()
        assert c.exact and sum(s.tokens for s in c.sections) == c.tokens
        assert a.count_tokens(messages=c.prompt) == c.tokens  # the model's template and tokenizer, rendered whole
        names = {s.name: s for s in c.sections}
        assert names["core"].tokens > 0 and names["messages"].items == 3 and names["reply"].tokens > 0
        reply = a.chat_with_context("Where do I live?", max_tokens=16)
        assert reply.prompt_tokens == reply.completion.usage.prompt_tokens  # what the LLM was fed, counted alike
        after = a.get_context()
        assert after.messages[-1].role == "assistant" and after.messages[-1].content == reply.text
        assert a.count_tokens(messages=after.prompt) == after.tokens


def test_long_conversation_pages_out_within_budget_with_signals(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "talker") as a:
        levels, flushed = [], 0
        for i in range(48):
            u = a.append_message(fact(i), role="user" if i % 2 == 0 else "assistant")
            p = u.pressure
            assert p.tokens <= p.budget and p.window == 1024  # never over the budget
            if u.evicted_ids:
                flushed += 1
                assert p.level == "flushed" and p.peak_tokens > p.flush_tokens
            else:
                assert p.peak_tokens <= p.flush_tokens
                assert p.level == ("warning" if p.fraction >= p.warn_fraction else "ok")
            levels.append(p.level)
        assert flushed >= 2 and "warning" in levels and "ok" in levels
        c = a.get_context()
        assert c.summary.startswith("- ") and "colleague" in c.summary  # extractive: one line per evicted message
        kinds = [e.kind for e in a.context_events(limit=1000)]
        assert "pressure_warning" in kinds and "flush" in kinds
        warned = [e for e in a.context_events(limit=1000) if e.kind == "pressure_warning"]
        assert all(e.fraction >= 0.7 for e in warned)
        # Evicted messages are in recall storage, and a question about one pages it back in.
        hits = a.search_recall("Which pet does Dagmar keep?", k=5)
        assert any("Item3" in h.content and h.message_id for h in hits)
        u = a.append_message("Remind me: which pet does my colleague Dagmar keep, and what is it called?")
        assert any("Item3" in item.content for item in u.recalled)
        c = a.get_context()
        assert any("Item3" in content for _, content in c.prompt)
        assert c.tokens <= c.pressure.budget
        s = a.context_stats()
        assert s.page_outs >= 10 and s.evicted_messages == s.page_outs and s.recall_hits >= 1 and s.hit_rate > 0
        assert s.summary_tokens > 0 and s.active_messages == len(c.messages)


def test_kv_restore_continues_like_a_full_prefill(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "resumer") as a, new_agent(ctx_kernel, "other") as b:
        a.set_core_block("persona", "You are Rex, a ship's cook who loves lentil soup.")
        a.append_messages([("user", "My name is Ines."), ("assistant", "Nice to meet you, Ines.")])
        first = a.chat_with_context("What do you cook best?", max_tokens=12)
        b.chat([("user", "Say hi.")], max_tokens=4)  # a context switch: A's KV state is saved
        swap = a.swap_out_context()
        assert swap.where == "disk" and swap.bytes > 0
        restores = ctx_kernel.llm.info().kv.restores
        resumed = a.chat_with_context("And what is my name?", max_tokens=24)
        assert not resumed.update.evicted_ids and ctx_kernel.llm.info().kv.restores == restores + 1
        assert resumed.completion.usage.cached_tokens >= first.prompt_tokens // 2  # restored, not re-prefilled
        prompt = a.get_context().prompt[:-1]  # what `resumed` was generated from (its reply is now last)
        assert a.count_tokens(messages=prompt) == resumed.prompt_tokens
        a.swap_out_context(drop=True)  # else the new session would start from the resident context's prefix
        full = a.chat(prompt, session="full-prefill", max_tokens=24)
        assert full.usage.cached_tokens == 0 and full.text == resumed.text  # greedy: the same continuation
        # An edit re-prefills only the changed suffix: the system prompt before the core block is kept.
        system = a.get_context().sections[0].tokens
        a.set_core_block("persona", "You are Rex, a ship's cook who loves bean stew.")
        edited = a.chat_with_context("Tell me a dish.", max_tokens=8)
        core = next(s.tokens for s in a.get_context().sections if s.name == "core")
        assert system <= edited.completion.usage.cached_tokens < system + core


def test_streaming_chat_with_context(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "streamer") as a:
        chunks = list(a.chat_with_context_stream("Count from one to five.", max_tokens=20))
        last = chunks[-1]
        assert last.reply is not None and all(c.reply is None for c in chunks[:-1])
        assert "".join(c.delta for c in chunks) == last.reply.text and len(chunks) > 2
        assert a.get_context().messages[-1].content == last.reply.text


def test_page_in_pin_and_page_out_by_hand(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "pager") as a:
        u = a.append_messages([("user", fact(i)) for i in range(6)])
        ids = [m.id for m in u.messages]
        a.pin_in_context(ids[0])
        with pytest.raises(errors.FailedPrecondition):
            a.page_out([ids[0]])
        out = a.page_out(oldest=2)
        assert out.evicted_ids == ids[1:3]  # the pinned oldest one stays
        assert [m.id for m in a.get_context().messages] == [ids[0], *ids[3:]]
        note = a.add_note("The spare key is under the blue flowerpot.")
        a.page_in(note.id, pin=True)
        a.page_in(ids[1])
        c = a.get_context()
        assert {i.id for i in c.recalled} == {note.id, ids[1]}
        u = a.append_message("What is the weather like?")  # a new turn: unpinned recalls make way, pinned stay
        assert note.id in {i.id for i in u.recalled if i.pinned}
        a.pin_in_context(note.id, pinned=False)
        assert not any(i.pinned for i in a.get_context().recalled)
        a.page_out([note.id])  # out of the recalled section
        assert note.id not in {i.id for i in a.get_context().recalled}
        assert a.context_stats().page_ins >= 2


def test_reset_starts_a_new_conversation_and_keeps_what_was_said_in_recall(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "resetter") as a, new_agent(ctx_kernel, "bystander") as b:
        a.set_system_prompt("You are a terse assistant.")
        a.set_core_block("human", "The user is called Ada.")
        said = a.append_messages([("user", fact(i)) for i in range(5)])
        a.pin_in_context(said.messages[0].id)
        a.page_in(a.add_note("The spare key is under the blue flowerpot.").id)
        a.chat_with_context("Say hello.", max_tokens=4)
        again = a.chat_with_context("Say hello again.", max_tokens=4)
        assert again.completion.usage.cached_tokens > 0  # the model kept the context's KV state between turns
        b.append_message(fact(7))
        before = a.get_context()
        assert before.summary == "" and before.recalled and len(before.messages) == 9

        update = a.reset_context()
        assert sorted(update.evicted_ids) == sorted(m.id for m in before.messages)  # the pinned one too
        after = a.get_context()
        assert (after.messages, after.recalled, after.summary) == ([], [], "")
        assert after.system_prompt == before.system_prompt and after.core == before.core
        assert after.tokens < before.tokens
        # Nothing said is lost: it is in recall storage, and can be paged back in.
        hit = next(h for h in a.search_recall("Abigail Lisbon tortoise") if h.message_id == said.messages[0].id)
        a.page_in(hit.message_id)
        assert [i.id for i in a.get_context().recalled] == [hit.message_id]
        assert "reset" in [e.kind for e in a.context_events(limit=1000)]
        assert [m.content for m in b.get_context().messages] == [fact(7)]  # another agent's context is untouched
        assert a.append_message("A new topic.").messages[0].content == "A new topic."
        assert [m.content for m in a.get_context().messages] == ["A new topic."]
        # The saved KV state was dropped: the next turn prefills in full, the unchanged system prompt too.
        assert a.chat_with_context("Say hello.", max_tokens=4).completion.usage.cached_tokens == 0


def test_bad_input_gets_a_clear_status_and_changes_nothing(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "careless") as a:
        msg = a.append_message("hello").messages[0]
        before = a.get_context()
        bad = [
            (errors.InvalidArgument, lambda: a.append_messages([])),
            (errors.InvalidArgument, lambda: a.append_message("x", role="robot")),
            (errors.InvalidArgument, lambda: a.append_message("   ")),
            (errors.InvalidArgument, lambda: a.append_message("nul\x00")),
            (errors.InvalidArgument, lambda: a.append_message("word " * 3000)),  # more than the window holds
            (errors.InvalidArgument, lambda: a.chat_with_context("hi", max_tokens=1000)),  # over the reply reserve
            (errors.InvalidArgument, lambda: a.chat_with_context("hi", temperature=9.0)),
            (errors.InvalidArgument, lambda: a.set_core_block("bad label!", "x")),
            (errors.InvalidArgument, lambda: a.set_core_block("big", "word " * 400, limit_tokens=50)),
            (errors.InvalidArgument, lambda: a.set_system_prompt("")),
            (errors.NotFound, lambda: a.delete_core_block("missing")),
            (errors.NotFound, lambda: a.page_in("0" * 32)),
            (errors.FailedPrecondition, lambda: a.page_in(msg.id)),
            (errors.NotFound, lambda: a.page_out(["0" * 32])),
            (errors.InvalidArgument, lambda: a.page_out()),
            (errors.NotFound, lambda: a.pin_in_context("0" * 32)),
            (errors.InvalidArgument, lambda: a.search_recall("")),
            (errors.InvalidArgument, lambda: a.context_events(limit=5000)),
        ]
        for error, call in bad:
            with pytest.raises(error):
                call()
        after = a.get_context()
        assert after.messages == before.messages and after.core == before.core and after.tokens == before.tokens
        with Client(ctx_kernel.target, ctx_kernel.admin_token) as admin, pytest.raises(errors.FailedPrecondition):
            admin.get_context()  # the admin has no context of its own


def test_one_agent_never_sees_anothers_context(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "alice-ctx") as a, new_agent(ctx_kernel, "bob-ctx") as b:
        secret = a.append_messages([("user", f"The vault code is 7741-{i}. " + fact(i)) for i in range(30)])
        evicted = a.page_out(oldest=3).evicted_ids or secret.evicted_ids
        assert evicted
        assert not b.get_context().messages and b.search_recall("vault code", k=5) == []
        for call in (lambda: b.page_in(evicted[0]), lambda: b.page_out([secret.messages[-1].id]),
                     lambda: b.pin_in_context(secret.messages[-1].id)):  # fmt: skip
            with pytest.raises(errors.NotFound):
                call()
        assert all("7741" not in content for _, content in b.get_context().prompt)
        assert b.context_events() == []
        with Client(ctx_kernel.target, ctx_kernel.admin_token) as admin:
            console = Console(record=True, width=160)
            assert run_command(["ctx", "show", "alice-ctx"], admin, console)
            assert run_command(["ctx", "stats", "alice-ctx"], admin, console)
            text = console.export_text()
            assert "messages" in text and "recalled" in text and "█" in text and "page-outs" in text


def test_paging_on_every_storage_backend(kernel: Kernel) -> None:
    """SQLite, PostgreSQL and a Chroma server: the same paging, recall storage and isolation."""
    with new_agent(kernel, "portable") as a, new_agent(kernel, "neighbour") as b:
        u = a.append_messages([("user" if i % 2 == 0 else "assistant", fact(i)) for i in range(6)])
        out = a.page_out(oldest=3)
        assert out.evicted_ids == [m.id for m in u.messages[:3]] and out.pressure.level == "flushed"
        assert {h.message_id for h in a.search_recall("Bartholomew Oslo", k=3)} & set(out.evicted_ids)
        recalled = a.append_message("Where did Bartholomew move?").recalled
        assert u.messages[1].id in {i.id for i in recalled}
        c = a.get_context()
        assert c.summary and [m.id for m in c.messages][:3] == [m.id for m in u.messages[3:]]
        assert b.search_recall("Bartholomew", k=3) == [] and not b.get_context().messages


def test_kill_9_keeps_contexts_and_idle_kv_goes_to_disk(tmp_path: Path) -> None:
    from tests.test_daemon import Daemon

    daemon = Daemon(tmp_path / "data", free_port())
    daemon.data_dir.mkdir(parents=True)
    (daemon.data_dir / "aios.toml").write_text(
        "[context]\n" + "".join(f"{key} = {value}\n" for key, value in {**WINDOW, "idle_swap_s": 0.5}.items())
    )
    try:
        daemon.start()
        with Client(daemon.target, daemon.token) as admin:
            token, other = admin.create_agent("crashy").token, admin.create_agent("busy").token
        with Client(daemon.target, token, timeout=120) as a, Client(daemon.target, other, timeout=120) as b:
            acked = a.append_messages([("user" if i % 2 == 0 else "assistant", fact(i)) for i in range(30)])
            a.set_core_block("human", "Keeps bees.")
            a.chat_with_context("Hello!", max_tokens=4)
            b.chat([("user", "Hi.")], max_tokens=2)  # the model switches to b: a's KV state is saved in RAM
            deadline = time.monotonic() + 30
            while a.context_stats().kv_swaps == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert a.context_stats().kv_swaps == 1  # idle for idle_swap_s: its saved KV state went to disk
            assert any(e.kind == "kv_swap" and e.detail.startswith("disk") for e in a.context_events(limit=1000))
            before = a.get_context()
        assert acked.evicted_ids and before.summary
        daemon.stop(signal.SIGKILL)
        daemon.start()
        with Client(daemon.target, token, timeout=120) as a:
            after = a.get_context()
            assert after.messages == before.messages and after.summary == before.summary
            assert after.core == before.core and after.tokens == before.tokens
            assert {h.message_id for h in a.search_recall("Abigail", k=3)} & set(acked.evicted_ids)
    finally:
        if daemon.proc is not None:
            daemon.proc.kill()
            daemon.proc.wait()


async def test_async_client_streams_with_context(ctx_kernel: Kernel) -> None:
    with Client(ctx_kernel.target, ctx_kernel.admin_token) as admin:
        token = admin.create_agent("async-ctx").token
    async with AsyncClient(ctx_kernel.target, token, timeout=120) as a:
        await a.set_core_block("human", "Prefers short answers.")
        deltas = [c async for c in a.chat_with_context_stream("Name a colour.", max_tokens=8)]
        assert deltas[-1].reply is not None
        c = await a.get_context()
        assert c.core[0].label == "human" and c.messages[-1].content == deltas[-1].reply.text
        assert (await a.context_stats()).active_messages == 2


def test_summary_refined_by_the_llm_at_background_priority(ctx_kernel: Kernel) -> None:
    with new_agent(ctx_kernel, "summarised") as a:
        a.append_messages([("user" if i % 2 == 0 else "assistant", fact(i)) for i in range(30)])
        extractive = a.get_context().summary
        agent_id = a.whoami().agent_id
        assert ctx_kernel.context is not None
        ctx_kernel.context.workers.refine_summary(agent_id)  # what the summary worker runs after a flush
        refined = a.get_context()
        assert refined.summary and refined.summary != extractive
        assert any(e.kind == "summary" for e in a.context_events(limit=1000))
        assert a.count_tokens(messages=refined.prompt) == refined.tokens
        events = ctx_kernel.llm.events()
        assert any(e.job_class == "background" and e.agent_id == agent_id for e in events)
