"""Context paging's background work, on two workers (aios/lifecycle.py): the summary worker refines an extractive
summary with the LLM at background priority after a flush (the model away: the extractive summary stays); the idle
worker moves the saved KV state of an agent idle for `idle_swap_s` from RAM to disk."""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aios.config import ContextConfig
from aios.lifecycle import Worker
from aios.memory.context.assembly import extractive_summary
from aios.memory.context.store import ContextStore
from aios.memory.context.tokens import Counter

if TYPE_CHECKING:
    from aios.llm.port import LLMPort

__all__ = ["SUMMARY_SESSION", "ContextWorkers"]

SUMMARY_SESSION = "ctx-summary"


class ContextWorkers:
    def __init__(
        self, store: ContextStore, llm: LLMPort | None, count: Counter, config: ContextConfig, summary_limit: int,
        lock: Callable[[str], threading.Lock], swap_out: Callable[[str], object],
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._store = store
        self._llm = llm
        self._count = count
        self._config = config
        self._summary_limit = summary_limit
        self._lock = lock  # the agent's: a refined summary is written between its calls
        self._swap_out = swap_out
        self._clock = clock
        self._summaries: queue.Queue[str | None] = queue.Queue()
        self._last_active: dict[str, float] = {}
        self.summary = Worker("ctx-summary", self._next_summary, self.refine_summary,
                              wake=lambda: self._summaries.put(None),
                              describe=lambda agent_id: f"the summary of {agent_id}")  # fmt: skip
        idle = config.idle_swap_s
        self.idle = Worker.every("ctx-idle", min(30.0, max(0.5, idle / 4)), self._swap_idle)

    def start(self) -> None:
        self.summary.start()
        if self._config.idle_swap_s:
            self.idle.start()

    def stop(self) -> None:
        self.summary.stop()
        self.idle.stop()

    def flushed(self, agent_id: str) -> None:
        """Messages of the agent were paged out: refine its summary (if the config and the LLM allow)."""
        if self._config.summary_llm and self._llm is not None and self._llm.available:
            self._summaries.put(agent_id)

    def active(self, agent_id: str) -> None:
        """The agent took a turn now (its KV state goes to disk once it is idle long enough)."""
        self._last_active[agent_id] = self._clock()

    def refine_summary(self, agent_id: str) -> None:
        """Rewrite the agent's summary with the LLM (what the summary worker runs after a flush); kept only if no
        call changed the summary meanwhile."""
        from aios.llm.types import ChatMessage, JobClass, SamplingParams

        found = self._store.summary(agent_id)
        if found is None or not found[0].strip() or self._llm is None:
            return
        summary, version = found
        words = max(20, self._summary_limit * 2 // 3)
        ask = (f"Rewrite this running summary of a conversation in at most {words} words. Keep names, numbers "
               f"and dates; drop chit-chat.\n\n{summary}")  # fmt: skip
        reply = self._llm.chat(agent_id, [ChatMessage("user", ask)], SamplingParams(max_tokens=self._summary_limit),
                               session=SUMMARY_SESSION, job_class=JobClass.BACKGROUND,
                               should_stop=self.summary.stopping.is_set)  # fmt: skip
        text = reply.text.strip()
        if not text or reply.finish_reason not in ("stop", "length"):
            return
        text = extractive_summary(text, [], self._summary_limit, self._count.text)
        with self._lock(agent_id):
            self._store.replace_summary(agent_id, version, text, self._count.text(text), self._clock())

    def _next_summary(self) -> str | None:
        agent_id = self._summaries.get()
        return None if self.summary.stopping.is_set() else agent_id

    def _swap_idle(self) -> None:
        """Move the KV state of the agents idle for `idle_swap_s` to disk, each under the worker's policy."""
        now = self._clock()
        for agent_id, at in list(self._last_active.items()):
            if now - at >= self._config.idle_swap_s:
                self._last_active.pop(agent_id, None)
                self.idle.health.run(functools.partial(self._swap_out, agent_id), f"swapping out {agent_id}")
