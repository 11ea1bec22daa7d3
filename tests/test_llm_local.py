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
from tests.conftest import ThreadedKernel, kernel_config

QUESTION = [("system", "You are a concise assistant."), ("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def llm_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    with ThreadedKernel(kernel_config(tmp_path_factory.mktemp("llm") / "data"), embedder) as k:
        assert k.llm.available, k.llm.unavailable_reason
        yield k


@pytest.fixture(scope="module")
def agent(llm_kernel: Kernel) -> Iterator[Client]:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        token = admin.create_agent("talker").token
    with Client(llm_kernel.target, token) as client:
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
    backend = llm_kernel.llm.core.backend  # type: ignore[union-attr]
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
        assert info.backend == "local" and info.n_ctx == 4096 and info.context_switches > 0
        assert info.kv["saves"] > 0 and info.kv["restores"] >= 0


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
    out = []
    for _ in range(n):
        token = backend.sample(sampler)
        out.append(token)
        backend.feed(token)
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
    import time

    with ThreadedKernel(kernel_config(tmp_path / "data", llm_enrichment=1), embedder) as kernel:
        with Client(kernel.target, kernel.admin_token) as admin:
            agent = admin.as_agent(admin.create_agent("enrich-me").agent.id)
            note = agent.add_note("I adopted a grey cat named Pixel from the shelter last Saturday.")
            assert note.enrichment == "llm_pending" and note.keywords  # extractive at once
            deadline = time.time() + 120
            while agent.get_note(note.id).enrichment == "llm_pending" and time.time() < deadline:
                time.sleep(0.5)
            done = agent.get_note(note.id)
            assert done.enrichment in ("llm", "llm_failed")
            if done.enrichment == "llm":
                assert done.version == 2 and agent.history(note.id)[-1].cause == "enrichment:llm"
            events = admin.scheduler_events()
            assert any(e.job_class == "background" for e in events)  # it ran in the background class
