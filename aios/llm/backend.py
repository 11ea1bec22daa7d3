"""The two interfaces behind `LLMService`: a `Backend` (what the service runs a request on) and a `StepBackend`
(a model the core thread runs token by token).

Two backends implement `Backend`: `LocalBackend` (aios/llm/local_backend.py: a `StepBackend` such as llama.cpp's
run by the kernel's core thread and scheduler, with the KV store) and `RemoteBackend` (aios/llm/remote.py: an
OpenAI-compatible server, which batches on its own). Where they differ, the backend answers: a remote server
has no known chat template (`render_chat` raises FailedPrecondition), no window the kernel checks (`n_ctx` 0),
and no scheduler of the kernel's (`scheduling` is None). A test runs the local backend over a fake `StepBackend`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from aios.config import LLMConfig
from aios.llm.types import ChatMessage, Completion, LLMRequest, SamplingParams

if TYPE_CHECKING:
    from aios.llm.core import LLMCore
    from aios.llm.flash import ResidencyStats
    from aios.llm.stats import ModelInfo

__all__ = ["Backend", "PrepareStats", "Prompt", "StepBackend"]

Prompt: TypeAlias = list[ChatMessage] | str
"""A request's input: chat messages (the backend applies the chat template) or raw prompt text."""


class Backend(Protocol):
    """Runs requests for `LLMService`. `start` loads the model or reaches the server (an exception leaves the LLM
    unavailable with its message); the other members are called only after it returned."""

    @property
    def kind(self) -> str:
        """ "local" or "remote" (ModelInfo.backend)."""
        ...

    @property
    def model_name(self) -> str: ...

    @property
    def n_ctx(self) -> int:
        """The context window the kernel checks a request against; 0 when unknown (the server checks)."""
        ...

    @property
    def exact_tokens(self) -> bool:
        """`count_tokens` and `render_chat` are the model's own tokenizer and chat template."""
        ...

    @property
    def scheduling(self) -> LLMCore | None:
        """The kernel's own core thread and scheduler; None when a server schedules the requests."""
        ...

    def start(self, config: LLMConfig, data_dir: Path) -> None: ...

    def quiesce(self) -> None:
        """Refuse new requests and end the waiting and running ones (UNAVAILABLE); the model stays loaded."""
        ...

    def stop(self) -> None: ...

    def count_tokens(self, text: str) -> int: ...

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The prompt the model sees for `messages`; FailedPrecondition when the chat template is unknown."""
        ...

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """The prompt's tokens as the request is accounted (and, for a local model, run)."""
        ...

    def check_constraint(self, params: SamplingParams) -> None:
        """Refuse a grammar or JSON schema that could abort or blow up generation (INVALID_ARGUMENT)."""
        ...

    def generate(self, request: LLMRequest, prompt: Prompt) -> Completion:
        """Run the request (its prompt tokens are `prompt_tokens(prompt)`) until it ends; raises its error."""
        ...

    def swap_out(self, key: str, drop: bool) -> tuple[str, int]:
        """Take session `key`'s KV state out of the model to disk (or drop it): (where it is now, bytes);
        ("none", 0) when the backend keeps none in RAM."""
        ...

    def model_info(self, agent_id: str | None, uptime_s: float) -> ModelInfo:
        """The model and its state, for one agent (none of what moves with other agents' work) or for all."""
        ...


@dataclass
class PrepareStats:
    """What `StepBackend.prepare` did to make a session hold a request's tokens."""

    switched: bool = False
    reused: int = 0
    prefilled: int = 0
    saved_bytes: int = 0
    restored_bytes: int = 0


class StepBackend(Protocol):
    """A model the core can run token by token (so it can preempt and switch between sessions). Only the core
    thread calls `prepare`, `sample`, `feed` and `evict`; the text methods and `check_constraint` are safe from
    any thread."""

    @property
    def model_name(self) -> str: ...

    @property
    def model_path(self) -> Path | str: ...

    @property
    def n_ctx(self) -> int: ...

    @property
    def max_batch(self) -> int:
        """Sessions decoded together in one forward pass."""
        ...

    @property
    def kv_cells(self) -> int:
        """Tokens the model's KV cache holds, all resident sessions together."""
        ...

    @property
    def weights(self) -> ResidencyStats | None:
        """How much of the weights stays resident; None when the model does not page them."""
        ...

    def tokenize(self, text: str, special: bool = True) -> list[int]: ...
    def detokenize(self, tokens: list[int]) -> bytes: ...
    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str: ...
    def check_constraint(self, params: SamplingParams) -> str:
        """The request's grammar or JSON schema as checked GBNF ("" for none), or InvalidArgument."""
        ...

    def is_end(self, token: int) -> bool: ...
    def new_sampler(self, params: SamplingParams) -> object: ...
    def prepare(self, session: str, tokens: list[int], pinned: Collection[str] = ()) -> PrepareStats: ...
    def sample(self, session: str, sampler: object) -> int: ...
    def feed(self, tokens: dict[str, int]) -> None: ...
    def evict(self, session: str, save: bool = True) -> int: ...
    def occupancy(self, prefix: str = "") -> tuple[int, int]:
        """(resident sessions, KV cells they hold) of the sessions whose keys start with `prefix`; any thread."""
        ...

    def close(self) -> None: ...
