"""The LLM core thread: the only thread that touches the model. gRPC handlers only enqueue.

Loop: ask the scheduler for (request, quantum) → make the context hold the request's tokens (a context
switch saves/restores KV state) → sample up to `quantum` tokens, streaming text → charge the scheduler,
which re-queues the request if it is not finished (preemption). Every run is recorded as an event for
metrics and the timeline plot.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aios.errors import AiosError, InternalError, ResourceExhausted, Unavailable
from aios.llm.scheduler import Scheduler
from aios.llm.types import ChatMessage, LLMRequest, SamplingParams

__all__ = ["LLMCore", "RunEvent", "StepBackend"]

log = logging.getLogger("aios.llm")


class StepBackend(Protocol):
    """A model the core can run token by token (so it can preempt and switch between sessions)."""

    model_name: str
    n_ctx: int

    def tokenize(self, text: str, special: bool = True) -> list[int]: ...
    def detokenize(self, tokens: list[int]) -> bytes: ...
    def render_chat(self, messages: list[ChatMessage]) -> str: ...
    def is_end(self, token: int) -> bool: ...
    def new_sampler(self, params: SamplingParams) -> Any: ...
    def prepare(self, session: str, tokens: list[int]) -> Any: ...
    def sample(self, sampler: Any) -> int: ...
    def feed(self, token: int) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class RunEvent:
    """One scheduling slice: who ran, when, and what it cost."""

    request_id: int
    agent_id: str
    job_class: str
    start: float
    end: float
    prefilled: int
    generated: int
    switched: bool
    finished: bool


class _TextStream:
    """Incremental detokenization with stop strings: never emits text that might become a stop string."""

    def __init__(self, request: LLMRequest) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = request.params.stop
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._text = ""
        self._emitted = 0

    def push(self, piece: bytes) -> bool:
        """Add a token's bytes; True when a stop string was reached."""
        self._text += self._decoder.decode(piece)
        for stop in self._stops:
            at = self._text.find(stop, max(0, self._emitted - len(stop)))
            if at != -1:
                self._text = self._text[:at]
                return True
        return False

    def ready(self, final: bool) -> str:
        if final:
            self._text += self._decoder.decode(b"", final=True)
        end = len(self._text) if final else max(self._emitted, len(self._text) - self._hold)
        delta, self._emitted = self._text[self._emitted : end], end
        return delta

    @property
    def text(self) -> str:
        return self._text


class LLMCore:
    def __init__(
        self,
        backend_factory: Callable[[], StepBackend],
        scheduler: Scheduler,
        max_waiting: int = 256,
        event_history: int = 50_000,
    ) -> None:
        self._factory = backend_factory
        self.scheduler = scheduler
        self._max_waiting = max_waiting
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._streams: dict[int, _TextStream] = {}
        self.backend: StepBackend | None = None
        self.load_error: BaseException | None = None
        self.events: deque[RunEvent] = deque(maxlen=event_history)
        self.running: LLMRequest | None = None
        self.switches = 0
        self.started_at = time.monotonic()

    def start(self, timeout: float = 300) -> None:
        self._thread = threading.Thread(target=self._main, name="aios-llm-core", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self.load_error is not None:
            raise self.load_error

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(60)
        for request in self.scheduler.waiting():
            self.scheduler.remove(request)
            self._finish(request, "cancelled", Unavailable("the kernel is shutting down"))

    def submit(self, request: LLMRequest) -> None:
        with self._cond:
            if self._stopping or self.backend is None:
                raise Unavailable("the LLM core is not running")
            if len(self.scheduler.waiting()) >= self._max_waiting:
                raise ResourceExhausted(f"the LLM queue is full ({self._max_waiting} requests waiting)")
            self.scheduler.add(request)
            self._cond.notify()

    def cancel(self, request: LLMRequest) -> None:
        """Drop a waiting request at once; a running one stops at its next token."""
        with self._cond:
            if request in self.scheduler.waiting():
                self.scheduler.remove(request)
                self._finish(request, "cancelled")

    def wait(self, request: LLMRequest) -> None:
        """Block until `request` finishes; cancel it as soon as its caller is gone."""
        while not request.done.wait(0.05):
            if request.should_stop():
                self.cancel(request)

    # -- the core thread -------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.backend = self._factory()
        except BaseException as exc:  # reported by start()
            self.load_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            with self._cond:
                picked = self.scheduler.pick()
                while picked is None and not self._stopping:
                    self._cond.wait(0.5)
                    picked = self.scheduler.pick()
                if self._stopping:
                    if picked is not None:
                        self.scheduler.remove(picked[0])
                        self._finish(picked[0], "cancelled", Unavailable("the kernel is shutting down"))
                    break
                self.running = picked[0]
            try:
                self._run(*picked)
            finally:
                self.running = None
        self.backend.close()

    def _run(self, request: LLMRequest, quantum: int) -> None:
        backend = self.backend
        assert backend is not None
        start = time.monotonic()
        request.first_scheduled = request.first_scheduled or start
        if request.should_stop():
            self._finish(request, "cancelled")
            return
        prefilled = generated = 0
        switched = False
        try:
            if request.sampler is None:
                request.sampler = backend.new_sampler(request.params)
                self._streams[request.id] = _TextStream(request)
            stream = self._streams[request.id]
            stats = backend.prepare(f"{request.agent_id}/{request.session}", request.tokens)
            prefilled, switched = stats.prefilled, stats.switched
            if switched:
                self.switches += 1
                request.context_switches += 1
            if not request.generated:
                request.cached_tokens = stats.reused
            request.prefilled_tokens += prefilled
            for i in range(quantum):
                if request.should_stop():
                    self._finish(request, "cancelled")
                    break
                token = backend.sample(request.sampler)
                generated += 1
                request.first_token = request.first_token or time.monotonic()
                if backend.is_end(token):
                    self._finish(request, "stop")
                    break
                request.generated.append(token)
                hit_stop = stream.push(backend.detokenize([token]))
                if hit_stop:
                    self._finish(request, "stop")
                    break
                if len(request.generated) >= request.params.max_tokens:
                    self._finish(request, "length")
                    break
                self._emit(request, stream.ready(final=False))
                if i < quantum - 1:
                    backend.feed(token)
        except AiosError as exc:
            self._finish(request, "error", exc)
        except Exception as exc:
            log.exception("LLM request %s failed", request.id)
            self._finish(request, "error", InternalError(f"generation failed: {exc}"))
        finished = request.done.is_set() or bool(request.finish_reason)
        with self._cond:
            self.scheduler.ran(request, prefilled, generated, finished)
        self.events.append(RunEvent(request.id, request.agent_id, request.job_class.value, start,
                                    time.monotonic(), prefilled, generated, switched, finished))  # fmt: skip

    def _emit(self, request: LLMRequest, delta: str) -> None:
        if delta and request.on_text is not None:
            try:
                request.on_text(delta)
            except Exception:  # a consumer that went away must not stop the core
                log.debug("on_text failed for request %s", request.id, exc_info=True)

    def _finish(self, request: LLMRequest, reason: str, error: BaseException | None = None) -> None:
        if request.finish_reason:
            return
        stream = self._streams.pop(request.id, None)
        if stream is not None and reason != "error":
            self._emit(request, stream.ready(final=True))
            request.text = stream.text
        request.finish_reason = reason
        request.error = error
        request.finished = time.monotonic()
        request.sampler = None
        request.done.set()
