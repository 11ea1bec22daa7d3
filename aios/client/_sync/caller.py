"""How the client makes a call: its channel, one unary call, one server stream, closing, `as_agent`.

scripts/gen_async_client.py writes aios/client/_async/ from this package: see its rules before changing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import grpc

from aios.client._base import CHANNEL_OPTIONS, BaseClient, map_errors
from aios.client._ops import Op, Operations

__all__ = ["Caller"]


class Caller(BaseClient):
    def __init__(self, target: str | None = None, token: str | None = None, **kwargs: Any) -> None:
        super().__init__(target, token, **kwargs)
        self._channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self._ops = Operations(self._channel)

    def as_agent(self, agent_id: str) -> Self:
        """A client for the admin acting in `agent_id`'s namespace, sharing this connection."""
        other = type(self).__new__(type(self))
        BaseClient.__init__(other, self.target, self._token, timeout=self.timeout, act_as=agent_id,
                            priority=self._priority)  # fmt: skip
        other._channel, other._ops = self._channel, self._ops
        return other

    def _call(self, op: Op) -> Any:
        with map_errors():
            return op.parse(op.method(op.request, metadata=self._metadata, timeout=self.timeout))

    def _stream(self, op: Op, deadline: bool = True) -> Iterator[Any]:
        """The replies of a server stream, parsed; `deadline=False`: no time limit (the stream ends itself)."""
        with map_errors():
            for message in op.method(op.request, metadata=self._metadata, timeout=self.timeout if deadline else None):
                yield op.parse(message)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
