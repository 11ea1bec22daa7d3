"""What the HTTP face needs of the kernel (KernelHooks: plain callables, no kernel import), and request basics:
the bearer token and a bounded JSON body."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.requests import Request

from aios.http.translate import HttpError

__all__ = ["KernelHooks", "Readiness", "TlsFiles", "bearer_token", "read_json", "readiness"]

Readiness = tuple[bool, Mapping[str, Mapping[str, Any]]]
"""(ready, per subsystem {"up": bool, ...})."""


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    client_ca: str | None = None
    """Set: clients must present a certificate it signed (mutual TLS)."""


@dataclass(frozen=True)
class KernelHooks:
    target: str
    """The gRPC address the face's SDK clients dial (the server's internal listener)."""
    authenticate: Callable[[str], object]
    """Checks an agent token (raises Unauthenticated); blocking, run in a thread."""
    embed: Callable[[list[str]], np.ndarray]
    """The kernel's embedder: unit-length float32 rows; blocking."""
    embedding_dimension: int
    is_admin: Callable[[str], bool]
    """Whether a token is the admin's (False for any other, valid or not); blocking."""
    collect_metrics: Callable[[], str]
    """The Prometheus exposition text of the kernel's metrics port; blocking."""
    readiness: Callable[[], Readiness]
    max_body_bytes: int = 64 * 1024 * 1024


def bearer_token(request: Request) -> str:
    """The `Authorization: Bearer <token>` of a request; 401 in OpenAI's shape without one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "missing API key: send 'Authorization: Bearer <agent token>'", code="invalid_api_key")
    return token.strip()


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON; too large is a 413, not JSON (or not UTF-8) a 400."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body over {limit} bytes", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"request body over {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None


def readiness(planned: list[str], started: list[str], llm_up: bool, llm_detail: str, llm_needed: bool) -> Readiness:
    """Ready when every part of the kernel started, and the LLM is up (unless configured away)."""
    running = set(started)
    subsystems: dict[str, dict[str, Any]] = {name: {"up": name in running} for name in planned}
    subsystems["llm"] = {"up": llm_up, "detail": "" if llm_up else llm_detail}
    return all(name in running for name in planned) and (llm_up or not llm_needed), subsystems
