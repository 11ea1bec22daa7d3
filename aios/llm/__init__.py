"""The LLM core: one model shared by many agents, a scheduler, KV context switches.

`LLMService` (service.py) is the one entry; it implements `LLMPort` (port.py), the interface the subsystems use,
and runs requests on a `Backend` (backend.py): the local one (local_backend.py: the core thread, core.py, and
its scheduler, scheduler.py, over llama.cpp, local.py) or a remote server (remote.py).
"""

from aios.llm.accounting import AgentLLMStats
from aios.llm.backend import Backend
from aios.llm.core import LLMCore, RunEvent
from aios.llm.port import LLMPort
from aios.llm.scheduler import Policy, Scheduler, SchedulerConfig, jain_index
from aios.llm.service import LLMService
from aios.llm.stats import ModelInfo, SchedulerState
from aios.llm.types import ChatMessage, Completion, JobClass, LLMRequest, SamplingParams, Usage

__all__ = [
    "AgentLLMStats",
    "Backend",
    "ChatMessage",
    "Completion",
    "JobClass",
    "LLMCore",
    "LLMPort",
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
