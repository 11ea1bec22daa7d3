"""The LLM core thread: the only thread that touches the model. gRPC handlers only enqueue.

Loop: ask the scheduler for a batch of (request, quantum), up to the backend's `max_batch` sessions whose
tokens fit its KV cells → make each session's sequence hold its request's tokens but the last (a context
switch saves/restores KV state; a new turn's tokens are prefilled) → one forward pass feeds every running
request its last token, and each samples its next, streaming text → a request whose quantum is used up or
that finished leaves the batch, and the scheduler is charged, re-queueing it if unfinished (preemption);
the scheduler's next requests take its place before the next pass (continuous batching). Every slice is
recorded as an event for metrics and the timeline plot.

Shutdown has two steps, because other threads use the model too (enrichment workers, summarisers, jobs):
`quiesce()` refuses new work and ends the waiting and running requests while the model stays loaded, so
those threads return and can be joined; `stop()` then ends the thread and frees the model.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from aios.errors import AiosError, InternalError, InvalidArgument, ResourceExhausted, Unavailable
from aios.llm.backend import StepBackend
from aios.llm.scheduler import Scheduler
from aios.llm.stream import TextStream
from aios.llm.types import LLMRequest

__all__ = ["LLMCore", "RunEvent"]

log = logging.getLogger("aios.llm")
T = TypeVar("T")

MAX_CONSTRAINED_SAMPLE_S = 1.0
"""Longest one constrained token may take to sample. llama.cpp checks every vocabulary entry against every live
parse of the grammar; an ambiguous grammar (say `x x x ... x` with `x ::= [a-z]*`) multiplies the parses with
each character until one token takes seconds, while every other agent's request waits for the core thread. Such
a request ends (INVALID_ARGUMENT) at the first token over this bound, so its harm is bounded by it."""


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


@dataclass
class _Slice:
    """A request's share of one batch slice."""

    request: LLMRequest
    quantum: int
    start: float
    prefilled: int = 0
    generated: int = 0
    switched: bool = False
    token: int = 0
    """The token sampled last, fed in the next forward pass."""


