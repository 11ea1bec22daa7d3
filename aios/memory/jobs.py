"""Scheduled memory jobs (apscheduler): the forgetting-curve decay, in a persistent SQLAlchemy job store
so its schedule survives restarts, and the periodic flush of recall statistics.

apscheduler stores a job as a reference to a module-level function plus its arguments, so the live
jobs are looked up in a registry by the kernel's data directory. A job runs under the worker policy
(aios/lifecycle.py): the model or the disk being away postpones it to its next run; a bug is logged and counted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from aios._db import storage_full
from aios.lifecycle import WorkerHealth
from aios.memory.service import MemoryService

__all__ = ["MemoryJobs", "run_consolidation", "run_decay"]

log = logging.getLogger("aios.memory.jobs")
_RUNNING: dict[str, MemoryJobs] = {}  # by the kernel's data directory, for the stored jobs to find


class _RunsAtDebug(logging.Filter):
    """apscheduler logs every run of a job at INFO ("Running job ...", "... executed successfully"): with the
    recall flush every 5 s that is 1,400 lines an hour of nothing. Pass them on as DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


logging.getLogger("apscheduler.executors.default").addFilter(_RunsAtDebug())
DECAY_JOB = "memory.decay"
CONSOLIDATE_JOB = "memory.consolidate"


def run_decay(key: str) -> None:
    if (running := _RUNNING.get(key)) is not None:
        running.health.run(running.decay, "the forgetting curve")


def run_consolidation(key: str) -> None:
    if (running := _RUNNING.get(key)) is not None:
        running.health.run(running.consolidate, "consolidation")


def flush_recalls(key: str) -> None:
    if (running := _RUNNING.get(key)) is not None:
        running.health.run(running.flush, "the recall flush")


class MemoryJobs:
    def __init__(self, key: str, service: MemoryService, engine: Engine, decay_interval_s: float,
                 consolidate_interval_s: float = 86_400.0, flush_interval_s: float = 5.0) -> None:  # fmt: skip
        self._consolidate_s = consolidate_interval_s
        self._key = key
        self._service = service
        self._scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs"),
                       "volatile": MemoryJobStore()},
            timezone="UTC",
        )  # fmt: skip
        self._decay_s = decay_interval_s
        self._flush_s = flush_interval_s
        self.health = WorkerHealth("memory-jobs")

    def decay(self) -> None:
        if archived := self._service.decay():
            log.info("forgetting curve: archived %d notes", archived)

    def consolidate(self) -> None:
        """Consolidate every agent that has notes."""
        service = self._service
        if written := sum(len(service.consolidate(agent_id).summaries) for agent_id in service.agents_with_notes()):
            log.info("consolidation: wrote %d summary notes", written)

    def flush(self) -> None:
        self._service.flush_recalls()

    def start(self) -> None:
        _RUNNING[self._key] = self
        self._scheduler.start()
        self._scheduler.add_job(run_decay, "interval", seconds=self._decay_s, args=[self._key], id=DECAY_JOB,
                                replace_existing=True, coalesce=True, max_instances=1)  # fmt: skip
        self._scheduler.add_job(run_consolidation, "interval", seconds=self._consolidate_s, args=[self._key],
                                id=CONSOLIDATE_JOB, replace_existing=True, coalesce=True, max_instances=1)  # fmt: skip
        self._scheduler.add_job(flush_recalls, "interval", seconds=self._flush_s, args=[self._key], id="memory.flush",
                                jobstore="volatile", coalesce=True, max_instances=1)  # fmt: skip

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def stop(self) -> None:
        # After a failed start the scheduler never ran; shutting it down would raise SchedulerNotRunningError
        # over the error that stopped the start.
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        try:
            self._service.flush_recalls()
        except Exception as exc:  # on a full disk the recall counts are lost, but the kernel still stops
            if storage_full(exc) is None:
                raise
            log.warning("memory: recall statistics not written at stop: %s", storage_full(exc))
        _RUNNING.pop(self._key, None)
