"""The one path every syscall takes: authenticate, admit a record, queue, run, translate errors.

Servicer methods are plain functions `(self, request, caller) -> response`, decorated with `unary` or
`server_stream`; the decorator runs them on their resource's queue and owns every gRPC status.
`RequestDecoding`, installed once on the server, answers a request that does not decode before any of that.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import queue as queue_mod
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from agents import AgentService, Principal
from aios.errors import (
    AiosError,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from syscalls.queues import Job, ResourceQueue
from syscalls.records import SyscallTable

__all__ = ["Access", "Caller", "RequestDecoding", "SyscallRuntime", "client_stream", "server_stream", "unary"]

log = logging.getLogger("aios.syscalls")

DEFAULT_PRIORITY = 5
ACT_AS = "x-aios-act-as"
PRIORITY = "x-aios-priority"


class Access(enum.Enum):
    AGENT = "agent"  # runs in an agent's namespace: an agent, or the admin acting as one
    ADMIN = "admin"  # admin token only
    ANY = "any"  # any valid token


@dataclass(frozen=True)
class Caller:
    principal: Principal
    job: Job

    @property
    def agent_id(self) -> str:
        return self.principal.agent_id


class SyscallRuntime:
    """What the decorators need: identities, the syscall table and the per-resource queues."""

    def __init__(self, agents: AgentService, table: SyscallTable, queues: dict[str, ResourceQueue]):
        self.agents = agents
        self.table = table
        self.queues = queues

    async def _principal(self, metadata: dict[str, str], access: Access) -> Principal:
        header = metadata.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
        principal = self.agents.cached(token.strip()) if token else None
        if principal is None:
            principal = await asyncio.to_thread(self.agents.authenticate, token.strip())
        if access is Access.ADMIN and not principal.is_admin:
            raise PermissionDenied("this syscall needs the admin token")
        act_as = metadata.get(ACT_AS)
        if act_as and access is Access.AGENT:
            if not principal.is_admin:
                raise PermissionDenied(f"only the admin may send {ACT_AS}")
            agent = await asyncio.to_thread(self.agents.get, act_as)
            if agent.revoked:
                raise FailedPrecondition(f"agent {act_as} is revoked")
            return Principal(agent.id, agent.name)
        if access is Access.AGENT and principal.is_admin:
            raise FailedPrecondition(f"the admin has no namespace of its own: send {ACT_AS}: <agent id>")
        return principal

    async def admit(self, context: grpc.aio.ServicerContext, kind: str, resource: str, access: Access):  # type: ignore[no-untyped-def]
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        principal = await self._principal(metadata, access)
        priority = _priority(metadata.get(PRIORITY))
        record = self.table.admit(principal.agent_id, kind, resource, priority, context.time_remaining())
        return principal, record, self.queues[resource]


def _priority(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PRIORITY
    if not raw.isdigit() or not 0 <= int(raw) <= 9:
        raise InvalidArgument(f"{PRIORITY} must be an integer 0-9 (9 runs first), got {raw!r}")
    return int(raw)


async def _abort(context: grpc.aio.ServicerContext, kind: str, exc: Exception) -> None:
    if context.done():  # already answered: a streamed request message that did not decode (RequestDecoding)
        return
    if isinstance(exc, AiosError):
        await context.abort(grpc.StatusCode[exc.code], exc.message)
    log.exception("syscall %s failed with a bug", kind, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {kind}; see the kernel log")


def unary(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    def decorate(fn: Callable[[Any, Any, Caller], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                principal, record, queue = await self.runtime.admit(context, kind, resource, access)
                return await queue.run(record, lambda job: fn(self, request, Caller(principal, job)))
            except Exception as exc:
                await _abort(context, kind, exc)

        return handler

    return decorate


def server_stream(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    """For `fn(self, request, caller, emit)`: every message passed to `emit` is streamed as produced."""

    def decorate(fn: Callable[[Any, Any, Caller, Callable[[Any], None]], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            task: asyncio.Future[Any] | None = None
            getter: asyncio.Future[Any] | None = None
            try:
                principal, record, queue = await self.runtime.admit(context, kind, resource, access)
                loop = asyncio.get_running_loop()
                out: asyncio.Queue[Any] = asyncio.Queue()

                def emit(message: Any) -> None:
                    loop.call_soon_threadsafe(out.put_nowait, message)

                task = asyncio.ensure_future(
                    queue.run(record, lambda job: fn(self, request, Caller(principal, job), emit))
                )
                while not (task.done() and out.empty()):
                    getter = asyncio.ensure_future(out.get())
                    await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                    else:
                        getter.cancel()
                        await asyncio.sleep(0)  # let emits scheduled before the end land in `out`
                task.result()
            except Exception as exc:
                await _abort(context, kind, exc)
            finally:
                # A cancelled call (client gone, deadline) leaves both pending: neither may outlive it.
                for pending in (getter, task):
                    if pending is not None and not pending.done():
                        pending.cancel()

        return handler

    return decorate


_END = object()
_INBOX = 4  # client messages buffered ahead of the handler: gRPC flow control holds back the rest


def client_stream(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    """For `fn(self, messages, caller)`: `messages` is a blocking iterator over what the client streams,
    read by the handler's worker thread as it goes (a large upload is never held in memory whole)."""

    def decorate(fn: Callable[[Any, Iterator[Any], Caller], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
            pump: asyncio.Future[Any] | None = None
            try:
                principal, record, queue = await self.runtime.admit(context, kind, resource, access)
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
                return await queue.run(record, lambda job: fn(self, messages(job), Caller(principal, job)))
            except Exception as exc:
                await _abort(context, kind, exc)
            finally:
                if pump is not None:
                    abandoned.set()
                    pump.cancel()

        return handler

    return decorate


# -- requests that do not decode -------------------------------------------------------------------------------


class _Undecodable:
    """What a request message that does not decode (random bytes, invalid UTF-8 in a string) becomes, so the
    handler can refuse it: a deserializer that raises makes gRPC answer UNKNOWN and log a traceback."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # whatever a decoder raises, the bytes came from the client
            return _Undecodable(exc)

    return decode


async def _refuse_undecodable(context: grpc.aio.ServicerContext, message: Any) -> None:
    if isinstance(message, _Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request does not decode: {message.error}")


def _refuse_undecodable_on_thread(context: grpc.ServicerContext, message: Any) -> Any:
    if isinstance(message, _Undecodable):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request does not decode: {message.error}")
    return message


async def _decoded_stream(messages: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for message in messages:
        await _refuse_undecodable(context, message)
        yield message


def _refusing_undecodable(behavior: Callable[..., Any], request_streaming: bool) -> Callable[..., Any]:
    """`behavior` behind a check that its request decoded, of the same kind (grpc.aio calls a coroutine, an
    async generator and a plain function differently); a request stream is checked message by message as the
    handler reads it."""
    if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):

        def on_thread(request: Any, context: grpc.ServicerContext) -> Any:  # grpc runs it on a thread pool
            if request_streaming:
                request = (_refuse_undecodable_on_thread(context, message) for message in request)
            return behavior(_refuse_undecodable_on_thread(context, request), context)

        return on_thread

    async def decoded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request_streaming:
            return _decoded_stream(request, context)
        await _refuse_undecodable(context, request)
        return request

    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in behavior(await decoded(request, context), context):
                yield response

        return stream

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(await decoded(request, context), context)

    return call


_HANDLER_KINDS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


class RequestDecoding(grpc.aio.ServerInterceptor):
    """Every RPC of the server (ours, health, reflection) answers INVALID_ARGUMENT to a request message that
    does not decode, instead of gRPC's UNKNOWN with a traceback in the log."""

    def __init__(self) -> None:
        self._handlers: dict[Any, Any] = {}  # the server's handler -> its decoding twin, built once per method

    async def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        twin = self._handlers.get(handler)
        if twin is None:
            twin = self._handlers[handler] = self._decoding(handler)
        return twin

    @staticmethod
    def _decoding(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        kind, make = _HANDLER_KINDS[handler.request_streaming, handler.response_streaming]
        return make(
            _refusing_undecodable(getattr(handler, kind), handler.request_streaming),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
