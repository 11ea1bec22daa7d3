"""Requests that do not decode are answered INVALID_ARGUMENT, before any servicer sees them.

`RequestDecoding`, installed once on the server, wraps every RPC's deserializer (ours, health, reflection): bytes
that do not decode, or a message holding what no request may (syscalls.limits.refusal), become `_Undecodable`,
which the wrapped handler refuses. Without it gRPC answers UNKNOWN and logs a traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from aios.syscalls.limits import refusal

__all__ = ["RequestDecoding"]


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
