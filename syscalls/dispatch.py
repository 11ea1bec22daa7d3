"""The one path every syscall takes: authenticate, admit a record, queue, run, translate errors.

Servicer methods are plain functions `(self, request, caller) -> response`, decorated with `unary` or
`server_stream`; the decorator runs them on their resource's queue and owns every gRPC status. A store that
found its disk full (whichever error it said so with) is RESOURCE_EXHAUSTED, never a bug.
`RequestDecoding`, installed once on the server, answers a request that does not decode before any of that.

A streaming call lives as long as its client keeps it open, so it must not outlive the access it was opened
with: each registers with `Streams`, which caps how many one agent keeps open and ends them (UNAUTHENTICATED,
PERMISSION_DENIED) the moment their agent's token is revoked or reissued, or its grant on a watched tree removed.
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
from aios._db import storage_full
from aios.errors import (
    AiosError,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from syscalls.limits import clip_status, refusal
from syscalls.queues import Job, ResourceQueue
from syscalls.records import SyscallRecord, SyscallStatus, SyscallTable

__all__ = [
    "Access",
    "Caller",
    "OpenStream",
    "RequestDecoding",
    "Streams",
    "SyscallRuntime",
    "client_stream",
    "server_stream",
    "unary",
]

log = logging.getLogger("aios.syscalls")

DEFAULT_PRIORITY = 5
ACT_AS = "x-aios-act-as"
PRIORITY = "x-aios-priority"
_MAX_BACKLOG = 10_000  # messages a held stream's client may fall behind before it is ended


class Access(enum.Enum):
    AGENT = "agent"  # runs in an agent's namespace: an agent, or the admin acting as one
    ADMIN = "admin"  # admin token only
    ANY = "any"  # any valid token


class OpenStream:
    """One open streaming call, which the runtime may end from any thread."""

    def __init__(self, agent_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.agent_id = agent_id
        self.trees: frozenset[str] = frozenset()  # replaced whole, so other threads read it without a lock
        self.ended: asyncio.Future[AiosError] = loop.create_future()  # its result: the error that ends the call
        self._loop = loop
        self._lock = threading.Lock()
        self._on_close: list[Callable[[], None]] | None = []  # None once closed

    def needs_tree(self, tree_id: str) -> None:
        """Removing this agent's access to the tree ends the stream."""
        self.trees = self.trees | {tree_id}

    def on_close(self, callback: Callable[[], None]) -> None:
        """`callback()` runs when the call closes, or at once if it has: what the call set up (a subscription)
        never outlives it, even when the client leaves while a worker is still setting it up."""
        with self._lock:
            if self._on_close is not None:
                self._on_close.append(callback)
                return
        callback()

    def end(self, error: AiosError) -> None:
        self._loop.call_soon_threadsafe(lambda: self.ended.done() or self.ended.set_result(error))

    def close(self) -> None:
        with self._lock:
            callbacks, self._on_close = self._on_close or [], None
        for callback in callbacks:
            callback()


class Streams:
    """The open streaming calls of every agent: at most `per_agent` each (a watch stays open as long as its
    client listens, so without a cap one agent could hold any number), ended when their access goes."""

    def __init__(self, per_agent: int) -> None:
        self.per_agent = per_agent
        self._lock = threading.Lock()
        self._open: dict[str, set[OpenStream]] = {}

    def open(self, agent_id: str) -> OpenStream:
        with self._lock:
            mine = self._open.setdefault(agent_id, set())
            if len(mine) >= self.per_agent:
                raise ResourceExhausted(
                    f"this agent has {len(mine)} streaming calls open, the most [limits] max_streams_per_agent "
                    "allows: close one (or let it end) first"
                )
            stream = OpenStream(agent_id, asyncio.get_running_loop())
            mine.add(stream)
        return stream

    def close(self, stream: OpenStream) -> None:
        with self._lock:
            mine = self._open.get(stream.agent_id, set())
            mine.discard(stream)
            if not mine:
                self._open.pop(stream.agent_id, None)
        stream.close()

    def end(self, agent_id: str, error: AiosError, tree_id: str | None = None) -> None:
        """End the agent's open streams (only those that need `tree_id`, if given) with `error`."""
        with self._lock:
            ending = [s for s in self._open.get(agent_id, ()) if tree_id is None or tree_id in s.trees]
        for stream in ending:
            stream.end(error)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    job: Job
    stream: OpenStream | None = None  # streaming calls only

    @property
    def agent_id(self) -> str:
        return self.principal.agent_id


