"""Scheduler policies, preemption, fairness, background class, quotas and cancellation.

Policies are driven by a simulation loop over the real Scheduler with an injectable clock; the core
thread is exercised with the deterministic fake backend (tests/fake_llm.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aios.config import LLMConfig
from aios.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from aios.llm import (
    ChatMessage,
    JobClass,
    LLMRequest,
    LLMService,
    Policy,
    SamplingParams,
    Scheduler,
    SchedulerConfig,
    jain_index,
)
from aios.llm.core import LLMCore
from aios.llm.stream import TextStream
from tests.fake_llm import FakeBackend, FakeModel


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def req(agent: str, tokens: int = 8, priority: int = 5, job_class: JobClass = JobClass.AGENT, at: float = 0.0):  # type: ignore[no-untyped-def]
    r = LLMRequest(agent, "", [1, 2, 3], SamplingParams(max_tokens=tokens), priority, job_class)
    r.arrival = at
    return r


def simulate(scheduler: Scheduler, clock: Clock, steps: int = 10_000) -> list[tuple[str, int]]:
    """Run the scheduler like the core does, one simulated second per token; returns (agent, tokens) slices."""
    slices = []
    for _ in range(steps):
        picked = scheduler.pick()
        if picked is None:
            break
        request, quantum = picked
        n = min(quantum, request.params.max_tokens - len(request.generated))
        request.generated += [7] * n
        clock.now += n
        slices.append((request.agent_id, n))
        scheduler.ran(request, prefilled=0, generated=n, finished=len(request.generated) >= request.params.max_tokens)
    return slices


def test_fifo_runs_each_request_to_completion_in_arrival_order() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.FIFO), clock)
    for agent in ("a", "b", "a", "c"):
        s.add(req(agent, tokens=10))
    assert simulate(s, clock) == [("a", 10), ("b", 10), ("a", 10), ("c", 10)]


def test_round_robin_preempts_after_the_quantum() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.ROUND_ROBIN, quantum=4), clock)
    long, short = req("a", tokens=10), req("b", tokens=4)
    s.add(long)
    s.add(short)
    assert simulate(s, clock) == [("a", 4), ("b", 4), ("a", 4), ("a", 2)]
    assert long.preemptions == 2 and short.preemptions == 0


def test_fair_share_protects_a_light_agent_from_a_flooder() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.FAIR, quantum=4, aging_s=1e9), clock)
    for _ in range(5):
        s.add(req("flood", tokens=20))
    s.add(req("light", tokens=8))
    slices = simulate(s, clock)
    light_done = max(i for i, (agent, _) in enumerate(slices) if agent == "light")
    # FIFO would finish `light` after 100 flood tokens; fair share interleaves it right away.
    assert sum(n for agent, n in slices[:light_done] if agent == "flood") <= 8
    assert slices[:4] == [("flood", 4), ("light", 4), ("flood", 4), ("light", 4)]


def test_fair_share_weights_by_priority() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.FAIR, quantum=1, aging_s=1e9), clock)
    s.add(req("high", tokens=400, priority=9))
    s.add(req("low", tokens=400, priority=1))
    slices = simulate(s, clock, steps=200)
    high = sum(n for agent, n in slices if agent == "high")
    ratio = high / (200 - high)
    assert ratio == pytest.approx(1.25**8, rel=0.1)


def test_returning_agent_does_not_bank_credit_while_idle() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.FAIR, quantum=4, aging_s=1e9), clock)
    s.add(req("busy", tokens=400))
    simulate(s, clock, steps=50)  # busy alone for 200 tokens
    s.add(req("late", tokens=40))
    slices = simulate(s, clock, steps=20)
    late = sum(n for agent, n in slices if agent == "late")
    busy = sum(n for agent, n in slices if agent == "busy")
    # Without VTC's counter lift, `late` would monopolise the model until it caught up 200 tokens.
    assert abs(late - busy) <= 8


def test_background_waits_for_idle_agents_but_ages_in() -> None:
    clock = Clock()
    s = Scheduler(SchedulerConfig(policy=Policy.FAIR, quantum=4, background_max_wait_s=30), clock)
    bg = req("kernel", tokens=4, job_class=JobClass.BACKGROUND)
    s.add(bg)
    for _ in range(20):
        s.add(req("agent", tokens=4))
    slices = simulate(s, clock)
    first_bg = [a for a, _ in slices].index("kernel")
    assert 0 < first_bg < 20  # not first (agents come first) and not last (aging let it in at ~30s)
    assert clock.now >= 30 and slices[first_bg - 1][0] == "agent"
    s2 = Scheduler(SchedulerConfig(policy=Policy.FAIR), Clock())
    s2.add(req("kernel", job_class=JobClass.BACKGROUND))
    s2.add(req("agent"))
    assert s2.pick()[0].agent_id == "agent"  # type: ignore[index]


def test_jain_index() -> None:
    assert jain_index([5, 5, 5, 5]) == 1.0
    assert jain_index([1, 0, 0, 0]) == 0.25
    assert 0.25 < jain_index([4, 2, 1, 1]) < 1


def test_stop_strings_are_never_emitted() -> None:
    r = req("a")
    r.params = SamplingParams(stop=("STOP",))
    stream, out = TextStream(r), []
    for piece in ["hel", "lo S", "TO", "P and more"]:
        hit = stream.push(piece.encode())
        out.append(stream.ready(final=False))
        if hit:
            break
    out.append(stream.ready(final=True))
    assert "".join(out) == stream.text == "hello "


# -- the core thread with the fake backend ------------------------------------------------------


def core_of(service: LLMService) -> LLMCore:
    core = service.backend.scheduling if service.backend is not None else None
    assert core is not None
    return core


def running(backend: FakeBackend, quantum: int, tmp_path: Path) -> tuple[LLMService, LLMCore]:
    """An LLM service over the fake model, and its core."""
    service = LLMService(LLMConfig(quantum=quantum), tmp_path)
    service.start(backend)
    assert service.available, service.unavailable_reason
    return service, core_of(service)


@pytest.fixture
def fake_llm(tmp_path: Path) -> Iterator[tuple[LLMService, FakeModel]]:
    backend = FakeBackend(eos_after=None)
    service, _ = running(backend, 4, tmp_path)
    yield service, backend.fake
    service.stop()


def test_an_explicit_backend_is_run_and_backend_none_means_no_llm(tmp_path: Path) -> None:
    service = LLMService(LLMConfig(backend="none"), tmp_path)
    service.start()
    assert not service.available and "llm.backend = none" in service.unavailable_reason
    with pytest.raises(FailedPrecondition, match="llm.backend = none"):
        service.complete("a", "hi", SamplingParams(max_tokens=1))
    assert service.n_ctx == 0 and not service.exact_tokens and service.swap_out("a") == ("none", 0)
    fake = FakeBackend(eos_after=2)
    service.start(fake)
    try:
        assert service.available and service.n_ctx == fake.fake.n_ctx and service.exact_tokens
        assert service.complete("a", "hi", SamplingParams(max_tokens=5)).text == "ab"
        messages = [ChatMessage("user", "hi")]
        assert service.render_chat(messages) == "<user>hi<assistant>"
        assert service.render_chat(messages, add_generation_prompt=False) == "<user>hi"
        assert service.count_tokens(messages=messages) == len("<user>hi<assistant>")
        assert service.info().backend == "local" and service.info("a").kv.resident_sessions == 1
    finally:
        service.stop()
    assert not service.available


def test_core_streams_and_preempts(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    pieces: list[str] = []
    out = service.complete("agent", "hi", SamplingParams(max_tokens=10), on_text=pieces.append)
    assert out.text == "abcdefghij" == "".join(pieces) and out.finish_reason == "length"
    assert out.usage.completion_tokens == 10 and out.preemptions == 2  # quantum 4: 4 + 4 + 2


def test_concurrent_agents_share_the_model(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    demands = {"agent0": 40, "agent1": 12, "agent2": 28, "agent3": 40}
    results = {}

    def run(agent: str) -> None:
        results[agent] = service.complete(agent, "go", SamplingParams(max_tokens=demands[agent]))

    threads = [threading.Thread(target=run, args=(agent,)) for agent in demands]
    backend.gate.clear()  # the first request to reach the model waits there until all four are queued
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(core_of(service).scheduler.waiting()) < len(demands) - 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    backend.gate.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads) and set(results) == set(demands)  # every agent finished
    for agent, out in results.items():
        assert out.usage.completion_tokens == demands[agent] and out.finish_reason == "length"
    # Shared, not taken in turns: with a quantum of 4 every agent's slices interleave with the others', and the
    # agent that asked least finished before those that asked most had got their share.
    slices = [e for e in service.events() if e.agent_id in demands]
    ends = {a: max(e.end for e in slices if e.agent_id == a) for a in demands}
    starts = {a: min(e.start for e in slices if e.agent_id == a) for a in demands}
    assert max(starts.values()) < min(ends.values())
    assert ends["agent1"] < ends["agent0"] and ends["agent1"] < ends["agent3"]
    state = service.scheduler_state()
    assert {a.agent_id for a in state.agents} == set(demands)


def test_a_batch_decodes_several_sessions_in_one_pass(tmp_path: Path) -> None:
    backend = FakeBackend(max_batch=3, delay_s=0.002)
    service, core = running(backend, 4, tmp_path)
    results = {}
    try:
        requests = [LLMRequest(f"agent{i}", "", [1, 2], SamplingParams(max_tokens=9)) for i in range(4)]
        requests.append(LLMRequest("agent0", "", [1, 2], SamplingParams(max_tokens=9)))  # agent0's session again
        with core._cond:  # all queued before the core picks, so it can batch them
            for r in requests:
                core.scheduler.add(r)
            core._cond.notify()
        for r in requests:
            assert r.done.wait(10)
            results[r.id] = r
    finally:
        service.stop()
    assert all(r.text == "abcdefghi" and r.finish_reason == "length" for r in results.values())
    widths = [len(p) for p in backend.fake.passes]
    assert max(widths) == 3  # three sessions fed by one forward pass, never more than max_batch
    assert all(len(set(p)) == len(p) for p in backend.fake.passes)  # a session appears once in a pass
    # Two requests of one session never run at once: agent0's slices (of both requests) never overlap.
    agent0 = sorted((e.start, e.end, e.request_id) for e in core.events if e.agent_id == "agent0")
    assert {r for *_, r in agent0} == {requests[0].id, requests[-1].id}
    assert all(later[0] >= earlier[1] for earlier, later in zip(agent0, agent0[1:], strict=False))


def test_a_waiting_request_joins_the_batch_when_a_place_frees(tmp_path: Path) -> None:
    backend = FakeBackend(max_batch=2)
    service, core = running(backend, 100, tmp_path)
    try:
        long, short, waiting = (LLMRequest(a, "", [1, 2], SamplingParams(max_tokens=n)) for a, n in
                                (("long", 30), ("short", 3), ("late", 3)))  # fmt: skip
        with core._cond:
            for r in (long, short, waiting):
                core.scheduler.add(r)
            core._cond.notify()
        for r in (long, short, waiting):
            assert r.done.wait(10)
    finally:
        service.stop()
    # "late" did not wait for "long" to finish: it took "short"'s place and ran beside "long".
    passes = backend.fake.passes
    assert ["late/", "long/"] in passes and max(len(p) for p in passes) == 2
    assert waiting.finished is not None and long.finished is not None and waiting.finished < long.finished


def test_swap_out_takes_a_session_out_of_the_model_on_the_core_thread(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    service.complete("idle", "hi", SamplingParams(max_tokens=2))
    assert "idle/" in backend.contexts
    core_thread = core_of(service)._thread
    seen = core_of(service).call(lambda b: (threading.current_thread(), b))
    assert seen == (core_thread, backend)  # backend calls run on the core thread only
    service.swap_out("idle")
    assert "idle/" not in backend.contexts


def test_cancellation_stops_generation_and_frees_the_model(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    backend.delay_s = 0.01  # 1,000 tokens would take 10 s
    stop = threading.Event()
    started = time.monotonic()
    threading.Timer(0.3, stop.set).start()
    out = service.complete("a", "x", SamplingParams(max_tokens=1000), should_stop=stop.is_set)
    assert out.finish_reason == "cancelled" and 0 < out.usage.completion_tokens < 200
    backend.delay_s = 0.0
    assert service.complete("c", "y", SamplingParams(max_tokens=3)).text == "abc"
    assert time.monotonic() - started < 5


def test_cancelled_while_waiting_never_runs(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    core = core_of(service)
    request = LLMRequest("a", "", [1], SamplingParams(max_tokens=5), should_stop=lambda: True)
    with core._cond:  # hold the core so the request is still waiting when it is cancelled
        core.scheduler.add(request)
        core.cancel(request)
    assert request.finish_reason == "cancelled" and request.generated == []


def test_quota_refuses_with_resource_exhausted(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, backend = fake_llm
    service.set_quota("metered", 20)
    service.complete("metered", "0123456789", SamplingParams(max_tokens=15))  # 10 + 15 tokens > 20
    with pytest.raises(ResourceExhausted, match="quota of 20/minute"):
        service.complete("metered", "x", SamplingParams(max_tokens=1))
    service.complete("other", "x", SamplingParams(max_tokens=1))  # others are not affected
    service.complete("metered", "x", SamplingParams(max_tokens=1), job_class=JobClass.BACKGROUND)
    with pytest.raises(InvalidArgument):
        service.set_quota("metered", -1)


@pytest.mark.parametrize(
    "params, message",
    [
        (SamplingParams(max_tokens=0), "max_tokens"),
        (SamplingParams(temperature=3), "temperature"),
        (SamplingParams(top_p=0), "top_p"),
        (SamplingParams(stop=("",)), "stop strings"),
        (SamplingParams(grammar="root ::= x", json_schema="{}"), "not both"),
        (SamplingParams(json_schema="{nope"), "not valid JSON"),
        (SamplingParams(max_tokens=5000), "exceeds the context window"),
    ],
)
def test_bad_parameters(fake_llm: tuple[LLMService, FakeModel], params: SamplingParams, message: str) -> None:
    service, _ = fake_llm
    with pytest.raises(InvalidArgument, match=message):
        service.complete("a", "hello", params)


def test_policy_switch_at_run_time(fake_llm: tuple[LLMService, FakeModel]) -> None:
    service, _ = fake_llm
    service.set_policy("rr", 8)
    state = service.scheduler_state()
    assert (state.policy, state.quantum) == ("rr", 8)
    with pytest.raises(InvalidArgument):
        service.set_policy("lottery")
