"""LLM syscalls as plain Python: validate, apply quotas, build the prompt, run it, account for it.

With the local backend a request goes through the scheduler and the core thread; with a remote backend
it goes to the server (which batches on its own). Either way the caller gets a Completion and, if it
passed `on_text`, the text as it is produced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aios.config import LLMConfig
from aios.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from aios.llm import grammar
from aios.llm.core import LLMCore, RunEvent
from aios.llm.flash import ProcessMemory, ResidencyStats, process_memory
from aios.llm.kvcache import KVStats, KVStore
from aios.llm.local import LlamaCppBackend, default_model_path
from aios.llm.remote import RemoteBackend
from aios.llm.scheduler import Policy, Scheduler, SchedulerConfig, jain_index
from aios.llm.types import ChatMessage, Completion, JobClass, LLMRequest, SamplingParams

__all__ = ["AgentLLMStats", "LLMService", "ModelInfo", "SchedulerState"]

log = logging.getLogger("aios.llm")
ROLES = ("system", "user", "assistant")
_MAX_STOPS, _MAX_STOP_CHARS = 8, 64
MAX_TEXT_CHARS = 1 << 20
"""Characters of text one LLM syscall tokenizes: tokenizing is linear in the text, and more than this is far more
than any model's window (a token is a few characters), so it is refused before any work."""
_FAIRNESS_WINDOW_S = 60.0


@dataclass
class AgentLLMStats:
    agent_id: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    queue_s: float = 0.0
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    turnaround_s: float = 0.0
    preemptions: int = 0

    def mean(self, total: float) -> float:
        return total / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class ModelInfo:
    backend: str
    model: str
    path: str
    n_ctx: int
    policy: str
    quantum: int
    context_switches: int
    kv: KVStats
    uptime_s: float
    weights: ResidencyStats | None = None
    memory: ProcessMemory | None = None


@dataclass(frozen=True)
class SchedulerState:
    policy: str
    quantum: int
    running: list[tuple[int, str, int]]  # (request id, agent, tokens generated)
    waiting: list[tuple[int, str, str, int, float]]  # (id, agent, class, priority, waited s)
    agents: list[AgentLLMStats]
    counters: dict[str, float]
    jain_fairness: float
    tokens_per_s: float
    quotas: dict[str, int] = field(default_factory=dict)


class _TokenBucket:
    def __init__(self, per_minute: int, now: float) -> None:
        self.per_minute = per_minute
        self.level = float(per_minute)
        self.at = now

    def refill(self, now: float) -> float:
        self.level = min(self.per_minute, self.level + (now - self.at) * self.per_minute / 60)
        self.at = now
        return self.level


