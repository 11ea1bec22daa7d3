"""The aios SDK. `Client` blocks; `AsyncClient` is for asyncio. Errors come from `aios.errors`."""

from aios.client._async import AsyncClient
from aios.client._sync import Client
from aios.client._types import (
    Agent,
    AgentCredentials,
    AgentStats,
    Identity,
    KernelStats,
    Note,
    QueueStats,
    ReindexProgress,
    SearchHit,
    SubsystemStatus,
    Syscall,
)

__all__ = [
    "Agent",
    "AgentCredentials",
    "AgentStats",
    "AsyncClient",
    "Client",
    "Identity",
    "KernelStats",
    "Note",
    "QueueStats",
    "ReindexProgress",
    "SearchHit",
    "SubsystemStatus",
    "Syscall",
]
