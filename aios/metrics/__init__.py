"""Prometheus metrics with prometheus-client: one registry per kernel (`KernelMetrics`), its text exposition
(`KernelMetrics.exposition`, what every `/metrics` serves) and the admin-only endpoint (`MetricsServer`).

Families (a counter's samples end in `_total`): syscall latency histograms per kind and status
(`aios_syscall_turnaround_seconds`, `aios_syscall_waiting_seconds`); LLM histograms per job class
(`aios_llm_ttft_seconds`, `aios_llm_tpot_seconds`, `aios_llm_queue_seconds`, `aios_llm_turnaround_seconds`);
monotonic counters per agent (`aios_syscalls_total{agent,syscall,status}`, `aios_syscalls_failed_total`,
`aios_llm_{requests,prompt_tokens,completion_tokens,cached_tokens}_total`), the agent label being its name for
the `TOP_AGENTS` most active and "other" for the rest, with `aios_agent_info{agent,agent_id}`; per worker
`aios_worker_{errors,postponed}_total`; gauges read at scrape time (`aios_queue_{waiting,running}`,
`aios_syscalls_in_flight`, `aios_notes`, `aios_files`, `aios_fs_index_backlog`, `aios_llm_waiting`,
`aios_llm_running`, `aios_llm_jain_fairness`, `aios_llm_tokens_per_second`, `aios_llm_kv_*`); and the process
(`process_*`), platform and GC (`python_*`) collectors.
"""

from aios.metrics._agents import OTHER, TOP_AGENTS, AgentCounters
from aios.metrics._kernel import CONTENT_TYPE, MAX_SYSCALL_KINDS, KernelMetrics
from aios.metrics._server import MetricsServer
from aios.metrics._state import KernelState

__all__ = [
    "CONTENT_TYPE",
    "MAX_SYSCALL_KINDS",
    "OTHER",
    "TOP_AGENTS",
    "AgentCounters",
    "KernelMetrics",
    "KernelState",
    "MetricsServer",
]