class LLMService:
    def __init__(self, config: LLMConfig, data_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._data_dir = data_dir
        self._clock = clock
        self.core: LLMCore | None = None
        self.remote: RemoteBackend | None = None
        self.unavailable_reason = "no LLM backend is configured (llm.backend = none)"
        self._kv: KVStore | None = None
        self._lock = threading.Lock()
        self._stats: dict[str, AgentLLMStats] = {}
        self._quotas: dict[str, int] = {}
        self._buckets: dict[str, _TokenBucket] = {}
        self._started = clock()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, backend_factory: Callable[[], object] | None = None) -> None:
        """Load the backend. A missing model leaves the LLM unavailable (with the reason), not the kernel dead."""
        cfg = self.config
        try:
            if cfg.backend == "remote":
                assert cfg.remote_url
                self.remote = RemoteBackend(cfg.remote_url, cfg.remote_model, cfg.remote_api_key,
                                            cfg.remote_concurrency)  # fmt: skip
            elif cfg.backend == "local" or backend_factory is not None:
                self._kv = KVStore(cfg.kv_ram_mb << 20, self._data_dir / "kv", cfg.kv_disk_mb << 20)
                model = Path(cfg.model_path) if cfg.model_path else None
                factory = backend_factory or (lambda: LlamaCppBackend(
                    model or default_model_path(), cfg.n_ctx, cfg.n_threads, self._kv,
                    resident_budget=cfg.resident_budget, prefetch=bool(cfg.prefetch),
                    share_prefix_across_agents=bool(cfg.share_prefix_across_agents), n_seq=cfg.n_seq,
                    kv_cells=cfg.kv_cells))  # fmt: skip
                scheduler = Scheduler(SchedulerConfig(policy=Policy(cfg.policy), quantum=cfg.quantum))
                core = LLMCore(factory, scheduler, cfg.max_waiting)  # type: ignore[arg-type]
                core.start()
                self.core = core
        except Exception as exc:
            self.unavailable_reason = f"LLM backend failed to start: {exc}"
            log.warning("%s", self.unavailable_reason)

    def quiesce(self) -> None:
        """Refuse new requests and end the waiting and running ones (UNAVAILABLE), the model still loaded: the
        threads that use it are stopped next, and only then does `stop` free it."""
        if self.core is not None:
            self.core.quiesce()

    def stop(self) -> None:
        if self.core is not None:
            self.core.stop()
            self.core = None
        if self.remote is not None:
            self.remote.close()
            self.remote = None

    @property
    def available(self) -> bool:
        return self.core is not None or self.remote is not None

    def _require(self) -> None:
        if not self.available:
            raise FailedPrecondition(self.unavailable_reason)

    # -- syscalls --------------------------------------------------------------------------------

    def chat(self, agent_id: str, messages: list[ChatMessage], params: SamplingParams, **kw) -> Completion:  # type: ignore[no-untyped-def]
        self._require()
        _check_messages(messages)
        if self.remote is not None:
            return self._remote(agent_id, params, messages=messages, **kw)
        assert self.core is not None and self.core.backend is not None
        prompt = self.core.backend.render_chat(messages)
        return self._local(agent_id, prompt, params, **kw)

    def complete(self, agent_id: str, prompt: str, params: SamplingParams, **kw) -> Completion:  # type: ignore[no-untyped-def]
        self._require()
        if not prompt:
            raise InvalidArgument("prompt must not be empty")
        _check_text(prompt, "prompt")
        if self.remote is not None:
            return self._remote(agent_id, params, prompt=prompt, **kw)
        return self._local(agent_id, prompt, params, **kw)

    def count_tokens(self, text: str | None = None, messages: list[ChatMessage] | None = None) -> int:
        self._require()
        if messages:
            _check_messages(messages)
        if text:
            _check_text(text, "text")
        if self.core is not None and self.core.backend is not None:
            rendered = self.core.backend.render_chat(messages) if messages else (text or "")
            return len(self.core.backend.tokenize(rendered))
        assert self.remote is not None
        if messages:
            raise FailedPrecondition("counting chat tokens needs the local backend (the server's template is unknown)")
        return self.remote.count_tokens(text or "")

    def check_params(self, params: SamplingParams) -> None:
        """Refuse bad sampling parameters before a caller changes anything (INVALID_ARGUMENT)."""
        _check_params(params, 0, 0)
        self._check_constraint(params)

    def _check_constraint(self, params: SamplingParams) -> None:
        """Refuse a grammar or JSON schema llama.cpp could abort or blow up on, before any request runs."""
        if not (params.grammar or params.json_schema):
            return
        check = getattr(self.core.backend if self.core is not None else None, "check_constraint", None)
        if check is not None:  # the local model: its vocabulary's characters, and a trial compile
            check(params)
        elif params.json_schema:
            grammar.check_json_schema(params.json_schema)
        else:
            grammar.check_gbnf(params.grammar or "")

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The prompt the local model would see for `messages` (its own chat template)."""
        self._require()
        if self.core is None or self.core.backend is None:
            raise FailedPrecondition("rendering a chat needs the local backend (the server's template is unknown)")
        return self.core.backend.render_chat(messages, add_generation_prompt)  # type: ignore[call-arg]

    def swap_out(self, agent_id: str, session: str = "", drop: bool = False) -> tuple[str, int]:
        """Take a session's KV state out of the model and move it from RAM to disk (or drop it). Returns
        (where it is now, bytes): ("disk", n), ("none", 0) when nothing is saved in RAM (on disk already, or
        absent)."""
        if self._kv is None or self.core is None:
            return "none", 0
        key = f"{agent_id}/{session}"
        self.core.call(lambda backend: backend.evict(key, save=not drop))  # out of the model first
        if drop:
            size = len((self._kv.take(key) or ([], b""))[1])
            self._kv.forget(key)
            return "dropped", size
        moved = self._kv.spill(key)
        return ("disk", moved) if moved else ("none", 0)

    def _local(
        self, agent_id: str, prompt: str, params: SamplingParams, *, session: str = "", priority: int = 5,
        job_class: JobClass = JobClass.AGENT, on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:  # fmt: skip
        core = self.core
        assert core is not None and core.backend is not None
        tokens = core.backend.tokenize(prompt)
        _check_params(params, len(tokens), core.backend.n_ctx)
        self._check_constraint(params)
        self._check_quota(agent_id, job_class)
        request = LLMRequest(agent_id, session, tokens, params, priority, job_class, on_text, should_stop)
        core.submit(request)
        core.wait(request)
        if request.error is not None:
            raise request.error
        completion = request.completion()
        self._account(agent_id, job_class, completion)
        return completion

    def _remote(
        self, agent_id: str, params: SamplingParams, *, messages: list[ChatMessage] | None = None,
        prompt: str | None = None, session: str = "", priority: int = 5, job_class: JobClass = JobClass.AGENT,
        on_text: Callable[[str], None] | None = None, should_stop: Callable[[], bool] = lambda: False,
    ) -> Completion:  # fmt: skip
        assert self.remote is not None
        self.check_params(params)
        self._check_quota(agent_id, job_class)
        text = prompt if prompt is not None else "\n".join(m.content for m in messages or [])
        request = LLMRequest(agent_id, session, [0] * self.remote.count_tokens(text) if text else [], params,
                             priority, job_class, on_text, should_stop)  # fmt: skip
        completion = self.remote.generate(request, messages, prompt)
        self._account(agent_id, job_class, completion)
        return completion

    # -- quotas and accounting -------------------------------------------------------------------

    def set_quota(self, agent_id: str, tokens_per_minute: int) -> None:
        if tokens_per_minute < 0:
            raise InvalidArgument("a quota is a number of tokens per minute, 0 for unlimited")
        with self._lock:
            self._quotas[agent_id] = tokens_per_minute
            self._buckets.pop(agent_id, None)

    def _quota(self, agent_id: str) -> int:
        return self._quotas.get(agent_id, self.config.quota_tokens_per_minute)

    def _check_quota(self, agent_id: str, job_class: JobClass) -> None:
        quota = self._quota(agent_id)
        if job_class is JobClass.BACKGROUND or quota == 0:
            return
        with self._lock:
            bucket = self._buckets.setdefault(agent_id, _TokenBucket(quota, self._clock()))
            if bucket.refill(self._clock()) <= 0:
                wait = -bucket.level * 60 / quota
                raise ResourceExhausted(f"token quota of {quota}/minute used up; retry in {wait:.0f}s")

    def _account(self, agent_id: str, job_class: JobClass, c: Completion) -> None:
        with self._lock:
            if job_class is JobClass.AGENT and self._quota(agent_id):
                bucket = self._buckets.setdefault(agent_id, _TokenBucket(self._quota(agent_id), self._clock()))
                bucket.refill(self._clock())
                bucket.level -= c.usage.prompt_tokens + c.usage.completion_tokens
            s = self._stats.setdefault(agent_id, AgentLLMStats(agent_id))
            s.requests += 1
            s.prompt_tokens += c.usage.prompt_tokens
            s.completion_tokens += c.usage.completion_tokens
            s.cached_tokens += c.usage.cached_tokens
            s.queue_s += c.queue_s
            s.ttft_s += c.ttft_s
            s.turnaround_s += c.total_s
            s.tpot_s += (c.total_s - c.ttft_s) / max(1, c.usage.completion_tokens - 1)
            s.preemptions += c.preemptions

    # -- introspection ---------------------------------------------------------------------------

    def info(self, agent_id: str | None = None) -> ModelInfo:
        """The model and its state. For an agent (`agent_id`): the KV cache its own sessions use, and none of
        the figures that move with other agents' work (context switches, KV save/restore counters, the
        process's memory and I/O); kernel-wide (None) for the admin and the kernel itself."""
        self._require()
        if self.remote is not None:
            return ModelInfo("remote", self.remote.model_name, self.config.remote_url or "", 0, "server", 0, 0,
                             KVStats(), self._clock() - self._started)  # fmt: skip
        assert self.core is not None and self.core.backend is not None
        backend = self.core.backend
        sched = self.core.scheduler.config
        mine = agent_id is not None
        return ModelInfo(
            "local", backend.model_name, str(getattr(backend, "model_path", "")), backend.n_ctx,
            sched.policy.value, sched.quantum, 0 if mine else self.core.switches,
            self._kv_stats(backend, agent_id), self._clock() - self._started,
            getattr(getattr(backend, "residency", None), "stats", None), None if mine else process_memory(),
        )  # fmt: skip

    def _kv_stats(self, backend: object, agent_id: str | None) -> KVStats:
        prefix = "" if agent_id is None else f"{agent_id}/"  # session keys are "<agent id>/<session>"
        if self._kv is None:
            stats = KVStats()
        else:
            stats = self._kv.snapshot_stats() if agent_id is None else self._kv.usage(prefix)
        occupancy = getattr(backend, "occupancy", None)
        if occupancy is not None:
            stats.resident_sessions, stats.resident_tokens = occupancy(prefix)
            stats.kv_cells, stats.max_batch = backend.kv_cells, backend.max_batch  # type: ignore[attr-defined]
        return stats

    def set_policy(self, policy: str, quantum: int | None = None) -> None:
        self._require()
        if self.core is None:
            raise FailedPrecondition("a remote LLM server schedules its own requests")
        try:
            parsed = Policy(policy)
        except ValueError:
            raise InvalidArgument(f"policy must be one of fifo, rr, fair; got {policy!r}") from None
        if quantum is not None and not 1 <= quantum <= 4096:
            raise InvalidArgument("quantum must be 1-4096 tokens")
        self.core.scheduler.set_policy(parsed, quantum)

    def events(self, last_s: float = 0.0) -> list[RunEvent]:
        """Scheduling slices, times in seconds since the core started."""
        self._require()
        if self.core is None:
            return []
        t0, now = self.core.started_at, time.monotonic()
        return [
            RunEvent(**{**e.__dict__, "start": e.start - t0, "end": e.end - t0})
            for e in list(self.core.events)
            if not last_s or now - e.end <= last_s
        ]

    def scheduler_state(self) -> SchedulerState:
        self._require()
        now = time.monotonic()
        with self._lock:
            stats = [AgentLLMStats(**s.__dict__) for s in self._stats.values()]
            quotas = dict(self._quotas)
        if self.core is None:
            return SchedulerState("server", 0, [], [], stats, {}, 1.0, 0.0, quotas)
        core = self.core
        running = list(core.running)
        recent = [e for e in list(core.events) if now - e.end <= _FAIRNESS_WINDOW_S]
        served: dict[str, float] = defaultdict(float)
        for event in recent:
            if event.job_class == JobClass.AGENT.value:
                served[event.agent_id] += event.generated
        span = (max(e.end for e in recent) - min(e.start for e in recent)) if recent else 0.0
        return SchedulerState(
            policy=core.scheduler.policy.value,
            quantum=core.scheduler.config.quantum,
            running=[(r.id, r.agent_id, len(r.generated)) for r in running],
            waiting=[
                (r.id, r.agent_id, r.job_class.value, r.priority, now - r.arrival) for r in core.scheduler.waiting()
            ],
            agents=stats,
            counters=core.scheduler.counters(),
            jain_fairness=jain_index(list(served.values())),
            tokens_per_s=sum(e.generated for e in recent) / span if span > 0 else 0.0,
            quotas=quotas,
        )


