"""A deterministic stand-in for the model, for scheduler-logic tests only (see the LLM tests for the real one).

Token i of a reply is `base + i`; text is one character per token. `eos_after` ends the reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aios.llm.types import ChatMessage, SamplingParams

EOS = 0


@dataclass
class _Stats:
    switched: bool
    reused: int
    prefilled: int


class FakeBackend:
    model_name = "fake"
    n_ctx = 4096
    model_path = ""

    def __init__(self, eos_after: int | None = None, delay_s: float = 0.0) -> None:
        self.eos_after = eos_after
        self.delay_s = delay_s
        self.holder: str | None = None
        self.context: list[int] = []
        self.log: list[tuple[str, int]] = []  # (session, tokens generated so far) per sampled token

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: list[int]) -> bytes:
        return "".join(chr(t) for t in tokens).encode()

    def render_chat(self, messages: list[ChatMessage]) -> str:
        return "".join(f"<{m.role}>{m.content}" for m in messages) + "<assistant>"

    def is_end(self, token: int) -> bool:
        return token == EOS

    def new_sampler(self, params: SamplingParams) -> Any:
        return {"n": 0}

    def prepare(self, session: str, tokens: list[int]) -> _Stats:
        switched = session != self.holder
        reused = 0
        for a, b in zip(self.context, tokens, strict=False):
            if a != b:
                break
            reused += 1
        self.holder, self.context = session, list(tokens)
        self._session = session
        return _Stats(switched, reused, len(tokens) - reused)

    def sample(self, sampler: Any) -> int:
        time.sleep(self.delay_s)
        sampler["n"] += 1
        self.log.append((self._session, sampler["n"]))
        if self.eos_after is not None and sampler["n"] > self.eos_after:
            return EOS
        return ord("a") + (sampler["n"] - 1) % 26

    def feed(self, token: int) -> None:
        self.context.append(token)

    def close(self) -> None:
        pass
