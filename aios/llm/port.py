"""The LLM as the subsystems see it: a typed port. Memory (enrichment, link judgement, consolidation), the file
system (summaries) and context paging (token counts, turns, summaries) depend on this Protocol, never on
`LLMService`'s attributes or the core behind it. `LLMService` implements it; a test may pass anything that does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from aios.llm.types import ChatMessage, Completion, JobClass, SamplingParams

__all__ = ["LLMPort"]


@runtime_checkable
class LLMPort(Protocol):
    @property
    def available(self) -> bool:
        """A backend is loaded: the other methods may be called (else they raise FailedPrecondition)."""
        ...

    @property
    def unavailable_reason(self) -> str: ...

    @property
    def n_ctx(self) -> int:
        """The model's context window in tokens; 0 when unknown (no model, or a remote server)."""
        ...

    @property
    def exact_tokens(self) -> bool:
        """`count_tokens` and `render_chat` are the model's own tokenizer and chat template (a local model)."""
        ...

    def chat(
        self,
        agent_id: str,
        messages: list[ChatMessage],
        params: SamplingParams,
        *,
        session: str = "",
        priority: int = 5,
        job_class: JobClass = JobClass.AGENT,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = ...,
    ) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str: ...

    def check_params(self, params: SamplingParams) -> None:
        """Refuse bad sampling parameters (INVALID_ARGUMENT) before the caller changes anything."""
        ...

    def swap_out(self, agent_id: str, session: str = "", drop: bool = False) -> tuple[str, int]: ...