def _check_text(text: str, what: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"{what} is {len(text)} characters; at most {MAX_TEXT_CHARS} (the model reads far less)")
    if "\x00" in text:
        raise InvalidArgument(f"{what} must not contain NUL characters")


def _check_messages(messages: list[ChatMessage]) -> None:
    if not messages:
        raise InvalidArgument("at least one message is required")
    for i, m in enumerate(messages):
        if m.role not in ROLES:
            raise InvalidArgument(f"message {i}: role must be one of {', '.join(ROLES)}, got {m.role!r}")
        _check_text(m.content, f"message {i}")
    total = sum(len(m.content) for m in messages)
    if total > MAX_TEXT_CHARS:
        raise InvalidArgument(f"the messages are {total} characters together; at most {MAX_TEXT_CHARS}")


def _check_params(p: SamplingParams, prompt_tokens: int, n_ctx: int) -> None:
    if p.max_tokens < 1:
        raise InvalidArgument("max_tokens must be at least 1")
    if not 0 <= p.temperature <= 2:
        raise InvalidArgument("temperature must be between 0 and 2")
    if not 0 < p.top_p <= 1 or not 0 <= p.min_p <= 1 or p.top_k < 0 or p.repeat_penalty <= 0:
        raise InvalidArgument("top_p must be in (0, 1], min_p in [0, 1], top_k >= 0, repeat_penalty > 0")
    if len(p.stop) > _MAX_STOPS or any(not s or len(s) > _MAX_STOP_CHARS for s in p.stop):
        raise InvalidArgument(f"at most {_MAX_STOPS} stop strings of 1-{_MAX_STOP_CHARS} characters")
    if p.grammar and p.json_schema:
        raise InvalidArgument("give a grammar or a JSON schema, not both")
    if n_ctx and prompt_tokens + p.max_tokens > n_ctx:
        raise InvalidArgument(
            f"the prompt is {prompt_tokens} tokens; with max_tokens {p.max_tokens} it exceeds the "
            f"context window of {n_ctx} tokens"
        )
