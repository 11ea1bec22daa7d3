"""A request's text as it is generated: incremental UTF-8 decoding of its tokens, cut at its stop strings."""

from __future__ import annotations

import codecs

from aios.llm.types import LLMRequest

__all__ = ["TextStream"]


class TextStream:
    """Incremental detokenization with stop strings: never emits text that might become a stop string."""

    def __init__(self, request: LLMRequest) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = request.params.stop
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._text = ""
        self._emitted = 0

    def push(self, piece: bytes) -> bool:
        """Add a token's bytes; True when a stop string was reached."""
        self._text += self._decoder.decode(piece)
        for stop in self._stops:
            at = self._text.find(stop, max(0, self._emitted - len(stop)))
            if at != -1:
                self._text = self._text[:at]
                return True
        return False

    def ready(self, final: bool) -> str:
        if final:
            self._text += self._decoder.decode(b"", final=True)
        end = len(self._text) if final else max(self._emitted, len(self._text) - self._hold)
        delta, self._emitted = self._text[self._emitted : end], end
        return delta

    @property
    def text(self) -> str:
        return self._text
