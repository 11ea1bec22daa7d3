"""Per-resource syscall queues: bounded, priority-ordered, each drained by its own worker threads.

A full queue refuses at once (RESOURCE_EXHAUSTED). A syscall whose caller has gone (cancellation or
deadline) is skipped if it has not started, and asked to stop through `Job.stopped` if it has.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aios.errors import AiosError, Cancelled, DeadlineExceeded, ResourceExhausted
from aios.syscalls.records import SyscallRecord, SyscallStatus, SyscallTable

__all__ = ["Job", "ResourceQueue"]


@dataclass(eq=False)
class Job:
    record: SyscallRecord
    fn: Callable[[Job], Any]
    future: asyncio.Future[Any]
    stop_event: threading.Event = field(default_factory=threading.Event)
    held: bool = False  # its record stays running after `fn` returns, until `ResourceQueue.release`

    def stopped(self) -> bool:
        """True once the caller cancelled or its deadline passed: long work should return early."""
        return self.stop_event.is_set() or (self.record.deadline is not None and time.time() > self.record.deadline)


class ResourceQueue:
    def __init__(self, name: str, capacity: int, workers: int, table: SyscallTable) -> None:
        self.name = name
        self.capacity = capacity
        self.workers = workers
        self.running = 0
        self._table = table
        self._queue: asyncio.PriorityQueue[tuple[int, int, Job | None]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"aios-{name}")
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"{self.name}-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        for _ in self._tasks:
            self._queue.put_nowait((1 << 30, next(self._seq), None))  # after every queued job
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def run(self, record: SyscallRecord, fn: Callable[[Job], Any], held: bool = False) -> Any:
        """Queue `fn` for this record and wait for its result; raises the AiosError it raised.

        `held`: `fn` only sets up a syscall that goes on without a worker (a watch's subscription); its record
        stays running until `release`."""
        if self._queue.qsize() >= self.capacity:
            self._table.finished(record, SyscallStatus.REJECTED, ResourceExhausted.code)
            raise ResourceExhausted(f"the {self.name} queue is full ({self.capacity} syscalls waiting)")
        job = Job(record, fn, asyncio.get_running_loop().create_future(), held=held)
        # If the caller leaves, nobody reads the outcome: mark it retrieved so asyncio does not warn.
        job.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.put_nowait((-record.priority, next(self._seq), job))
        timeout = None if record.deadline is None else max(0.0, record.deadline - time.time())
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except TimeoutError:
            job.stop_event.set()
            self._table.finished(record, SyscallStatus.CANCELLED, DeadlineExceeded.code)
            raise DeadlineExceeded(f"{record.kind} did not finish before its deadline") from None
        except asyncio.CancelledError:
            job.stop_event.set()
            self.release(record)
            raise

    def release(self, record: SyscallRecord, error: AiosError | None = None) -> None:
        """Record the end of a syscall whose caller left, or of a held one (see `run`) that `error` ended."""
        if error is not None:
            self._table.finished(record, SyscallStatus.FAILED, error.code)
            return
        # gRPC cancels the handler itself when the client's deadline passes: record which it was.
        late = record.deadline is not None and time.time() >= record.deadline - 0.05
        self._table.finished(record, SyscallStatus.CANCELLED, DeadlineExceeded.code if late else Cancelled.code)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            _, _, job = await self._queue.get()
            if job is None:
                return
            if job.stopped():
                if not job.future.done():
                    job.future.cancel()
                continue
            self._table.started(job.record)
            self.running += 1
            try:
                result = await loop.run_in_executor(self._executor, job.fn, job)
            except AiosError as exc:
                self._table.finished(job.record, SyscallStatus.FAILED, exc.code)
                _settle(job.future, exc=exc)
            except Exception as exc:  # a bug: reported as INTERNAL by the servicer layer
                self._table.finished(job.record, SyscallStatus.FAILED, "INTERNAL")
                _settle(job.future, exc=exc)
            else:
                if job.record.deadline is not None and time.time() > job.record.deadline:
                    # Work that noticed its deadline and returned early is not a success.
                    self._table.finished(job.record, SyscallStatus.CANCELLED, DeadlineExceeded.code)
                    _settle(job.future, exc=DeadlineExceeded(f"{job.record.kind} did not finish before its deadline"))
                else:
                    if not job.held:
                        self._table.finished(job.record, SyscallStatus.DONE)
                    _settle(job.future, result=result)
            finally:
                self.running -= 1


def _settle(future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
