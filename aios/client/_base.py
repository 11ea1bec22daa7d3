"""What Client and AsyncClient share: target, token and metadata, and the translation of gRPC errors.

The requests themselves are built in `aios.client._ops`; the two clients only differ in how they make the
call (httpx's BaseClient / Client / AsyncClient split), and AsyncClient is generated from Client.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import grpc

from aios._defaults import DEFAULT_PORT
from aios.client._ops import Operations
from aios.errors import Unauthenticated, error_for_code

__all__ = ["CHANNEL_OPTIONS", "DEFAULT_TARGET", "BaseClient", "map_errors"]

DEFAULT_TARGET = f"127.0.0.1:{DEFAULT_PORT}"
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


@contextlib.contextmanager
def map_errors(closed_hint: str = "") -> Iterator[None]:
    """Turn grpc.RpcError into the aios error tree; nothing else escapes. `closed_hint`: added to the message
    when the kernel closed the connection at once (a TLS handshake it refused; see Caller)."""
    try:
        yield
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        if closed_hint and code == grpc.StatusCode.UNAVAILABLE and "Socket closed" in (details or ""):
            details += f" ({closed_hint})"
        raise error_for_code(code.name if code else "UNKNOWN", details or "") from None


class BaseClient:
    _ops: Operations

    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = 60.0,
        act_as: str | None = None,
        priority: int | None = None,
    ) -> None:
        self.target = target or os.environ.get("AIOS_TARGET") or DEFAULT_TARGET
        token = token or os.environ.get("AIOS_TOKEN")
        if not token:
            raise Unauthenticated("no token: pass token= or set AIOS_TOKEN")
        self.timeout = timeout
        self._token = token
        self._act_as = act_as
        self._priority = priority
        metadata = [("authorization", f"Bearer {token}")]
        if act_as:
            metadata.append(("x-aios-act-as", act_as))
        if priority is not None:
            metadata.append(("x-aios-priority", str(priority)))
        self._metadata = tuple(metadata)
