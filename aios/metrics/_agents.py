"""Per-agent counters whose agent label is bounded: the `top` most active agents have their own series, the rest
share one labelled "other", so thousands of agents cannot explode a scrape.

Every series is monotonic while it exists, and so is the sum over them: an agent that takes a place starts its
own series from what it does next (what it did before stays in "other"), and the agent whose place it takes
adds its totals to "other" before its series goes away. Activity is the number of counted events since the
kernel started; a newcomer takes the place of the least active named agent once it is twice as active, so two
agents near the boundary do not trade places (and series) at every event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["OTHER", "TOP_AGENTS", "AgentCounters", "CounterKey"]

TOP_AGENTS = 20
"""Agents with their own label value; the others are counted under `OTHER`."""
OTHER = "other"

CounterKey = tuple[str, tuple[str, ...]]
"""(family name, its label values other than the agent)."""


class AgentCounters:
    """Thread-safe totals per (agent, family, labels), with at most `top` agents named."""

    def __init__(self, top: int = TOP_AGENTS) -> None:
        if top < 1:
            raise ValueError("top must be at least 1")
        self._top = top
        self._lock = threading.Lock()
        self._activity: dict[str, int] = {}
        self._named: dict[str, dict[CounterKey, float]] = {}
        self._other: dict[CounterKey, float] = {}

    def add(self, agent_id: str, counts: Iterable[tuple[CounterKey, float]]) -> None:
        """Add `counts` to the agent's totals (one event of activity)."""
        with self._lock:
            activity = self._activity[agent_id] = self._activity.get(agent_id, 0) + 1
            totals = self._totals(agent_id, activity)
            for key, amount in counts:
                totals[key] = totals.get(key, 0.0) + amount

    def _totals(self, agent_id: str, activity: int) -> dict[CounterKey, float]:
        if (totals := self._named.get(agent_id)) is not None:
            return totals
        if len(self._named) >= self._top:
            weakest = min(self._named, key=self._activity.__getitem__)
            if activity <= 2 * self._activity[weakest]:
                return self._other
            for key, value in self._named.pop(weakest).items():
                self._other[key] = self._other.get(key, 0.0) + value
        totals = self._named[agent_id] = {}
        return totals

    def snapshot(self) -> tuple[dict[str, dict[CounterKey, float]], dict[CounterKey, float]]:
        """Copies of the named agents' totals (by agent id) and of "other"'s."""
        with self._lock:
            return {a: dict(t) for a, t in self._named.items()}, dict(self._other)
