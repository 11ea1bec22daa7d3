"""One kernel's metrics in its own `CollectorRegistry` (tests run several kernels in one process).

Events are counted as they happen: a syscall that ends (`syscall_finished`, hooked into `SyscallTable`) and a
completion (`completion`, hooked into the LLM accounting) feed histograms and monotonic counters. What lives in
kernel state (queues, notes, files, workers, the scheduler, the KV cache) is read at scrape time by
`StateCollector`. Process and platform metrics come from prometheus-client's own collectors.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from aios.metrics._agents import TOP_AGENTS, AgentCounters, CounterKey
from aios.metrics._state import KernelState, StateCollector

if TYPE_CHECKING:
    from aios.llm.types import Completion, JobClass
    from aios.syscalls.records import SyscallRecord

__all__ = ["CONTENT_TYPE", "MAX_SYSCALL_KINDS", "KernelMetrics"]

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What `KernelMetrics.exposition` is (every name we use is a classic Prometheus name)."""
MAX_SYSCALL_KINDS = 256
"""Distinct `syscall` label values; the kinds are the fixed set the servicers declare, this only guards it."""
_SYSCALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class KernelMetrics:
    def __init__(self, top_agents: int = TOP_AGENTS) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.agents = AgentCounters(top_agents)
        self._kinds: set[str] = set()
        self._kinds_lock = threading.Lock()
        reg = self.registry
        self._turnaround = Histogram("aios_syscall_turnaround_seconds", "Syscall time from admission to its end",
                                     ["syscall", "status"], registry=reg, buckets=_SYSCALL_BUCKETS)  # fmt: skip
        self._waiting = Histogram("aios_syscall_waiting_seconds", "Syscall time in its queue before a worker took it",
                                  ["syscall"], registry=reg, buckets=_SYSCALL_BUCKETS)  # fmt: skip
        self._llm_queue = Histogram("aios_llm_queue_seconds", "LLM request time before it was first scheduled",
                                    ["job_class"], registry=reg, buckets=_TTFT_BUCKETS)  # fmt: skip
        self._ttft = Histogram("aios_llm_ttft_seconds", "LLM time to first token", ["job_class"], registry=reg,
                               buckets=_TTFT_BUCKETS)  # fmt: skip
        self._tpot = Histogram("aios_llm_tpot_seconds", "LLM time per output token after the first", ["job_class"],
                               registry=reg, buckets=_TPOT_BUCKETS)  # fmt: skip
        self._llm_turnaround = Histogram("aios_llm_turnaround_seconds", "LLM request time from submission to end",
                                         ["job_class"], registry=reg, buckets=_TTFT_BUCKETS)  # fmt: skip
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        if GC_COLLECTOR is not None:  # CPython: the same figures as the global registry's
            GCCollector(registry=reg)
        self._state = StateCollector(self.agents)
        reg.register(self._state)

    def read_state(self, state: KernelState) -> None:
        """Read these kernel parts at every scrape from now on (they exist once the kernel started them)."""
        self._state.state = state

    def syscall_finished(self, record: SyscallRecord) -> None:
        """A syscall ended (done, failed, cancelled, rejected): its latency and the counters."""
        kind, status = self._kind(record.kind), record.status.value
        if (turnaround := record.turnaround_s) is not None:
            self._turnaround.labels(kind, status).observe(max(0.0, turnaround))
        if (waiting := record.waiting_s) is not None:
            self._waiting.labels(kind).observe(max(0.0, waiting))
        counts: list[tuple[CounterKey, float]] = [(("aios_syscalls", (kind, status)), 1.0)]
        if status != "done":
            counts.append((("aios_syscalls_failed", ()), 1.0))
        self.agents.add(record.agent_id, counts)

    def _kind(self, kind: str) -> str:
        with self._kinds_lock:
            if kind in self._kinds:
                return kind
            if len(self._kinds) >= MAX_SYSCALL_KINDS:
                return "other"
            self._kinds.add(kind)
            return kind

    def completion(self, agent_id: str, job_class: JobClass, c: Completion) -> None:
        """A completion ended: its latencies (seconds) and tokens."""
        label = job_class.value
        self._llm_queue.labels(label).observe(max(0.0, c.queue_s))
        self._llm_turnaround.labels(label).observe(max(0.0, c.total_s))
        if c.usage.completion_tokens:
            self._ttft.labels(label).observe(max(0.0, c.ttft_s))
        if c.usage.completion_tokens > 1:  # the first token is TTFT's; time per token is between the others
            self._tpot.labels(label).observe(max(0.0, c.total_s - c.ttft_s) / (c.usage.completion_tokens - 1))
        usage = c.usage
        self.agents.add(agent_id, [
            (("aios_llm_requests", ()), 1.0),
            (("aios_llm_prompt_tokens", ()), float(usage.prompt_tokens)),
            (("aios_llm_completion_tokens", ()), float(usage.completion_tokens)),
            (("aios_llm_cached_tokens", ()), float(usage.cached_tokens)),
        ])  # fmt: skip

    def exposition(self) -> str:
        """Everything in Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry).decode()
