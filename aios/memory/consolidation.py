"""Consolidation (MemoryBank): related notes that are old or fading become one summary note linked to
its sources, which are archived (never deleted); and each agent keeps a profile note, its portrait.

The summary comes from the LLM at background priority when the kernel has one, else it is extractive
(the sources' own context sentences).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ConsolidationReport", "extractive_summary", "group_related", "profile_text"]

SUMMARY, PROFILE = "summary", "profile"


@dataclass(frozen=True)
class ConsolidationReport:
    groups: int = 0
    summaries: list[str] = field(default_factory=list)
    archived: int = 0
    profile_id: str = ""


def group_related(ids: Sequence[str], vectors: dict[str, np.ndarray], threshold: float, min_size: int,
                  max_size: int) -> list[list[str]]:  # fmt: skip
    """Greedy clusters in the given order: each seed takes the unassigned notes at cosine >= threshold."""
    left = [i for i in ids if i in vectors]
    groups = []
    while left:
        seed, rest = left[0], left[1:]
        members = [seed] + [i for i in rest if float(np.dot(vectors[seed], vectors[i])) >= threshold][: max_size - 1]
        left = [i for i in left if i not in members]
        if len(members) >= min_size:
            groups.append(members)
    return groups


def extractive_summary(contexts: Sequence[str], limit: int = 1500) -> str:
    text = f"Summary of {len(contexts)} related notes: " + " ".join(
        c if c.endswith((".", "!", "?")) else c + "." for c in dict.fromkeys(contexts)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def profile_text(name: str, keywords: Sequence[Sequence[str]], categories: Sequence[str], first: float,
                 last: float, count: int, fmt_date: Callable[[float], str]) -> str:  # fmt: skip
    topics = [k for k, _ in Counter(k for ks in keywords for k in ks).most_common(10)]
    cats = [c for c, _ in Counter(c for c in categories if c).most_common(5)]
    text = f"Memory profile of {name}: {count} notes from {fmt_date(first)} to {fmt_date(last)}."
    if topics:
        text += f" Frequent topics: {', '.join(topics)}."
    if cats:
        text += f" Categories: {', '.join(cats)}."
    return text
