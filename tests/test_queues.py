"""Syscall queue logic: capacity, priority order, deadlines and cancellation (plain functions, no server)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aios.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted
from aios.syscalls import ResourceQueue, SyscallStatus, SyscallTable


def _queue(capacity: int = 2, workers: int = 1) -> tuple[ResourceQueue, SyscallTable]:
    table = SyscallTable()
    return ResourceQueue("memory", capacity, workers, table), table


async def _blocker(queue: ResourceQueue, table: SyscallTable, gate: threading.Event):  # type: ignore[no-untyped-def]
    started = threading.Event()

    def block(job):  # type: ignore[no-untyped-def]
        started.set()
        gate.wait(10)
        return "blocker"

    task = asyncio.ensure_future(queue.run(table.admit("a", "block", "memory", 5, None), block))
    await asyncio.to_thread(started.wait, 10)
    return task


async def test_full_queue_refuses_with_resource_exhausted() -> None:
    queue, table = _queue(capacity=2)
    queue.start()
    gate = threading.Event()
    blocker = await _blocker(queue, table, gate)
    waiting = [asyncio.ensure_future(queue.run(table.admit("a", "w", "memory", 5, None), lambda j, i=i: i))
               for i in range(2)]  # fmt: skip
    await asyncio.sleep(0.05)
    refused = table.admit("a", "over", "memory", 5, None)
    with pytest.raises(ResourceExhausted, match="queue is full"):
        await queue.run(refused, lambda j: None)
    assert refused.status is SyscallStatus.REJECTED
    gate.set()
    assert await blocker == "blocker"
    assert sorted(await asyncio.gather(*waiting)) == [0, 1]
    await queue.stop()


async def test_higher_priority_runs_first() -> None:
    queue, table = _queue(capacity=10)
    queue.start()
    gate = threading.Event()
    blocker = await _blocker(queue, table, gate)
    order: list[int] = []
    tasks = [
        asyncio.ensure_future(queue.run(table.admit("a", "p", "memory", prio, None), lambda j, p=prio: order.append(p)))
        for prio in (1, 9, 5, 0)
    ]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(blocker, *tasks)
    assert order == [9, 5, 1, 0]
    await queue.stop()


async def test_deadline_skips_queued_work_and_stops_running_work() -> None:
    queue, table = _queue()
    queue.start()
    gate = threading.Event()
    blocker = await _blocker(queue, table, gate)
    ran = threading.Event()
    late = table.admit("a", "late", "memory", 5, timeout_s=0.05)
    with pytest.raises(DeadlineExceeded):
        await queue.run(late, lambda j: ran.set())
    assert late.status is SyscallStatus.CANCELLED and late.error == "DEADLINE_EXCEEDED"
    gate.set()
    await blocker

    saw_stop = threading.Event()

    def long(job):  # type: ignore[no-untyped-def]
        while not job.stopped():
            pass
        saw_stop.set()

    with pytest.raises(DeadlineExceeded):
        await queue.run(table.admit("a", "long", "memory", 5, timeout_s=0.1), long)
    await asyncio.to_thread(saw_stop.wait, 5)
    assert saw_stop.is_set() and not ran.is_set()
    await queue.stop()


async def test_cancelled_caller_stops_the_job() -> None:
    queue, table = _queue()
    queue.start()
    stopped = threading.Event()

    def long(job):  # type: ignore[no-untyped-def]
        while not job.stopped():
            pass
        stopped.set()

    record = table.admit("a", "long", "memory", 5, None)
    task = asyncio.ensure_future(queue.run(record, long))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(stopped.wait, 5)
    assert stopped.is_set() and record.status is SyscallStatus.CANCELLED
    await queue.stop()


async def test_errors_and_metrics_are_recorded() -> None:
    queue, table = _queue()
    queue.start()

    def bad(job):  # type: ignore[no-untyped-def]
        raise InvalidArgument("nope")

    with pytest.raises(InvalidArgument):
        await queue.run(table.admit("a", "bad", "memory", 5, None), bad)
    await queue.run(table.admit("a", "ok", "memory", 5, None), lambda j: None)
    await queue.run(table.admit("b", "ok", "memory", 5, None), lambda j: None)
    (ma, mb) = table.metrics()
    assert (ma.agent_id, ma.syscalls, ma.failed) == ("a", 2, 1)
    assert (mb.agent_id, mb.syscalls, mb.failed) == ("b", 1, 0)
    assert [r.kind for r in table.recent("a")] == ["ok", "bad"]
    assert table.recent("a")[1].error == "INVALID_ARGUMENT"
    await queue.stop()
