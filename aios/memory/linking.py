"""Links judged by the LLM, and the neighbour updates it proposes (A-MEM's link generation and evolution).

After a note is written (with provisional similarity links), the background worker shows the model the new
note and its top hybrid-search candidates, numbered 1..n — ids never reach the model, so a reply cannot name
a note that was not offered. The reply is JSON constrained by a schema built for exactly n candidates, then
validated here; anything unusable returns None and the caller keeps the similarity decision.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aios.errors import AiosError, FailedPrecondition, ResourceExhausted, Unavailable

if TYPE_CHECKING:
    from aios.llm import LLMPort

__all__ = [
    "LLM_REASON_PREFIX",
    "Judgement",
    "Postponed",
    "judge_links",
    "link_prompt",
    "link_schema",
    "neighbour_changes",
    "parse_links",
    "pick_candidates",
]

LLM_REASON_PREFIX = "llm: "
"""Marks a link the LLM judged (similarity links give `cosine ...`)."""
log = logging.getLogger("aios.memory.linking")
_MAX_REASON, _MAX_CONTEXT, _MAX_TAGS, _MAX_TAG = 60, 100, 2, 24
_WORD = re.compile(r"[^\W\d_]{3,}")
_ECHO = ("new note:", "candidate notes")  # the prompt copied back
_SNIPPET = 300  # characters of each note the model sees: SmolLM-size models need short prompts


@dataclass(frozen=True)
class Judgement:
    candidate: int
    """0-based index into the candidates offered."""
    reason: str
    tags: list[str]
    """Tags the candidate should gain (may be empty)."""
    context: str | None
    """A new context sentence for the candidate, or None to keep its own."""


def link_schema(n: int) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "candidate": {"enum": list(range(1, n + 1))},
            "reason": {"type": "string", "maxLength": _MAX_REASON},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": _MAX_TAG}, "maxItems": _MAX_TAGS},
            "context": {"type": "string", "maxLength": _MAX_CONTEXT},
        },
        "required": ["candidate", "reason", "tags", "context"],
    }
    return {
        "type": "object",
        "properties": {"related": {"type": "array", "items": item, "maxItems": n}},
        "required": ["related"],
    }


def link_prompt(content: str, candidates: list[str]) -> str:
    listing = "\n".join(f"{i}. {_snippet(c)}" for i, c in enumerate(candidates, 1))
    return (
        f"New note: {_snippet(content)}\n\nCandidate notes:\n{listing}\n\n"
        "List the candidates about the same topic as the new note. For each: its number, a short reason, "
        "up to 2 tags and one updated context sentence for that candidate given the new note."
    )


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


def _clean(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit] if isinstance(value, str) else ""


def parse_links(text: str, n: int) -> list[Judgement] | None:
    """The model's reply for n candidates, validated; None when it is unusable (the caller falls back)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    related = data.get("related") if isinstance(data, dict) else None
    if not isinstance(related, list):
        return None
    out: dict[int, Judgement] = {}
    for item in related:
        if not isinstance(item, dict):
            return None
        number = item.get("candidate")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= n:
            return None  # a number we did not offer: the model is confused, trust none of it
        reason = _clean(item.get("reason"), _MAX_REASON).strip(" .")
        if not _WORD.search(reason) or "\x00" in reason:
            return None
        tags: list[str] = []
        for tag in item.get("tags") or []:
            tag = _clean(tag, _MAX_TAG).strip(" .,;:#").lower().replace(" ", "-")
            if tag and '"' not in tag and "\x00" not in tag and tag not in tags:
                tags.append(tag)
        context = _clean(item.get("context"), _MAX_CONTEXT)
        usable = (len(_WORD.findall(context)) >= 3 and "\x00" not in context
                  and not any(e in context.lower() for e in _ECHO))  # fmt: skip
        out.setdefault(number - 1, Judgement(number - 1, reason, tags[:_MAX_TAGS], context if usable else None))
    return list(out.values())


class Postponed(Exception):
    """The model could not be asked (unavailable, shutting down): the judgement waits for the next start."""


def judge_links(llm: LLMPort, agent_id: str, content: str, candidates: list[str]) -> list[Judgement] | None:
    """Ask the kernel's model (background class) which candidates relate to the note; None on a bad reply.
    Raises Postponed when the model cannot be asked."""
    from aios.llm import ChatMessage, JobClass, SamplingParams

    n = len(candidates)
    # Greedy decoding loops ("15-15-15-...") without a repeat penalty; 1.3 keeps the 135M model in bounds.
    params = SamplingParams(max_tokens=40 + 60 * n, temperature=0.0, repeat_penalty=1.3,
                            json_schema=json.dumps(link_schema(n)))  # fmt: skip
    try:
        reply = llm.chat(agent_id, [ChatMessage("user", link_prompt(content, candidates))], params,
                         job_class=JobClass.BACKGROUND, session="linking")  # fmt: skip
    except (Unavailable, FailedPrecondition, ResourceExhausted) as exc:  # the model is away or busy: judge later
        raise Postponed(str(exc)) from exc
    except AiosError as exc:  # the model refused this request (e.g. it does not fit the window): no judgement
        log.info("link judgement refused: %s", exc)
        return None
    judged = parse_links(reply.text, n) if reply.finish_reason == "stop" else None
    if judged is None:
        log.info("link judgement rejected (%s): %r", reply.finish_reason, reply.text[:300])
    return judged


def pick_candidates(fused: dict[str, tuple[float, dict[str, float]]], cosine: dict[str, float], n: int,
                    floor: float) -> list[str]:  # fmt: skip
    """The best `n` ids of a hybrid (fused) ranking whose cosine to the note reaches `floor`: a weak model
    says "related" to nearly anything it is shown, so what it is shown must already be plausible."""
    ranked = sorted(fused, key=lambda i: -fused[i][0])
    return [i for i in ranked if cosine.get(i, 0.0) >= floor][:n]


def neighbour_changes(tags: list[str], context: str, judgement: Judgement, max_tags: int = 8) -> dict[str, Any]:
    """What the judgement changes in a linked neighbour: tags it gains (up to `max_tags` in all) and a new
    context sentence; empty when it changes nothing."""
    added = [t for t in judgement.tags if t not in tags][: max(0, max_tags - len(tags))]
    changes: dict[str, Any] = {"tags": [*tags, *added]} if added else {}
    if judgement.context and judgement.context != context:
        changes["context"] = judgement.context
    return changes
