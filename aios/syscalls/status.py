"""Every error a syscall ends with, turned into its gRPC status here and nowhere else.

An `AiosError` carries its own status code; a store that found its disk full (whichever error it said so with:
ENOSPC, SQLITE_FULL, PostgreSQL's 53100, Chroma's word for them) is RESOURCE_EXHAUSTED, never a bug; anything
else is a bug: INTERNAL, with the traceback in the kernel log. Status messages are clipped (they quote the request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc

from aios._db import storage_full
from aios.errors import AiosError, ResourceExhausted
from aios.syscalls.limits import clip_status

__all__ = ["abort", "storage_checked"]

log = logging.getLogger("aios.syscalls")


def storage_checked(kind: str, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` on a queue's worker, a store's "disk full" turned into RESOURCE_EXHAUSTED: not a bug, and the
    syscall table records it as such."""
    try:
        return fn(*args)
    except AiosError:
        raise
    except Exception as exc:
        full = _storage_refusal(kind, exc)
        if full is None:
            raise
        raise full from exc


def _storage_refusal(kind: str, exc: Exception) -> ResourceExhausted | None:
    message = storage_full(exc)
    if message is None:
        return None
    log.warning("syscall %s refused: %s", kind, message)
    return ResourceExhausted(message)


async def abort(context: grpc.aio.ServicerContext, kind: str, exc: Exception) -> None:
    """Answer the call with the status `exc` stands for."""
    if context.done():  # already answered: a streamed request message that did not decode (syscalls.decoding)
        return
    if not isinstance(exc, AiosError):
        exc = _storage_refusal(kind, exc) or exc
    if isinstance(exc, AiosError):
        await context.abort(grpc.StatusCode[exc.code], clip_status(exc.message))
    log.exception("syscall %s failed with a bug", kind, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {kind}; see the kernel log")
