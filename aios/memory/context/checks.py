"""Validation of what a context call is given: INVALID_ARGUMENT before anything changes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aios.errors import InvalidArgument
from aios.memory.context.models import ROLES

__all__ = [
    "MAX_BATCH",
    "check_events_page",
    "check_id",
    "check_label",
    "check_messages",
    "check_page_out",
    "check_text",
]

MAX_BATCH = 1_000
MAX_EVENTS = 1_000
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_messages(messages: Sequence[tuple[str, str]], max_chars: int) -> None:
    if not messages:
        raise InvalidArgument("at least one message is required")
    if len(messages) > MAX_BATCH:
        raise InvalidArgument(f"at most {MAX_BATCH} messages at once")
    for i, (role, content) in enumerate(messages):
        where = f"message {i}" if len(messages) > 1 else "message"
        if role not in ROLES:
            raise InvalidArgument(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        check_text(content, where, max_chars)


def check_text(text: str, what: str, max_chars: int, allow_empty: bool = False) -> None:
    if not allow_empty and not text.strip():
        raise InvalidArgument(f"{what} must not be empty")
    if len(text) > max_chars:
        raise InvalidArgument(f"{what} has {len(text)} characters; the limit is {max_chars}")
    if "\x00" in text:
        raise InvalidArgument(f"{what} must not contain NUL characters")


def check_id(item_id: str) -> None:
    if not item_id or len(item_id) > 64:
        raise InvalidArgument("an id is 1-64 characters")


def check_label(label: str) -> None:
    if not _LABEL.match(label):
        raise InvalidArgument("a core block label is 1-64 letters, digits, '_', '.', '-'")


def check_page_out(ids: Sequence[str], oldest: int) -> None:
    if not ids and oldest <= 0:
        raise InvalidArgument("give message ids or oldest > 0")
    if ids and oldest:
        raise InvalidArgument("give message ids or oldest, not both")
    if len(ids) > MAX_BATCH:
        raise InvalidArgument(f"at most {MAX_BATCH} ids at once")
    for i in ids:
        check_id(i)


def check_events_page(after_id: int, limit: int) -> None:
    if not 1 <= limit <= MAX_EVENTS or after_id < 0:
        raise InvalidArgument(f"limit must be 1-{MAX_EVENTS} and after_id >= 0")
