"""File summaries: by the LLM through the kernel's scheduler (the model's port), extractive without one;
cached per tree and content."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.config import FsConfig
from aios.errors import FailedPrecondition
from aios.fs._schema import fs_summaries
from aios.fs.blobs import BlobStore
from aios.fs.models import Summary
from aios.fs.passages import extractive

if TYPE_CHECKING:  # the LLM core is optional for the file system: imported when a summary needs it
    from aios.llm import LLMPort

__all__ = ["Summaries"]


class Summaries:
    def __init__(
        self, engine: Engine, blobs: BlobStore, config: FsConfig, clock: Callable[[], float], llm: LLMPort | None
    ) -> None:
        self._engine = engine
        self._blobs = blobs
        self._config = config
        self._clock = clock
        self._llm = llm

    def summarize(
        self, agent_id: str, tree_id: str, path: str, version: int, sha: str, *, priority: int = 5,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Summary:  # fmt: skip
        """An LLM summary through the kernel's scheduler, cached per tree and content (so a hit, and its speed,
        tells nothing about other agents' files); extractive without an LLM."""
        llm = self._llm if self._llm is not None and self._llm.available else None
        method = "extractive" if llm is None else "llm"
        key = sa.and_(fs_summaries.c.tree_id == tree_id, fs_summaries.c.sha256 == sha)
        with self._engine.connect() as conn:
            cached = conn.execute(sa.select(fs_summaries).where(key)).first()
        if cached is not None and (cached.method == method or method == "extractive"):
            return Summary(path, version, cached.summary, cached.method, True)
        data = self._blobs.read(sha)[: self._config.index_max_bytes]
        if b"\x00" in data[:8192]:
            raise FailedPrecondition(f"{path} is not text")
        text = data.decode("utf-8", errors="ignore")
        summary = extractive(text) if llm is None else self._llm_summary(llm, agent_id, text, priority, should_stop)
        with self._engine.begin() as conn:
            conn.execute(sa.delete(fs_summaries).where(key))
            conn.execute(sa.insert(fs_summaries).values(tree_id=tree_id, sha256=sha, summary=summary, method=method,
                                                        created_at=self._clock()))  # fmt: skip
        return Summary(path, version, summary, method, False)

    def _llm_summary(
        self, llm: LLMPort, agent_id: str, text: str, priority: int, should_stop: Callable[[], bool]
    ) -> str:
        from aios.llm import ChatMessage, SamplingParams

        budget_chars = max(1000, (llm.n_ctx - self._config.summary_tokens - 200) * 3)
        body = text if len(text) <= budget_chars else extractive(text, budget_chars)
        messages = [
            ChatMessage("system", "Summarize the document in at most 5 sentences. Keep names, numbers and dates."),
            ChatMessage("user", body),
        ]
        # Greedy decoding of a small model loops ("a product that is a product that is ...") without a penalty.
        params = SamplingParams(max_tokens=self._config.summary_tokens, temperature=0.0, repeat_penalty=1.3)
        completion = llm.chat(agent_id, messages, params, priority=priority, should_stop=should_stop)
        return completion.text.strip() or extractive(text)
