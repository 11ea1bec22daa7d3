"""Bounds the gRPC face enforces on what a request may hold, before any subsystem sees it.

Every `repeated` field and map of a request is bounded; most by the subsystem that reads it (the bound is one
of its rules), the rest here:

    AddNotesRequest.notes                                  [limits] max_batch (1000)      memory
    NewNote.metadata (map)                                 [limits] max_metadata_entries  memory
    NewNote.keywords, .tags; UpdateNoteRequest.keywords,
      .tags; SearchNotesRequest.tags                       32                             memory
    NewNote.share_with, ShareNoteRequest.agent_ids         MAX_SHARE_AGENTS               here
    SamplingParams.stop                                    8                              llm
    ChatRequest.messages, CountTokensRequest.messages      MAX_CHAT_MESSAGES              here
    AppendMessagesRequest.messages                         MAX_CHAT_MESSAGES; 1000        here; context
    PageOutRequest.ids                                     1000                           context
    RetrieveRequest.keywords                               MAX_RETRIEVE_KEYWORDS          here
    WriteStream's chunks                                   [fs] max_file_bytes            fs

Also here: what no field of any request may hold (`refusal`: a NUL character in a string, which PostgreSQL can
neither store nor compare, so a NUL in an id reached it as INTERNAL; NaN or an infinity in a float), and the
clipping of status messages (they quote the request).
"""

from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from aios.errors import InvalidArgument

__all__ = [
    "MAX_CHAT_MESSAGES",
    "MAX_GLOB_CHARS",
    "MAX_KEYWORD_CHARS",
    "MAX_LINK_REASON_CHARS",
    "MAX_MIME_CHARS",
    "MAX_NOTE_CONTEXT_CHARS",
    "MAX_QUERY_CHARS",
    "MAX_RETRIEVE_KEYWORDS",
    "MAX_SESSION_CHARS",
    "MAX_SHARE_AGENTS",
    "MAX_STATUS_BYTES",
    "MAX_ROW_NUMBER",
    "check_count",
    "check_length",
    "check_row_numbers",
    "clip_status",
    "refusal",
]

MAX_CHAT_MESSAGES = 4096
"""ChatRequest.messages, CountTokensRequest.messages: more than any model's window holds as turns."""
MAX_SHARE_AGENTS = 256
"""NewNote.share_with, ShareNoteRequest.agent_ids: agents one call shares a note with (or unshares)."""
MAX_RETRIEVE_KEYWORDS = 32
"""RetrieveRequest.keywords: the same bound as a note's keywords and a search's tag filter."""

# Strings a subsystem would otherwise store, index or compile whole, however long.
MAX_QUERY_CHARS = 32_768
"""A search's query (notes, recall, files, group-by): as long as a note may be, so a note can be the query."""
MAX_NOTE_CONTEXT_CHARS = 1024
"""NewNote.context, UpdateNoteRequest.context (extracted ones are at most 200)."""
MAX_LINK_REASON_CHARS = 1024
"""LinkNotesRequest.reason (the model's are at most 60)."""
MAX_GLOB_CHARS = 256
"""ListRequest.glob, RetrieveRequest.glob: Python caches up to 32768 compiled patterns, each the pattern's size."""
MAX_MIME_CHARS = 255
"""WriteRequest.mime (stored with every version), RetrieveRequest.mime_prefix."""
MAX_KEYWORD_CHARS = 64
"""One of RetrieveRequest.keywords (aios.text.MAX_TERM)."""
MAX_SESSION_CHARS = 128
"""ChatRequest.session, CompleteRequest.session: a name, kept with the session's KV state."""

MAX_ROW_NUMBER = (1 << 31) - 1
"""Versions, change ids and event ids are INTEGER columns: PostgreSQL refuses a larger number in a query
(NumericValueOutOfRange, which answered INTERNAL), SQLite just finds nothing. No row has a larger one."""

MAX_STATUS_BYTES = 1024
"""A status message's UTF-8 bytes: error messages quote the request, and gRPC drops an answer whose trailers pass
16 KiB (the client then sees RESOURCE_EXHAUSTED "metadata size exceeds", not the kernel's answer)."""


def check_count(values: Sized, name: str, limit: int) -> None:
    if len(values) > limit:
        raise InvalidArgument(f"{name} holds at most {limit} items, got {len(values)}")


def check_row_numbers(message: Message, *fields: str) -> None:
    """The named integer fields of `message` are 0-MAX_ROW_NUMBER (0: unset, where a field has a meaning for it)."""
    for name in fields:
        value = getattr(message, name)
        if not 0 <= value <= MAX_ROW_NUMBER:
            raise InvalidArgument(f"{name} must be 0-{MAX_ROW_NUMBER}, got {value}")


def check_length(value: str, name: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(f"{name} is {len(value)} characters; at most {limit}")


def clip_status(message: str) -> str:
    """`message`, cut to MAX_STATUS_BYTES (at a character boundary) with a mark that it was cut."""
    data = message.encode("utf-8", "replace")
    if len(data) <= MAX_STATUS_BYTES:
        return message
    return data[: MAX_STATUS_BYTES - 16].decode("utf-8", "ignore") + " ... (clipped)"


def refusal(message: Any) -> str | None:
    """Why protobuf `message` is refused whatever RPC it is for, or None: a string field (nested messages,
    repeated fields and maps included) holding a NUL character, a float or double field holding NaN or an
    infinity (no field means either: compared with a bound they pass as if in range)."""
    if not isinstance(message, Message):
        return None
    for field, value in message.ListFields():
        where = f"{message.DESCRIPTOR.name}.{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if any(isinstance(key, str) and "\x00" in key for key in value):
                return f"{where} must not contain NUL characters (in a key)"
            items, field = list(value.values()), field.message_type.fields_by_name["value"]
        else:
            items = list(value) if field.is_repeated else [value]
        for item in items:
            if (found := _refusal(item, field, where)) is not None:
                return found
    return None


def _refusal(value: Any, field: FieldDescriptor, where: str) -> str | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{where} must not contain NUL characters" if "\x00" in value else None
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return None if math.isfinite(value) else f"{where} must be a finite number, got {value}"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return refusal(value)
    return None
