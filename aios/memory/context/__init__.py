"""Context-window paging: each agent's window assembled exactly, paged out to recall storage and back in."""

from aios.memory.context.models import (
    AssembledContext,
    ContextEvent,
    ContextMessage,
    ContextStats,
    ContextUpdate,
    CoreBlock,
    Pressure,
    RecalledItem,
    RecallHit,
    Section,
    TurnResult,
)
from aios.memory.context.service import ContextService

__all__ = [
    "AssembledContext",
    "ContextEvent",
    "ContextMessage",
    "ContextService",
    "ContextStats",
    "ContextUpdate",
    "CoreBlock",
    "Pressure",
    "RecallHit",
    "RecalledItem",
    "Section",
    "TurnResult",
]
