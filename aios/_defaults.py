"""What the kernel and its clients agree on without reading a config: the default ports.

Part of the light SDK's distribution (sdk/pyproject.toml), so the client needs nothing of the kernel's."""

DEFAULT_PORT = 50551
"""The kernel's gRPC port; its HTTP face (OpenAI-compatible API, MCP, health, metrics) is the next one."""
