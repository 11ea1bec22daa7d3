"""Whose client a tool call uses: one agent's over stdio, the bearer token's over HTTP; kernel errors as tool errors.

Every tool is a syscall of the SDK's `AsyncClient`, so the kernel authenticates, isolates and queues it exactly like
a gRPC call of that agent. Clients are made lazily, on the event loop that serves the calls (a grpc.aio channel
belongs to the loop it was made on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from aios.client import AsyncClient
from aios.errors import AiosError, NotFound, Unauthenticated

__all__ = ["ClientSource", "FixedClient", "TokenClients", "bearer_token", "kernel_call", "kernel_read"]


class ClientSource(Protocol):
    async def client_for(self, ctx: Context[Any, Any]) -> AsyncClient:
        """The client of the agent making this MCP request; Unauthenticated when there is none."""
        ...

    async def close(self) -> None: ...


def _message(exc: AiosError) -> str:
    return f"{exc.code.lower()}: {exc.message}"


@contextlib.asynccontextmanager
async def kernel_call(source: ClientSource, ctx: Context[Any, Any]) -> AsyncIterator[AsyncClient]:
    """The caller's client; a kernel error in the block becomes the tool's error, with the kernel's message."""
    try:
        yield await source.client_for(ctx)
    except AiosError as exc:
        raise ToolError(_message(exc)) from None


@contextlib.asynccontextmanager
async def kernel_read(source: ClientSource, ctx: Context[Any, Any]) -> AsyncIterator[AsyncClient]:
    """As kernel_call, for a resource read: NotFound is the protocol's "resource not found"."""
    try:
        yield await source.client_for(ctx)
    except NotFound as exc:
        raise ResourceNotFoundError(_message(exc)) from None
    except AiosError as exc:
        raise ResourceError(_message(exc)) from None


def bearer_token(headers: Mapping[str, str] | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    value = (headers or {}).get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class FixedClient:
    """One agent for every call: `aios mcp` over stdio, with the token of $AIOS_TOKEN."""

    def __init__(self, target: str, token: str, options: Mapping[str, Any] | None = None) -> None:
        self._target, self._token, self._options = target, token, dict(options or {})
        self._client: AsyncClient | None = None

    async def client_for(self, ctx: Context[Any, Any]) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(self._target, self._token, **self._options)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class TokenClients:
    """A client per bearer token, for MCP over HTTP: each request's `Authorization` header picks the agent.

    At most `limit` clients are kept (least recently used first out), so a stream of tokens cannot grow it. A token
    is kept only once the kernel has accepted it (`verify`): a wrong token costs one call, never a slot.
    """

    def __init__(self, target: str, limit: int = 256) -> None:
        self._target = target
        self._limit = limit
        self._clients: OrderedDict[str, AsyncClient] = OrderedDict()
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> AsyncClient:
        """The token's client; Unauthenticated (or the kernel's error) when the kernel refuses the token."""
        client = self._clients.get(token)
        if client is not None:
            self._clients.move_to_end(token)
            return client
        client = AsyncClient(self._target, token)
        try:
            await client.whoami()
        except BaseException:
            await client.close()
            raise
        async with self._lock:
            if token in self._clients:  # another request verified it meanwhile
                await client.close()
                return self._clients[token]
            self._clients[token] = client
            while len(self._clients) > self._limit:
                _, evicted = self._clients.popitem(last=False)
                await evicted.close()
        return client

    async def client_for(self, ctx: Context[Any, Any]) -> AsyncClient:
        token = bearer_token(ctx.headers)
        if token is None:
            raise Unauthenticated("send the agent's token as Authorization: Bearer <token>")
        return await self.verify(token)

    async def close(self) -> None:
        async with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()
