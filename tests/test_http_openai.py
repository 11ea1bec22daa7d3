"""The HTTP face with the official `openai` package: chat (whole, streamed, JSON schema), completions, models,
embeddings, the paged-context model, errors in OpenAI's shape, and the probes. One kernel with the real SmolLM2 model
and a small context window (640 tokens: paging within a few turns) serves the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from aios.client import Client
from aios.config import load_config
from aios.embeddings import Embedder
from aios.errors import InvalidArgument
from aios.kernel import Kernel
from tests.conftest import ThreadedKernel, kernel_config

WINDOW = {"window_tokens": 640, "reply_reserve": 48, "recall_tokens": 160, "keep_last_messages": 2,
          "summary_tokens": 96, "summary_llm": 0, "idle_swap_s": 0}  # fmt: skip


@pytest.fixture(scope="module")
def http_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    with ThreadedKernel(kernel_config(tmp_path_factory.mktemp("http") / "data", context=WINDOW), embedder) as k:
        assert k.llm.available, k.llm.unavailable_reason
        assert k.http_port > 0
        yield k


def new_token(kernel: Kernel, name: str) -> str:
    with Client(kernel.target, kernel.admin_token) as admin:
        return admin.create_agent(name).token


def oai(kernel: Kernel, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{kernel.http_port}/v1", api_key=token, max_retries=0,
                         timeout=120)  # fmt: skip


def base(kernel: Kernel) -> str:
    return f"http://127.0.0.1:{kernel.http_port}"


QUESTION = [{"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip


def test_chat_whole_and_streamed_with_usage_and_syscall_records(http_kernel: Kernel) -> None:
    token = new_token(http_kernel, "http-chat")
    client = oai(http_kernel, token)
    reply = client.chat.completions.create(model="aios", messages=QUESTION, max_tokens=12, temperature=0, seed=1)
    text = reply.choices[0].message.content or ""
    assert reply.object == "chat.completion" and reply.model == "aios" and text.strip()
    assert reply.choices[0].finish_reason in ("stop", "length") and reply.choices[0].message.role == "assistant"
    assert reply.usage is not None and reply.usage.prompt_tokens > 5 and 0 < reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    stream = client.chat.completions.create(model="aios", messages=QUESTION, max_tokens=12, temperature=0, seed=1,
                                            stream=True, stream_options={"include_usage": True})  # fmt: skip
    chunks = list(stream)
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert chunks[0].choices[0].delta.role == "assistant" and len([d for d in deltas if d]) >= 2
    assert "".join(deltas) == text  # greedy: the same reply, streamed
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
    assert all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks)

    # Each request was the agent's own syscall, recorded as such (the same path as a gRPC call).
    with Client(http_kernel.target, token) as me:
        agent_id = me.whoami().agent_id
    with Client(http_kernel.target, http_kernel.admin_token) as admin:
        kinds = [s.kind for s in admin.ps(agent_id=agent_id, limit=200)]
    assert kinds.count("llm.chat") + kinds.count("llm.chat_stream") >= 2, kinds


def test_json_schema_stop_and_completions(http_kernel: Kernel) -> None:
    client = oai(http_kernel, new_token(http_kernel, "http-json"))
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 24},
                                               "population_millions": {"type": "integer"}},
              "required": ["city", "population_millions"], "additionalProperties": False}  # fmt: skip
    reply = client.chat.completions.create(
        model="aios", messages=[{"role": "user", "content": "Name a large city and its population in millions."}],
        max_tokens=64, response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )  # fmt: skip
    data = json.loads(reply.choices[0].message.content or "")
    assert set(data) == {"city", "population_millions"} and isinstance(data["population_millions"], int)
    obj = client.chat.completions.create(model="aios", messages=QUESTION, max_tokens=48,
                                         response_format={"type": "json_object"})  # fmt: skip
    assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)

    done = client.completions.create(model="aios", prompt="One, two, three, four,", max_tokens=8, temperature=0)
    assert done.object == "text_completion" and done.choices[0].text.strip() and done.usage is not None
    cut = client.completions.create(model="aios", prompt="One, two, three, four,", max_tokens=8, stop=[","])
    assert "," not in cut.choices[0].text and cut.choices[0].finish_reason == "stop"
    chunks = client.completions.create(model="aios", prompt="One, two, three, four,", max_tokens=8, temperature=0,
                                       stream=True)  # fmt: skip
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == done.choices[0].text


def test_models_and_embeddings_from_the_kernels_embedder(http_kernel: Kernel, embedder: Embedder) -> None:
    client = oai(http_kernel, new_token(http_kernel, "http-embed"))
    names = [m.id for m in client.models.list()]
    model = http_kernel.llm.info().model
    assert names == [model, "aios", "aios-context"]
    assert client.models.retrieve(model).id == model
    by_name = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=2)
    assert by_name.model == model

    texts = ["The spare key is under the blue flowerpot.", "Grafana dashboards need a datasource."]
    got = client.embeddings.create(model="aios-embedding", input=texts)  # the openai client asks for base64
    vectors = np.array([d.embedding for d in got.data], dtype=np.float32)
    assert vectors.shape == (2, 384) and [d.index for d in got.data] == [0, 1]
    assert np.allclose(vectors, embedder.encode(texts), atol=1e-6)
    floats = httpx.post(f"{base(http_kernel)}/v1/embeddings", headers={"Authorization": f"Bearer {client.api_key}"},
                        json={"model": "m", "input": texts[0], "encoding_format": "float"}).json()  # fmt: skip
    assert np.allclose(floats["data"][0]["embedding"], vectors[0], atol=1e-6)


def test_context_model_remembers_a_fact_that_was_paged_out(http_kernel: Kernel) -> None:
    token = new_token(http_kernel, "http-context")
    client = oai(http_kernel, token)
    history: list[dict[str, str]] = []

    def say(content: str, max_tokens: int = 1, stream: bool = False) -> str:
        # Like any OpenAI client, send the whole history: only the last user message is the new turn.
        history.append({"role": "user", "content": content})
        reply = client.chat.completions.create(model="aios-context", messages=history, max_tokens=max_tokens,
                                               stream=stream)  # fmt: skip
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices)
        else:
            text = reply.choices[0].message.content or ""
        history.append({"role": "assistant", "content": text})
        return text

    say("Remember this: my tortoise is called Zanzibar and she is ninety years old.")
    filler = " ".join(
        f"Line {i}: the quarterly report lists warehouse stock, shipping delays and invoices." for i in range(6)
    )
    for i in range(4):
        say(f"Part {i} of my notes. {filler}")
    with Client(http_kernel.target, token) as me:
        window = me.get_context()
        assert not any("Zanzibar" in m.content for m in window.messages)  # paged out of the window
        assert me.context_stats().page_outs >= 1
        answer = say("What is the name of my tortoise?", max_tokens=16, stream=True)
        recalled = me.get_context().recalled
    assert any("Zanzibar" in item.content for item in recalled)  # the kernel paged it back in from recall
    assert "Zanzibar" in answer

    # Another agent's context holds none of it.
    other = oai(http_kernel, new_token(http_kernel, "http-context-other"))
    question = [{"role": "user", "content": "What is my tortoise called?"}]
    other.chat.completions.create(model="aios-context", messages=question, max_tokens=4)
    with Client(http_kernel.target, other.api_key) as them:
        seen = them.get_context()
        assert not any("Zanzibar" in text for _, text in seen.prompt)
        assert not them.search_recall("tortoise Zanzibar")


def test_errors_in_openais_shape_with_the_right_status(http_kernel: Kernel) -> None:
    client = oai(http_kernel, new_token(http_kernel, "http-errors"))
    with pytest.raises(openai.AuthenticationError):
        oai(http_kernel, "not-a-token").chat.completions.create(model="aios", messages=QUESTION)
    with pytest.raises(openai.AuthenticationError):
        oai(http_kernel, "not-a-token").embeddings.create(model="m", input="x")
    with pytest.raises(openai.AuthenticationError):
        oai(http_kernel, "not-a-token").chat.completions.create(model="aios", messages=QUESTION, stream=True)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="aios", messages=QUESTION, temperature=7)
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)

    url, auth = f"{base(http_kernel)}/v1/chat/completions", {"Authorization": f"Bearer {client.api_key}"}
    cases = [
        (b"{not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400),
        (json.dumps({"model": "aios", "messages": "hi"}).encode(), 400),
        (json.dumps({"model": "aios", "messages": [{"role": "wizard", "content": "x"}]}).encode(), 400),
        (json.dumps({"model": "aios", "messages": [{"role": "user", "content": 3}]}).encode(), 400),
        (json.dumps({"model": "aios", "messages": QUESTION, "max_tokens": "many"}).encode(), 400),
        (json.dumps({"model": "aios", "messages": QUESTION, "stop": 5}).encode(), 400),
        (json.dumps({"model": "aios", "messages": QUESTION, "response_format": {"type": "xml"}}).encode(), 400),
        (json.dumps({"model": "aios", "messages": QUESTION, "max_tokens": 10**9}).encode(), 400),
    ]  # fmt: skip
    for body, status in cases:
        r = httpx.post(url, content=body, headers={**auth, "Content-Type": "application/json"}, timeout=60)
        assert r.status_code == status, (body, r.status_code, r.text)
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert httpx.post(url, json={"model": "aios", "messages": QUESTION}).status_code == 401  # no Authorization
    missing = httpx.get(f"{base(http_kernel)}/v1/nothing", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    embed = httpx.post(f"{base(http_kernel)}/v1/embeddings", headers=auth, json={"model": "m", "input": [1, 2]})
    assert embed.status_code == 400 and embed.json()["error"]["param"] == "input"


def test_health_ready_and_metrics_behind_the_admin_token(http_kernel: Kernel) -> None:
    assert httpx.get(f"{base(http_kernel)}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{base(http_kernel)}/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    subsystems = ready.json()["subsystems"]
    assert subsystems["llm"]["up"] and subsystems["the gRPC server"]["up"] and subsystems["SQL storage"]["up"]
    metrics = f"{base(http_kernel)}/metrics"
    agent = new_token(http_kernel, "http-metrics")
    assert httpx.get(metrics).status_code == 401
    assert httpx.get(metrics, headers={"Authorization": f"Bearer {agent}"}).status_code == 401
    scraped = httpx.get(metrics, headers={"Authorization": f"Bearer {http_kernel.admin_token}"})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert "aios_syscalls_total" in scraped.text


def test_http_port_from_env_toml_and_flag(tmp_path: Path) -> None:
    assert load_config(env={}).http_port == 50552 == load_config(env={}).metrics_port  # /metrics served there
    assert load_config(env={"AIOS_HTTP_PORT": "-1"}).http_port == -1
    (tmp_path / "aios.toml").write_text("http_port = 0\n")
    assert load_config(tmp_path / "aios.toml", env={"AIOS_HTTP_PORT": "7000"}).http_port == 7000  # env over file
    assert load_config(tmp_path / "aios.toml", env={}, http_port=8000).http_port == 8000  # the flag over both
    with pytest.raises(InvalidArgument, match="http_port"):
        load_config(env={"AIOS_HTTP_PORT": "-2"})
