"""The Starlette app of the HTTP face: the OpenAI-compatible /v1 routes, the probes, /metrics, and what other
faces mount on it (the MCP server at /mcp: `build_app(..., routes=[Mount("/mcp", app=...)], lifespans=[...])`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from aios.http import translate as tr
from aios.http.clients import ClientPool
from aios.http.hooks import KernelHooks
from aios.http.openai_routes import answered, openai_routes
from aios.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

__all__ = ["Lifespan", "build_app"]

Lifespan = Callable[[], AbstractAsyncContextManager[object]]
"""Entered when the server starts, exited when it stops (e.g. the MCP session manager's `run`)."""


def _probes(hooks: KernelHooks) -> list[Route]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        ok, subsystems = hooks.readiness()
        return JSONResponse({"ready": ok, "subsystems": subsystems}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        # The same rule as the metrics port: the admin's token only (the figures name every agent).
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        allowed = scheme.lower() == "bearer" and await asyncio.to_thread(hooks.is_admin, token.strip())
        if not allowed:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="aios metrics"'})
        text = await asyncio.to_thread(hooks.collect_metrics)
        return PlainTextResponse(text, media_type=METRICS_CONTENT_TYPE)

    return [
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/ready", ready, methods=["GET", "HEAD"]),
        Route("/metrics", answered(metrics), methods=["GET"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) in OpenAI's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    err = tr.HttpError(status, f"{request.method} {request.url.path}: {detail}", code="not_found" if status == 404
                       else None)  # fmt: skip
    return JSONResponse(tr.error_body(err), status_code=status)


def build_app(hooks: KernelHooks, pool: ClientPool, routes: Sequence[BaseRoute] = (),
              lifespans: Sequence[Lifespan] = ()) -> Starlette:  # fmt: skip
    """The app; `routes` are added after ours (a `Mount` serves another ASGI app under a prefix), `lifespans` run
    around the server's life, and the SDK clients of `pool` are closed after them."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(pool.close)
            for enter in lifespans:
                await stack.enter_async_context(enter())
            yield

    return Starlette(
        routes=[*_probes(hooks), *openai_routes(hooks, pool), *routes],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
