"""The one path every syscall takes: admit (authenticate, record), queue, run on a worker, answer its status.

Servicer methods are plain functions `(self, request, caller) -> response`, decorated with `unary`,
`server_stream` or `client_stream`; the decorator admits the call through the servicer's `self.runtime`
(syscalls.runtime), runs the method on its resource's queue (syscalls.queues) and leaves every gRPC status to
syscalls.status. Streaming calls register as open streams (syscalls.streams), which the runtime may end.
"""

from __future__ import annotations

import asyncio
import functools
import queue as queue_mod
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc

from aios.errors import AiosError, Cancelled, ResourceExhausted
from aios.syscalls.records import SyscallStatus
from aios.syscalls.runtime import Access, Caller
from aios.syscalls.status import abort, storage_checked
from aios.syscalls.streams import MAX_BACKLOG, OpenStream

__all__ = ["client_stream", "server_stream", "unary"]


def unary(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    def decorate(fn: Callable[[Any, Any, Caller], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                principal, record, queue = await self.runtime.admit(context, kind, resource, access)
                return await queue.run(
                    record, lambda job: storage_checked(kind, fn, self, request, Caller(principal, job))
                )
            except Exception as exc:
                await abort(context, kind, exc)

        return handler

    return decorate


def server_stream(kind: str, resource: str, access: Access = Access.AGENT, held: bool = False) -> Callable[..., Any]:
    """For `fn(self, request, caller, emit)`: every message passed to `emit` is streamed as produced.

    `held`: `fn` only sets the call up on a worker (a subscription that calls `emit` from other threads, closed
    through `caller.stream.on_close`); the call then stays open without a worker thread until the client leaves
    or the runtime ends it, so open watches never take a queue's workers from anyone. Its client may fall
    `MAX_BACKLOG` messages behind, no more."""

    def decorate(fn: Callable[[Any, Any, Caller, Callable[[Any], None]], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            work: asyncio.Future[Any] | None = None
            getter: asyncio.Future[Any] | None = None
            stream: OpenStream | None = None
            setup_done = False
            try:
                principal, record, queue, stream = await self.runtime.admit_stream(context, kind, resource, access)
                loop = asyncio.get_running_loop()
                out: asyncio.Queue[Any] = asyncio.Queue()
                opened = stream

                def push(message: Any) -> None:  # on the event loop: `out` is read nowhere else
                    if held and out.qsize() >= MAX_BACKLOG:
                        opened.end(
                            ResourceExhausted(f"this {kind} call fell {MAX_BACKLOG:,} messages behind; call again")
                        )
                    else:
                        out.put_nowait(message)

                def emit(message: Any) -> None:
                    loop.call_soon_threadsafe(push, message)

                work = asyncio.ensure_future(
                    queue.run(
                        record,
                        lambda job: storage_checked(kind, fn, self, request, Caller(principal, job, opened), emit),
                        held,
                    )
                )
                while True:
                    if stream.ended.done():
                        raise stream.ended.result()
                    if held and not setup_done and work.done():
                        work.result()  # raises what the setup raised
                        setup_done = True
                        work = stream.ended  # from now on only the client, or the runtime, ends the call
                    if work.done() and out.empty():
                        break
                    getter = asyncio.ensure_future(out.get())
                    await asyncio.wait({getter, work, stream.ended}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                    else:
                        getter.cancel()
                        await asyncio.sleep(0)  # let emits scheduled before the end land in `out`
                work.result()
            except Exception as exc:
                if setup_done and isinstance(exc, AiosError):
                    queue.release(record, exc)
                await abort(context, kind, exc)
            finally:
                if setup_done and record.status is SyscallStatus.RUNNING:
                    queue.release(record)  # the client left
                # A cancelled call (client gone, deadline) leaves both pending: neither may outlive it.
                for pending in (getter, work):
                    if pending is not None and not pending.done():
                        pending.cancel()
                if stream is not None:
                    self.runtime.streams.close(stream)

        return handler

    return decorate


async def _unless_ended(work: Any, stream: OpenStream) -> Any:
    """The result of awaitable `work`, unless the runtime ends the stream first (then its error)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, stream.ended}, return_when=asyncio.FIRST_COMPLETED)
        if stream.ended.done():
            raise stream.ended.result()
        return task.result()
    finally:
        if not task.done():
            task.cancel()


_END = object()
_INBOX = 4  # client messages buffered ahead of the handler: gRPC flow control holds back the rest


def client_stream(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    """For `fn(self, messages, caller)`: `messages` is a blocking iterator over what the client streams,
    read by the handler's worker thread as it goes (a large upload is never held in memory whole)."""

    def decorate(fn: Callable[[Any, Iterator[Any], Caller], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
            pump: asyncio.Future[Any] | None = None
            stream: OpenStream | None = None
            try:
                principal, record, queue, stream = await self.runtime.admit_stream(context, kind, resource, access)
                inbox: queue_mod.Queue[Any] = queue_mod.Queue(_INBOX)
                abandoned = threading.Event()  # the handler finished early: stop feeding it

                def put(item: Any) -> None:
                    while not abandoned.is_set():
                        try:
                            return inbox.put(item, timeout=0.2)
                        except queue_mod.Full:
                            continue

                async def forward() -> None:
                    try:
                        async for message in request_iterator:
                            await asyncio.to_thread(put, message)
                        await asyncio.to_thread(put, _END)
                    except Exception as exc:
                        await asyncio.to_thread(put, Cancelled(f"the client stream of {kind} broke off: {exc!r}"))

                def messages(job: Any) -> Iterator[Any]:
                    while True:
                        try:
                            item = inbox.get(timeout=0.2)
                        except queue_mod.Empty:
                            if job.stopped():
                                raise Cancelled(f"{kind} was cancelled") from None
                            continue
                        if item is _END:
                            return
                        if isinstance(item, BaseException):
                            raise item
                        yield item

                pump = asyncio.ensure_future(forward())
                opened = stream
                work = queue.run(
                    record, lambda job: storage_checked(kind, fn, self, messages(job), Caller(principal, job, opened))
                )
                return await _unless_ended(work, stream)
            except Exception as exc:
                await abort(context, kind, exc)
            finally:
                if pump is not None:
                    abandoned.set()
                    pump.cancel()
                if stream is not None:
                    self.runtime.streams.close(stream)

        return handler

    return decorate
