"""LLM syscalls end to end with the real SmolLM2-135M model (short generations)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios import errors
from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.llm.kvcache import KVStore
from aios.llm.local import LlamaCppBackend, default_model_path
from aios.llm.types import SamplingParams
from tests.conftest import ThreadedKernel, agent_client, kernel_config
from tests.fake_llm import local_model

QUESTION = [("system", "You are a concise assistant."), ("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def agent(llm_kernel: Kernel) -> Iterator[Client]:
    with agent_client(llm_kernel, "talker") as client:
        yield client


def test_chat_and_stream_agree(agent: Client) -> None:
    reply = agent.chat(QUESTION, max_tokens=24)
    assert "Paris" in reply.text and reply.usage.completion_tokens > 0
    chunks = list(agent.chat_stream(QUESTION, max_tokens=24))
    assert "".join(c.delta for c in chunks) == reply.text  # greedy: the same text
    last = chunks[-1]
    assert last.finish_reason == reply.finish_reason and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        reply.usage.prompt_tokens, reply.usage.completion_tokens)  # fmt: skip
    assert last.usage.cached_tokens == reply.usage.prompt_tokens - 1  # the same prompt again: all but one reused
    assert len(chunks) > 3  # it streamed token by token
    assert last.timing and 0 < last.timing.ttft_s <= last.timing.total_s


def test_second_turn_reuses_kv_state(agent: Client) -> None:
    first = agent.chat(QUESTION, session="s2", max_tokens=16)
    turn2 = [*QUESTION, ("assistant", first.text), ("user", "And of Italy?")]
    second = agent.chat(turn2, session="s2", max_tokens=16)
    assert second.usage.cached_tokens >= first.usage.prompt_tokens


def test_completion_stop_strings_and_json_schema(agent: Client) -> None:
    out = agent.complete("1, 2, 3, 4,", max_tokens=20, stop=[" 7"])
    assert "7" not in out.text and out.finish_reason == "stop"
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"]}  # fmt: skip
    person = agent.chat([("user", "Name a city and its country as JSON.")], max_tokens=60, json_schema=schema)
    data = json.loads(person.text)
    assert set(data) == {"city", "country"}
    yes_no = agent.chat([("user", "Is the sky blue?")], max_tokens=4, grammar='root ::= "yes" | "no"')
    assert yes_no.text in ("yes", "no")


def test_bad_requests_leave_the_kernel_alive(agent: Client) -> None:
    for call in [
        lambda: agent.chat([("user", "x")], grammar="root ::= broken("),
        lambda: agent.chat([("robot", "x")]),
        lambda: agent.chat([]),
        lambda: agent.chat([("user", "x")], max_tokens=100_000),
        lambda: agent.complete("nul\x00"),
    ]:
        with pytest.raises(errors.InvalidArgument):
            call()
    assert agent.chat(QUESTION, max_tokens=4).usage.completion_tokens > 0


def test_count_tokens_matches_the_rendered_prompt(agent: Client, llm_kernel: Kernel) -> None:
    backend = local_model(llm_kernel)
    assert agent.count_tokens("hello world") == len(backend.tokenize("hello world"))
    messages = [("user", "hi")]
    n = agent.count_tokens(messages=messages)
    assert n == agent.chat(messages, max_tokens=1).usage.prompt_tokens


def test_deadline_stops_generation_and_frees_the_slot(llm_kernel: Kernel, agent: Client) -> None:
    with Client(llm_kernel.target, agent._token, timeout=0.5) as hasty, pytest.raises(errors.DeadlineExceeded):
        hasty.chat([("user", "Write a very long story about dragons and knights.")], max_tokens=2000)
    assert agent.complete("Hello", max_tokens=4).usage.completion_tokens > 0
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        rows = [r for r in admin.ps(limit=50) if r.kind == "llm.chat"]
    assert any(r.status == "cancelled" and r.error == "DEADLINE_EXCEEDED" for r in rows)


def test_agents_run_concurrently_and_scheduler_reports_them(llm_kernel: Kernel) -> None:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        creds = [admin.create_agent(f"crowd{i}") for i in range(3)]
        tokens = [c.token for c in creds]
        results: dict[int, object] = {}

        def talk(i: int) -> None:
            with Client(llm_kernel.target, tokens[i]) as c:
                results[i] = c.chat([("user", f"Tell me about the number {i}.")], max_tokens=32)

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 3
        state = admin.scheduler()
        crowd = [a for a in state.agents if a.agent_id in {c.agent.id for c in creds}]
        assert len(crowd) == 3 and all(a.requests == 1 and a.completion_tokens > 0 for a in crowd)
        assert state.policy == "fair" and 0 < state.jain_fairness <= 1
        info = admin.model_info()
        assert info.backend == "local" and info.n_ctx == 4096 and info.context_switches >= 3
        assert info.kv["max_batch"] == 8 and info.kv["kv_cells"] == 8192
        assert 3 <= info.kv["resident_sessions"] <= 8 and info.kv["resident_tokens"] > 3 * 20  # all three stayed


def test_quota_and_policy_from_the_admin(llm_kernel: Kernel) -> None:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        creds = admin.create_agent("metered")
        admin.set_quota(creds.agent.id, 10)
        with Client(llm_kernel.target, creds.token) as metered:
            metered.chat([("user", "Hello there")], max_tokens=8)  # ~30 prompt tokens: over the quota
            with pytest.raises(errors.ResourceExhausted, match="quota"):
                metered.chat([("user", "Hello again")], max_tokens=8)
        assert admin.set_policy("rr", 8).policy == "rr"
        assert admin.set_policy("fair", 16).quantum == 16
        with pytest.raises(errors.PermissionDenied), Client(llm_kernel.target, creds.token) as metered:
            metered.set_policy("fifo")


def _greedy(backend: LlamaCppBackend, session: str, tokens: list[int], n: int) -> list[int]:
    sampler = backend.new_sampler(SamplingParams(temperature=0.0))
    backend.prepare(session, tokens)
    backend.feed({session: tokens[-1]})
    out = []
    for _ in range(n):
        token = backend.sample(session, sampler)
        out.append(token)
        backend.feed({session: token})
    return out


def test_kv_restore_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    kv = KVStore(ram_budget=1, disk_dir=tmp_path / "kv", disk_budget=1 << 30)  # forces a spill to disk
    backend = LlamaCppBackend(default_model_path(), 2048, 1, kv)
    prompt_a = backend.tokenize("<|im_start|>user\nList some fruits.<|im_end|>\n<|im_start|>assistant\n")
    prompt_b = backend.tokenize("<|im_start|>user\nWhat is 12 times 12?<|im_end|>\n<|im_start|>assistant\n")

    first = _greedy(backend, "a", prompt_a, 12)
    _greedy(backend, "b", prompt_b, 12)  # switches a out (saved, spilled to disk)
    assert kv.snapshot_stats().spills >= 1
    resumed = _greedy(backend, "a", prompt_a + first, 12)  # switches a back in (restored)
    stats = kv.snapshot_stats()
    assert stats.restores == 1 and stats.bytes_restored > 0

    fresh = LlamaCppBackend(default_model_path(), 2048, 1, KVStore(1 << 30, None, 0))
    uninterrupted = _greedy(fresh, "a", prompt_a, 24)
    assert first + resumed == uninterrupted
    backend.close()
    fresh.close()


def _logits(backend: LlamaCppBackend, session: str) -> list[float]:
    import llama_cpp

    row = llama_cpp.llama_get_logits_ith(backend._ctx.ctx, backend._logits[session])
    return row[: backend._llm.n_vocab()]


def test_resident_sequences_are_isolated_evicted_and_restored(tmp_path: Path) -> None:
    """Two sequences share one KV cache: what one holds never changes the other's logits; a third session
    evicts the least recently used (saved), which comes back from its snapshot, prefilling only new tokens;
    a newcomer starts from its own agent's resident prompt prefix."""
    system = "<|im_start|>system\nYou are a terse assistant.<|im_end|>\n"

    def chat(backend: LlamaCppBackend, q: str) -> list[int]:
        return backend.tokenize(f"{system}<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n")

    seen = []
    for other in ("Name three rivers and a lake.", "Tell me about BANANA bananas and monkeys!"):
        backend = LlamaCppBackend(default_model_path(), 1024, 1, KVStore(1 << 30, None, 0), n_seq=2, kv_cells=2048)
        a = chat(backend, other)
        backend.prepare("ann/1", a[:30] if len(seen) == 0 else a[::-1][:30])  # same length, other content
        bob = chat(backend, "What is 7 times 6?")
        backend.prepare("bob/1", bob)
        backend.feed({"bob/1": bob[-1]})
        seen.append(_logits(backend, "bob/1"))
        backend.close()
    assert seen[0] == seen[1]  # bit for bit: ann's cells are masked out of bob's attention

    kv = KVStore(1 << 30, tmp_path / "kv", 1 << 30)
    backend = LlamaCppBackend(default_model_path(), 1024, 1, kv, n_seq=2, kv_cells=2048)
    ann1 = _greedy(backend, "ann/1", chat(backend, "Name three rivers."), 8)
    _greedy(backend, "bob/1", chat(backend, "What is 7 times 6?"), 8)
    assert backend.resident() == ["ann/1", "bob/1"] and kv.snapshot_stats().saves == 0
    # ann/2 needs a sequence: ann/1 is the least recently used, saved and dropped; ann/2 keeps the system
    # prompt ann/1 left (the same agent), so only its own tokens are prefilled.
    stats = backend.prepare("ann/2", chat(backend, "Name a colour."))
    assert stats.switched and stats.saved_bytes > 0 and stats.reused >= len(backend.tokenize(system))
    assert backend.resident() == ["bob/1", "ann/2"]
    # ann/1's next turn: restored from its snapshot (bob's is evicted now), only the new tokens prefilled.
    turn = chat(backend, "Name three rivers.") + ann1 + backend.tokenize("<|im_end|>\n<|im_start|>user\nMore?")
    stats = backend.prepare("ann/1", turn)
    assert stats.restored_bytes > 0 and stats.reused >= len(turn) - 12 and kv.snapshot_stats().restores == 1
    assert backend.resident() == ["ann/2", "ann/1"]
    backend.close()


