"""LLM syscalls as plain Python: validate, apply quotas, run the request on the backend, account for it.

The backend is the local one (the kernel's scheduler and core thread over llama.cpp) or a remote
OpenAI-compatible server (which batches on its own), as `llm.backend` says, or one the caller gives `start` (a
test's fake model under the local backend). Either way the caller gets a Completion and, if it passed `on_text`,
the text as it is produced. `LLMService` implements `LLMPort`, the interface the subsystems use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aios.config import LLMConfig
from aios.errors import FailedPrecondition, InvalidArgument
from aios.llm import checks, grammar
from aios.llm.accounting import Accounting
from aios.llm.backend import Backend, Prompt
from aios.llm.core import RunEvent
from aios.llm.local_backend import LocalBackend
from aios.llm.remote import RemoteBackend
from aios.llm.scheduler import Policy
from aios.llm.stats import ModelInfo, SchedulerState, recent_events, scheduler_state
from aios.llm.types import ChatMessage, Completion, JobClass, LLMRequest, SamplingParams

if TYPE_CHECKING:
    from aios.llm.port import LLMPort

__all__ = ["LLMService"]

log = logging.getLogger("aios.llm")


def _never() -> bool:
    return False


def _configured(name: str) -> Backend | None:
    if name == "local":
        return LocalBackend()
    if name == "remote":
        return RemoteBackend()
    return None  # "none"


class LLMService:
    def __init__(self, config: LLMConfig, data_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._data_dir = data_dir
        self._clock = clock
        self._backend: Backend | None = None
        self.unavailable_reason = "no LLM backend is configured (llm.backend = none)"
        self._accounting = Accounting(config.quota_tokens_per_minute, clock)
        self._started = clock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, backend: Backend | None = None) -> None:
        """Start `backend`, or else the one `llm.backend` names (none: the LLM stays unavailable). A backend that
        fails to start (no model file, an unreachable server) leaves the LLM unavailable with the reason, not the
        kernel dead."""
        backend = backend if backend is not None else _configured(self.config.backend)
        if backend is None:
            return
        try:
            backend.start(self.config, self._data_dir)
        except Exception as exc:
            self.unavailable_reason = f"LLM backend failed to start: {exc}"
            log.warning("%s", self.unavailable_reason)
            return
        self._backend = backend

    def quiesce(self) -> None:
        """Refuse new requests and end the waiting and running ones (UNAVAILABLE), the model still loaded: the
        threads that use it are stopped next, and only then does `stop` free it."""
        if self._backend is not None:
            self._backend.quiesce()

    def stop(self) -> None:
        if self._backend is not None:
            self._backend.stop()
            self._backend = None

    @property
    def backend(self) -> Backend | None:
        """The running backend, for introspection (subsystems use the LLMPort members instead)."""
        return self._backend

    @property
    def available(self) -> bool:
        return self._backend is not None

    @property
    def n_ctx(self) -> int:
        """The context window the kernel checks requests against; 0 for a remote server or none (LLMPort)."""
        return self._backend.n_ctx if self._backend is not None else 0

    @property
    def exact_tokens(self) -> bool:
        """Token counts and chat rendering are the model's own (a local model is loaded) (LLMPort)."""
        return self._backend is not None and self._backend.exact_tokens

    def _require(self) -> Backend:
        if self._backend is None:
            raise FailedPrecondition(self.unavailable_reason)
        return self._backend

    # -- syscalls --------------------------------------------------------------------------------

    def chat(
        self, agent_id: str, messages: list[ChatMessage], params: SamplingParams, *, session: str = "",
        priority: int = 5, job_class: JobClass = JobClass.AGENT, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = _never,
    ) -> Completion:  # fmt: skip
        backend = self._require()
        checks.check_messages(messages)
        return self._run(backend, agent_id, messages, params, session, priority, job_class, on_text, should_stop)

    def complete(
        self, agent_id: str, prompt: str, params: SamplingParams, *, session: str = "", priority: int = 5,
        job_class: JobClass = JobClass.AGENT, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = _never,
    ) -> Completion:  # fmt: skip
        backend = self._require()
        if not prompt:
            raise InvalidArgument("prompt must not be empty")
        checks.check_text(prompt, "prompt")
        return self._run(backend, agent_id, prompt, params, session, priority, job_class, on_text, should_stop)

    def _run(
        self, backend: Backend, agent_id: str, prompt: Prompt, params: SamplingParams, session: str, priority: int,
        job_class: JobClass, on_text: Callable[[str], None] | None, should_stop: Callable[[], bool],
    ) -> Completion:  # fmt: skip
        """Check the parameters against the backend, tokenize the prompt, apply the agent's quota, run."""
        checks.check_params(params)
        self._check_constraint(backend, params)
        tokens = backend.prompt_tokens(prompt)
        checks.check_window(len(tokens), params.max_tokens, backend.n_ctx)
        self._accounting.check(agent_id, job_class)
        request = LLMRequest(agent_id, session, tokens, params, priority, job_class, on_text, should_stop)
        completion = backend.generate(request, prompt)
        self._accounting.charge(agent_id, job_class, completion)
        return completion

    def count_tokens(self, text: str | None = None, messages: list[ChatMessage] | None = None) -> int:
        backend = self._require()
        if messages:
            checks.check_messages(messages)
        if text:
            checks.check_text(text, "text")
        return backend.count_tokens(backend.render_chat(messages) if messages else (text or ""))

    def check_params(self, params: SamplingParams) -> None:
        """Refuse bad sampling parameters before a caller changes anything (INVALID_ARGUMENT)."""
        checks.check_params(params)
        self._check_constraint(self._backend, params)

    @staticmethod
    def _check_constraint(backend: Backend | None, params: SamplingParams) -> None:
        """Refuse a grammar or JSON schema llama.cpp could abort or blow up on, before any request runs."""
        if not (params.grammar or params.json_schema):
            return
        if backend is None:  # no model: what can be checked without its vocabulary
            grammar.check_constraint(params.grammar, params.json_schema)
        else:
            backend.check_constraint(params)

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The prompt the model would see for `messages` (its own chat template)."""
        return self._require().render_chat(messages, add_generation_prompt)

    def swap_out(self, agent_id: str, session: str = "", drop: bool = False) -> tuple[str, int]:
        """Take a session's KV state out of the model and move it from RAM to disk (or drop it). Returns
        (where it is now, bytes): ("disk", n), ("dropped", n), or ("none", 0) when nothing is saved in RAM (on
        disk already, or absent, or no backend that keeps any)."""
        if self._backend is None:
            return "none", 0
        return self._backend.swap_out(f"{agent_id}/{session}", drop)

    # -- quotas and introspection ----------------------------------------------------------------

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        self._accounting.set_quota(agent_id, tokens_per_minute)

    def on_completion(self, listener: Callable[[str, JobClass, Completion], None]) -> None:
        """`listener(agent_id, job_class, completion)` after every completion (the kernel's metrics)."""
        self._accounting.on_charge(listener)

    def info(self, agent_id: str | None = None) -> ModelInfo:
        """The model and its state. For an agent (`agent_id`): the KV cache its own sessions use, and none of
        the figures that move with other agents' work (context switches, KV save/restore counters, the
        process's memory and I/O); kernel-wide (None) for the admin and the kernel itself."""
        return self._require().model_info(agent_id, self._clock() - self._started)

    def set_policy(self, policy: str, quantum: int | None = None) -> None:
        core = self._require().scheduling
        if core is None:
            raise FailedPrecondition("the LLM server schedules its own requests")
        try:
            parsed = Policy(policy)
        except ValueError:
            raise InvalidArgument(f"policy must be one of fifo, rr, fair; got {policy!r}") from None
        if quantum is not None and not 1 <= quantum <= 4096:
            raise InvalidArgument("quantum must be 1-4096 tokens")
        core.scheduler.set_policy(parsed, quantum)

    def events(self, last_s: float = 0.0) -> list[RunEvent]:
        """Scheduling slices, times in seconds since the core started (none when a server schedules)."""
        core = self._require().scheduling
        return [] if core is None else recent_events(core, last_s)

    def scheduler_state(self) -> SchedulerState:
        core = self._require().scheduling
        agents, quotas = self._accounting.snapshot()
        if core is None:  # a server schedules: only the kernel's accounting is known
            return SchedulerState("server", 0, [], [], agents, {}, 1.0, 0.0, quotas)
        return scheduler_state(core, agents, quotas)


if TYPE_CHECKING:
    _implements: type[LLMPort] = LLMService  # mypy checks here that the service is an LLMPort
