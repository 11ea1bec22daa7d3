"""The HTTP face's way into the kernel: the SDK's AsyncClient, one per agent token, over the gRPC server's loopback.

A channel per request would cost a connection setup each time, so clients are kept, at most `size`, the least
recently used one closed first. A client still in use when it is dropped is closed by its last user (a lease),
never under a call in flight. A token the kernel refuses is dropped at once, so made-up keys cannot fill the pool.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator

from aios.client import AsyncClient
from aios.errors import Unauthenticated

__all__ = ["ClientPool"]


class _Entry:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.users = 0
        self.dropped = False


class ClientPool:
    def __init__(self, target: str, size: int = 128, timeout: float | None = 600.0) -> None:
        self._target = target
        self._size = size
        self._timeout = timeout
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # touched on the event loop only: no lock

    @contextlib.asynccontextmanager
    async def lease(self, token: str) -> AsyncIterator[AsyncClient]:
        """The client for `token`, kept open while the block runs."""
        entry = self._entries.get(token)
        if entry is None:
            entry = _Entry(AsyncClient(self._target, token, timeout=self._timeout))
            self._entries[token] = entry
            while len(self._entries) > self._size:
                _, oldest = self._entries.popitem(last=False)
                await self._drop(oldest)
        else:
            self._entries.move_to_end(token)
        entry.users += 1
        try:
            yield entry.client
        except Unauthenticated:
            if self._entries.get(token) is entry:
                del self._entries[token]
                entry.dropped = True
            raise
        finally:
            entry.users -= 1
            if entry.dropped and entry.users == 0:
                await entry.client.close()

    async def _drop(self, entry: _Entry) -> None:
        entry.dropped = True
        if entry.users == 0:
            await entry.client.close()

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), OrderedDict()
        for entry in entries:
            await self._drop(entry)
