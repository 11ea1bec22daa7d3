"""The OpenAI-compatible endpoints: each request is its agent's syscall, made with the SDK over the loopback.

The API key is the agent's token. Chat and completions go through the kernel's gRPC server as the agent (the same
admission, queues, LLM scheduler, quotas and syscall records as any gRPC call); only embeddings run here, after the
token is authenticated, on the kernel's embedder in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aios.client import AsyncClient, CompletionChunk, ContextChunk, Usage
from aios.errors import AiosError
from aios.http import translate as tr
from aios.http.clients import ClientPool
from aios.http.hooks import KernelHooks, bearer_token, read_json

__all__ = ["openai_routes"]

log = logging.getLogger("aios.http")
_MAX_EMBED_INPUTS = 2048

Handler = Callable[[Request], Awaitable[Response]]


def answered(handler: Handler) -> Handler:
    """Errors in OpenAI's shape: ours with their status, a bug as 500 (logged), never a dropped connection."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except tr.HttpError as err:
            return JSONResponse(tr.error_body(err), status_code=err.status)
        except AiosError as exc:
            mapped = tr.HttpError.of(exc)
            return JSONResponse(tr.error_body(mapped), status_code=mapped.status)
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.url.path)
            return JSONResponse(tr.error_body(tr.HttpError(500, "internal error", code="internal")), status_code=500)

    return run


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def _piece(item: CompletionChunk | ContextChunk) -> tuple[str, str, Usage | None]:
    """(text, finish reason, usage) of a chunk of either stream; the last one has the finish and the usage."""
    if isinstance(item, ContextChunk):
        if item.reply is None:
            return item.delta, "", None
        done = item.reply.completion
        return item.delta, done.finish_reason or "stop", done.usage
    return item.delta, item.finish_reason, item.usage


