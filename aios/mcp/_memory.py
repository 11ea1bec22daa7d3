"""The memory tools (remember, recall, get / update / forget / restore a note, neighbours), the context's core
blocks, and the `aios://notes/{note_id}` resource. Each is one or two syscalls of the calling agent's client."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from aios.mcp._convert import hit_view, note_view, parse_time, plain
from aios.mcp._source import ClientSource, kernel_call, kernel_read

__all__ = ["add_memory_tools"]

NoteId = Annotated[str, Field(description="The note's id (as returned by remember or recall).")]
Tags = Annotated[list[str] | None, Field(description="Tags, e.g. ['project-x', 'preference'].")]
IsoTime = Annotated[
    str | None, Field(description="An ISO-8601 date or time, e.g. 2024-05-01 or 2024-05-01T14:30:00Z (UTC if no zone).")
]


def add_memory_tools(server: MCPServer[Any], source: ClientSource) -> None:
    @server.tool()
    async def remember(
        content: Annotated[str, Field(description="The fact, event or preference to remember, in plain words.")],
        ctx: Context[Any, Any],
        tags: Tags = None,
        importance: Annotated[
            float, Field(ge=0, le=1, description="0-1: how much it matters; important notes fade slower.")
        ] = 0.0,
        event_at: Annotated[
            str | None, Field(description="When what the note describes happened (ISO-8601), if it is an event.")
        ] = None,
        category: Annotated[str, Field(description="An optional category, e.g. 'person' or 'decision'.")] = "",
    ) -> dict[str, Any]:
        """Store a note in long-term memory. Keywords, a context line and (if not given) tags are extracted
        automatically, and the note is linked to related notes. Returns the stored note with its id."""
        async with kernel_call(source, ctx) as client:
            fields: dict[str, Any] = {"importance": importance, "category": category}
            if tags is not None:
                fields["tags"] = tags
            when = parse_time(event_at, "event_at")
            if when is not None:
                fields["event_at"] = when
            note = await client.add_note(content, **fields)
        return note_view(note)

    @server.tool()
    async def recall(
        query: Annotated[str, Field(description="What to look for, in words (may name times: 'last week').")],
        ctx: Context[Any, Any],
        k: Annotated[int, Field(ge=1, le=100, description="How many notes to return at most.")] = 10,
        tags: Annotated[list[str] | None, Field(description="Only notes with any of these tags.")] = None,
        category: Annotated[str, Field(description="Only notes of this category.")] = "",
        created_after: IsoTime = None,
        created_before: IsoTime = None,
        event_after: IsoTime = None,
        event_before: IsoTime = None,
        scope: Annotated[
            Literal["own", "shared", "all"], Field(description="own notes, notes shared with you, or both.")
        ] = "all",
        include_archived: Annotated[bool, Field(description="Also search forgotten (archived) notes.")] = False,
        expand_links: Annotated[bool, Field(description="Also follow links one hop from the best hits.")] = False,
    ) -> dict[str, Any]:
        """Search long-term memory by meaning and by words together (hybrid search), best first, with optional
        filters on tags, category and creation or event time. Returns the matching notes with their scores."""
        async with kernel_call(source, ctx) as client:
            options: dict[str, Any] = {
                "scope": scope,
                "include_archived": include_archived,
                "expand_links": expand_links,
            }
            if tags:
                options["tags"] = tags
            if category:
                options["category"] = category
            for name, value in (("created_after", created_after), ("created_before", created_before),
                                ("event_after", event_after), ("event_before", event_before)):  # fmt: skip
                when = parse_time(value, name)
                if when is not None:
                    options[name] = when
            hits = await client.search(query, k, **options)
        return {"hits": [hit_view(hit) for hit in hits]}

    @server.tool()
    async def get_note(note_id: NoteId, ctx: Context[Any, Any]) -> dict[str, Any]:
        """Read one note by id: its content, tags, keywords, importance, times and version."""
        async with kernel_call(source, ctx) as client:
            note = await client.get_note(note_id)
        return note_view(note)

    @server.tool()
    async def update_note(
        note_id: NoteId,
        ctx: Context[Any, Any],
        content: Annotated[str | None, Field(description="New content (the old version is kept in history).")] = None,
        tags: Annotated[list[str] | None, Field(description="New tags (replace the old ones).")] = None,
        importance: Annotated[float | None, Field(ge=0, le=1, description="New importance, 0-1.")] = None,
        category: Annotated[str | None, Field(description="New category.")] = None,
        context: Annotated[str | None, Field(description="New one-line context of the note.")] = None,
        expected_version: Annotated[
            int | None, Field(description="Update only if the note is still at this version (else an error).")
        ] = None,
    ) -> dict[str, Any]:
        """Change a note. Only the fields given change; each update makes a new version of the note."""
        changes: dict[str, Any] = {"content": content, "tags": tags, "importance": importance, "category": category,
                   "context": context, "expected_version": expected_version}  # fmt: skip
        async with kernel_call(source, ctx) as client:
            note = await client.update_note(note_id, **{k: v for k, v in changes.items() if v is not None})
        return note_view(note)

    @server.tool()
    async def forget(note_id: NoteId, ctx: Context[Any, Any]) -> dict[str, Any]:
        """Forget a note: it is archived, so recall no longer finds it (unless include_archived). Nothing is
        deleted: restore_note brings it back."""
        async with kernel_call(source, ctx) as client:
            note = await client.archive_note(note_id)
        return note_view(note)

    @server.tool()
    async def restore_note(note_id: NoteId, ctx: Context[Any, Any]) -> dict[str, Any]:
        """Undo forget: the archived note is searchable again."""
        async with kernel_call(source, ctx) as client:
            note = await client.restore_note(note_id)
        return note_view(note)

    @server.tool()
    async def neighbours(
        note_id: NoteId,
        ctx: Context[Any, Any],
        depth: Annotated[int, Field(ge=1, le=3, description="How many link hops to follow.")] = 1,
    ) -> dict[str, Any]:
        """The notes linked to a note (related, supporting, contradicting ...) and the links with their reasons."""
        async with kernel_call(source, ctx) as client:
            notes, links = await client.neighbours(note_id, depth)
        return {"notes": [note_view(n) for n in notes], "links": plain(links)}

    @server.tool()
    async def get_core_blocks(ctx: Context[Any, Any]) -> dict[str, Any]:
        """The core blocks of your context (always in the model's window, e.g. 'persona', 'user'), with their
        token counts and limits, and the system prompt."""
        async with kernel_call(source, ctx) as client:
            window = await client.get_context()
        return {"system_prompt": window.system_prompt, "core_blocks": plain(window.core)}

    @server.tool()
    async def set_core_block(
        label: Annotated[str, Field(description="The block's name, e.g. 'persona' or 'user'.")],
        value: Annotated[str, Field(description="The block's whole new text; an empty text deletes the block.")],
        ctx: Context[Any, Any],
        limit_tokens: Annotated[
            int, Field(ge=0, description="The block's token limit; 0 keeps its limit or the default.")
        ] = 0,
    ) -> dict[str, Any]:
        """Create, replace or (with an empty value) delete a core block of your context."""
        async with kernel_call(source, ctx) as client:
            if value:
                update = await client.set_core_block(label, value, limit_tokens)
            else:
                update = await client.delete_core_block(label)
        return {"label": label, "deleted": not value, "pressure": plain(update.pressure)}

    @server.resource(
        "aios://notes/{note_id}", name="note", mime_type="application/json",
        description="One of your notes (or one shared with you), as JSON.",
    )  # fmt: skip
    async def note_resource(note_id: str, ctx: Context[Any, Any]) -> str:
        async with kernel_read(source, ctx) as client:
            note = await client.get_note(note_id)
        return json.dumps(note_view(note), ensure_ascii=False, indent=2)
