"""LLM refinement of notes, after the write: the kernel's own work, at background priority.

A note is written with extractive keywords/context/tags and `enrichment = "llm_pending"` when the kernel
has an LLM. This worker asks the model for JSON matching a schema (grammar-constrained), validates it,
and applies it as a new version ("enrichment:llm"); a reply that fails validation leaves the extractive
enrichment and marks the note "llm_failed". Pending notes are picked up again after a restart.

A second, optional stage runs after it for every submitted note (enriched or not): the service's link
judging (memory/linking.py), so all the kernel's after-write LLM work for a note happens in one place.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ENRICHMENT_SCHEMA", "Enricher", "EnrichmentResult", "parse_enrichment"]

log = logging.getLogger("aios.memory.enrichment")

ENRICHMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "keywords": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 6},
        "context": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
    },
    "required": ["keywords", "context", "tags"],
}
_PROMPT = (
    "Read the note and describe it for a personal knowledge base. Give up to 6 keywords (the key "
    "concepts), one short sentence of context (what the note is about), and up to 4 one-word tags.\n\n"
    "Note: {content}"
)


@dataclass(frozen=True)
class EnrichmentResult:
    keywords: list[str]
    context: str
    tags: list[str]


def parse_enrichment(text: str) -> EnrichmentResult | None:
    """The model's JSON, validated and normalised; None when it is unusable."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None

    def clean(values: Any, limit: int) -> list[str]:
        if not isinstance(values, list):
            return []
        out: list[str] = []
        for v in values:
            v = " ".join(str(v).split()).strip(" .,;:#").lower()
            if v and len(v) <= 64 and '"' not in v and "\x00" not in v and v not in out:
                out.append(v)
        return out[:limit]

    keywords, tags = clean(data.get("keywords"), 6), [t.replace(" ", "-") for t in clean(data.get("tags"), 4)]
    context = " ".join(str(data.get("context", "")).split())[:300]
    if not keywords or not tags or len(context) < 3 or "\x00" in context:
        return None
    return EnrichmentResult(keywords, context, tags)


class _LLM(Protocol):
    available: bool

    def chat(self, agent_id: str, messages: list[Any], params: Any, **kw: Any) -> Any: ...


class Enricher:
    """One worker thread: note ids in, `apply(note_id, result or None)` out."""

    def __init__(self, llm: _LLM, load: Callable[[str], tuple[str, str] | None],
                 apply: Callable[[str, EnrichmentResult | None], None],
                 link: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self._llm = llm
        self._load = load  # note id -> (owner agent id, content), None if gone
        self._apply = apply
        self._link = link  # note id -> None: judge its links (after enrichment)
        self._queue: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self._outstanding = 0  # submitted and not finished
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="aios-enrichment", daemon=True)
        self.done = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def submit(self, note_ids: list[str], enrich: bool = True) -> None:
        """Queue notes: enrichment (when `enrich`) and then the link stage."""
        with self._lock:
            self._outstanding += len(note_ids)
        for note_id in note_ids:
            self._queue.put((note_id, enrich))

    def pending(self) -> int:
        """Notes queued or being worked on."""
        return self._outstanding

    def _run(self) -> None:
        from aios.llm import SamplingParams

        params = SamplingParams(max_tokens=160, temperature=0.0, json_schema=json.dumps(ENRICHMENT_SCHEMA))
        while (item := self._queue.get()) is not None:
            note_id, enrich = item
            try:
                if enrich and not self._enrich(note_id, params):
                    continue  # postponed: the note stays pending and both stages run again later
                if self._link is not None:
                    try:
                        self._link(note_id)
                    except Exception:
                        log.exception("judging the links of note %s failed", note_id)
            finally:
                with self._lock:
                    self._outstanding -= 1

    def _enrich(self, note_id: str, params: Any) -> bool:
        """One note's enrichment; False when the model was unavailable (the note stays pending)."""
        from aios.llm import ChatMessage, JobClass

        loaded = self._load(note_id)
        if loaded is None:
            return True
        owner, content = loaded
        try:
            reply = self._llm.chat(
                owner, [ChatMessage("user", _PROMPT.format(content=content[:2000]))], params,
                job_class=JobClass.BACKGROUND, session="enrichment",
            )  # fmt: skip
        except Exception as exc:  # the model is unavailable (e.g. shutting down): stays pending
            log.info("enrichment of note %s postponed: %s", note_id, exc)
            return False
        result = parse_enrichment(reply.text) if reply.finish_reason == "stop" else None
        try:
            self._apply(note_id, result)
        except Exception:
            log.exception("applying the enrichment of note %s failed", note_id)
        self.done += 1
        return True
