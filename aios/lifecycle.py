"""One lifecycle for the kernel's parts and one exception policy for its background workers.

- `Lifecycle`: what the kernel starts and stops (a subsystem, a worker, a queue, the server). `Parts` starts a
  list in order and stops the started ones in reverse, also after a start that failed (whose error it re-raises).
- `WorkerHealth`: how background work fails. The model or the disk being away (`Unavailable`,
  `ResourceExhausted`, a full disk) postpones the job: counted, told once per outage, retried as the worker
  does. Anything else is a bug: logged with its traceback and the worker's name, counted, its message kept. The
  counts are the kernel's `aios_worker_*` metrics.
- `Worker`: threads that take items and work them under that policy, until `stop`.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from aios._db import storage_full
from aios.errors import ResourceExhausted, Unavailable

__all__ = ["Lifecycle", "Outcome", "Parts", "Step", "Worker", "WorkerHealth"]

log = logging.getLogger("aios.lifecycle")
T = TypeVar("T")
_SLOW_STEP_S = 0.5


class Lifecycle(Protocol):
    """A part that runs between `start` and `stop`. A start that raises leaves nothing of the part running; `stop`
    is called once, and only after a start that returned. A coroutine function runs on the kernel's event loop,
    a plain function in a thread (it may block: load a model, join threads)."""

    @property
    def name(self) -> str: ...

    def start(self) -> Awaitable[None] | None: ...

    def stop(self) -> Awaitable[None] | None: ...


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Step:
    """A part made of two functions (the kernel's steps that build what they start)."""

    name: str
    start: Callable[[], Awaitable[None] | None]
    stop: Callable[[], Awaitable[None] | None] = _nothing


class Parts:
    """Starts parts in order; stops the started ones in reverse (a part stops after everything that uses it)."""

    def __init__(self, slow_s: float = _SLOW_STEP_S) -> None:
        self._slow_s = slow_s
        self._started: list[Lifecycle] = []

    @property
    def started(self) -> list[str]:
        return [part.name for part in self._started]

    async def start(self, parts: Iterable[Lifecycle]) -> None:
        """Start each part; if one fails, stop those that started and raise its error."""
        for part in parts:
            try:
                await self._timed("starting", part.name, part.start)
            except BaseException:
                await self._stop_all()  # what fails while undoing is logged: the start's error is the one raised
                raise
            self._started.append(part)

    async def stop(self) -> None:
        """Stop the started parts, the last started first. One that fails to stop is logged and the others still
        stop; its error is raised at the end."""
        errors = await self._stop_all()
        if errors:
            raise errors[0]

    async def _stop_all(self) -> list[Exception]:
        errors = []
        while self._started:
            part = self._started.pop()
            try:
                await self._timed("stopping", part.name, part.stop)
            except Exception as exc:
                log.exception("stopping %s failed", part.name)
                errors.append(exc)
        return errors

    async def _timed(self, doing: str, name: str, call: Callable[[], Awaitable[None] | None]) -> None:
        """One step; a slow one is logged (a stop that overruns its grace says where)."""
        started = time.perf_counter()
        if inspect.iscoroutinefunction(call):
            await call()
        else:
            await asyncio.to_thread(call)
        took = time.perf_counter() - started
        if took >= self._slow_s:
            log.info("%s %s took %.1f s", doing, name, took)


class Outcome(enum.Enum):
    DONE = "done"
    POSTPONED = "postponed"  # the model or the disk is away: try again later
    FAILED = "failed"  # a bug


class WorkerHealth:
    """The exception policy of one background worker, and its counts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.postponed = 0
        self.errors = 0
        self.last_error = ""
        self._away = False  # the last job was postponed: the next postponement is not told again
        self._lock = threading.Lock()

    def run(self, job: Callable[[], object], what: object = "") -> Outcome:
        """Run one job (`what` names it in the log) under the policy."""
        try:
            job()
        except (Unavailable, ResourceExhausted) as exc:  # the model is away (stopping, unreachable) or busy
            self._postpone(what, str(exc))
            return Outcome.POSTPONED
        except Exception as exc:
            if (full := storage_full(exc)) is not None:  # a full disk: the job can run once there is space
                self._postpone(what, full)
                return Outcome.POSTPONED
            with self._lock:
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("%s: %s failed (a bug)", self.name, what or "a job")
            return Outcome.FAILED
        self._away = False
        return Outcome.DONE

    def _postpone(self, what: object, reason: str) -> None:
        # While the model is away (a stop, a remote server down) every queued job lands here in turn: the first
        # is told, the rest counted.
        with self._lock:
            first, self._away = not self._away, True
            self.postponed += 1
        log.log(logging.INFO if first else logging.DEBUG, "%s: %s postponed: %s", self.name, what or "a job", reason)


class Worker(Generic[T]):
    """`threads` threads, each taking an item (`take` blocks until there is one; None: stop) and working it
    under the worker's `health` policy (`describe(item)` names it in the log). A postponed item goes to `retry`
    when given, else it is dropped (its owner finds it again, e.g. at the next start). `stop` sets `stopping`,
    calls `wake` (to unblock `take`) and joins the threads."""

    def __init__(
        self, name: str, take: Callable[[], T | None], work: Callable[[T], object], *, threads: int = 1,
        wake: Callable[[], None] = _nothing, retry: Callable[[T], None] | None = None,
        describe: Callable[[T], object] = str, join_s: float = 30.0,
    ) -> None:  # fmt: skip
        self.name = name
        self.health = WorkerHealth(name)
        self.stopping = threading.Event()
        self._take = take
        self._work = work
        self._count = threads
        self._wake = wake
        self._retry = retry
        self._describe = describe
        self._join_s = join_s
        self._threads: list[threading.Thread] = []

    @classmethod
    def every(cls, name: str, interval_s: float, tick: Callable[[], object], join_s: float = 30.0) -> Worker[bool]:
        """A worker that runs `tick` every `interval_s` seconds until stopped."""
        worker: Worker[bool] = Worker(name, lambda: None, lambda _: tick(), describe=lambda _: "a run", join_s=join_s)
        worker._take = lambda: None if worker.stopping.wait(interval_s) else True
        return worker

    def start(self) -> None:
        self.stopping.clear()
        names = [f"aios-{self.name}"] if self._count == 1 else [f"aios-{self.name}-{i}" for i in range(self._count)]
        self._threads = [threading.Thread(target=self._loop, name=n, daemon=True) for n in names]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._wake()
        deadline = time.monotonic() + self._join_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s: thread %s did not end within %.0f s", self.name, thread.name, self._join_s)
        self._threads = []

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _loop(self) -> None:
        while (item := self._take()) is not None:
            outcome = self.health.run(functools.partial(self._work, item), self._describe(item))
            if outcome is Outcome.POSTPONED and self._retry is not None:
                self._retry(item)
