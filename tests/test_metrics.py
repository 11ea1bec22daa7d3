"""The Prometheus endpoint, scraped as Prometheus would and parsed with prometheus-client's own parser."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from aios.client import Client
from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.metrics import OTHER, TOP_AGENTS, AgentCounters
from tests.conftest import ThreadedKernel, agent_client, kernel_config

HISTORY = 5  # finished syscalls the kernel keeps: every test here makes more


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    data = tmp_path_factory.mktemp("metrics") / "data"
    with ThreadedKernel(kernel_config(data, syscall_history=HISTORY), embedder) as k:
        yield k


def _get(kernel: Kernel, token: str, path: str = "/metrics") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(f"http://127.0.0.1:{kernel.metrics_port}{path}", headers=headers, timeout=30)


def _samples(kernel: Kernel) -> dict[str, list[Sample]]:
    """Every sample of the scrape by sample name, checking each family's declared type on the way."""
    response = _get(kernel, kernel.admin_token)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples.get(name, []) if labels.items() <= s.labels.items())


def test_syscall_and_llm_latencies_are_histograms_whose_count_grows(kernel: Kernel) -> None:
    with agent_client(kernel, "histogrammed") as agent:
        agent.add_note("the first of the measured notes")
        reply = agent.chat([("user", "Say hello")], max_tokens=4)
        before = _samples(kernel)
        for i in range(3):
            agent.add_note(f"measured note {i}")
    after = _samples(kernel)
    done = {"syscall": "memory.add", "status": "done"}
    count = _value(before, "aios_syscall_turnaround_seconds_count", **done)
    assert count >= 1 and _value(after, "aios_syscall_turnaround_seconds_count", **done) == count + 3
    assert _value(after, "aios_syscall_turnaround_seconds_sum", **done) > 0
    buckets = [s for s in after["aios_syscall_turnaround_seconds_bucket"] if done.items() <= s.labels.items()]
    assert len(buckets) > 5 and max(b.value for b in buckets) == count + 3  # cumulative: +Inf holds them all
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)
    assert _value(after, "aios_syscall_waiting_seconds_count", syscall="memory.add") == count + 3
    # The model: time to first token per completion, time per token when it made more than one.
    assert _value(after, "aios_llm_ttft_seconds_count", job_class="agent") >= 1
    assert _value(after, "aios_llm_ttft_seconds_sum", job_class="agent") > 0
    assert any(s.labels["le"] == "+Inf" for s in after["aios_llm_ttft_seconds_bucket"])
    if reply.usage.completion_tokens > 1:
        assert _value(after, "aios_llm_tpot_seconds_count", job_class="agent") >= 1
    assert _value(after, "aios_llm_completion_tokens_total", agent="histogrammed") == reply.usage.completion_tokens
    assert _value(after, "aios_llm_requests_total", agent="histogrammed") == 1


def test_counters_never_decrease_when_the_syscall_history_rolls_over(kernel: Kernel) -> None:
    with agent_client(kernel, "rolling") as agent:
        seen = []
        for i in range(3 * HISTORY):
            agent.add_note(f"rolling note {i}")
            if i % HISTORY == 0:
                seen.append(_value(_samples(kernel), "aios_syscalls_total", agent="rolling"))
    final = _samples(kernel)
    seen.append(_value(final, "aios_syscalls_total", agent="rolling"))
    assert len(kernel.table.recent(limit=10 * HISTORY)) <= HISTORY + 1  # the history did roll over
    assert seen == sorted(seen) and seen[-1] == 3 * HISTORY
    assert _value(final, "aios_syscalls_total", agent="rolling", syscall="memory.add", status="done") == 3 * HISTORY
    # Each agent's series adds up to every syscall the histograms saw.
    assert _value(final, "aios_syscalls_total") == _value(final, "aios_syscall_turnaround_seconds_count")
    assert _value(final, "aios_notes") >= 3 * HISTORY and "aios_queue_waiting" in final


def test_process_and_state_metrics_are_there(kernel: Kernel) -> None:
    samples = _samples(kernel)
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "python_info"):
        assert name in samples and samples[name][0].value > 0, name
    assert _value(samples, "aios_queue_waiting", resource="memory") == 0
    assert "aios_syscalls_in_flight" in samples and "aios_fs_index_backlog" in samples
    assert {s.labels["worker"] for s in samples["aios_worker_errors_total"]} >= {"fs-index", "memory-jobs"}
    assert "aios_llm_kv_ram_bytes" in samples and "aios_llm_jain_fairness" in samples


def test_agent_labels_are_bounded_to_the_most_active_and_other(kernel: Kernel) -> None:
    tokens = []
    with Client(kernel.target, kernel.admin_token) as admin:
        for i in range(TOP_AGENTS + 3):
            tokens.append(admin.create_agent(f"crowd-{i:02d}").token)
    for token in tokens:
        with Client(kernel.target, token) as agent:
            agent.whoami()
    samples = _samples(kernel)
    agents = {s.labels["agent"] for s in samples["aios_syscalls_total"]}
    assert OTHER in agents and len(agents) <= TOP_AGENTS + 1
    info = {s.labels["agent"]: s.labels["agent_id"] for s in samples["aios_agent_info"]}
    assert set(info) == agents - {OTHER} and "admin" in info  # the admin made most calls here
    # The crowd's calls are all counted, under their names or "other".
    assert _value(samples, "aios_syscalls_total", syscall="admin.identity") >= TOP_AGENTS + 3
    assert _value(samples, "aios_syscalls_total") == _value(samples, "aios_syscall_turnaround_seconds_count")


def test_only_the_admin_may_scrape(kernel: Kernel) -> None:
    with Client(kernel.target, kernel.admin_token) as admin:
        token = admin.create_agent("would-be-scraper").token
    for header in ({}, {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer aios_not-a-token"},
                   {"Authorization": f"Bearer {token}"}):  # fmt: skip
        response = httpx.get(f"http://127.0.0.1:{kernel.metrics_port}/metrics", headers=header, timeout=30)
        assert response.status_code == 401 and response.text == "", header
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert _get(kernel, kernel.admin_token, "/elsewhere").status_code == 404


def test_a_newcomer_takes_a_place_and_every_series_stays_monotonic() -> None:
    counters = AgentCounters(top=2)
    key = ("aios_syscalls", ("memory.add", "done"))

    def totals() -> dict[str, float]:
        named, other = counters.snapshot()
        return {**{a: t.get(key, 0.0) for a, t in named.items()}, OTHER: other.get(key, 0.0)}

    for agent in ("a", "b", "c"):
        counters.add(agent, [(key, 1.0)])
    assert totals() == {"a": 1, "b": 1, OTHER: 1}  # no place left for c
    history = [totals()]
    for _ in range(4):  # c becomes more than twice as active as the least active named agent
        counters.add("c", [(key, 1.0)])
        history.append(totals())
    assert set(history[-1]) == {"b", "c", OTHER} or set(history[-1]) == {"a", "c", OTHER}
    assert sum(history[-1].values()) == 7
    for earlier, later in zip(history, history[1:], strict=False):
        assert later[OTHER] >= earlier[OTHER]
        assert all(later[a] >= earlier[a] for a in later if a in earlier)
