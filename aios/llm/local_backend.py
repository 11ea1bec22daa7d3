"""The local backend: a model in the kernel's process, run token by token by the core thread under the kernel's
scheduler, its sessions' KV state kept in the KVStore between turns.

The model is llama.cpp's (`LlamaCppBackend`, loaded on the core thread as `llm` config says) or one given to the
constructor (a test's fake `StepBackend`, which then runs under the real core and scheduler).
"""

from __future__ import annotations

from pathlib import Path

from aios.config import LLMConfig
from aios.errors import Unavailable
from aios.llm.backend import Prompt, StepBackend
from aios.llm.core import LLMCore
from aios.llm.flash import process_memory
from aios.llm.kvcache import KVStore
from aios.llm.local import LlamaCppBackend, default_model_path
from aios.llm.scheduler import Policy, Scheduler, SchedulerConfig
from aios.llm.stats import ModelInfo
from aios.llm.types import ChatMessage, Completion, LLMRequest, SamplingParams

__all__ = ["LocalBackend"]


class LocalBackend:
    kind = "local"
    exact_tokens = True

    def __init__(self, model: StepBackend | None = None) -> None:
        """`model`: run this model instead of loading the GGUF the config names."""
        self._given = model
        self._core: LLMCore | None = None
        self._kv: KVStore | None = None

    def start(self, config: LLMConfig, data_dir: Path) -> None:
        kv = KVStore(config.kv_ram_mb << 20, data_dir / "kv", config.kv_disk_mb << 20)

        def load() -> StepBackend:  # on the core thread, which owns the model from then on
            if self._given is not None:
                return self._given
            return LlamaCppBackend(
                Path(config.model_path) if config.model_path else default_model_path(), config.n_ctx,
                config.n_threads, kv, resident_budget=config.resident_budget, prefetch=bool(config.prefetch),
                share_prefix_across_agents=bool(config.share_prefix_across_agents), n_seq=config.n_seq,
                kv_cells=config.kv_cells,
            )  # fmt: skip

        scheduler = Scheduler(SchedulerConfig(policy=Policy(config.policy), quantum=config.quantum))
        core = LLMCore(load, scheduler, config.max_waiting)
        core.start()
        self._core, self._kv = core, kv

    def quiesce(self) -> None:
        if self._core is not None:
            self._core.quiesce()

    def stop(self) -> None:
        core, self._core = self._core, None
        if core is not None:
            core.stop()

    @property
    def model(self) -> StepBackend:
        """The loaded model."""
        model = self._core.backend if self._core is not None else None
        if model is None:
            raise Unavailable("the model is not loaded")
        return model

    @property
    def scheduling(self) -> LLMCore | None:
        return self._core

    @property
    def model_name(self) -> str:
        return self.model.model_name

    @property
    def n_ctx(self) -> int:
        return self.model.n_ctx

    # -- requests ----------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenize(text))

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        return self.model.render_chat(messages, add_generation_prompt)

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        return self.model.tokenize(prompt if isinstance(prompt, str) else self.render_chat(prompt))

    def check_constraint(self, params: SamplingParams) -> None:
        self.model.check_constraint(params)  # the model's vocabulary's characters, and a trial compile

    def generate(self, request: LLMRequest, prompt: Prompt) -> Completion:
        core, _ = self._running()
        core.submit(request)
        core.wait(request)
        if request.error is not None:
            raise request.error
        return request.completion()

    def swap_out(self, key: str, drop: bool) -> tuple[str, int]:
        core, kv = self._running()
        core.call(lambda model: model.evict(key, save=not drop))  # out of the model first
        if drop:
            size = len((kv.take(key) or ([], b""))[1])
            kv.forget(key)
            return "dropped", size
        moved = kv.spill(key)
        return ("disk", moved) if moved else ("none", 0)

    def _running(self) -> tuple[LLMCore, KVStore]:
        if self._core is None or self._kv is None:
            raise Unavailable("the LLM core is not running")
        return self._core, self._kv

    # -- introspection -----------------------------------------------------------------------------

    def model_info(self, agent_id: str | None, uptime_s: float) -> ModelInfo:
        (core, kv), model = self._running(), self.model
        sched = core.scheduler.config
        mine = agent_id is not None
        prefix = "" if agent_id is None else f"{agent_id}/"  # session keys are "<agent id>/<session>"
        stats = kv.snapshot_stats() if agent_id is None else kv.usage(prefix)
        stats.resident_sessions, stats.resident_tokens = model.occupancy(prefix)
        stats.kv_cells, stats.max_batch = model.kv_cells, model.max_batch
        return ModelInfo(
            "local", model.model_name, str(model.model_path), model.n_ctx, sched.policy.value, sched.quantum,
            0 if mine else core.switches, stats, uptime_s, model.weights, None if mine else process_memory(),
        )  # fmt: skip
