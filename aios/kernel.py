"""The kernel: owns the data directory and starts the subsystems in dependency order.

start(): lock the data dir → SQL + migrations → agents and the admin token → vector index → embedding
model → memory (+ index repair) → LLM core → context paging → files (+ semantic index) → syscall queues →
gRPC server. stop() runs the list backwards.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from agents import AgentService
from aios._db import create_engine, migrate
from aios.config import KernelConfig
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

__all__ = ["Kernel", "ADMIN_TOKEN_FILE"]

log = logging.getLogger("aios.kernel")
ADMIN_TOKEN_FILE = "admin.token"
_LOCK_FILE = "kernel.lock"


class DataDirLock:
    """An exclusive flock on the data directory, released by the OS if the kernel dies."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / _LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = open(self._path, "a+")  # noqa: SIM115 - held for the kernel's lifetime
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

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            await asyncio.to_thread(self._open_storage)
            self._start_server()
            assert self._server is not None
            await self._server.start()
        except BaseException:
            await self.stop()
            raise
        log.info("aios kernel listening on %s (data in %s)", self.target, cfg.data_dir)

    def _open_storage(self) -> None:
        cfg = self.config
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
        if self.llm.available and cfg.llm_enrichment:
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
        runtime = SyscallRuntime(self.agents, self.table, self._queues)
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
                self._metrics = MetricsServer(cfg.host, cfg.metrics_port, self._collect_metrics)
            except OSError as exc:  # the kernel serves without metrics rather than not at all
                log.warning("metrics endpoint disabled: cannot listen on %s:%d: %s", cfg.host, cfg.metrics_port, exc)
            else:
                self._metrics.start()
                self.metrics_port = self._metrics.port

    def _collect_metrics(self) -> str:
        return collect(self.table, list(self._queues.values()), self.memory, self.llm, self.files)

    async def stop(self, grace_s: float | None = None) -> None:
        grace = self.config.grace_period_s if grace_s is None else grace_s
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        for queue in reversed(list(self._queues.values())):
            await queue.stop()
        self._queues = {}
        if self.context is not None:
            await asyncio.to_thread(self.context.stop)
            self.context = None
        if self.files is not None:
            await asyncio.to_thread(self.files.stop)
            await asyncio.to_thread(self.files.index.stop)
            self.files = None
        await asyncio.to_thread(self.llm.stop)  # first: a waiting enrichment call returns at once
        if self.memory is not None:
            await asyncio.to_thread(self.memory.stop_enrichment)
        if self.memory_jobs is not None:
            await asyncio.to_thread(self.memory_jobs.stop)
            self.memory_jobs = None
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
