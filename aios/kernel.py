"""The kernel: owns the data directory and starts the subsystems in dependency order.

start(): lock the data dir → SQL + migrations → agents and the admin token → vector index → embedding
model → memory (+ index repair) → LLM core → context paging → files (+ semantic index) → syscall queues →
gRPC server → the address file. stop() runs the list backwards, but for the model: it is freed last of the
threads that use it (stop accepting syscalls, drain them, end the LLM work in progress, stop and join the
model's users: context summaries, file summaries, note enrichment, memory jobs; then free the model). A thread
inside llama.cpp while the model is freed would crash the process (SIGSEGV) at every SIGTERM with work pending.

What the kernel writes itself (the database and its WAL files, the admin token, the address file, the lock)
is readable by its user only (0600), and a data directory it creates is 0700.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from agents import AgentService
from aios._db import create_engine, migrate
from aios.config import ADDRESS_FILE, ADMIN_TOKEN_FILE, KernelConfig  # the file names re-exported
from aios.embeddings import Embedder
from aios.errors import FailedPrecondition
from aios.llm import LLMService
from aios.metrics import MetricsServer, collect
from aios.vectors import VectorIndex
from fs import BlobStore, FileService, SemanticIndex
from memory import MemoryService
from memory.context import ContextService
from memory.jobs import MemoryJobs
from syscalls.context_servicer import ContextServicer
from syscalls.dispatch import SyscallRuntime
from syscalls.files_servicer import FileServicer
from syscalls.queues import ResourceQueue
from syscalls.records import SyscallTable
from syscalls.server import SyscallServer
from syscalls.servicers import AdminServicer, LLMServicer, MemoryServicer

__all__ = ["ADDRESS_FILE", "ADMIN_TOKEN_FILE", "Kernel", "connect_address"]

log = logging.getLogger("aios.kernel")
_LOCK_FILE = "kernel.lock"
_PRIVATE = 0o600
_SLOW_STEP_S = 0.5


def connect_address(host: str, port: int) -> str:
    """The address a local client dials for a server bound to `host` (a wildcard bind means loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    return f"{host}:{port}"


def _open_private(path: Path, flags: int) -> int:
    """os.open with mode 0600, also for a file that already existed with a wider mode."""
    fd = os.open(path, flags | os.O_CREAT, _PRIVATE)
    os.fchmod(fd, _PRIVATE)
    return fd


def _private_sqlite_files(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does: its -wal and -shm files copy the mode."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    db = Path(parsed.database)  # type: ignore[arg-type]
    os.close(_open_private(db, os.O_RDONLY))
    for suffix in ("-wal", "-shm", "-journal"):  # left by an older kernel that created them 0644
        companion = db.with_name(db.name + suffix)
        if companion.exists():
            companion.chmod(_PRIVATE)


class DataDirLock:
    """An exclusive flock on the data directory, released by the OS if the kernel dies."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / _LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = os.fdopen(_open_private(self._path, os.O_RDWR | os.O_APPEND), "a+")  # held for the kernel's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise FailedPrecondition(
                f"data directory {self._path.parent} is in use by another aios kernel (pid {holder})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _timed(what: str, step: Awaitable[object]) -> None:
    """Await one step of the stop; a slow one is logged (a stop that overruns its grace says where)."""
    started = time.perf_counter()
    await step
    took = time.perf_counter() - started
    if took >= _SLOW_STEP_S:
        log.info("stopping %s took %.1f s", what, took)


class Kernel:
    def __init__(self, config: KernelConfig, embedder: Embedder | None = None, llm_backend_factory=None) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self._embedder = embedder
        self._llm_factory = llm_backend_factory
        self.llm = LLMService(config.llm, config.data_dir)
        self._lock = DataDirLock(config.data_dir)
        self._queues: dict[str, ResourceQueue] = {}
        self._server: SyscallServer | None = None
        self._metrics: MetricsServer | None = None
        self.memory_jobs: MemoryJobs | None = None
        self.memory: MemoryService | None = None  # type: ignore[assignment]
        self.files: FileService | None = None  # type: ignore[assignment]
        self.context: ContextService | None = None
        self._engine = None
        self.admin_token = ""
        self.port = 0

    @property
    def target(self) -> str:
        return f"{self.config.host}:{self.port}"

    async def start(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            await asyncio.to_thread(self._open_storage)
            self._start_server()
            assert self._server is not None
            await self._server.start()
            self._write_address()
        except BaseException:
            await self.stop()
            raise
        metrics = f"metrics on port {self.metrics_port}" if self._metrics is not None else "no metrics endpoint"
        log.info("aios kernel serving gRPC on %s, %s; %s; data in %s", self.target, metrics, self._llm_summary(),
                 cfg.data_dir.resolve())  # fmt: skip

    def _llm_summary(self) -> str:
        if not self.llm.available:
            return f"LLM unavailable ({self.llm.unavailable_reason})"
        info = self.llm.info()
        enrichment = "on" if self.memory.enrichment_running else "off"
        return (f"LLM backend {info.backend}, model {info.model}, note enrichment {enrichment} "
                f"(llm_enrichment = {self.config.llm_enrichment})")  # fmt: skip

    def _write_address(self) -> None:
        path = self.config.data_dir / ADDRESS_FILE
        tmp = path.with_name(path.name + ".tmp")  # renamed into place: a reader never sees half an address
        with os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as f:
            f.write(connect_address(self.config.host, self.port) + "\n")
        tmp.replace(path)

    def _remove_address(self) -> None:
        path = self.config.data_dir / ADDRESS_FILE
        # Only while this kernel holds the lock: a kernel that failed to start must not remove the file of
        # the one that runs.
        if self._lock.held:
            path.unlink(missing_ok=True)

    def _open_storage(self) -> None:
        cfg = self.config
        _private_sqlite_files(cfg.sqlalchemy_url)
        self._engine = create_engine(cfg.sqlalchemy_url)
        migrate(self._engine)
        self.agents = AgentService(self._engine)
        self.admin_token = self.agents.ensure_admin_token(cfg.data_dir / ADMIN_TOKEN_FILE)
        self.vectors = VectorIndex.open(cfg.data_dir, cfg.chroma_url)
        if self._embedder is None:
            self._embedder = Embedder(cfg.embedding_model, cfg.embedding_device)
        self.memory = MemoryService(self._engine, self._embedder, self.vectors, cfg.limits)
        self.memory_jobs = MemoryJobs(
            str(cfg.data_dir.resolve()), self.memory, self._engine, cfg.decay_interval_s, cfg.consolidate_interval_s
        )
        report = self.memory.reconcile()
        if report.added or report.removed:
            log.warning("vector index repaired: %d missing vectors added, %d extra removed",
                        report.added, report.removed)  # fmt: skip
        self.repair_report = report
        self.llm.start(self._llm_factory)
        if self.llm.available and cfg.enrichment_on:
            self.memory.start_enrichment(self.llm)
        self.context = ContextService(self._engine, self.memory, self.llm, cfg.context, cfg.limits.max_note_chars)
        self.context.start()
        self.memory_jobs.start()
        self.files = FileService(self._engine, BlobStore(cfg.data_dir / "blobs", self._engine), cfg.fs)
        llm = self.llm if self.llm.available else None
        self.files.index = SemanticIndex(self._engine, self._embedder, self.vectors, self.files, llm)
        self.files.index.start()
        self.files.start()

    def _start_server(self) -> None:
        cfg = self.config
        self.table = SyscallTable(cfg.syscall_history)
        self._queues = {name: ResourceQueue(name, q.capacity, q.workers, self.table) for name, q in cfg.queues.items()}
        for queue in self._queues.values():
            queue.start()
        runtime = SyscallRuntime(self.agents, self.table, self._queues, cfg.limits.max_streams_per_agent)
        servicers = [
            AdminServicer(runtime, self.agents, self.memory, self.files),
            MemoryServicer(runtime, self.memory),
            LLMServicer(runtime, self.llm, self.agents),
            FileServicer(runtime, self.files, cfg.limits.max_message_bytes),
            ContextServicer(runtime, self.context),
        ]
        self._server = SyscallServer(servicers, cfg.host, cfg.port, cfg.limits.max_message_bytes)
        self.port = self._server.port
        self.metrics_port = 0
        if cfg.metrics_port >= 0:
            try:
                self._metrics = MetricsServer(cfg.host, cfg.metrics_port, self._collect_metrics, self.agents.is_admin)
            except OSError as exc:  # the kernel serves without metrics rather than not at all
                log.warning("metrics endpoint disabled: cannot listen on %s:%d: %s", cfg.host, cfg.metrics_port, exc)
            else:
                self._metrics.start()
                self.metrics_port = self._metrics.port

    def _collect_metrics(self) -> str:
        return collect(self.table, list(self._queues.values()), self.memory, self.llm, self.files,
                       agent_names=self.agents.names())  # fmt: skip

    async def stop(self, grace_s: float | None = None) -> None:
        grace = self.config.grace_period_s if grace_s is None else grace_s
        self._remove_address()
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._server is not None:
            await _timed("draining the syscalls", self._server.stop(grace))
            self._server = None
        # The grace is over: LLM work still waiting or running ends now (its caller gets UNAVAILABLE, a note being
        # enriched stays pending), so every thread that waits for the model returns; the model stays loaded.
        self.llm.quiesce()
        for queue in reversed(list(self._queues.values())):
            await _timed(f"the {queue.name} queue", queue.stop())
        self._queues = {}
        if self.context is not None:
            await _timed("context paging", asyncio.to_thread(self.context.stop))
            self.context = None
        if self.files is not None:
            await _timed("files", asyncio.to_thread(self.files.stop))
            await _timed("the file index", asyncio.to_thread(self.files.index.stop))
            self.files = None
        if self.memory is not None:
            await _timed("note enrichment", asyncio.to_thread(self.memory.stop_enrichment))
        if self.memory_jobs is not None:
            await _timed("memory jobs", asyncio.to_thread(self.memory_jobs.stop))
            self.memory_jobs = None
        await _timed("the LLM", asyncio.to_thread(self.llm.stop))  # no user is left: the model is freed
        if self.memory is not None:
            await asyncio.to_thread(self.memory.close)
        if getattr(self, "vectors", None) is not None:
            self.vectors.close()
            self.vectors = None  # type: ignore[assignment]
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self._lock.release()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
