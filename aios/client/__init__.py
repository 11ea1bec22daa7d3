"""The aios SDK. `Client` blocks; `AsyncClient` is for asyncio. Errors come from `aios.errors`."""

from aios.client._async import AsyncClient
from aios.client._sync import Client
from aios.client._types import (
    Agent,
    AgentCredentials,
    AgentStats,
    Completion,
    CompletionChunk,
    Identity,
    KernelStats,
    LLMAgentStats,
    ModelInfo,
    Note,
    QueueStats,
    ReindexProgress,
    SchedulerState,
    SearchHit,
    SubsystemStatus,
    Syscall,
    Timing,
    Usage,
    WaitingRequest,
)

__all__ = [
    "Agent",
    "AgentCredentials",
    "AgentStats",
    "AsyncClient",
    "Client",
    "Completion",
    "CompletionChunk",
    "Identity",
    "KernelStats",
    "LLMAgentStats",
    "ModelInfo",
    "Note",
    "QueueStats",
    "ReindexProgress",
    "SchedulerState",
    "SearchHit",
    "SubsystemStatus",
    "Syscall",
    "Timing",
    "Usage",
    "WaitingRequest",
]
