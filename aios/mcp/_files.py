"""The file tools (read, write, list, retrieve, history, rollback) and the `aios://files/{tree}/{+path}` resource.

`tree` "" (in a tool) or "~" (in a resource URI) is the agent's own tree; another name is a shared tree it owns or
was granted. Every write is a new version, so rollback can undo it.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from aios.errors import InvalidArgument
from aios.mcp._convert import file_content, file_hit_view, file_view, parse_time, plain
from aios.mcp._source import ClientSource, kernel_call, kernel_read

__all__ = ["add_file_tools"]

Path = Annotated[str, Field(description="An absolute path in the tree, e.g. /notes/todo.md.")]
Tree = Annotated[str, Field(description="A shared tree's name; empty: your own tree.")]


def add_file_tools(server: MCPServer[Any], source: ClientSource) -> None:
    @server.tool()
    async def read_file(
        path: Path,
        ctx: Context[Any, Any],
        tree: Tree = "",
        version: Annotated[int, Field(ge=0, description="A past version to read; 0: the current one.")] = 0,
    ) -> dict[str, Any]:
        """Read a file. Text comes back as text (encoding 'utf-8'); other content as base64."""
        async with kernel_call(source, ctx) as client:
            data = await client.read_file(path, tree=tree, version=version)
        return {"path": path, **file_content(data)}

    @server.tool()
    async def write_file(
        path: Path,
        content: Annotated[str, Field(description="The text to write (base64 when encoding is 'base64').")],
        ctx: Context[Any, Any],
        tree: Tree = "",
        append: Annotated[bool, Field(description="Append to the file instead of replacing it.")] = False,
        encoding: Annotated[Literal["utf-8", "base64"], Field(description="How content is encoded.")] = "utf-8",
        expected_version: Annotated[
            int | None,
            Field(description="Write only if the file is at this version (0: only if it does not exist yet)."),
        ] = None,
    ) -> dict[str, Any]:
        """Write (or append to) a file as a new version; missing parent directories are created. Old versions are
        kept: read them with read_file(version=...) or go back with rollback."""
        async with kernel_call(source, ctx) as client:
            data = _decode(content, encoding)
            info = await client.write_file(path, data, tree=tree, append=append, expected_version=expected_version)
        return file_view(info)

    @server.tool()
    async def list_files(
        ctx: Context[Any, Any],
        path: Annotated[str, Field(description="The directory to list.")] = "/",
        tree: Tree = "",
        glob: Annotated[str, Field(description="Only names matching this pattern, e.g. '*.md'.")] = "",
        recursive: Annotated[bool, Field(description="Also list everything below the subdirectories.")] = False,
    ) -> dict[str, Any]:
        """List a directory's files and subdirectories with their size, version and time."""
        async with kernel_call(source, ctx) as client:
            infos = await client.list_files(path, tree=tree, glob=glob, recursive=recursive)
        return {"files": [file_view(info) for info in infos]}

    @server.tool()
    async def retrieve(
        query: Annotated[str, Field(description="What the passages should be about, in words.")],
        ctx: Context[Any, Any],
        k: Annotated[int, Field(ge=1, le=50, description="How many files to return at most.")] = 5,
        tree: Tree = "",
        path_prefix: Annotated[str, Field(description="Only files under this directory.")] = "",
        glob: Annotated[str, Field(description="Only files whose path matches this pattern.")] = "",
        keywords: Annotated[
            list[str] | None, Field(description="Words that must all occur in the matching passage.")
        ] = None,
        all_trees: Annotated[bool, Field(description="Search every tree you can read.")] = False,
    ) -> dict[str, Any]:
        """Find files by meaning and words (semantic file search), best first, each with its best passages.
        Files written a moment ago may not be indexed yet."""
        filters: dict[str, Any] = {"path_prefix": path_prefix, "glob": glob, "keywords": keywords or [],
                                   "all_trees": all_trees}  # fmt: skip
        async with kernel_call(source, ctx) as client:
            hits = await client.retrieve(query, k, tree=tree, **{n: v for n, v in filters.items() if v})
        return {"hits": [file_hit_view(hit) for hit in hits]}

    @server.tool()
    async def file_history(
        ctx: Context[Any, Any],
        path: Annotated[str, Field(description="A file (its versions) or a directory (its changes).")] = "/",
        tree: Tree = "",
        limit: Annotated[int, Field(ge=1, le=1000, description="How many rows at most.")] = 20,
    ) -> dict[str, Any]:
        """Newest first: a file's versions, or the changes made below a directory, each with the change_id that
        rollback takes."""
        async with kernel_call(source, ctx) as client:
            rows = await client.file_history(path, tree=tree, limit=limit)
        return {"history": plain(rows)}

    @server.tool()
    async def rollback(
        ctx: Context[Any, Any],
        path: Annotated[str, Field(description="The file or directory to restore.")] = "/",
        tree: Tree = "",
        version: Annotated[int | None, Field(description="Restore the file to this version.")] = None,
        change_id: Annotated[
            int | None, Field(description="Restore the file or directory to its state right after this change.")
        ] = None,
        at: Annotated[str | None, Field(description="Restore to the state at this ISO-8601 time.")] = None,
    ) -> dict[str, Any]:
        """Restore a file or a directory tree; give exactly one of version, change_id or at. The rollback is a new
        change, so it can be rolled back too."""
        async with kernel_call(source, ctx) as client:
            change = await client.rollback(
                path, tree=tree, version=version, change_id=change_id, at=parse_time(at, "at")
            )
        return {"change_id": change.change_id, "files": [file_view(f) for f in change.files]}

    @server.resource(
        "aios://files/{tree}/{+path}", name="file",
        description="A file of a tree ('~': your own tree), at its current version.",
    )  # fmt: skip
    async def file_resource(tree: str, path: str, ctx: Context[Any, Any]) -> str | bytes:
        async with kernel_read(source, ctx) as client:
            data = await client.read_file("/" + path, tree="" if tree == "~" else tree)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data


def _decode(content: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        raise InvalidArgument("content is not valid base64") from None
