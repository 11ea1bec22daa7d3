"""The Node.js example client (examples/node, @grpc/grpc-js from the npm registry) against a real kernel with the
real model: it authenticates, adds a note, searches and streams a chat; the Python SDK sees what it did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aios.client import Client
from aios.errors import NotFound
from aios.kernel import Kernel
from tests.conftest import agent_client

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None, reason="node and npm are not on this machine"
)


@pytest.fixture(scope="module")
def node_example() -> Path:
    """examples/node with its packages installed (into its gitignored node_modules; no lockfile is written).
    A failed install (no registry) fails the tests: only a machine without node skips them."""
    install = subprocess.run(
        ["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--no-package-lock"],
        cwd=EXAMPLE, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, f"npm install failed:\n{install.stderr[-3000:]}"
    return EXAMPLE


def run_client(example: Path, target: str, token: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env.update(AIOS_TARGET=target, AIOS_TOKEN=token)
    proc = subprocess.run(
        ["node", "client.js", *args], cwd=example, env=env, capture_output=True, text=True, timeout=300
    )
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], proc.stderr


@pytest.fixture
def alice(llm_kernel: Kernel) -> Iterator[tuple[Client, str]]:
    with Client(llm_kernel.target, llm_kernel.admin_token) as admin:
        token = admin.create_agent("node-alice").token
    with Client(llm_kernel.target, token) as client:
        yield client, token


def test_node_client_adds_searches_and_streams(
    llm_kernel: Kernel, node_example: Path, alice: tuple[Client, str]
) -> None:
    client, token = alice
    content = "Quokkas on Rottnest Island were counted by the Node.js client on Tuesday."
    code, out, err = run_client(
        node_example, llm_kernel.target, token,
        "--note", content, "--query", "quokkas counted on Rottnest", "--prompt", "Name one colour.",
        "--max-tokens", "12",
    )  # fmt: skip
    assert code == 0, err
    steps = [line["step"] for line in out]
    assert steps[:3] == ["auth", "add_note", "search"], steps
    assert steps[-1] == "chat_done" and set(steps[3:-1]) == {"chat_chunk"}, steps

    auth, added, search, done = out[0], out[1], out[2], out[-1]
    assert auth["agent_id"] == client.whoami().agent_id and auth["name"] == "node-alice"
    note = client.get_note(added["id"])  # the note the Node client added is the agent's, seen by the SDK
    assert note.content == content and note.agent_id == auth["agent_id"] and "node-example" in note.tags
    assert search["hits"] and search["hits"][0]["id"] == added["id"], search

    deltas = [line["delta"] for line in out[3:-1]]
    assert deltas and "".join(deltas).strip()
    assert done["text"] == "".join(deltas) and done["chunks"] == len(deltas)
    assert done["finish_reason"] in ("stop", "length")
    assert 0 < done["usage"]["completion_tokens"] <= 12 and done["usage"]["prompt_tokens"] > 0
    assert done["timing"]["total_s"] > 0

    with agent_client(llm_kernel, "node-bob") as bob, pytest.raises(NotFound):
        bob.get_note(added["id"])  # one agent's note stays its own, whatever language wrote it


def test_node_client_bad_token_is_unauthenticated(llm_kernel: Kernel, node_example: Path) -> None:
    code, out, _ = run_client(node_example, llm_kernel.target, "not-a-token")
    assert code == 1
    assert out == [{"step": "error", "failed": "auth", "code": "UNAUTHENTICATED", "message": out[0]["message"]}]
    assert out[0]["message"]
