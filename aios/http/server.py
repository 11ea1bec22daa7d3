"""uvicorn serving the HTTP face inside the kernel's event loop: `serve()` runs as a task, `stop()` ends it.

The socket is bound here (so port 0 gives its port at once, and a port in use fails the start with a clear error),
and uvicorn never touches the process's signal handlers: `aios serve` owns SIGTERM and SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from aios.errors import Unavailable
from aios.http.hooks import TlsFiles

__all__ = ["HttpServer"]

log = logging.getLogger("aios.http")
_START_TIMEOUT_S = 30.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the kernel's signal handlers stay


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"HTTP face: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class HttpServer:
    def __init__(self, app: ASGIApp, host: str, port: int, tls: TlsFiles | None = None,
                 grace_s: float = 10.0) -> None:  # fmt: skip
        self._sock = _bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.tls = tls is not None
        self._config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=max(math.ceil(grace_s), 1),
            # TLS: the same certificate as the gRPC port; with a client CA, mutual TLS.
            ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
            ssl_ca_certs=tls.client_ca if tls else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if tls and tls.client_ca else ssl.CERT_NONE,
        )  # fmt: skip
        self._server = _Server(self._config)
        quiet = logging.getLogger("uvicorn.error")  # its start-up lines ("Press CTRL+C to quit") are not the kernel's
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = task = asyncio.create_task(self._serve(), name="aios-http")
        deadline = asyncio.get_running_loop().time() + _START_TIMEOUT_S
        while not self._server.started:  # uvicorn offers no event to await
            if task.done() or asyncio.get_running_loop().time() > deadline:
                error = task.exception() if task.done() else None
                await self.stop()
                raise Unavailable(f"HTTP face failed to start: {error or 'timed out'}")
            await asyncio.sleep(0.01)

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        except SystemExit:  # uvicorn's answer to an app whose startup failed: it must not end the kernel's loop
            raise Unavailable("the HTTP app failed to start (see the log)") from None

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within the grace period, then run the app's shutdown."""
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            if not task.done():
                try:
                    await task
                except Exception:
                    log.exception("the HTTP face stopped with an error")
        self._sock.close()
