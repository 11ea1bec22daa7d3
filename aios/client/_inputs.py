"""What callers hand the SDK: a note to add, and the options of search, updates, sampling and retrieval.

The option sets are TypedDicts so a type checker catches a misspelt name (`**options: Unpack[SearchOptions]`);
at run time `check_options` refuses one with InvalidArgument naming it, so nothing is ever silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, TypedDict

from aios.errors import InvalidArgument

__all__ = ["NewNote", "NoteChanges", "NoteFields", "RetrieveFilters", "Sampling", "SearchOptions", "check_options"]

Time = datetime | float
"""A datetime, or seconds since the epoch."""


class NoteFields(TypedDict, total=False):
    """What a note may carry besides its content and metadata (the fields of NewNote after `metadata`)."""

    keywords: list[str]
    context: str
    tags: list[str]
    category: str
    event_at: Time
    importance: float
    pinned: bool
    share_with: list[str]


@dataclass(frozen=True)
class NewNote:
    """A note to add: `Client.add_notes([NewNote("...", tags=["ops"], event_at=...)])` takes everything
    `add_note` does."""

    content: str
    metadata: Mapping[str, str] | None = None
    _: KW_ONLY
    keywords: list[str] | None = None
    """Empty: extracted from the content (or by the LLM when enrichment is on)."""
    context: str | None = None
    """None: the first sentence."""
    tags: list[str] | None = None
    """None: derived from the keywords."""
    category: str = ""
    event_at: Time | None = None
    """When what the note describes happened (searchable with event_after/event_before)."""
    importance: float = 0.0
    """0-1; slows forgetting."""
    pinned: bool = False
    share_with: list[str] | None = None
    """Agent ids that may read the note."""


class SearchOptions(TypedDict, total=False):
    tags: list[str]
    """Any of these."""
    category: str
    created_after: Time
    created_before: Time
    event_after: Time
    event_before: Time
    scope: str
    """own | shared | all (the default)."""
    include_archived: bool
    expand_links: bool
    """Also follow links one hop from the top hits."""
    as_of: Time
    """The reference time for time expressions in the query ("last week"); default now."""


class NoteChanges(TypedDict, total=False):
    content: str
    context: str
    keywords: list[str]
    tags: list[str]
    category: str
    importance: float
    expected_version: int
    """Update only if the note is at this version (FailedPrecondition otherwise)."""


class Sampling(TypedDict, total=False):
    """Sampling options; an option left out keeps the kernel's default (temperature 0: greedy)."""

    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    repeat_penalty: float
    seed: int
    stop: list[str]
    json_schema: str | dict[str, Any]
    grammar: str
    """A GBNF grammar."""


class RetrieveFilters(TypedDict, total=False):
    path_prefix: str
    glob: str
    keywords: list[str]
    """All must occur in the file's matching passage."""
    mime_prefix: str
    all_trees: bool
    """Search every tree the caller can read."""


def check_options(options: Mapping[str, Any], known: type, where: str) -> None:
    """Refuse an option the SDK does not know, naming it, rather than drop it or fail deep inside protobuf.
    `known`: a TypedDict of options, or a dataclass whose fields they are."""
    names = [f.name for f in fields(known)] if is_dataclass(known) else list(known.__annotations__)
    unknown = [name for name in options if name not in names]
    if unknown:
        raise InvalidArgument(f"{where}: unknown option {unknown[0]!r}; the options are {', '.join(names)}")
