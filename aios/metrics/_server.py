"""The metrics endpoint (`GET /metrics`) on its own small HTTP server thread.

The figures are kernel-wide and name agents, so only the admin may read them: a scrape sends
`Authorization: Bearer <admin token>` (Prometheus: `authorization: {credentials_file: <data-dir>/admin.token}`);
anything else gets 401.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aios.metrics._kernel import CONTENT_TYPE

__all__ = ["MetricsServer"]

log = logging.getLogger("aios.metrics")


class MetricsServer:
    def __init__(self, host: str, port: int, collect: Callable[[], str], authorize: Callable[[str], bool]) -> None:
        """`authorize(token)` says whether a request's bearer token may read the metrics (False, not an error,
        for a token the kernel does not know)."""
        collect_ = collect

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                scheme, _, token = self.headers.get("Authorization", "").partition(" ")
                try:
                    allowed = scheme.lower() == "bearer" and authorize(token.strip())
                    body = collect_().encode() if allowed else b""
                except Exception:
                    log.exception("metrics collection failed")
                    self.send_error(500, "metrics collection failed")
                    return
                if not allowed:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer realm="aios metrics"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="aios-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