def test_a_batch_feeds_every_session_in_one_pass() -> None:
    backend = LlamaCppBackend(default_model_path(), 1024, 1, KVStore(1 << 30, None, 0), n_seq=4)
    questions = ["Name three rivers.", "What is 7 times 6?", "Name a colour.", "Say hello."]
    prompts = {f"a{i}/": backend.tokenize(f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n")
               for i, q in enumerate(questions)}  # fmt: skip
    samplers = {s: backend.new_sampler(SamplingParams(temperature=0.0)) for s in prompts}
    for s, prompt in prompts.items():
        backend.prepare(s, prompt, pinned=list(prompts))
    backend.feed({s: prompt[-1] for s, prompt in prompts.items()})  # every prompt's last token, one pass
    tokens = {s: backend.sample(s, samplers[s]) for s in prompts}
    out = {s: [t] for s, t in tokens.items()}
    for _ in range(6):
        backend.feed(tokens)  # one llama_decode with a token of each session
        tokens = {s: backend.sample(s, samplers[s]) for s in tokens}
        for s, t in tokens.items():
            out[s].append(t)
    assert backend.resident() == list(prompts)
    replies = {s: backend.detokenize(ts).decode() for s, ts in out.items()}
    assert "Nile" in replies["a0/"] and "7 times 6" in replies["a1/"], replies  # each answers its own question
    # Token for token what each session gives on its own: llama.cpp's products are per column, and
    # flash attention never reads another sequence's cells.
    single = LlamaCppBackend(default_model_path(), 1024, 1, KVStore(1 << 30, None, 0))
    assert {s: _greedy(single, s, p, 7) for s, p in prompts.items()} == out
    backend.close()
    single.close()


def test_scheduler_timeline_svg_and_shell(llm_kernel: Kernel, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aios.cli import main

    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        creds = admin.create_agent("plotted")
        admin.as_agent(creds.agent.id).chat([("user", "Say something.")], max_tokens=20)
        events = admin.scheduler_events()
        mine = [e for e in events if e.agent_id == creds.agent.id]
        assert mine and sum(e.generated for e in mine) > 0 and all(e.end_s >= e.start_s for e in mine)
    target, token = llm_kernel.target, llm_kernel.admin_token
    out = tmp_path / "timeline.svg"
    result = CliRunner().invoke(main, ["admin", "timeline", str(out), "--target", target, "--token", token])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert svg.startswith("<svg") and svg.count('class="slice"') == len(events) and "plotted" in svg
    for command in ["sched", "llm", "sched policy rr -q 8", "sched policy fair -q 16", "chat plotted 'Hi there' -n 8"]:
        result = CliRunner().invoke(main, ["shell", "--target", target, "--token", token, "-c", command],
                                    env={"COLUMNS": "200"})  # fmt: skip
        assert result.exit_code == 0, (command, result.output)
    assert "Jain fairness" in CliRunner().invoke(main, ["shell", "--target", target, "--token", token, "-c", "sched"],
                                                  env={"COLUMNS": "200"}).output  # fmt: skip


def test_one_agent_cannot_reuse_another_agents_prefix(llm_kernel: Kernel) -> None:
    secret = [("system", "The launch code is 7-4-1-9. Never reveal it."), ("user", "Hello")]
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        owner, prober = admin.create_agent("prefix-owner"), admin.create_agent("prefix-prober")
        admin.as_agent(owner.agent.id).chat(secret, max_tokens=2)
        probe = admin.as_agent(prober.agent.id).chat(secret, max_tokens=2)
        again = admin.as_agent(prober.agent.id).chat(secret, max_tokens=2)
    assert probe.usage.cached_tokens == 0  # nothing learned from the owner's context
    assert again.usage.cached_tokens > 0  # its own state is reused


def test_llm_enrichment_through_the_scheduler(tmp_path: Path, embedder: Embedder) -> None:
    """The real model enriches notes in the background class; what it may change is grounded in the note,
    and a field the user set stays the user's."""
    import time

    from aios.memory.grounding import TERM_FLOOR

    texts = {
        "cat": ("I adopted a grey cat named Pixel from the shelter last Saturday.", None),
        "acme": ("Pay the Acme invoice of 1,200 EUR by Friday; accounts payable needs the signed receipt.",
                 "Accounts payable: Acme invoice deadline"),
    }  # fmt: skip
    with ThreadedKernel(kernel_config(tmp_path / "data", llm_enrichment="on"), embedder) as kernel:
        with Client(kernel.target, kernel.admin_token) as admin:
            agent = admin.as_agent(admin.create_agent("enrich-me").agent.id)
            notes = {k: agent.add_note(text, context=context) for k, (text, context) in texts.items()}
            assert all(n.enrichment == "llm_pending" and n.keywords for n in notes.values())  # extractive at once
            deadline = time.time() + 240
            while any(agent.get_note(n.id).enrichment == "llm_pending" for n in notes.values()):
                assert time.time() < deadline, "enrichment did not finish"
                time.sleep(0.5)
            done = {k: agent.get_note(n.id) for k, n in notes.items()}
            events = admin.scheduler_events()
    assert any(e.job_class == "background" for e in events)  # it ran in the background class
    assert done["acme"].context == texts["acme"][1] and done["acme"].user_fields == ["context"]  # the user's stay
    for key, note in done.items():
        content = texts[key][0]
        assert note.enrichment in ("llm", "llm_rejected"), note  # the model answered something parseable
        assert note.version == (2 if note.enrichment == "llm" else 1)
        far = [w for w in note.keywords if not all(part in content.lower() for part in w.split())]
        if far:  # a keyword not in the note is there only because the embedder puts it close to the note
            vectors = embedder.encode([content, *far])
            assert (vectors[1:] @ vectors[0] >= TERM_FLOOR).all(), far
        if note.context != notes[key].context:  # the model's sentence replaced the extractive one: it is closer
            v_content, v_new, v_old = embedder.encode([content, note.context, notes[key].context])
            assert v_new @ v_content >= v_old @ v_content - 1e-6
