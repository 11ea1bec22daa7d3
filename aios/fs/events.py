"""Change events for `watch`: published after a change commits, delivered to subscribers by path prefix."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from aios.fs.models import FileEvent
from aios.fs.paths import is_under

__all__ = ["EventBus", "Subscription"]

log = logging.getLogger("aios.fs")


class Subscription:
    """Calls `deliver(event)` on the committing writer's thread: a subscriber holds no thread while it waits.
    `deliver` must not block (the syscall layer queues the event for its stream and bounds that backlog)."""

    def __init__(self, bus: EventBus, tree_id: str, prefix: str, deliver: Callable[[FileEvent], None]) -> None:
        self.tree_id = tree_id
        self.prefix = prefix
        self.deliver = deliver
        self._bus = bus

    def close(self) -> None:
        self._bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []

    def subscribe(self, tree_id: str, prefix: str, deliver: Callable[[FileEvent], None]) -> Subscription:
        sub = Subscription(self, tree_id, prefix, deliver)
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
            try:
                for event in events:
                    if is_under(event.path, sub.prefix):
                        sub.deliver(event)
            except Exception:  # a bug in one subscriber: the change has committed, the others still hear of it
                log.exception("a watch subscriber failed; unsubscribing it")
                sub.close()
