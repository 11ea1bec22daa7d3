"""The open streaming calls: how many one agent may hold, and ending them when their access goes.

A streaming call lives as long as its client keeps it open, so it must not outlive the access it was opened
with: each registers with `Streams`, which caps how many one agent keeps open and ends them (UNAUTHENTICATED,
PERMISSION_DENIED) the moment their agent's token is revoked or reissued, or its grant on a watched tree removed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aios.errors import AiosError, ResourceExhausted

__all__ = ["MAX_BACKLOG", "OpenStream", "Streams"]

MAX_BACKLOG = 10_000
"""Messages a held stream's client may fall behind before it is ended."""


class OpenStream:
    """One open streaming call, which the runtime may end from any thread."""

    def __init__(self, agent_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.agent_id = agent_id
        self.trees: frozenset[str] = frozenset()  # replaced whole, so other threads read it without a lock
        self.ended: asyncio.Future[AiosError] = loop.create_future()  # its result: the error that ends the call
        self._loop = loop
        self._lock = threading.Lock()
        self._on_close: list[Callable[[], None]] | None = []  # None once closed

    def needs_tree(self, tree_id: str) -> None:
        """Removing this agent's access to the tree ends the stream."""
        self.trees = self.trees | {tree_id}

    def on_close(self, callback: Callable[[], None]) -> None:
        """`callback()` runs when the call closes, or at once if it has: what the call set up (a subscription)
        never outlives it, even when the client leaves while a worker is still setting it up."""
        with self._lock:
            if self._on_close is not None:
                self._on_close.append(callback)
                return
        callback()

    def end(self, error: AiosError) -> None:
        def settle() -> None:  # on the loop: `ended` is only ever settled there
            if not self.ended.done():
                self.ended.set_result(error)

        self._loop.call_soon_threadsafe(settle)

    def close(self) -> None:
        with self._lock:
            callbacks, self._on_close = self._on_close or [], None
        for callback in callbacks:
            callback()


class Streams:
    """The open streaming calls of every agent: at most `per_agent` each (a watch stays open as long as its
    client listens, so without a cap one agent could hold any number), ended when their access goes."""

    def __init__(self, per_agent: int) -> None:
        self.per_agent = per_agent
        self._lock = threading.Lock()
        self._open: dict[str, set[OpenStream]] = {}

    def open(self, agent_id: str) -> OpenStream:
        with self._lock:
            mine = self._open.setdefault(agent_id, set())
            if len(mine) >= self.per_agent:
                raise ResourceExhausted(
                    f"this agent has {len(mine)} streaming calls open, the most [limits] max_streams_per_agent "
                    "allows: close one (or let it end) first"
                )
            stream = OpenStream(agent_id, asyncio.get_running_loop())
            mine.add(stream)
        return stream

    def close(self, stream: OpenStream) -> None:
        with self._lock:
            mine = self._open.get(stream.agent_id, set())
            mine.discard(stream)
            if not mine:
                self._open.pop(stream.agent_id, None)
        stream.close()

    def end(self, agent_id: str, error: AiosError, tree_id: str | None = None) -> None:
        """End the agent's open streams (only those that need `tree_id`, if given) with `error`."""
        with self._lock:
            ending = [s for s in self._open.get(agent_id, ()) if tree_id is None or tree_id in s.trees]
        for stream in ending:
            stream.end(error)
