"""LLM refinement of notes, after the write: the kernel's own work, at background priority.

A note is written with extractive keywords/context/tags and `enrichment = "llm_pending"` when the kernel
has an LLM. This worker asks the model for JSON matching a schema (grammar-constrained), validates it,
and hands it to aios/memory/refinement.py, which fills only the fields the user left empty and only with what is
grounded in the note (aios/memory/grounding.py), as a new version ("enrichment:llm"); a reply that fails
validation leaves the extractive enrichment and marks the note "llm_failed" ("llm_rejected" when nothing was
grounded). Pending notes are picked up again after a restart.

A second, optional stage runs after it for every submitted note (enriched or not): the service's link
judging (aios/memory/linker.py), so all the kernel's after-write LLM work for a note happens in one place.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aios.lifecycle import Worker

if TYPE_CHECKING:
    from aios.llm import LLMPort

__all__ = ["ENRICHMENT_SCHEMA", "Enricher", "EnrichmentResult", "parse_enrichment"]

log = logging.getLogger("aios.memory.enrichment")

# Bounded strings: without them a small model repeats one keyword until max_tokens cuts the reply off.
ENRICHMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "keywords": {
            "type": "array",
            "items": {"type": "string", "minLength": 2, "maxLength": 40},
            "minItems": 1,
            "maxItems": 6,
        },
        "context": {"type": "string", "minLength": 8, "maxLength": 160},
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 2, "maxLength": 24},
            "minItems": 1,
            "maxItems": 4,
        },
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
    """The model's JSON, validated and normalised (a part left empty stays unproposed); None when it is
    unusable. Whether what it proposes may be used is the grounding's call (aios/memory/grounding.py)."""
    try:
        data = json.loads(text, strict=False)  # a raw newline inside a string is no reason to drop the reply
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
    if "\x00" in context or len(context) < 3:
        context = ""
    if not keywords and not tags and not context:
        return None
    return EnrichmentResult(keywords, context, tags)


class Enricher:
    """Worker threads: note ids in, `apply(note_id, content, result or None)` out. Several notes are in
    flight at once (each worker its own session), so the local model decodes them in one batch and a remote
    server gets concurrent requests; a bulk import is not worked through one reply at a time. A note whose model
    is away (the kernel stopping, a remote server down) is postponed: it stays pending in the database and both
    stages run again at the next start."""

    def __init__(self, llm: LLMPort, load: Callable[[str], tuple[str, str] | None],
                 apply: Callable[[str, str, EnrichmentResult | None], bool],
                 link: Callable[[str], None] | None = None, workers: int = 4) -> None:  # fmt: skip
        from aios.llm import SamplingParams

        self._llm = llm
        self._load = load  # note id -> (owner agent id, content), None if gone
        self._apply = apply  # (note id, the content asked about, result) -> False: the content changed
        self._link = link  # note id -> None: judge its links (after enrichment)
        # Greedy decoding loops ("Shelter, Shelter, ...") without a repeat penalty (as in aios/memory/linking.py).
        self._params = SamplingParams(max_tokens=200, temperature=0.0, repeat_penalty=1.3,
                                      json_schema=json.dumps(ENRICHMENT_SCHEMA))  # fmt: skip
        self._queue: queue.Queue[tuple[str, bool] | None] = queue.Queue()
        self._outstanding = 0  # submitted and not finished
        self._lock = threading.Lock()
        self._workers = workers
        self.worker = Worker("enrichment", self._queue.get, self._work, threads=workers, wake=self._wake,
                             describe=lambda item: f"note {item[0]}")  # fmt: skip

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        """End the workers once their notes in progress are done (the LLM being stopped, at once). Notes still
        queued are dropped: they stay pending in the database and are taken up again at the next start."""
        dropped = 0
        while True:
            try:
                dropped += self._queue.get_nowait() is not None
            except queue.Empty:
                break
        with self._lock:
            self._outstanding -= dropped
        self.worker.stop()
        postponed = self.worker.health.postponed
        if dropped or postponed:
            log.info("note enrichment stopped; %d notes postponed and %d queued are left pending for the next start",
                     postponed, dropped)  # fmt: skip

    def _wake(self) -> None:
        for _ in range(self._workers):
            self._queue.put(None)

    def submit(self, note_ids: list[str], enrich: bool = True) -> None:
        """Queue notes: enrichment (when `enrich`) and then the link stage."""
        with self._lock:
            self._outstanding += len(note_ids)
        for note_id in note_ids:
            self._queue.put((note_id, enrich))

    def pending(self) -> int:
        """Notes queued or being worked on."""
        return self._outstanding

    def _work(self, item: tuple[str, bool]) -> None:
        """Both stages of one note; the model being away (Unavailable) ends it here, postponed."""
        note_id, enrich = item
        try:
            if enrich:
                self._enrich(note_id)
            if self._link is not None:
                self._link(note_id)
        finally:
            with self._lock:
                self._outstanding -= 1

    def _enrich(self, note_id: str) -> None:
        from aios.llm import ChatMessage, JobClass

        session = threading.current_thread().name.removeprefix("aios-")  # each worker thread its own
        while (loaded := self._load(note_id)) is not None:
            owner, content = loaded
            reply = self._llm.chat(
                owner, [ChatMessage("user", _PROMPT.format(content=content[:2000]))], self._params,
                job_class=JobClass.BACKGROUND, session=session,
            )  # fmt: skip
            result = parse_enrichment(reply.text) if reply.finish_reason == "stop" else None
            if self._apply(note_id, content, result):
                return
            # the user edited the content meanwhile: ask about the new text
