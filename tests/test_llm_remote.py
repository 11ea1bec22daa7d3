"""The remote backend against a real OpenAI-compatible server: llama-cpp-python's `llama_cpp.server`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aios import errors
from aios.client import Client
from aios.config import KernelConfig, LLMConfig
from aios.embeddings import Embedder
from aios.kernel import Kernel
from aios.llm.local import default_model_path
from tests.conftest import ThreadedKernel, free_port, kernel_config


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
             "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=2).raise_for_status()
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def remote_agent(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, llama_server: str) -> Iterator[Client]:
    base = kernel_config(tmp_path_factory.mktemp("remote") / "data")
    config = KernelConfig(**{**base.__dict__, "llm": LLMConfig(backend="remote", remote_url=llama_server)})
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        token = admin.create_agent("remote-user").token
        with Client(kernel.target, token) as agent:
            yield agent


def test_chat_through_the_remote_server(remote_agent: Client) -> None:
    reply = remote_agent.chat([("user", "What is the capital of France?")], max_tokens=24)
    assert reply.text and reply.finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    chunks = list(remote_agent.chat_stream([("user", "What is the capital of France?")], max_tokens=24))
    assert "".join(c.delta for c in chunks) == reply.text and chunks[-1].finish_reason
    info = remote_agent.model_info()
    assert info.backend == "remote" and "SmolLM2" in info.model


def test_completion_json_and_tokens_remote(remote_agent: Client) -> None:
    out = remote_agent.complete("The days of the week are Monday, Tuesday,", max_tokens=12, stop=["Friday"])
    assert out.text and "Friday" not in out.text
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    data = json.loads(
        remote_agent.chat([("user", "Answer in JSON: what is 2+2?")], max_tokens=40, json_schema=schema).text
    )
    assert "answer" in data
    assert remote_agent.count_tokens("hello world") == 2


def test_remote_errors_are_clean(remote_agent: Client) -> None:
    with pytest.raises(errors.InvalidArgument):
        remote_agent.chat([("wizard", "x")])
    with pytest.raises(errors.FailedPrecondition):
        remote_agent.count_tokens(messages=[("user", "hi")])


def test_unreachable_server_leaves_kernel_up_and_says_why(tmp_path: Path, embedder: Embedder) -> None:
    base = kernel_config(tmp_path / "data")
    config = KernelConfig(
        **{**base.__dict__, "llm": LLMConfig(backend="remote", remote_url=f"http://127.0.0.1:{free_port()}")}
    )
    kernel: Kernel
    with ThreadedKernel(config, embedder) as kernel, Client(kernel.target, kernel.admin_token) as admin:
        status = admin.status("llm")
        assert not status.available and "not reachable" in status.detail
        with pytest.raises(errors.FailedPrecondition, match="not reachable"):
            admin.as_agent(admin.create_agent("x").agent.id).chat([("user", "hi")])
