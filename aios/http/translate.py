"""OpenAI's request and response shapes, to and from the SDK's: the one place the HTTP face converts.

Requests are checked field by field (a wrong type or value is a 400 naming the field, never a 500); fields the
kernel has no use for (`user`, `logprobs: false`, penalties, ...) are accepted and ignored, as llama.cpp's server
does, so clients that always send them work unchanged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aios.client import Completion, Usage
from aios.errors import AiosError

__all__ = [
    "ChatRequest",
    "HttpError",
    "STATUS",
    "chat_completion",
    "chat_request",
    "chunk",
    "completion_request",
    "error_body",
    "text_completion",
    "usage_json",
]

CONTEXT_MODEL = "aios-context"
"""The model name that chats through the agent's paged context: only the last user message is the new turn."""
ALIASES = ("aios", CONTEXT_MODEL)

STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          429: "rate_limit_exceeded", 503: "service_unavailable"}  # fmt: skip
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class HttpError(Exception):
    """An error answered in OpenAI's shape with `status`."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    @classmethod
    def of(cls, exc: AiosError) -> HttpError:
        return cls(STATUS.get(exc.code, 500), exc.message or exc.code.lower(), code=exc.code.lower())


def error_body(err: HttpError) -> dict[str, Any]:
    kind = _TYPES.get(err.status, "invalid_request_error" if err.status < 500 else "server_error")
    return {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code}}


def _bad(param: str, message: str) -> HttpError:
    return HttpError(400, f"{param}: {message}", param=param, code="invalid_value")


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(key, f"expected a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _integer(body: Mapping[str, Any], key: str, low: int, high: int = 2**31 - 1) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(key, f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK's Sampling options from OpenAI's fields."""
    out: dict[str, Any] = {}
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    for key, value in (
        ("max_tokens", max_tokens),
        ("temperature", _number(body, "temperature", 0, 2)),
        ("top_p", _number(body, "top_p", 0, 1)),
        ("seed", _integer(body, "seed", -(2**63), 2**63 - 1)),
    ):
        if value is not None:
            out[key] = value
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        out["stop"] = [s for s in stop if s]
    elif stop is not None:
        raise _bad("stop", "expected a string or a list of strings")
    if _integer(body, "n", 1, 1) is None and body.get("n") is not None:
        raise _bad("n", "only n = 1 is supported")
    if body.get("tools"):
        raise _bad("tools", "tool calls are not supported by this server")
    fmt = body.get("response_format")
    if fmt is not None:
        out.update(_response_format(fmt))
    return out


def _response_format(fmt: Any) -> dict[str, Any]:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"json_schema": {"type": "object"}}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _bad("response_format", "json_schema needs {'json_schema': {'name': ..., 'schema': {...}}}")
        return {"json_schema": schema}
    raise _bad("response_format", "type must be text, json_object or json_schema")


def _content(message: Any, i: int) -> tuple[str, str]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise _bad(where, "expected an object with role and content")
    role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise _bad(f"{where}.role", f"expected one of {', '.join(_ROLES)}, got {message.get('role')!r}")
    content = message.get("content")
    if isinstance(content, list):  # content parts: text only
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            raise _bad(f"{where}.content", "only text content parts are supported")
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise _bad(f"{where}.content", "expected a string or a list of text parts")
    return role, content


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[tuple[str, str]]
    sampling: dict[str, Any]
    stream: bool
    include_usage: bool

    @property
    def with_context(self) -> bool:
        return self.model == CONTEXT_MODEL

    def last_user_turn(self) -> str:
        """The new turn of a context chat: the last user message (what came before is in the kernel already)."""
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        raise _bad("messages", f"model {CONTEXT_MODEL} needs a user message (the new turn)")


def _common(body: Any) -> tuple[str, bool, bool]:
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "expected the model's name (see GET /v1/models)")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "expected true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("stream_options", "expected an object")
    return model, stream, bool((options or {}).get("include_usage"))


def chat_request(body: Any) -> ChatRequest:
    model, stream, include_usage = _common(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "expected a non-empty list of messages")
    turns = [_content(m, i) for i, m in enumerate(messages)]
    return ChatRequest(model, turns, _sampling(body), stream, include_usage)


def completion_request(body: Any) -> tuple[str, str, dict[str, Any], bool, bool]:
    """(model, prompt, sampling, stream, include_usage) of POST /v1/completions."""
    model, stream, include_usage = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise _bad("prompt", "expected a string (one prompt per request)")
    if model == CONTEXT_MODEL:
        raise _bad("model", f"{CONTEXT_MODEL} chats: use /v1/chat/completions")
    return model, prompt, _sampling(body), stream, include_usage


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def usage_json(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}  # fmt: skip


def _finish(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def chat_completion(model: str, completion: Completion) -> dict[str, Any]:
    message = {"role": "assistant", "content": completion.text}
    choice = {"index": 0, "message": message, "finish_reason": _finish(completion.finish_reason), "logprobs": None}
    return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [choice], "usage": usage_json(completion.usage)}  # fmt: skip


def text_completion(model: str, completion: Completion) -> dict[str, Any]:
    choice = {"index": 0, "text": completion.text, "finish_reason": _finish(completion.finish_reason),
              "logprobs": None}  # fmt: skip
    return {"id": new_id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [choice], "usage": usage_json(completion.usage)}  # fmt: skip


def chunk(ident: str, model: str, chat: bool, text: str | None, finish: str = "", role: bool = False,
          usage: Usage | None = None) -> dict[str, Any]:  # fmt: skip
    """One SSE event of a stream: a piece of text, the finish, or (no choices) the usage."""
    body: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                            "created": int(time.time()), "model": model}  # fmt: skip
    if text is None:
        body["choices"] = []
    elif chat:
        delta = {"role": "assistant", "content": text} if role else ({"content": text} if text else {})
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": _finish(finish) if finish else None,
                            "logprobs": None}]  # fmt: skip
    else:
        body["choices"] = [{"index": 0, "text": text, "finish_reason": _finish(finish) if finish else None,
                            "logprobs": None}]  # fmt: skip
    if usage is not None:
        body["usage"] = usage_json(usage)
    return body
