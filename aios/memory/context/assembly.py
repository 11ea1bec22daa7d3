"""Assembling an agent's window, pure logic: pieces in chat order with their token counts, eviction choice,
the extractive summary and the recalled section's text.

The prompt is a list of chat messages: the system prompt, the core blocks and the summary as system
messages, then the message queue with the recalled section (a system message) just before the user message
it was retrieved for, so that a new turn changes only the suffix of the prompt and the rest of the KV state
is reused. Each piece's tokens are its chunk of the rendered template (turn markers included); with a
prefix-stable template (ChatML, Llama 3, ...) the chunks add up exactly to the tokenizer's count of the
whole prompt, which the tests check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aios.memory.context.models import ContextMessage, CoreBlock, RecalledItem
from aios.memory.context.tokens import Counter

__all__ = [
    "Piece",
    "build_pieces",
    "choose_evictions",
    "core_text",
    "extractive_summary",
    "recalled_text",
    "summary_text",
]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Piece:
    section: str
    role: str
    content: str
    tokens: int


def core_text(blocks: Sequence[CoreBlock]) -> str:
    return "Core memory:\n" + "\n".join(f"[{b.label}] {b.value}" for b in blocks)


def summary_text(summary: str) -> str:
    return "Summary of the earlier conversation (paged out to recall storage):\n" + summary


def recalled_text(items: Sequence[RecalledItem]) -> str:
    return "Recalled from earlier in the conversation and from memory:\n" + "\n".join(f"- {i.content}" for i in items)


def build_pieces(
    system_prompt: str,
    system_tokens: int,
    blocks: Sequence[CoreBlock],
    summary: str,
    messages: Sequence[ContextMessage],
    recalled: Sequence[RecalledItem],
    anchor: int | None,
    count: Counter,
) -> list[Piece]:
    """The prompt in order, each piece with its tokens; the last piece is the generation prompt."""
    pieces = [Piece("system", "system", system_prompt, system_tokens)]
    if blocks:
        text = core_text(blocks)
        pieces.append(Piece("core", "system", text, count.chunk("system", text)))
    if summary:
        text = summary_text(summary)
        pieces.append(Piece("summary", "system", text, count.chunk("system", text)))
    recall = None
    if recalled:
        text = recalled_text(recalled)
        recall = Piece("recalled", "system", text, count.chunk("system", text))
    for m in messages:
        if recall is not None and (anchor is None or m.seq >= anchor):
            pieces.append(recall)
            recall = None
        pieces.append(Piece("messages", m.role, m.content, m.tokens))
    if recall is not None:
        pieces.append(recall)
    pieces.append(Piece("reply", "assistant", "", count.reply()))
    return pieces


def choose_evictions(messages: Sequence[ContextMessage], excess: int, keep_last: int) -> list[ContextMessage]:
    """The oldest unpinned messages whose tokens cover `excess`, sparing the last `keep_last`; if those are
    not enough, older ones of the protected tail too, but never the newest message."""
    if excess <= 0:
        return []
    chosen: list[ContextMessage] = []
    freed = 0
    protected = messages[-keep_last:] if keep_last else []
    for group in (messages[: len(messages) - len(protected)], list(protected)[:-1]):
        for m in group:
            if freed >= excess:
                return chosen
            if not m.pinned:
                chosen.append(m)
                freed += m.tokens
    return chosen


def first_sentence(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    head = _SENTENCE.split(text, maxsplit=1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"


def extractive_summary(
    old: str, evicted: Sequence[tuple[str, str]], limit_tokens: int, count: Callable[[str], int]
) -> str:
    """The old summary plus one line per evicted message (its first sentence); the oldest lines go first
    when it outgrows `limit_tokens`, so the summary stays bounded and recursive."""
    lines = [line for line in old.splitlines() if line.strip()]
    lines += [f"- {role}: {first_sentence(content)}" for role, content in evicted if content.strip()]
    text = "\n".join(lines)
    while lines and count(text) > limit_tokens:
        if len(lines) > 1:
            lines.pop(0)
        elif len(lines[0]) <= 1:
            return ""
        else:
            lines[0] = lines[0][: max(1, len(lines[0]) * 3 // 4)]
        text = "\n".join(lines)
    return text
