"""What memory accepts from a caller: every check a syscall's input passes before anything is read or written.

Each check raises `InvalidArgument` (`ResourceExhausted` for a bound on shares) with a message the caller can act
on; none touches storage, so a refused request changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from aios import text as extract
from aios.agents import AgentService
from aios.config import LimitsConfig
from aios.errors import InvalidArgument, ResourceExhausted
from aios.memory.models import NewNote, NoteUpdate, SearchFilters

__all__ = ["MAX_SHARES", "MAX_TAGS", "SCOPES", "Validator", "check_id", "check_share_targets", "check_text"]

MAX_KEY, MAX_VALUE, MAX_TAGS, MAX_TAG = 128, 4096, 32, extract.MAX_TERM
MAX_SHARES = 256
"""Agents one note is shared with."""
SCOPES = ("own", "shared", "all")
_MAX_CATEGORY, _MAX_KIND, _MAX_ID = 64, 32, 64


def check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidArgument(f"{what} must not contain NUL characters")


def check_id(note_id: str) -> None:
    if not note_id or len(note_id) > _MAX_ID:
        raise InvalidArgument(f"note id must be 1-{_MAX_ID} characters")


def check_share_targets(agent_id: str, targets: Collection[str]) -> None:
    """Only the form of an id is checked. A share with an id no agent has is kept and reaches nobody: refusing it
    would tell any agent which ids belong to agents."""
    if agent_id in targets:
        raise InvalidArgument("a note cannot be shared with its owner")
    if len(targets) > MAX_SHARES:  # ids no agent has are kept too: without a bound they would pile up
        raise ResourceExhausted(f"a note is shared with at most {MAX_SHARES} agents")
    for target in targets:
        if not AgentService.is_agent_id(target):
            raise InvalidArgument(f"an agent id is 32 lowercase hex characters, got {target[:40]!r}")


class Validator:
    """The checks that depend on the kernel's limits."""

    def __init__(self, limits: LimitsConfig) -> None:
        self._limits = limits

    def batch(self, new_notes: Sequence[NewNote]) -> None:
        limits = self._limits
        if not new_notes:
            raise InvalidArgument("at least one note is required")
        if len(new_notes) > limits.max_batch:
            raise InvalidArgument(f"a batch holds at most {limits.max_batch} notes, got {len(new_notes)}")
        for i, note in enumerate(new_notes):
            where = f"note {i}" if len(new_notes) > 1 else "note"
            self.content(note.content, f"{where}: content")
            if len(note.metadata) > limits.max_metadata_entries:
                raise InvalidArgument(f"{where}: at most {limits.max_metadata_entries} metadata entries")
            for key, value in note.metadata.items():
                if not key or len(key) > MAX_KEY or len(value) > MAX_VALUE:
                    raise InvalidArgument(
                        f"{where}: metadata keys must be 1-{MAX_KEY} characters and values at most "
                        f"{MAX_VALUE}; {key[:40]!r} is not"
                    )
                check_text(key + value, f"{where} metadata {key[:40]!r}")
            self.enrichment(note.keywords, note.tags, note.importance)
            self.labels(note.context, note.category, where)

    def update(self, change: NoteUpdate) -> None:
        if all(v is None for k, v in change.__dict__.items() if k != "expected_version"):
            raise InvalidArgument("nothing to update")
        if change.content is not None:
            self.content(change.content, "content")
        self.enrichment(change.keywords, change.tags, change.importance)
        self.labels(change.context, change.category)

    def search(self, query: str, k: int, filters: SearchFilters, as_of: float | None) -> None:
        if as_of is not None and not math.isfinite(as_of):
            raise InvalidArgument("as_of must be a finite time")
        if not query.strip():
            raise InvalidArgument("query must not be empty")
        check_text(query, "query")
        if not 1 <= k <= self._limits.max_top_k:
            raise InvalidArgument(f"k must be between 1 and {self._limits.max_top_k}, got {k}")
        if filters.scope not in SCOPES:
            raise InvalidArgument(f"scope must be one of {', '.join(SCOPES)}")
        self.enrichment(None, filters.tags, None)  # a tag filter holds what a note may hold

    def content(self, content: str, what: str) -> None:
        if not content.strip():
            raise InvalidArgument(f"{what} must not be empty")
        if len(content) > self._limits.max_note_chars:
            raise InvalidArgument(f"{what} has {len(content)} characters; the limit is {self._limits.max_note_chars}")
        check_text(content, what)

    @staticmethod
    def labels(context: str | None, category: str | None, where: str = "note") -> None:
        check_text(context or "", f"{where} context")
        if category is not None:
            if len(category) > _MAX_CATEGORY:
                raise InvalidArgument(f"{where}: category is at most {_MAX_CATEGORY} characters")
            check_text(category, f"{where} category")

    @staticmethod
    def enrichment(keywords: list[str] | None, tags: list[str] | None, importance: float | None) -> None:
        for name, values in (("keywords", keywords), ("tags", tags)):
            if values is None:
                continue
            if len(values) > MAX_TAGS or any(not v or len(v) > MAX_TAG or "\x00" in v or '"' in v for v in values):
                raise InvalidArgument(f"at most {MAX_TAGS} {name} of 1-{MAX_TAG} characters (no quotes)")
        if importance is not None and not 0.0 <= importance <= 1.0:
            raise InvalidArgument("importance must be between 0 and 1")

    @staticmethod
    def link(from_id: str, to_id: str, kind: str) -> None:
        if from_id == to_id:
            raise InvalidArgument("a note cannot link to itself")
        if not kind or len(kind) > _MAX_KIND:
            raise InvalidArgument(f"link kind must be 1-{_MAX_KIND} characters")

    @staticmethod
    def graph(limit: int) -> None:
        if not 1 <= limit <= 2000:
            raise InvalidArgument("limit must be 1-2000")

    @staticmethod
    def depth(depth: int) -> None:
        if not 1 <= depth <= 5:
            raise InvalidArgument("depth must be 1-5")
