"""Assembling an agent's window, pure logic: pieces in chat order with exact token counts, eviction choice,
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
from typing import Any

from memory.context.models import ContextMessage, CoreBlock, RecalledItem

__all__ = ["Piece", "TokenCounter", "build_pieces", "choose_evictions", "extractive_summary", "recalled_text"]

_PROBE = "x"  # the system message chunks are measured after (a template may treat the first one specially)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class TokenCounter:
    """Token counts in the model's own chat template and tokenizer; estimates (4 bytes a token) when no local
    model is loaded."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._reply: int | None = None
        self._probe: str | None = None

    @property
    def exact(self) -> bool:
        return bool(self._llm is not None and self._llm.available and self._llm.core is not None)

    def text(self, text: str) -> int:
        if not self.exact:
            return max(1, len(text.encode()) // 4)
        return self._llm.count_tokens(text)

    def _render(self, messages: list[tuple[str, str]], gen: bool) -> str:
        from aios.llm import ChatMessage

        return self._llm.render_chat([ChatMessage(r, c) for r, c in messages], gen)

    def head(self, content: str) -> int:
        """The first piece: the system prompt (with anything the template puts before it)."""
        if not self.exact:
            return self.text(content) + 4
        return self.text(self._render([("system", content)], False))

    def chunk(self, role: str, content: str) -> int:
        """A later piece: its own turn in the template."""
        if not self.exact:
            return self.text(content) + 4
        if self._probe is None:
            self._probe = self._render([("system", _PROBE)], False)
        full = self._render([("system", _PROBE), (role, content)], False)
        if full.startswith(self._probe):
            return self.text(full[len(self._probe) :])
        return self.text(full) - self.text(self._probe)  # a template that is not prefix-stable: best effort

    def reply(self) -> int:
        """The generation prompt the template appends (`<|im_start|>assistant\\n`)."""
        if not self.exact:
            return 3
        if self._reply is None:
            closed = self._render([("system", _PROBE)], False)
            opened = self._render([("system", _PROBE)], True)
            self._reply = self.text(opened[len(closed) :]) if opened.startswith(closed) else 0
        return self._reply

    def prompt(self, messages: list[tuple[str, str]]) -> int:
        """The tokenizer's count of the whole rendered prompt (what the model is fed)."""
        if not self.exact:
            return sum(self.chunk(r, c) for r, c in messages) + self.reply()
        return self.text(self._render(messages, True))


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
    count: TokenCounter,
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
