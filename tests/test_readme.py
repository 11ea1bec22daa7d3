"""The README's Quickstart and "Other ways in", executed: every ```sh and ```python block, in order, against a
real kernel; the MCP client config (```json) by starting the servers it describes with the official `mcp` client.

The kernel starts the way a user starts it (`aios serve` from the project's venv, embedded defaults, data in
`./aios-data`), in a temporary directory that stands for the repository: it holds the data directory and a
`.venv` link to the real venv, so `.venv/bin/aios` and `.venv/bin/grpcurl` work as written. The blocks run as
one user would run them: the shell blocks in one terminal (bash with `set -euo pipefail`; what a block exports
is in the environment of the blocks after it, and of Python started from that terminal), the Python blocks
pasted into one Python session (one namespace, each block sees the names of the blocks before it).
The kernel's HTTP face listens on a free port too; the blocks' 50552 is rewritten to it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from aios.cli import main as aios_cli
from aios.client import Client
from tests.conftest import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
README_PORT = "50551"
README_HTTP_PORT = "50552"
SECTIONS = ("Quickstart", "Other ways in")  # the sections whose blocks run, in this order
_SHELL_OWN = {"_", "PWD", "OLDPWD", "SHLVL"}  # bash sets these itself; they are not the blocks' exports


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the block's first line of code in README.md
    code: str

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.lang})"


def section_text(markdown: str, title: str) -> tuple[int, str]:
    """The offset and text of the '## <title>...' section."""
    section = re.search(rf"^## {re.escape(title)}.*?\n.*?(?=^## )", markdown, re.M | re.S)
    assert section is not None, f"README.md has no '## {title}' section followed by another '## ' section"
    return section.start(), section.group()


def readme_blocks(markdown: str, langs: str = "python|sh") -> list[Block]:
    blocks = []
    for title in SECTIONS:
        start, text = section_text(markdown, title)
        for fence in re.finditer(rf"^```({langs})\n(.*?)^```$", text, re.M | re.S):
            line = markdown.count("\n", 0, start + fence.start(2)) + 1
            blocks.append(Block(fence.group(1), line, fence.group(2)))
    return blocks


BLOCKS = readme_blocks(README.read_text())


class UserSession:
    """A user's terminal and the Python session started from it, next to a running kernel."""

    def __init__(self, workdir: Path, port: int, http_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.workdir, self.port, self.http_port, self._env = workdir, port, http_port, monkeypatch
        self.namespace: dict[str, object] = {"__name__": "__main__"}
        self.failed: Block | None = None
        self.done = 0  # BLOCKS[:done] have run

    def run(self, block: Block) -> None:
        """Run `block`, after the blocks before it that have not run yet (when only some tests are selected)."""
        if self.failed is not None:
            pytest.skip(f"an earlier block failed: {self.failed}")
        for todo in BLOCKS[self.done : BLOCKS.index(block) + 1]:
            self.failed = todo  # until it has run through
            # The one rewrite: the kernel listens on free ports instead of the README's defaults.
            code = self.rewrite(todo.code)
            error = self._run_sh(code) if todo.lang == "sh" else self._run_python(code, todo)
            if error is not None:
                pytest.fail(f"{todo} failed:\n{textwrap.indent(todo.code, '    ')}\n{error}", pytrace=False)
            self.failed = None
            self.done += 1

    def rewrite(self, code: str) -> str:
        return code.replace(README_PORT, str(self.port)).replace(README_HTTP_PORT, str(self.http_port))

    def _run_sh(self, code: str) -> str | None:
        env_file = self.workdir.parent / "exported.env"
        script = f"set -euo pipefail\n{code}\nenv -0 > {shlex.quote(str(env_file))}\n"
        try:
            proc = subprocess.run(["bash", "-c", script], cwd=self.workdir, env=dict(os.environ),
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            return f"still running after {exc.timeout:.0f} s\nstdout:\n{exc.stdout}\nstderr:\n{exc.stderr}"
        if proc.returncode != 0:
            return f"exit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        for entry in env_file.read_text().split("\0"):
            name, _, value = entry.partition("=")
            if name and name not in _SHELL_OWN and os.environ.get(name) != value:
                self._env.setenv(name, value)
        return None

    def _run_python(self, code: str, block: Block) -> str | None:
        # Blank lines in front, so a traceback's line numbers are README.md's.
        compiled = compile("\n" * (block.line - 1) + code, str(README), "exec")
        try:
            exec(compiled, self.namespace)
        except Exception:
            return traceback.format_exc()
        return None

    def close_clients(self) -> None:
        for value in self.namespace.values():
            if isinstance(value, Client):
                value.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserSession]:
    venv = Path(sys.prefix)
    if not (venv / "bin" / "aios").exists():
        pytest.fail(f"run the tests with the project's venv (make test): no {venv / 'bin' / 'aios'}")
    workdir = tmp_path_factory.mktemp("readme") / "repository"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(venv)
    port, http_port = free_port(), free_port()
    with pytest.MonkeyPatch.context() as mp:
        # A clean terminal: none of the aios settings of the machine running the tests, only AIOS_PORT, the
        # free port `aios serve` listens on (a user moving the kernel off 50551 sets it the same way).
        for name in [n for n in os.environ if n.startswith("AIOS_")]:
            mp.delenv(name)
        mp.setenv("AIOS_PORT", str(port))
        mp.chdir(workdir)
        log = (workdir.parent / "kernel.log").open("w")
        # HTTP (and metrics, on the same port as by default) on a free port too, so that two test runs on one
        # machine do not collide on 50552.
        env = {**os.environ, "AIOS_HTTP_PORT": str(http_port), "AIOS_METRICS_PORT": str(http_port)}
        kernel = subprocess.Popen([".venv/bin/aios", "serve"], cwd=workdir, stdout=subprocess.PIPE, stderr=log,
                                  text=True, env=env)  # fmt: skip
        user = UserSession(workdir, port, http_port, mp)
        try:
            ready = kernel.stdout.readline() if kernel.stdout else ""
            assert "ready" in ready, (workdir.parent / "kernel.log").read_text()
            yield user
        finally:
            user.close_clients()
            kernel.send_signal(signal.SIGTERM)
            try:
                kernel.wait(60)
            except subprocess.TimeoutExpired:
                kernel.kill()
                kernel.wait()
            log.close()


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}-{b.lang}" for b in BLOCKS])
def test_quickstart_block_runs_as_written(block: Block, session: UserSession) -> None:
    session.run(block)


