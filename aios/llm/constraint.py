"""A request's grammar or JSON schema, checked against a llama.cpp model's vocabulary and compiled once.

What grammar.py lets through compiles fast and safely; left recursion is the one refusal left to llama.cpp (a NULL
sampler, which in the sampler chain would crash the process), so each new grammar is compiled once alone first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from aios.errors import InvalidArgument
from aios.llm.grammar import producible_chars, to_gbnf
from aios.llm.types import SamplingParams

if TYPE_CHECKING:
    from llama_cpp._internals import LlamaModel

__all__ = ["Grammars"]

_COMPILED_KEPT = 256


class Grammars:
    """The code points a model can produce, and the GBNF texts known to compile with its vocabulary. Safe from
    any thread: llama.cpp only reads the vocabulary to compile a grammar."""

    def __init__(
        self, model: LlamaModel, single_bytes: set[int], in_use: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._model = model
        self._in_use = in_use  # around a call into the model: it is not freed meanwhile
        self.producible = producible_chars(single_bytes)
        self._compiled: dict[str, None] = {}  # GBNF texts known to compile, oldest first
        self._lock = threading.Lock()

    def gbnf(self, params: SamplingParams) -> str:
        """The request's grammar or JSON schema as checked GBNF ("" for none), or InvalidArgument."""
        import llama_cpp

        gbnf = to_gbnf(params.grammar, params.json_schema, self.producible)
        with self._lock:
            known = not gbnf or gbnf in self._compiled
        if not known:
            with self._in_use():
                compiled = llama_cpp.llama_sampler_init_grammar(self._model.vocab, gbnf.encode(), b"root")
                if compiled:
                    llama_cpp.llama_sampler_free(compiled)
            if not compiled:
                raise InvalidArgument(
                    "the grammar is left-recursive, which llama.cpp refuses: a rule reaches itself before any "
                    "character (e.g. x* where x can match nothing)"
                )
            with self._lock:
                self._compiled[gbnf] = None
                while len(self._compiled) > _COMPILED_KEPT:
                    del self._compiled[next(iter(self._compiled))]
        return gbnf
