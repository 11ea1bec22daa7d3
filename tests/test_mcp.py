"""The MCP server through the official `mcp` client SDK: `aios mcp` over stdio, and streamable HTTP with a bearer token
per request on the kernel's HTTP face (and standalone under uvicorn). Each tool is the agent's syscall: agents do not
see each other's data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextResourceContents

from aios.client import Client
from aios.kernel import Kernel
from aios.mcp import McpHttp
from tests.conftest import free_port

pytestmark = pytest.mark.slow

TOOLS = {
    "remember", "recall", "get_note", "update_note", "forget", "restore_note", "neighbours", "get_core_blocks",
    "set_core_block", "read_file", "write_file", "list_files", "retrieve", "file_history", "rollback",
}  # fmt: skip


def _new_agent(kernel: Kernel, name: str) -> str:
    with Client(kernel.target, kernel.admin_token) as admin:
        return admin.create_agent(name).token


async def _call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return result.structured_content


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@contextlib.asynccontextmanager
async def _stdio_session(kernel: Kernel, token: str) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "aios.cli", "mcp"],
        env={"AIOS_TOKEN": token, "AIOS_TARGET": kernel.target},
    )  # fmt: skip
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def _http_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http, streamable_http_client(url, http_client=http) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


async def test_stdio_tools_call_the_kernel_as_the_agent(sqlite_kernel: Kernel) -> None:
    token = _new_agent(sqlite_kernel, "desktop")
    async with _stdio_session(sqlite_kernel, token) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) >= TOOLS
        remember = tools["remember"]
        assert remember.description and "memory" in remember.description
        assert remember.input_schema["required"] == ["content"]
        assert {"tags", "importance", "event_at"} <= set(remember.input_schema["properties"])
        assert tools["recall"].input_schema["properties"]["k"]["type"] == "integer"

        note = await _call(session, "remember", content="The spare key is under the blue flowerpot.",
                           tags=["home"], importance=0.8, event_at="2024-05-01T10:00:00Z")  # fmt: skip
        assert note["tags"] == ["home"] and note["event_at"].startswith("2024-05-01T10:00:00")
        hits = (await _call(session, "recall", query="where is the spare key?", k=3))["hits"]
        assert hits[0]["note"]["id"] == note["id"]
        in_may = await _call(session, "recall", query="key", event_after="2024-04-30", event_before="2024-05-02")
        assert [h["note"]["id"] for h in in_may["hits"]] == [note["id"]]

        # forget archives (recall no longer finds it) and restore_note undoes it
        await _call(session, "forget", note_id=note["id"])
        assert not (await _call(session, "recall", query="spare key flowerpot"))["hits"]
        await _call(session, "restore_note", note_id=note["id"])
        assert (await _call(session, "recall", query="spare key flowerpot"))["hits"]

        written = await _call(session, "write_file", path="/docs/plan.md", content="# Plan\nship it\n")
        assert written["version"] == 1
        read = await _call(session, "read_file", path="/docs/plan.md")
        assert read == {"path": "/docs/plan.md", "encoding": "utf-8", "content": "# Plan\nship it\n"}
        await _call(session, "write_file", path="/docs/plan.md", content="changed\n")
        await _call(session, "rollback", path="/docs/plan.md", version=1)
        assert (await _call(session, "read_file", path="/docs/plan.md"))["content"] == "# Plan\nship it\n"
        listed = await _call(session, "list_files", path="/docs")
        assert [f["path"] for f in listed["files"]] == ["/docs/plan.md"]

        resource = await session.read_resource("aios://files/~/docs/plan.md")
        content = resource.contents[0]
        assert isinstance(content, TextResourceContents) and content.text == "# Plan\nship it\n"
        resource = await session.read_resource(f"aios://notes/{note['id']}")
        content = resource.contents[0]
        assert isinstance(content, TextResourceContents) and json.loads(content.text)["id"] == note["id"]

        # the kernel's errors are tool errors with its message; the server lives on
        missing = await session.call_tool("get_note", {"note_id": "no-such-note"})
        assert missing.is_error and "not_found" in _text(missing), _text(missing)
        bad_time = await session.call_tool("remember", {"content": "x", "event_at": "yesterday-ish"})
        assert bad_time.is_error and "ISO-8601" in _text(bad_time)
        assert (await _call(session, "get_note", note_id=note["id"]))["id"] == note["id"]


@pytest.fixture
async def standalone_url(sqlite_kernel: Kernel) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(McpHttp(sqlite_kernel.target).app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))  # fmt: skip
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        assert not task.done() and asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    await asyncio.wait_for(task, 20)


async def test_http_face_bearer_token_selects_the_agent_and_agents_are_isolated(sqlite_kernel: Kernel) -> None:
    mcp_url = f"http://127.0.0.1:{sqlite_kernel.http_port}/mcp"
    alice, bob = _new_agent(sqlite_kernel, "alice"), _new_agent(sqlite_kernel, "bob")
    async with _http_session(mcp_url, alice) as session:
        assert set(t.name for t in (await session.list_tools()).tools) >= TOOLS
        note = await _call(session, "remember", content="Alice's locker code is 4711.")
        await _call(session, "write_file", path="/secret.txt", content="alice only")
        await _call(session, "set_core_block", label="persona", value="Alice, a careful planner.")
        blocks = (await _call(session, "get_core_blocks"))["core_blocks"]
        assert [(b["label"], b["value"]) for b in blocks] == [("persona", "Alice, a careful planner.")]
        assert (await _call(session, "recall", query="locker code"))["hits"][0]["note"]["id"] == note["id"]

    async with _http_session(mcp_url, bob) as session:
        assert not (await _call(session, "recall", query="locker code"))["hits"]
        foreign = await session.call_tool("get_note", {"note_id": note["id"]})
        assert foreign.is_error and "not_found" in _text(foreign)
        forgot = await session.call_tool("forget", {"note_id": note["id"]})
        assert forgot.is_error and "not_found" in _text(forgot)
        unread = await session.call_tool("read_file", {"path": "/secret.txt"})
        assert unread.is_error and "not_found" in _text(unread)
        assert (await _call(session, "list_files"))["files"] == []
        for uri in (f"aios://notes/{note['id']}", "aios://files/~/secret.txt"):
            with pytest.raises(MCPError, match="not_found"):
                await session.read_resource(uri)
        assert (await _call(session, "get_core_blocks"))["core_blocks"] == []

    # Alice's note was not archived by Bob's attempt
    async with _http_session(mcp_url, alice) as session:
        assert not (await _call(session, "get_note", note_id=note["id"]))["archived"]


async def test_standalone_http_app_refuses_requests_without_an_accepted_token(
    sqlite_kernel: Kernel, standalone_url: str
) -> None:
    async with httpx.AsyncClient() as http:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        headers = {"Accept": "application/json, text/event-stream"}
        anonymous = await http.post(standalone_url, json=initialize, headers=headers)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.post(standalone_url, json=initialize, headers={**headers, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    async with _http_session(standalone_url, _new_agent(sqlite_kernel, "carol")) as session:
        note = await _call(session, "remember", content="Carol prefers tea.")
        assert (await _call(session, "get_note", note_id=note["id"]))["content"] == "Carol prefers tea."
