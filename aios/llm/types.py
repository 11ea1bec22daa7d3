"""LLM requests, parameters and results: plain data shared by the scheduler, the core and the backends."""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChatMessage",
    "Completion",
    "JobClass",
    "LLMRequest",
    "SamplingParams",
    "Usage",
]


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.0
    """0 is greedy decoding."""
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    """A GBNF grammar the output must follow."""
    json_schema: str | None = None
    """A JSON schema (as text) the output must follow."""


class JobClass(enum.Enum):
    AGENT = "agent"
    BACKGROUND = "background"
    """The kernel's own jobs (enrichment, summaries): run when agents leave the model idle."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens whose KV state was reused (resident or restored) instead of prefilled."""


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    """stop (end of turn or a stop string), length (max_tokens), cancelled."""
    usage: Usage
    queue_s: float
    ttft_s: float
    total_s: float
    preemptions: int
    context_switches: int


_ids = itertools.count(1)


@dataclass(eq=False)
class LLMRequest:
    """One generation as the scheduler and the core thread see it."""

    agent_id: str
    session: str
    prompt_tokens: list[int]
    params: SamplingParams
    priority: int = 5
    job_class: JobClass = JobClass.AGENT
    on_text: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] = lambda: False
    id: int = field(default_factory=lambda: next(_ids))
    arrival: float = field(default_factory=time.monotonic)
    # Filled in as it runs (by the core thread only):
    generated: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str = ""
    first_scheduled: float | None = None
    first_token: float | None = None
    finished: float | None = None
    preemptions: int = 0
    context_switches: int = 0
    cached_tokens: int = 0
    prefilled_tokens: int = 0
    error: BaseException | None = None
    sampler: Any = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def tokens(self) -> list[int]:
        return self.prompt_tokens + self.generated

    @property
    def key(self) -> str:
        """The KV state this request continues: its agent's session."""
        return f"{self.agent_id}/{self.session}"

    @property
    def remaining(self) -> int:
        """Tokens it may still generate."""
        return self.params.max_tokens - len(self.generated)

    def completion(self) -> Completion:
        end = self.finished or time.monotonic()
        return Completion(
            text=self.text,
            finish_reason=self.finish_reason,
            usage=Usage(len(self.prompt_tokens), len(self.generated), self.cached_tokens),
            queue_s=(self.first_scheduled or end) - self.arrival,
            ttft_s=(self.first_token or end) - self.arrival,
            total_s=end - self.arrival,
            preemptions=self.preemptions,
            context_switches=self.context_switches,
        )
