"""A deterministic stand-in for the model, for scheduler-logic tests only (see the LLM tests for the real one).

`FakeModel` is a `StepBackend`: token i of a reply is `base + i`; text is one character per token; `eos_after`
ends the reply. `FakeBackend` is the local backend (the real core thread and scheduler) over it, the `Backend` a
test gives `LLMService.start(backend=...)` or `Kernel(..., llm_backend=...)`. `local_model` is the real model a
kernel loaded, for the LLM tests that look inside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from aios.llm.backend import PrepareStats
from aios.llm.grammar import ALL_CHARS, to_gbnf
from aios.llm.local import LlamaCppBackend
from aios.llm.local_backend import LocalBackend
from aios.llm.types import ChatMessage, SamplingParams

if TYPE_CHECKING:
    from aios.kernel import Kernel

EOS = 0


class FakeModel:
    """Holds up to `max_batch` sessions at once (least recently used one evicted) and decodes them together."""

    model_name = "fake"
    model_path = ""
    n_ctx = 4096
    kv_cells = 4096
    weights = None

    def __init__(self, eos_after: int | None = None, delay_s: float = 0.0, max_batch: int = 1) -> None:
        self.eos_after = eos_after
        self.delay_s = delay_s
        self.max_batch = max_batch
        self.contexts: dict[str, list[int]] = {}  # resident sessions, least recently used first
        self.log: list[tuple[str, int]] = []  # (session, tokens generated so far) per sampled token
        self.passes: list[list[str]] = []  # the sessions of each forward pass that fed tokens
        self.gate = threading.Event()  # cleared: the first prefill waits (a test queues requests meanwhile)
        self.gate.set()

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: list[int]) -> bytes:
        return "".join(chr(t) for t in tokens).encode()

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        return "".join(f"<{m.role}>{m.content}" for m in messages) + ("<assistant>" if add_generation_prompt else "")

    def check_constraint(self, params: SamplingParams) -> str:
        return to_gbnf(params.grammar, params.json_schema, ALL_CHARS)

    def is_end(self, token: int) -> bool:
        return token == EOS

    def new_sampler(self, params: SamplingParams) -> Any:
        return {"n": 0}

    def prepare(self, session: str, tokens: list[int], pinned: Collection[str] = ()) -> PrepareStats:
        assert self.gate.wait(30)
        current = self.contexts.pop(session, None)
        switched = current is None
        if switched and len(self.contexts) >= self.max_batch:
            victim = next(s for s in self.contexts if s not in pinned)
            del self.contexts[victim]
        reused = 0
        for a, b in zip(current or [], tokens, strict=False):
            if a != b:
                break
            reused += 1
        self.contexts[session] = list(tokens[:-1])  # the last token comes with the next feed
        return PrepareStats(switched, reused, len(tokens) - reused)

    def sample(self, session: str, sampler: Any) -> int:
        assert session in self.contexts
        time.sleep(self.delay_s)
        sampler["n"] += 1
        self.log.append((session, sampler["n"]))
        if self.eos_after is not None and sampler["n"] > self.eos_after:
            return EOS
        return ord("a") + (sampler["n"] - 1) % 26

    def feed(self, tokens: dict[str, int]) -> None:
        assert len(tokens) <= self.max_batch
        self.passes.append(sorted(tokens))
        for session, token in tokens.items():
            self.contexts[session].append(token)

    def evict(self, session: str, save: bool = True) -> int:
        return len(self.contexts.pop(session, []))

    def occupancy(self, prefix: str = "") -> tuple[int, int]:
        sessions = [tokens for key, tokens in list(self.contexts.items()) if key.startswith(prefix)]
        return len(sessions), sum(len(tokens) for tokens in sessions)

    def close(self) -> None:
        pass


class FakeBackend(LocalBackend):
    """The local backend over a `FakeModel` (kept as `fake`, for a test to look inside)."""

    def __init__(self, eos_after: int | None = None, delay_s: float = 0.0, max_batch: int = 1) -> None:
        self.fake = FakeModel(eos_after, delay_s, max_batch)
        super().__init__(model=self.fake)


def local_model(kernel: Kernel) -> LlamaCppBackend:
    """The llama.cpp model the kernel's local backend loaded."""
    backend = kernel.llm.backend
    assert isinstance(backend, LocalBackend) and isinstance(backend.model, LlamaCppBackend)
    return backend.model
