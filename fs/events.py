"""Change events for `watch`: published after a change commits, delivered to subscribers by path prefix."""

from __future__ import annotations

import queue
import threading

from fs.models import FileEvent
from fs.paths import is_under

__all__ = ["EventBus", "Subscription"]

_MAX_BACKLOG = 10_000


class Subscription:
    def __init__(self, bus: EventBus, tree_id: str, prefix: str) -> None:
        self.tree_id = tree_id
        self.prefix = prefix
        self.overflowed = False
        self._queue: queue.Queue[FileEvent] = queue.Queue(_MAX_BACKLOG)
        self._bus = bus

    def offer(self, event: FileEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:  # a reader that stopped reading does not hold the writers back
            self.overflowed = True

    def get(self, timeout: float) -> FileEvent | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []

    def subscribe(self, tree_id: str, prefix: str) -> Subscription:
        sub = Subscription(self, tree_id, prefix)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, tree_id: str, events: list[FileEvent]) -> None:
        with self._lock:
            subs = [s for s in self._subs if s.tree_id == tree_id]
        for sub in subs:
            for event in events:
                if is_under(event.path, sub.prefix):
                    sub.offer(event)
