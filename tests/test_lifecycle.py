"""The kernel's lifecycle (aios/lifecycle.py): parts start in order and stop in reverse, a failed start undoes
itself and raises its own error; a background worker counts a bug and goes on, and postpones a job whose model or
disk is away."""

from __future__ import annotations

import asyncio
import errno
import logging
import queue
import threading
import urllib.request
from collections.abc import Callable

import pytest

from aios.errors import ResourceExhausted, Unavailable
from aios.kernel import Kernel
from aios.lifecycle import Lifecycle, Outcome, Parts, Step, Worker, WorkerHealth


class Recorded:
    """A part that records its start and stop (a plain one runs in a thread, an async one on the loop)."""

    def __init__(self, name: str, events: list[str], fail: str = "") -> None:
        self.name = name
        self._events = events
        self._fail = fail

    def start(self) -> None:
        if self._fail == "start":
            raise RuntimeError(f"{self.name} cannot start")
        self._events.append(f"start {self.name} {'loop' if _on_loop() else 'thread'}")

    def stop(self) -> None:
        self._events.append(f"stop {self.name}")
        if self._fail == "stop":
            raise OSError(f"{self.name} cannot stop")


class AsyncRecorded:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self._recorded = Recorded(name, events)

    async def start(self) -> None:
        self._recorded.start()

    async def stop(self) -> None:
        self._recorded.stop()


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_parts_start_in_order_and_stop_in_reverse() -> None:
    events: list[str] = []
    parts = Parts()
    asyncio.run(parts.start([Recorded("sql", events), AsyncRecorded("queue", events), Recorded("server", events)]))
    assert events == ["start sql thread", "start queue loop", "start server thread"]
    assert parts.started == ["sql", "queue", "server"]
    asyncio.run(parts.stop())
    assert events[3:] == ["stop server", "stop queue", "stop sql"]
    asyncio.run(parts.stop())  # stopped already: nothing runs twice
    assert len(events) == 6 and parts.started == []


def test_a_failed_start_stops_what_started_and_raises_its_own_error() -> None:
    events: list[str] = []
    parts = Parts()
    order: list[Lifecycle] = [
        Recorded("lock", events),
        Recorded("model", events, fail="stop"),  # its failure while undoing must not hide the start's error
        Step("memory", lambda: events.append("start memory"), lambda: events.append("stop memory")),
        Recorded("server", events, fail="start"),
        Recorded("never", events),
    ]
    with pytest.raises(RuntimeError, match="server cannot start"):
        asyncio.run(parts.start(order))
    assert events == ["start lock thread", "start model thread", "start memory", "stop memory", "stop model",
                      "stop lock"]  # fmt: skip
    assert parts.started == []


def test_a_failed_stop_is_raised_after_the_others_stopped() -> None:
    events: list[str] = []
    parts = Parts()
    asyncio.run(parts.start([Recorded("a", events), Recorded("b", events, fail="stop"), Recorded("c", events)]))
    with pytest.raises(OSError, match="b cannot stop"):
        asyncio.run(parts.stop())
    assert events[3:] == ["stop c", "stop b", "stop a"]


def _queue_worker(
    work: Callable[[str], None], retry: Callable[[str], None] | None = None
) -> tuple[Worker[str], queue.Queue[str | None]]:
    items: queue.Queue[str | None] = queue.Queue()
    return Worker("test-worker", items.get, work, wake=lambda: items.put(None), retry=retry), items


def test_a_bug_in_a_job_is_logged_counted_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    done = threading.Event()

    def work(item: str) -> None:
        if item == "bad":
            raise KeyError("no such field")
        done.set()

    worker, items = _queue_worker(work)
    worker.start()
    try:
        items.put("bad")
        items.put("good")
        assert done.wait(10), "the worker stopped at the bug"
    finally:
        worker.stop()
    assert not worker.running
    assert (worker.health.errors, worker.health.postponed) == (1, 0)
    assert worker.health.last_error == "KeyError: 'no such field'"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "test-worker" in record.getMessage() and "bad" in record.getMessage() and record.exc_info is not None


@pytest.mark.parametrize(
    "away",
    [Unavailable("the kernel is shutting down"), ResourceExhausted("the LLM queue is full"),
     OSError(errno.ENOSPC, "No space left on device")],
)  # fmt: skip
def test_the_model_or_the_disk_away_postpones_the_job(away: Exception, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "aios.lifecycle")
    retried: queue.Queue[str] = queue.Queue()

    def work(item: str) -> None:
        raise away

    worker, items = _queue_worker(work, retry=retried.put)
    worker.start()
    try:
        items.put("first")
        items.put("second")
        assert [retried.get(timeout=10), retried.get(timeout=10)] == ["first", "second"]
    finally:
        worker.stop()
    assert (worker.health.errors, worker.health.postponed) == (0, 2)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "postponed" in r.getMessage()]
    assert len(told) == 1  # told once per outage, not once per job


def test_a_job_that_succeeds_after_an_outage_ends_it() -> None:
    health = WorkerHealth("jobs")

    def away() -> None:
        raise Unavailable("the model is not loaded")

    assert health.run(away) is Outcome.POSTPONED
    assert health.run(lambda: None) is Outcome.DONE
    assert health.run(away) is Outcome.POSTPONED
    assert (health.postponed, health.errors, health._away) == (2, 0, True)


def test_a_periodic_worker_ticks_until_stopped() -> None:
    ticks = threading.Semaphore(0)
    worker = Worker.every("ticker", 0.01, ticks.release)
    worker.start()
    try:
        assert all(ticks.acquire(timeout=10) for _ in range(3))
    finally:
        worker.stop()
    assert not worker.running


def test_metrics_show_each_workers_bugs_and_postponed_jobs(sqlite_kernel: Kernel) -> None:
    def broken() -> None:
        raise ValueError("a bug")

    sqlite_kernel.files.retention.worker.health.run(broken, "a test job")  # what the retention worker would run
    request = urllib.request.Request(f"http://127.0.0.1:{sqlite_kernel.metrics_port}/metrics",
                                     headers={"Authorization": f"Bearer {sqlite_kernel.admin_token}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    assert "# TYPE aios_worker_errors_total counter" in text
    assert 'aios_worker_errors_total{worker="fs-retention"} 1' in text
    for worker in ("fs-index", "ctx-summary", "ctx-idle", "memory-jobs"):
        assert f'aios_worker_errors_total{{worker="{worker}"}} 0' in text
        assert f'aios_worker_postponed_total{{worker="{worker}"}} 0' in text
