"""The client's LLM methods: chat and completion (whole or streamed), tokens, the model, the scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Unpack

from aios.client import _types as t
from aios.client._inputs import Sampling
from aios.client._ops.llm import Messages
from aios.client._sync.caller import Caller

__all__ = ["LLMCalls"]


class LLMCalls(Caller):
    def chat(self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        """Generate the assistant's reply. `sampling`: max_tokens, temperature, top_p, top_k, min_p,
        repeat_penalty, seed, stop, json_schema (dict or str), grammar (GBNF)."""
        return self._call(self._ops.llm.chat(messages, session, sampling, stream=False))

    def chat_stream(
        self, messages: Messages, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> Iterator[t.CompletionChunk]:
        """Like chat, streaming text as it is produced; the last chunk has finish_reason, usage, timing."""
        yield from self._stream(self._ops.llm.chat(messages, session, sampling, stream=True))

    def complete(self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]) -> t.Completion:
        return self._call(self._ops.llm.complete(prompt, session, sampling, stream=False))

    def complete_stream(
        self, prompt: str, *, session: str = "", **sampling: Unpack[Sampling]
    ) -> Iterator[t.CompletionChunk]:
        yield from self._stream(self._ops.llm.complete(prompt, session, sampling, stream=True))

    def count_tokens(self, text: str = "", messages: Messages | None = None) -> int:
        return self._call(self._ops.llm.count_tokens(text, messages))

    def model_info(self) -> t.ModelInfo:
        return self._call(self._ops.llm.model_info())

    def scheduler(self) -> t.SchedulerState:
        return self._call(self._ops.llm.scheduler())

    def set_policy(self, policy: str, quantum: int | None = None) -> t.SchedulerState:
        return self._call(self._ops.llm.set_policy(policy, quantum))

    def scheduler_events(self, last_s: float = 0.0) -> list[t.SchedulerEvent]:
        """Recorded scheduling slices (who ran on the model when); `last_s` limits them to recent ones."""
        return self._call(self._ops.llm.scheduler_events(last_s))

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        self._call(self._ops.llm.set_quota(agent_id, tokens_per_minute))
