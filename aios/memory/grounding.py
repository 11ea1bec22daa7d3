"""Is what the model proposed about a note grounded in the note? The gate every LLM proposal passes.

A small model writes fluent text that is not in the note: contexts like "A note", keywords like
"note1234567890", link reasons that cite "PostgreSQL 20" for a note that says 15. The kernel accepts a
proposal only when it is grounded, else the extractive enrichment (the note's own words) stays:
- a keyword or tag is grounded when its words occur in the note, or when the embedder puts it close to the
  note; a number it names must occur in the note;
- a context sentence is grounded when every number it names occurs in the note and it is at least as close
  to the note (cosine of embeddings) as the context it would replace;
- a link reason is grounded when every number and proper name it cites, and most of its words, occur in one
  of the two notes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aios.text import STOPWORDS, words

__all__ = ["Grounding", "GroundingStats", "TERM_FLOOR"]

TERM_FLOOR = 0.45
"""Cosine between a term and the note above which a term absent from the note still counts as grounded.
MiniLM gives a word that names the note's topic 0.45-0.7 and an unrelated or generic word ("note",
"awesome", "date") under 0.3."""
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
_GENERIC = frozenset("note notes text content summary keyword keywords tag tags context sentence user about".split())

Encode = Callable[[list[str]], np.ndarray]


@dataclass
class GroundingStats:
    """How many of the model's proposals were offered and how many were accepted, by kind."""

    offered: dict[str, int] = field(default_factory=dict)
    accepted: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # enrichment workers count at once

    def count(self, kind: str, offered: int, accepted: int) -> None:
        with self._lock:
            self.offered[kind] = self.offered.get(kind, 0) + offered
            self.accepted[kind] = self.accepted.get(kind, 0) + accepted

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {kind: {"offered": n, "accepted": self.accepted.get(kind, 0)} for kind, n in self.offered.items()}


def _stem(word: str) -> str:
    """Crude, enough to match "invoices" to "invoice" and "upgraded" to "upgrade"."""
    for suffix in ("ies", "es", "s", "ing", "ed", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {_stem(w) for w in words(text)}


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(text))


def _content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 2]


class Grounding:
    """The checks, for one note (or a pair of linked notes) at a time; `encode` is the kernel's embedder."""

    def __init__(self, encode: Encode, stats: GroundingStats | None = None) -> None:
        self._encode = encode
        self.stats = stats if stats is not None else GroundingStats()

    def terms(self, kind: str, proposed: Sequence[str], *sources: str) -> list[str]:
        """The proposed keywords/tags that are grounded in any of `sources`, in order."""
        if not proposed:
            return []
        stems = set().union(*(_stems(s) for s in sources))
        numbers = set().union(*(_numbers(s) for s in sources))
        kept, unsure = [], []
        for term in proposed:
            term_words = [_stem(w) for w in words(term)]
            if not term_words or not _numbers(term) <= numbers:
                continue
            if all(w in stems for w in term_words):
                kept.append(term)
            elif not set(term_words) <= _GENERIC:
                unsure.append(term)
        if unsure:
            vectors = self._encode([*unsure, *sources])
            terms_v, sources_v = vectors[: len(unsure)], vectors[len(unsure) :]
            closeness = (terms_v @ sources_v.T).max(axis=1)
            kept += [t for t, c in zip(unsure, closeness, strict=True) if c >= TERM_FLOOR]
        accepted = [t for t in proposed if t in kept]
        self.stats.count(kind, len(proposed), len(accepted))
        return accepted

    def context(self, proposed: str, current: str, note: str, *others: str) -> bool:
        """Whether the proposed context sentence may replace `current` as the context of `note` (the numbers
        it names occur in the note or `others`, and it is at least as close to the note as `current`)."""
        grounded = _numbers(proposed) <= set().union(_numbers(note), *(_numbers(o) for o in others))
        if grounded:
            note_v, proposed_v, current_v = self._encode([note, proposed, current])
            grounded = float(proposed_v @ note_v) >= float(current_v @ note_v)
        self.stats.count("context", 1, int(grounded))
        return grounded

    def reason(self, proposed: str, *notes: str) -> bool:
        """Whether a link reason cites only what the notes say: its numbers and names occur in them and at
        least half of its words do."""
        stems = set().union(*(_stems(n) for n in notes))
        cited = [_stem(w) for w in _content_words(proposed)]
        names = {_stem(n.lower()) for n in _NAME.findall(proposed)}
        grounded = (
            _numbers(proposed) <= set().union(*(_numbers(n) for n in notes))
            and names <= stems
            and bool(cited)
            and 2 * sum(w in stems for w in cited) >= len(cited)
        )
        self.stats.count("reason", 1, int(grounded))
        return grounded