class SyscallRuntime:
    """What the decorators need: identities, the syscall table, the per-resource queues and the open streams."""

    def __init__(
        self,
        agents: AgentService,
        table: SyscallTable,
        queues: dict[str, ResourceQueue],
        max_streams_per_agent: int = 8,
    ) -> None:
        self.agents = agents
        self.table = table
        self.queues = queues
        self.streams = Streams(max_streams_per_agent)
        agents.on_token_invalid(self._token_invalid)

    def _token_invalid(self, agent_id: str) -> None:
        error = Unauthenticated("the token this call was opened with was revoked or reissued")
        self.streams.end(agent_id, error)

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
        metadata = _metadata(context)
        principal = await self._principal(metadata, access)
        return principal, self._record(metadata, principal, context, kind, resource), self.queues[resource]

    async def admit_stream(  # type: ignore[no-untyped-def]
        self, context: grpc.aio.ServicerContext, kind: str, resource: str, access: Access
    ):
        """`admit` for a streaming call, which also opens its `OpenStream` (the caller closes it)."""
        metadata = _metadata(context)
        generation = self.agents.generation
        principal = await self._principal(metadata, access)
        stream = self.streams.open(principal.agent_id)
        try:
            if self.agents.generation != generation:
                # A token went since the check above, perhaps before this stream was there to be ended: check
                # again now that it is registered (a later revocation ends it).
                await self._principal(metadata, access)
            record = self._record(metadata, principal, context, kind, resource)
        except BaseException:
            self.streams.close(stream)
            raise
        return principal, record, self.queues[resource], stream

    def _record(
        self,
        metadata: dict[str, str],
        principal: Principal,
        context: grpc.aio.ServicerContext,
        kind: str,
        resource: str,
    ) -> SyscallRecord:
        priority = _priority(metadata.get(PRIORITY))
        return self.table.admit(principal.agent_id, kind, resource, priority, context.time_remaining())


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}


def _priority(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PRIORITY
    if not raw.isdigit() or not 0 <= int(raw) <= 9:
        raise InvalidArgument(f"{PRIORITY} must be an integer 0-9 (9 runs first), got {raw!r}")
    return int(raw)


def _storage_checked(kind: str, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` on a queue's worker, a store's "disk full" (ENOSPC, SQLITE_FULL, PostgreSQL's 53100, Chroma's
    word for them) turned into RESOURCE_EXHAUSTED: not a bug, and the syscall table records it as such."""
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


async def _abort(context: grpc.aio.ServicerContext, kind: str, exc: Exception) -> None:
    if context.done():  # already answered: a streamed request message that did not decode (RequestDecoding)
        return
    if not isinstance(exc, AiosError):
        exc = _storage_refusal(kind, exc) or exc
    if isinstance(exc, AiosError):
        await context.abort(grpc.StatusCode[exc.code], clip_status(exc.message))
    log.exception("syscall %s failed with a bug", kind, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {kind}; see the kernel log")


def unary(kind: str, resource: str, access: Access = Access.AGENT) -> Callable[..., Any]:
    def decorate(fn: Callable[[Any, Any, Caller], Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                principal, record, queue = await self.runtime.admit(context, kind, resource, access)
                return await queue.run(
                    record, lambda job: _storage_checked(kind, fn, self, request, Caller(principal, job))
                )
            except Exception as exc:
                await _abort(context, kind, exc)

        return handler

    return decorate


def server_stream(kind: str, resource: str, access: Access = Access.AGENT, held: bool = False) -> Callable[..., Any]:
    """For `fn(self, request, caller, emit)`: every message passed to `emit` is streamed as produced.

    `held`: `fn` only sets the call up on a worker (a subscription that calls `emit` from other threads, closed
    through `caller.stream.on_close`); the call then stays open without a worker thread until the client leaves
    or the runtime ends it, so open watches never take a queue's workers from anyone. Its client may fall
    `_MAX_BACKLOG` messages behind, no more."""

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
                    if held and out.qsize() >= _MAX_BACKLOG:
                        opened.end(
                            ResourceExhausted(f"this {kind} call fell {_MAX_BACKLOG:,} messages behind; call again")
                        )
                    else:
                        out.put_nowait(message)

                def emit(message: Any) -> None:
                    loop.call_soon_threadsafe(push, message)

                work = asyncio.ensure_future(
                    queue.run(
                        record,
                        lambda job: _storage_checked(kind, fn, self, request, Caller(principal, job, opened), emit),
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
                await _abort(context, kind, exc)
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
                    record, lambda job: _storage_checked(kind, fn, self, messages(job), Caller(principal, job, opened))
                )
                return await _unless_ended(work, stream)
            except Exception as exc:
                await _abort(context, kind, exc)
            finally:
                if pump is not None:
                    abandoned.set()
                    pump.cancel()
                if stream is not None:
                    self.runtime.streams.close(stream)

        return handler

    return decorate


# -- requests that do not decode -------------------------------------------------------------------------------


class _Undecodable:
    """What a request message that does not decode (random bytes, invalid UTF-8 in a string) becomes, so the
    handler can refuse it: a deserializer that raises makes gRPC answer UNKNOWN and log a traceback. A message
    that holds what no request may (syscalls.limits.refusal: a NUL in a string, NaN in a float) becomes one too."""

    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def _tolerant(deserialize: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        try:
            message = deserialize(data)
        except Exception as exc:  # whatever a decoder raises, the bytes came from the client
            return _Undecodable(f"the request does not decode: {exc}")
        refused = refusal(message)
        return message if refused is None else _Undecodable(refused)

    return decode


async def _refuse_undecodable(context: grpc.aio.ServicerContext, message: Any) -> None:
    if isinstance(message, _Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message.detail)


def _refuse_undecodable_on_thread(context: grpc.ServicerContext, message: Any) -> Any:
    if isinstance(message, _Undecodable):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message.detail)
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
