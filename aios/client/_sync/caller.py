"""How the client makes a call: its channel, one unary call, one server stream, closing, `as_agent`.

scripts/gen_async_client.py writes aios/client/_async/ from this package: see its rules before changing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import grpc

from aios.client._base import CHANNEL_OPTIONS, BaseClient, map_errors
from aios.client._ops import Op, Operations
from aios.client._tls import PEM, channel_credentials, closed_hint

__all__ = ["Caller"]


class Caller(BaseClient):
    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        tls: bool = False,
        root_certificates: PEM | None = None,
        certificate_chain: PEM | None = None,
        private_key: PEM | None = None,
        **kwargs: Any,
    ) -> None:
        """`tls=True`: TLS, trusting `root_certificates` (PEM bytes or a file; default the system's roots);
        `certificate_chain` and `private_key`: this client's certificate, for a kernel that asks for one."""
        super().__init__(target, token, **kwargs)
        credentials = channel_credentials(tls, root_certificates, certificate_chain, private_key)
        self._closed_hint = closed_hint(tls, certificate_chain)
        if credentials is None:
            self._channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(self.target, credentials, options=CHANNEL_OPTIONS)
        self._ops = Operations(self._channel)

    def as_agent(self, agent_id: str) -> Self:
        """A client for the admin acting in `agent_id`'s namespace, sharing this connection."""
        other = type(self).__new__(type(self))
        BaseClient.__init__(other, self.target, self._token, timeout=self.timeout, act_as=agent_id,
                            priority=self._priority)  # fmt: skip
        other._channel, other._ops, other._closed_hint = self._channel, self._ops, self._closed_hint
        return other

    def _call(self, op: Op) -> Any:
        with map_errors(self._closed_hint):
            return op.parse(op.method(op.request, metadata=self._metadata, timeout=self.timeout))

    def _stream(self, op: Op, deadline: bool = True) -> Iterator[Any]:
        """The replies of a server stream, parsed; `deadline=False`: no time limit (the stream ends itself)."""
        with map_errors(self._closed_hint):
            for message in op.method(op.request, metadata=self._metadata, timeout=self.timeout if deadline else None):
                yield op.parse(message)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
