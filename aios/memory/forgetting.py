"""The forgetting curve (after MemoryBank, with its sign fixed): R = exp(-Δt / S_eff).

Δt is the time since the note was last recalled; S its strength. A recall multiplies S (spaced
repetition), importance stretches it, pinned notes never decay. Stronger memories decay slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ForgettingConfig", "retention", "strengthened"]

DAY = 86_400.0


@dataclass(frozen=True)
class ForgettingConfig:
    initial_strength_s: float = 3 * DAY
    """S of a new note."""
    recall_growth: float = 2.0
    """Each recall multiplies S by this."""
    max_strength_s: float = 3650 * DAY
    importance_stretch: float = 4.0
    """S_eff = S * (1 + importance_stretch * importance), importance in [0, 1]."""
    archive_below: float = 0.05
    """The decay job archives notes whose retention falls below this."""
    rank_weight: float = 0.2
    """Search score = relevance * (1 - w + w * retention)."""


def retention(elapsed_s: float, strength_s: float, importance: float = 0.0, pinned: bool = False,
              config: ForgettingConfig = ForgettingConfig()) -> float:  # fmt: skip
    if pinned:
        return 1.0
    effective = strength_s * (1.0 + config.importance_stretch * max(0.0, min(1.0, importance)))
    return math.exp(-max(0.0, elapsed_s) / max(effective, 1e-9))


def strengthened(strength_s: float, config: ForgettingConfig = ForgettingConfig()) -> float:
    return min(config.max_strength_s, strength_s * config.recall_growth)
