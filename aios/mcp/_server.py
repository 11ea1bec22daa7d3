"""The MCP server of the kernel: its tools and resources over stdio (one agent) or streamable HTTP (a bearer token per
request), on the official `mcp` SDK's MCPServer. It runs client-side: every tool is a syscall over gRPC."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from aios.config import ADDRESS_FILE, DEFAULT_PORT
from aios.errors import AiosError, Unauthenticated
from aios.mcp._files import add_file_tools
from aios.mcp._memory import add_memory_tools
from aios.mcp._source import ClientSource, FixedClient, TokenClients, bearer_token

__all__ = ["McpHttp", "build_server", "resolve_target", "run_stdio"]

INSTRUCTIONS = (
    "Long-term memory and a versioned file system of one agent of an aios kernel. remember stores a note, recall "
    "searches notes (by meaning and words, with tag and time filters), forget archives a note (restore_note undoes "
    "it). Files: read_file, write_file, list_files, retrieve (search by meaning), file_history and rollback. "
    "get_core_blocks / set_core_block edit the blocks always in the agent's context window."
)


def build_server(source: ClientSource) -> MCPServer[Any]:
    """An MCPServer whose tools and resources call the kernel with `source`'s client for each request."""
    server: MCPServer[Any] = MCPServer("aios", instructions=INSTRUCTIONS, log_level="WARNING")
    add_memory_tools(server, source)
    add_file_tools(server, source)
    return server


def resolve_target(target: str | None, data_dir: Path | None) -> str:
    """The kernel's address: `target`, else the running kernel's <data-dir>/kernel.addr, else 127.0.0.1:$AIOS_PORT
    (default port 50551) -- as `aios shell` finds it."""
    if target:
        return target
    address_file = (data_dir or Path("aios-data")) / ADDRESS_FILE
    if address_file.exists():
        return address_file.read_text().strip()
    return f"127.0.0.1:{os.environ.get('AIOS_PORT') or DEFAULT_PORT}"


def run_stdio(target: str, token: str, client_options: Mapping[str, Any] | None = None) -> None:
    """Serve MCP on stdin/stdout as the agent of `token` until the client closes the pipe. `client_options`: more
    keywords of the SDK's client (e.g. its TLS settings)."""
    source = FixedClient(target, token, client_options)
    server = build_server(source)

    async def serve() -> None:
        try:
            await server.run_stdio_async()
        finally:
            await source.close()

    anyio.run(serve)


class McpHttp:
    """The streamable-HTTP MCP endpoint at `path`: each request's `Authorization: Bearer <token>` picks the agent
    (401 without a token the kernel accepts). `host`: the address it is served on (on a loopback address the SDK
    refuses other Host headers, against DNS rebinding).

    Serve `route` in any Starlette app and enter `lifespan()` while it serves (it runs the SDK's session manager and
    closes the kernel clients at the end); `app()` is a standalone app doing both."""

    def __init__(self, target: str, *, path: str = "/mcp", host: str = "127.0.0.1", max_clients: int = 256) -> None:
        self.clients = TokenClients(target, max_clients)
        server = build_server(self.clients)
        # Configures the server's session manager; its own app is not used (the route below carries the guard).
        server.streamable_http_app(streamable_http_path=path, stateless_http=True, json_response=True, host=host)
        self._sessions = server.session_manager
        self.route = Route(path, endpoint=BearerGuard(StreamableHTTPASGIApp(self._sessions), self.clients))

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        try:
            async with self._sessions.run():
                yield
        finally:
            await self.clients.close()

    def app(self) -> Starlette:
        return Starlette(routes=[self.route], lifespan=lambda app: self.lifespan())


class BearerGuard:
    """Answers 401 (JSON, with WWW-Authenticate) to an HTTP request without a token the kernel accepts, before the
    MCP layer sees it; other kernel errors (e.g. the kernel is down) are a 503."""

    def __init__(self, app: ASGIApp, clients: TokenClients) -> None:
        self.app, self.clients = app, clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        token = bearer_token(headers)
        try:
            if token is None:
                raise Unauthenticated("send the agent's token as Authorization: Bearer <token>")
            await self.clients.verify(token)
        except Unauthenticated as exc:
            await _error(send, 401, exc)
            return
        except AiosError as exc:
            await _error(send, 503, exc)
            return
        await self.app(scope, receive, send)


async def _error(send: Send, status: int, exc: AiosError) -> None:
    body = json.dumps({"error": {"code": exc.code.lower(), "message": exc.message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="aios"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