@pytest.mark.slow
def test_mcp_config_starts_servers_that_list_the_tools(session: UserSession) -> None:
    """The config block as a client reads it, the repository's path and alice's token filled in."""
    session.run(BLOCKS[0])  # the block that exports alice's token
    (config,) = [json.loads(b.code) for b in readme_blocks(README.read_text(), "json")]
    text = session.rewrite(json.dumps(config)).replace("/path/to/aios", str(session.workdir))
    servers = json.loads(text.replace("<alice's token>", os.environ["AIOS_TOKEN"]))["mcpServers"]
    assert {"command", "url"} <= {key for server in servers.values() for key in server}, servers

    async def listed_and_used(mcp: ClientSession) -> set[str]:
        found = await mcp.call_tool("recall", {"query": "which database does staging use?", "k": 3})
        assert not found.is_error and found.structured_content, found  # alice's notes, as alice
        return {tool.name for tool in (await mcp.list_tools()).tools}

    async def tools(server: dict[str, Any]) -> set[str]:
        if "command" in server:
            params = StdioServerParameters(command=str(server["command"]), args=list(server["args"]),
                                           env=dict(server["env"]), cwd="/")  # fmt: skip
            async with stdio_client(params) as (read, write), ClientSession(read, write) as mcp:
                await mcp.initialize()
                return await listed_and_used(mcp)
        http = httpx2.AsyncClient(headers=dict(server["headers"]), timeout=30)
        async with http, streamable_http_client(str(server["url"]), http_client=http) as (read, write):
            async with ClientSession(read, write) as mcp:
                await mcp.initialize()
                return await listed_and_used(mcp)

    for name, server in servers.items():
        assert {"remember", "recall"} <= asyncio.run(tools(server)), name


def test_tls_options_named_exist() -> None:
    """The TLS paragraph is not run (it needs certificates and a second kernel: tests/test_tls.py does that), but
    every option and SDK keyword it names must exist."""
    _, text = section_text(README.read_text(), "Other ways in")
    tls = text[text.index("TLS: ") :]
    helps = (
        CliRunner().invoke(aios_cli, ["serve", "--help"]).output
        + CliRunner().invoke(aios_cli, ["mcp", "--help"]).output
    )
    for option in set(re.findall(r"--tls-[a-z-]+", tls)):
        assert option in helps, option
    call = re.search(r"Client\((.*?)\)`", tls)
    assert call is not None, tls
    keywords = set(re.findall(r"(\w+)=", call.group(1)))
    assert keywords and keywords <= set(inspect.signature(Client).parameters), keywords
