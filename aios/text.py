"""Text tools without a model: words, stopwords, YAKE-style keywords, a one-sentence context, tags.

Keywords are scored from the text alone (frequency, position, length; stopwords dropped), so a note's write
costs no extra model call (the LLM refines them later at background priority) and files can be named and
summarised without an LLM.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["MAX_TERM", "STOPWORDS", "context_of", "keywords_of", "tags_of", "words"]

MAX_TERM = 64
"""The longest keyword or tag a note may hold: the write check (aios/memory/service.py) and extraction share it, so an
extracted term (a pasted checksum is one long "word") never makes a note that the check refuses."""

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that
the their theirs them themselves then there these they this those through to too under until up very was
we were what when where which while who whom why will with would you your yours yourself yourselves also
get got like one two really much many well thing things yes okay ok hi hello thanks thank please sure let
im ive id dont cant wont isnt didnt doesnt youre thats whats its lets may might must shall us via per
""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'+-]*[A-Za-z0-9]|[A-Za-z]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def words(text: str) -> list[str]:
    return [w.lower().strip("'") for w in _WORD.findall(text)]


def keywords_of(text: str, limit: int = 8) -> list[str]:
    tokens = words(text)
    content = [(i, w) for i, w in enumerate(tokens) if w not in STOPWORDS and len(w) > 2]
    if not content:
        return []
    counts = Counter(w for _, w in content)
    first: dict[str, int] = {}
    for i, w in content:
        first.setdefault(w, i)
    n = len(tokens)
    scored = {w: counts[w] * (1.5 - first[w] / max(n, 1)) * min(len(w), 10) ** 0.5 for w in counts}
    # Adjacent content words that recur make a phrase ("staging database").
    pairs = Counter(f"{a} {b}" for (i, a), (j, b) in zip(content, content[1:], strict=False) if j == i + 1)
    for phrase, c in pairs.items():
        if c > 1:
            a, b = phrase.split()
            scored[phrase] = (scored[a] + scored[b]) * 0.75
    ranked = sorted((w for w in scored if len(w) <= MAX_TERM), key=lambda w: (-scored[w], w))
    return ranked[:limit]


def context_of(text: str, limit: int = 200) -> str:
    """The first sentence, clipped: what the note is about, in the note's own words."""
    first = _SENTENCE.split(" ".join(text.split()), maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"


def tags_of(keywords: list[str], limit: int = 4) -> list[str]:
    return [k.replace(" ", "-") for k in keywords if " " not in k][:limit]
