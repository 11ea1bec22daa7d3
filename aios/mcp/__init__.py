"""The kernel as an MCP server (the official `mcp` SDK): memory, files and core blocks as tools and resources.

`aios mcp` serves one agent over stdio (its token from $AIOS_TOKEN). `McpHttp(target)` is the streamable-HTTP
endpoint (the kernel's HTTP face serves it at /mcp; `.app()` is a standalone app), where each request's
`Authorization: Bearer <token>` picks the agent. Client-side code: each tool is that agent's syscall through
`aios.client.AsyncClient`, with the same authentication, isolation and quotas.
"""

from aios.mcp._server import McpHttp, build_server, resolve_target, run_stdio

__all__ = ["McpHttp", "build_server", "resolve_target", "run_stdio"]