class LLMCore:
    """The core thread and what it runs: `load_model` is called on that thread, which owns the model from then on."""

    def __init__(
        self,
        load_model: Callable[[], StepBackend],
        scheduler: Scheduler,
        max_waiting: int = 256,
        event_history: int = 50_000,
    ) -> None:
        self._load_model = load_model
        self.scheduler = scheduler
        self._max_waiting = max_waiting
        self._cond = threading.Condition()
        self._stopping = False
        self._closing = False  # quiesced: no new work, the waiting and running requests end; the model stays loaded
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._streams: dict[int, TextStream] = {}
        self.backend: StepBackend | None = None
        self.load_error: BaseException | None = None
        self.events: deque[RunEvent] = deque(maxlen=event_history)
        self.running: list[LLMRequest] = []
        self.switches = 0
        self.started_at = time.monotonic()
        self._calls: list[tuple[Callable[[StepBackend], Any], Future[Any]]] = []

    def start(self, timeout: float = 300) -> None:
        self._thread = threading.Thread(target=self._main, name="aios-llm-core", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self.load_error is not None:
            raise self.load_error

    def quiesce(self) -> None:
        """Refuse new requests and calls; the core thread ends the waiting requests and the running ones at
        their next token (UNAVAILABLE). The model stays loaded for the threads still using it."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def stop(self) -> None:
        """End the core thread, which frees the model (call `quiesce` and stop the model's users first)."""
        with self._cond:
            self._closing = self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(60)
            if self._thread.is_alive():
                log.warning("the LLM core thread did not end within 60 s; the model is left loaded")
        for request in self.scheduler.waiting():
            self.scheduler.remove(request)
            self._finish(request, "cancelled", _shutting_down())

    def submit(self, request: LLMRequest) -> None:
        with self._cond:
            if self._closing or self.backend is None:
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

    def call(self, fn: Callable[[StepBackend], T], timeout: float = 60) -> T:
        """Run `fn(backend)` on the core thread between two slices (the model is not thread-safe)."""
        future: Future[T] = Future()
        with self._cond:
            if self._closing or self.backend is None:
                raise Unavailable("the LLM core is not running")
            self._calls.append((fn, future))
            self._cond.notify()
        return future.result(timeout)

    def wait(self, request: LLMRequest) -> None:
        """Block until `request` finishes; cancel it as soon as its caller is gone."""
        while not request.done.wait(0.05):
            if request.should_stop():
                self.cancel(request)

    # -- the core thread -------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            backend = self.backend = self._load_model()
        except BaseException as exc:  # reported by start()
            self.load_error = exc
            self._ready.set()
            return
        self._ready.set()
        while True:
            self._run_calls(backend, _shutting_down() if self._closing else None)
            with self._cond:
                batch = self._pick_batch()
                while not batch and not self._calls and not self._stopping:
                    self._cond.wait(0.5)
                    batch = self._pick_batch()
                if self._stopping:
                    for request, _ in batch:
                        self._finish(request, "cancelled", _shutting_down())
                    break
                self.running = [request for request, _ in batch]
            try:
                if batch:
                    self._run(batch)
            finally:
                self.running = []
        self._run_calls(backend, _shutting_down())
        backend.close()  # waits for other threads still inside the backend (tokenizing, compiling a grammar)

    def _run_calls(self, backend: StepBackend, refuse: BaseException | None = None) -> None:
        """Run the calls waiting for the backend (or refuse them)."""
        with self._cond:
            calls, self._calls = self._calls, []
        for fn, future in calls:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if refuse is not None:
                    raise refuse
                future.set_result(fn(backend))
            except BaseException as exc:
                future.set_exception(exc)

    def _pick_batch(self, live: Sequence[_Slice] = ()) -> list[tuple[LLMRequest, int]]:
        """Requests to run beside `live`, in the scheduler's order, up to `max_batch` in all: distinct
        sessions whose tokens (with all they may still generate) fit the KV cells together."""
        backend = self.backend
        assert backend is not None
        if self._closing:
            for request in self.scheduler.waiting():
                self.scheduler.remove(request)
                self._finish(request, "cancelled", _shutting_down())
            return []
        batch: list[tuple[LLMRequest, int]] = []
        sessions = {s.request.key for s in live}
        cells = sum(len(s.request.tokens) + s.request.remaining for s in live)

        def admit(r: LLMRequest) -> bool:
            return r.key not in sessions and cells + len(r.tokens) + r.remaining <= backend.kv_cells

        while len(live) + len(batch) < backend.max_batch and (picked := self.scheduler.pick(admit)) is not None:
            batch.append(picked)
            sessions.add(picked[0].key)
            cells += len(picked[0].tokens) + picked[0].remaining
        return batch

    def _run(self, batch: list[tuple[LLMRequest, int]]) -> None:
        """Run a batch until every request in it has had its quantum, one forward pass per token for all.
        A request leaves when its quantum is used up or it finishes (its slice ends and is charged), and the
        scheduler's next requests join in its place at once (continuous batching), unless the core has
        calls to run or is stopping: then the batch drains."""
        backend = self.backend
        assert backend is not None
        live = self._join([], batch)
        while live:
            fed = {s.request.key: s.token for s in live}
            try:
                backend.feed(fed)
            except Exception as exc:
                log.exception("LLM decode of %d sessions failed", len(fed))
                for s in live:
                    self._finish(s.request, "error", InternalError(f"generation failed: {exc}"))
                    self._end(s)
                break
            going = []
            for s in live:
                if self._guard(s, functools.partial(self._step, s)):
                    going.append(s)
                else:
                    self._end(s)
            live = going
            with self._cond:
                more = [] if self._calls or self._closing else self._pick_batch(live)
            live = self._join(live, more)
            self.running = [s.request for s in live]

    def _join(self, live: list[_Slice], batch: list[tuple[LLMRequest, int]]) -> list[_Slice]:
        """Begin each picked request beside `live`; the ones that go on join it."""
        now = time.monotonic()
        slices = [_Slice(request, quantum, now) for request, quantum in batch]
        pinned = {s.request.key for s in [*live, *slices]}
        joined = list(live)
        for s in slices:
            s.request.first_scheduled = s.request.first_scheduled or now
            if self._guard(s, functools.partial(self._begin, s, pinned)):
                joined.append(s)
            else:
                self._end(s)
        return joined

    def _end(self, s: _Slice) -> None:
        """Charge a request's slice to the scheduler (which re-queues it if unfinished) and record it."""
        request = s.request
        finished = request.done.is_set() or bool(request.finish_reason)
        with self._cond:
            self.scheduler.ran(request, s.prefilled, s.generated, finished)
        self.events.append(RunEvent(request.id, request.agent_id, request.job_class.value, s.start,
                                    time.monotonic(), s.prefilled, s.generated, s.switched, finished))  # fmt: skip

    def _guard(self, s: _Slice, step: Callable[[], bool]) -> bool:
        """Run one step of a request; an error ends that request only. Quiesced: it ends here."""
        if self._closing:
            self._finish(s.request, "cancelled", _shutting_down())
            return False
        try:
            return step()
        except AiosError as exc:
            self._finish(s.request, "error", exc)
        except Exception as exc:
            log.exception("LLM request %s failed", s.request.id)
            self._finish(s.request, "error", InternalError(f"generation failed: {exc}"))
        return False

    def _begin(self, s: _Slice, pinned: set[str]) -> bool:
        """Make the request's session hold its tokens but the last, which the batch's first pass feeds."""
        backend, request = self.backend, s.request
        assert backend is not None
        if request.should_stop():
            self._finish(request, "cancelled")
            return False
        if request.sampler is None:
            request.sampler = backend.new_sampler(request.params)
            self._streams[request.id] = TextStream(request)
        stats = backend.prepare(request.key, request.tokens, pinned)
        s.prefilled, s.switched = stats.prefilled, stats.switched
        if s.switched:
            self.switches += 1
            request.context_switches += 1
        if not request.generated:
            request.cached_tokens = stats.reused
        request.prefilled_tokens += s.prefilled
        s.token = request.tokens[-1]
        return True

    def _step(self, s: _Slice) -> bool:
        """Sample the request's next token and stream it; True while it should be fed and go on."""
        backend, request = self.backend, s.request
        assert backend is not None
        if request.should_stop():
            self._finish(request, "cancelled")
            return False
        started = time.monotonic()
        token = backend.sample(request.key, request.sampler)
        took = time.monotonic() - started
        if took > MAX_CONSTRAINED_SAMPLE_S and (request.params.grammar or request.params.json_schema):
            self._finish(request, "error", InvalidArgument(
                f"the grammar is too ambiguous: sampling one token under it took {took:.1f} s (the bound is "
                f"{MAX_CONSTRAINED_SAMPLE_S:g} s); make its repetitions unambiguous, e.g. no two adjacent "
                "optional or repeated parts that can match the same text"))  # fmt: skip
            return False
        s.generated += 1
        request.first_token = request.first_token or time.monotonic()
        if backend.is_end(token):
            self._finish(request, "stop")
            return False
        request.generated.append(token)
        stream = self._streams[request.id]
        if stream.push(backend.detokenize([token])):
            self._finish(request, "stop")
            return False
        if len(request.generated) >= request.params.max_tokens:
            self._finish(request, "length")
            return False
        self._emit(request, stream.ready(final=False))
        s.token = token
        # The quantum's last token is not fed: it is part of the request's tokens when it runs again.
        return s.generated < s.quantum

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


def _shutting_down() -> Unavailable:
    return Unavailable("the kernel is shutting down")
