"""What an LLM syscall's input must be before any work: roles, text sizes, sampling parameters, the window."""

from __future__ import annotations

from aios.errors import InvalidArgument
from aios.llm.types import ChatMessage, SamplingParams

__all__ = ["MAX_TEXT_CHARS", "ROLES", "check_messages", "check_params", "check_text", "check_window"]

ROLES = ("system", "user", "assistant")
_MAX_STOPS, _MAX_STOP_CHARS = 8, 64
MAX_TEXT_CHARS = 1 << 20
"""Characters of text one LLM syscall tokenizes: tokenizing is linear in the text, and more than this is far more
than any model's window (a token is a few characters), so it is refused before any work."""


def check_text(text: str, what: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"{what} is {len(text)} characters; at most {MAX_TEXT_CHARS} (the model reads far less)")
    if "\x00" in text:
        raise InvalidArgument(f"{what} must not contain NUL characters")


def check_messages(messages: list[ChatMessage]) -> None:
    if not messages:
        raise InvalidArgument("at least one message is required")
    for i, m in enumerate(messages):
        if m.role not in ROLES:
            raise InvalidArgument(f"message {i}: role must be one of {', '.join(ROLES)}, got {m.role!r}")
        check_text(m.content, f"message {i}")
    total = sum(len(m.content) for m in messages)
    if total > MAX_TEXT_CHARS:
        raise InvalidArgument(f"the messages are {total} characters together; at most {MAX_TEXT_CHARS}")


def check_params(p: SamplingParams) -> None:
    """The parameters on their own (a grammar's or schema's content is the backend's to check)."""
    if p.max_tokens < 1:
        raise InvalidArgument("max_tokens must be at least 1")
    if not 0 <= p.temperature <= 2:
        raise InvalidArgument("temperature must be between 0 and 2")
    if not 0 < p.top_p <= 1 or not 0 <= p.min_p <= 1 or p.top_k < 0 or p.repeat_penalty <= 0:
        raise InvalidArgument("top_p must be in (0, 1], min_p in [0, 1], top_k >= 0, repeat_penalty > 0")
    if len(p.stop) > _MAX_STOPS or any(not s or len(s) > _MAX_STOP_CHARS for s in p.stop):
        raise InvalidArgument(f"at most {_MAX_STOPS} stop strings of 1-{_MAX_STOP_CHARS} characters")
    if p.grammar and p.json_schema:
        raise InvalidArgument("give a grammar or a JSON schema, not both")


def check_window(prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
    """The prompt and all it may generate fit the context window (`n_ctx` 0: unknown, not checked here)."""
    if n_ctx and prompt_tokens + max_tokens > n_ctx:
        raise InvalidArgument(
            f"the prompt is {prompt_tokens} tokens; with max_tokens {max_tokens} it exceeds the "
            f"context window of {n_ctx} tokens"
        )