class OpenAIRoutes:
    def __init__(self, hooks: KernelHooks, pool: ClientPool) -> None:
        self._hooks = hooks
        self._pool = pool
        self._model_name = ""  # the kernel's model, asked once

    async def _model(self, client: AsyncClient, requested: str) -> str:
        """`requested` if the kernel serves it (its model's name or an alias), else 404 as OpenAI answers."""
        if requested in tr.ALIASES:
            return requested
        if not self._model_name:
            self._model_name = (await client.model_info()).model
        if requested != self._model_name:
            raise tr.HttpError(404, f"the model {requested!r} does not exist; see GET /v1/models", param="model",
                               code="model_not_found")  # fmt: skip
        return requested

    async def chat(self, request: Request) -> Response:
        token = bearer_token(request)
        req = tr.chat_request(await read_json(request, self._hooks.max_body_bytes))
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(self._pool.lease(token))
            model = await self._model(client, req.model)
            if req.stream:
                if req.with_context:
                    chunks: Any = client.chat_with_context_stream(req.last_user_turn(), **req.sampling)
                else:
                    chunks = client.chat_stream(req.messages, **req.sampling)
                return await self._streamed(stack.pop_all(), chunks, model, chat=True, usage=req.include_usage)
            if req.with_context:
                completion = (await client.chat_with_context(req.last_user_turn(), **req.sampling)).completion
            else:
                completion = await client.chat(req.messages, **req.sampling)
        return JSONResponse(tr.chat_completion(model, completion))

    async def completions(self, request: Request) -> Response:
        token = bearer_token(request)
        name, prompt, sampling, stream, include_usage = tr.completion_request(
            await read_json(request, self._hooks.max_body_bytes)
        )
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(self._pool.lease(token))
            model = await self._model(client, name)
            if stream:
                chunks = client.complete_stream(prompt, **sampling)
                return await self._streamed(stack.pop_all(), chunks, model, chat=False, usage=include_usage)
            completion = await client.complete(prompt, **sampling)
        return JSONResponse(tr.text_completion(model, completion))

    async def _streamed(self, lease: contextlib.AsyncExitStack, chunks: AsyncIterator[Any], model: str, chat: bool,
                        usage: bool) -> Response:  # fmt: skip
        """An SSE response. The first chunk is awaited here, so a refused call still gets its HTTP status."""
        try:
            first = await anext(chunks, None)
        except BaseException as exc:
            await lease.__aexit__(type(exc), exc, exc.__traceback__)  # a refused token leaves the pool
            raise
        ident = tr.new_id("chatcmpl" if chat else "cmpl")

        async def events() -> AsyncIterator[bytes]:
            item, role = first, chat
            try:
                while item is not None:
                    text, finish, used = _piece(item)
                    if role or text or finish:
                        yield _sse(tr.chunk(ident, model, chat, text, finish, role=role, usage=used))
                        role = False
                    if used is not None and usage:
                        yield _sse(tr.chunk(ident, model, chat, None, usage=used))
                    item = await anext(chunks, None)
            except AiosError as exc:  # after the status was sent: an error event, which the openai client raises
                yield _sse(tr.error_body(tr.HttpError.of(exc)))
            finally:
                with contextlib.suppress(Exception):
                    await chunks.aclose()  # type: ignore[attr-defined]  # a client gone: cancel the call
                await lease.aclose()
            yield b"data: [DONE]\n\n"

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def models(self, request: Request) -> Response:
        token = bearer_token(request)
        async with self._pool.lease(token) as client:
            info = await client.model_info()
        self._model_name = info.model
        names = [info.model, *tr.ALIASES]
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "aios"} for name in names]
        return JSONResponse({"object": "list", "data": data})

    async def model(self, request: Request) -> Response:
        token = bearer_token(request)
        async with self._pool.lease(token) as client:
            name = await self._model(client, request.path_params["name"])
        return JSONResponse({"id": name, "object": "model", "created": 0, "owned_by": "aios"})

    async def embeddings(self, request: Request) -> Response:
        token = bearer_token(request)
        body = await read_json(request, self._hooks.max_body_bytes)
        texts, model, encoding = self._embedding_request(body)
        await asyncio.to_thread(self._hooks.authenticate, token)
        vectors = await asyncio.to_thread(self._hooks.embed, texts)
        data = []
        for i, vector in enumerate(vectors):
            value: Any = (base64.b64encode(vector.astype("<f4").tobytes()).decode() if encoding == "base64"
                          else [float(x) for x in vector])  # fmt: skip
            data.append({"object": "embedding", "index": i, "embedding": value})
        words = sum(len(t.split()) for t in texts)  # the embedder's tokens are not counted: words stand in
        return JSONResponse({"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": words, "total_tokens": words}})  # fmt: skip

    def _embedding_request(self, body: Any) -> tuple[list[str], str, str]:
        if not isinstance(body, dict):
            raise tr.HttpError(400, "the request body must be a JSON object", code="invalid_json")
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise tr.HttpError(400, "input: expected a non-empty string or a non-empty list of them", param="input",
                               code="invalid_value")  # fmt: skip
        if len(texts) > _MAX_EMBED_INPUTS:
            raise tr.HttpError(400, f"input: at most {_MAX_EMBED_INPUTS} texts per request", param="input",
                               code="invalid_value")  # fmt: skip
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise tr.HttpError(400, "encoding_format: expected float or base64", param="encoding_format",
                               code="invalid_value")  # fmt: skip
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != self._hooks.embedding_dimension:
            raise tr.HttpError(400, f"dimensions: this embedder gives {self._hooks.embedding_dimension}",
                               param="dimensions", code="invalid_value")  # fmt: skip
        model = body.get("model")
        return texts, model if isinstance(model, str) and model else "aios-embedding", encoding


def openai_routes(hooks: KernelHooks, pool: ClientPool) -> list[Route]:
    r = OpenAIRoutes(hooks, pool)
    return [
        Route("/v1/chat/completions", answered(r.chat), methods=["POST"]),
        Route("/v1/completions", answered(r.completions), methods=["POST"]),
        Route("/v1/models", answered(r.models), methods=["GET"]),
        Route("/v1/models/{name:path}", answered(r.model), methods=["GET"]),
        Route("/v1/embeddings", answered(r.embeddings), methods=["POST"]),
    ]
