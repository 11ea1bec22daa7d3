"""Token counts of the window's pieces: the model's own chat template and tokenizer through the LLM port, or
estimates (4 bytes a token) without a local model. Each count is cached by the piece's content, so a turn that
assembles the window several times renders and tokenizes each piece once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aios.llm.port import LLMPort

__all__ = ["Counter", "TokenCounter"]

_PROBE = "x"  # the system message chunks are measured after (a template may treat the first one specially)
_CACHE_ENTRIES = 16_384


class Counter(Protocol):
    """What the paging policy counts with (a test passes a fake)."""

    @property
    def exact(self) -> bool:
        """The counts are the model's own (else estimates)."""
        ...

    def text(self, text: str) -> int:
        """Tokens of plain text."""
        ...

    def head(self, content: str) -> int:
        """The first piece: the system prompt (with anything the template puts before it)."""
        ...

    def chunk(self, role: str, content: str) -> int:
        """A later piece: its own turn in the template (turn markers included)."""
        ...

    def reply(self) -> int:
        """The generation prompt the template appends (`<|im_start|>assistant\\n`)."""
        ...


class TokenCounter:
    """A `Counter` over the LLM port: exact when a local model is loaded, estimates otherwise; every count
    cached by (kind, exactness, content digest), bounded LRU, safe to share between threads."""

    def __init__(self, llm: LLMPort | None, entries: int = _CACHE_ENTRIES) -> None:
        self._llm = llm
        self._entries = entries
        self._cache: OrderedDict[tuple[str, bool, str, bytes], int] = OrderedDict()
        self._guard = threading.Lock()

    @property
    def exact(self) -> bool:
        return self._llm is not None and self._llm.available and self._llm.exact_tokens

    def text(self, text: str) -> int:
        return self._cached("text", "", text, self._text)

    def head(self, content: str) -> int:
        return self._cached("head", "", content, self._head)

    def chunk(self, role: str, content: str) -> int:
        return self._cached("chunk", role, content, lambda c: self._chunk(role, c))

    def reply(self) -> int:
        return self._cached("reply", "", "", lambda _: self._reply())

    def _cached(self, kind: str, role: str, content: str, compute: Callable[[str], int]) -> int:
        exact = self.exact
        key = (kind, exact, role, hashlib.blake2b(content.encode(), digest_size=16).digest())
        with self._guard:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        tokens = compute(content)  # outside the lock: two threads may count the same piece once each, no more
        with self._guard:
            self._cache[key] = tokens
            if len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return tokens

    # -- the counts themselves (uncached) ---------------------------------------------------------------

    def _text(self, text: str) -> int:
        if not self.exact or self._llm is None:
            return max(1, len(text.encode()) // 4)
        return self._llm.count_tokens(text)

    def _render(self, messages: list[tuple[str, str]], gen: bool) -> str:
        from aios.llm.types import ChatMessage

        assert self._llm is not None
        return self._llm.render_chat([ChatMessage(r, c) for r, c in messages], gen)

    def _head(self, content: str) -> int:
        if not self.exact:
            return self._text(content) + 4
        return self._text(self._render([("system", content)], False))

    def _chunk(self, role: str, content: str) -> int:
        if not self.exact:
            return self._text(content) + 4
        probe = self._render([("system", _PROBE)], False)
        full = self._render([("system", _PROBE), (role, content)], False)
        if full.startswith(probe):
            return self._text(full[len(probe) :])
        return self._text(full) - self._text(probe)  # a template that is not prefix-stable: best effort

    def _reply(self) -> int:
        if not self.exact:
            return 3
        closed = self._render([("system", _PROBE)], False)
        opened = self._render([("system", _PROBE)], True)
        return self._text(opened[len(closed) :]) if opened.startswith(closed) else 0
