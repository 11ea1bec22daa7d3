"""What the kernel holds, read at scrape time: queues, notes, files, workers, the LLM scheduler and KV cache, and
the per-agent counters under their names (aios.metrics._agents bounds them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aios.errors import AiosError
from aios.metrics._agents import OTHER, AgentCounters, CounterKey

if TYPE_CHECKING:
    from aios.fs import FileService
    from aios.lifecycle import WorkerHealth
    from aios.llm import LLMService
    from aios.memory import MemoryService
    from aios.syscalls import ResourceQueue, SyscallTable

__all__ = ["KernelState", "StateCollector"]

# Family -> (help, label names after `agent`). Each is a counter ("_total" is added in the exposition).
_AGENT_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aios_syscalls": ("Finished syscalls per agent, kind and status", ("syscall", "status")),
    "aios_syscalls_failed": ("Syscalls per agent that ended other than done", ()),
    "aios_llm_requests": ("LLM requests per agent", ()),
    "aios_llm_prompt_tokens": ("Prompt tokens per agent", ()),
    "aios_llm_completion_tokens": ("Generated tokens per agent", ()),
    "aios_llm_cached_tokens": ("Prompt tokens reused from the KV cache per agent", ()),
}


@dataclass(frozen=True)
class KernelState:
    table: SyscallTable
    queues: Sequence[ResourceQueue]
    memory: MemoryService
    llm: LLMService
    files: FileService
    agent_names: Callable[[], dict[str, str]]
    """Agent id -> name."""
    workers: Callable[[], Sequence[WorkerHealth]]


class StateCollector(Collector):
    def __init__(self, agents: AgentCounters) -> None:
        self._agents = agents
        self.state: KernelState | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._agent_families()
        if (state := self.state) is None:  # the kernel has not started its parts yet
            return
        yield from _syscalls(state)
        yield from _storage(state)
        yield from _workers(state.workers())
        yield from _llm(state.llm)

    def _agent_families(self) -> Iterator[Metric]:
        named, other = self._agents.snapshot()
        names = self.state.agent_names() if self.state is not None else {}
        families = {
            f: CounterMetricFamily(f, doc, labels=["agent", *extra]) for f, (doc, extra) in _AGENT_COUNTERS.items()
        }

        def add(agent: str, totals: dict[CounterKey, float]) -> None:
            for (family, labels), value in sorted(totals.items()):
                families[family].add_metric([agent, *labels], value)

        info = GaugeMetricFamily("aios_agent_info", "1 per agent with its own label value: its name and id",
                                 labels=["agent", "agent_id"])  # fmt: skip
        for agent_id, totals in sorted(named.items()):
            name = names.get(agent_id, agent_id)
            name = agent_id if name == OTHER else name  # an agent named "other" is not the rest
            add(name, totals)
            info.add_metric([name, agent_id], 1)
        add(OTHER, other)
        yield from families.values()
        yield info


def _syscalls(state: KernelState) -> Iterator[Metric]:
    waiting = GaugeMetricFamily("aios_queue_waiting", "Syscalls waiting per resource queue", labels=["resource"])
    running = GaugeMetricFamily("aios_queue_running", "Syscalls running per resource queue", labels=["resource"])
    for q in state.queues:
        waiting.add_metric([q.name], q.queued)
        running.add_metric([q.name], q.running)
    yield from (waiting, running)
    yield GaugeMetricFamily("aios_syscalls_in_flight", "Syscalls admitted and not yet ended (open streams included)",
                            value=state.table.live_count())  # fmt: skip


def _storage(state: KernelState) -> Iterator[Metric]:
    yield GaugeMetricFamily("aios_notes", "Notes stored", value=state.memory.count())
    files = state.files
    yield GaugeMetricFamily("aios_files", "Live files stored", value=files.count())
    backlog = files.index.backlog if files.index is not None else 0
    yield GaugeMetricFamily("aios_fs_index_backlog", "Files waiting to be (re)indexed", value=backlog)


def _workers(workers: Sequence[WorkerHealth]) -> Iterator[Metric]:
    errors = CounterMetricFamily("aios_worker_errors", "Bugs in a background worker's jobs (logged with a traceback)",
                                 labels=["worker"])  # fmt: skip
    postponed = CounterMetricFamily("aios_worker_postponed",
                                    "Background jobs postponed: the model or the disk was away",
                                    labels=["worker"])  # fmt: skip
    for w in workers:
        errors.add_metric([w.name], w.errors)
        postponed.add_metric([w.name], w.postponed)
    yield from (errors, postponed)


def _llm(llm: LLMService) -> Iterator[Metric]:
    if not llm.available:
        return
    try:
        state, kv = llm.scheduler_state(), llm.info().kv
    except AiosError:  # the model went away between the check and the read (a stop)
        return
    yield GaugeMetricFamily("aios_llm_jain_fairness", "Jain's index over agents' tokens, last minute",
                            value=state.jain_fairness)  # fmt: skip
    yield GaugeMetricFamily("aios_llm_tokens_per_second", "Generated tokens per second, last minute",
                            value=state.tokens_per_s)  # fmt: skip
    yield GaugeMetricFamily("aios_llm_waiting", "LLM requests waiting", value=len(state.waiting))
    yield GaugeMetricFamily("aios_llm_running", "LLM requests being decoded", value=len(state.running))
    yield GaugeMetricFamily("aios_llm_kv_ram_bytes", "Saved KV state held in RAM", value=kv.ram_bytes)
    yield GaugeMetricFamily("aios_llm_kv_disk_bytes", "Saved KV state spilled to disk", value=kv.disk_bytes)
    yield GaugeMetricFamily("aios_llm_kv_resident_tokens", "KV cells held by sessions resident in the model",
                            value=kv.resident_tokens)  # fmt: skip
    yield GaugeMetricFamily("aios_llm_kv_sessions", "Sessions with saved KV state", value=kv.sessions)
