"""The LLM core: one model shared by many agents, a scheduler, KV context switches."""

from aios.llm.core import LLMCore, RunEvent
from aios.llm.scheduler import Policy, Scheduler, SchedulerConfig, jain_index
from aios.llm.service import AgentLLMStats, LLMService, ModelInfo, SchedulerState
from aios.llm.types import ChatMessage, Completion, JobClass, LLMRequest, SamplingParams, Usage

__all__ = [
    "AgentLLMStats",
    "ChatMessage",
    "Completion",
    "JobClass",
    "LLMCore",
    "LLMRequest",
    "LLMService",
    "ModelInfo",
    "Policy",
    "RunEvent",
    "SamplingParams",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerState",
    "Usage",
    "jain_index",
]
