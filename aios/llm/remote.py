"""The remote backend: any OpenAI-compatible server (llama.cpp's server, llama-cpp-python's, vLLM).

The server schedules its own batch, so requests go straight to it (at most `concurrency` at once) and
stream back; the kernel still authenticates, applies quotas and records metrics. The server's chat template
is unknown here, so a chat cannot be rendered or its tokens counted, and the server checks its own window.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from aios.config import LLMConfig
from aios.errors import FailedPrecondition, InvalidArgument, Unavailable
from aios.llm import grammar
from aios.llm.backend import Prompt
from aios.llm.core import LLMCore
from aios.llm.kvcache import KVStats
from aios.llm.stats import ModelInfo
from aios.llm.types import ChatMessage, Completion, LLMRequest, SamplingParams, Usage

__all__ = ["RemoteBackend"]


class RemoteBackend:
    kind = "remote"
    exact_tokens = False
    n_ctx = 0
    model_name = ""
    _url: str
    _http: httpx.Client
    _slots: threading.BoundedSemaphore

    @property
    def scheduling(self) -> LLMCore | None:
        return None  # the server schedules its own requests

    def start(self, config: LLMConfig, data_dir: Path) -> None:
        """Reach the server (UNAVAILABLE when it does not answer) and learn its model's name."""
        if not config.remote_url:
            raise FailedPrecondition("llm.backend = remote needs llm.remote_url")
        self._url = config.remote_url
        headers = {"Authorization": f"Bearer {config.remote_api_key}"} if config.remote_api_key else {}
        timeout = httpx.Timeout(600, connect=5)
        self._http = httpx.Client(base_url=self._url.rstrip("/"), headers=headers, timeout=timeout)
        self._slots = threading.BoundedSemaphore(config.remote_concurrency)
        try:
            self.model_name = config.remote_model or self._first_model()
        except BaseException:
            self._http.close()
            raise

    def quiesce(self) -> None:
        pass  # requests in flight end at the server

    def stop(self) -> None:
        self._http.close()

    def _first_model(self) -> str:
        try:
            models = self._http.get("/v1/models").raise_for_status().json().get("data", [])
        except httpx.HTTPError as exc:
            raise Unavailable(f"LLM server at {self._http.base_url} is not reachable: {exc}") from None
        return models[0]["id"] if models else ""

    def count_tokens(self, text: str) -> int:
        for path, key in (("/extras/tokenize", "input"), ("/tokenize", "content")):
            response = self._http.post(path, json={key: text})
            if response.status_code == 200:
                body = response.json()
                return len(body.get("tokens", []))
        raise Unavailable("the LLM server offers no tokenize endpoint")

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        raise FailedPrecondition(
            "the LLM server's chat template is unknown: rendering a chat or counting its tokens needs the local backend"
        )

    def prompt_tokens(self, prompt: Prompt) -> list[int]:
        """As many tokens as the server counts in the text (their ids are not needed: the server runs it)."""
        text = prompt if isinstance(prompt, str) else "\n".join(m.content for m in prompt)
        return [0] * self.count_tokens(text) if text else []

    def check_constraint(self, params: SamplingParams) -> None:
        grammar.check_constraint(params.grammar, params.json_schema)

    def swap_out(self, key: str, drop: bool) -> tuple[str, int]:
        return "none", 0  # the server keeps its own cache

    def model_info(self, agent_id: str | None, uptime_s: float) -> ModelInfo:
        return ModelInfo("remote", self.model_name, self._url, 0, "server", 0, 0, KVStats(), uptime_s)

    def generate(self, request: LLMRequest, prompt: Prompt) -> Completion:
        body: dict[str, Any] = {"model": self.model_name, "stream": True, **_sampling(request.params)}
        chat = not isinstance(prompt, str)
        if isinstance(prompt, str):
            path, body["prompt"] = "/v1/completions", prompt
        else:
            path, body["messages"] = "/v1/chat/completions", [{"role": m.role, "content": m.content} for m in prompt]
        with self._slots:
            request.first_scheduled = time.monotonic()
            try:
                for chunk in self._stream(path, body, request.should_stop):
                    choice = (chunk.get("choices") or [{}])[0]
                    delta = choice.get("delta", {}).get("content") if chat else choice.get("text")
                    if delta:
                        request.first_token = request.first_token or time.monotonic()
                        request.text += delta
                        if request.on_text:
                            request.on_text(delta)
                    if choice.get("finish_reason"):
                        request.finish_reason = choice["finish_reason"]
                    usage = chunk.get("usage") or {}
                    if usage:
                        request.cached_tokens = usage.get("prompt_tokens_details", {}).get("cached_tokens", 0) or 0
            except httpx.HTTPError as exc:
                raise Unavailable(f"LLM server error: {exc}") from None
        if request.should_stop() and not request.finish_reason:
            request.finish_reason = "cancelled"
        request.finished = time.monotonic()
        completion = request.completion()
        return Completion(**{**completion.__dict__, "usage": Usage(len(request.prompt_tokens),
                             self._count_or_zero(request.text), request.cached_tokens)})  # fmt: skip

    def _count_or_zero(self, text: str) -> int:
        try:
            return self.count_tokens(text) if text else 0
        except Unavailable:
            return 0

    def _stream(self, path: str, body: dict[str, Any], should_stop: Callable[[], bool]) -> Iterator[dict[str, Any]]:
        with self._http.stream("POST", path, json=body) as response:
            if response.status_code >= 400:
                response.read()
                message = response.text[:500]
                if response.status_code in (400, 422):
                    raise InvalidArgument(f"LLM server refused the request: {message}")
                raise Unavailable(f"LLM server answered {response.status_code}: {message}")
            for line in response.iter_lines():
                if should_stop():
                    return
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    def close(self) -> None:
        self._http.close()


def _sampling(params: SamplingParams) -> dict[str, Any]:
    body: dict[str, Any] = {
        "max_tokens": params.max_tokens, "temperature": params.temperature, "top_p": params.top_p,
        "top_k": params.top_k, "min_p": params.min_p, "repeat_penalty": params.repeat_penalty,
    }  # fmt: skip
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.json_schema:
        body["response_format"] = {"type": "json_object", "schema": json.loads(params.json_schema)}
    elif params.grammar:
        body["grammar"] = params.grammar
    return body
