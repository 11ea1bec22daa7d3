"""The kernel: owns the data directory and runs its parts (aios/lifecycle.py) in dependency order.

start() runs the list of `_parts`: lock the data dir → SQL + migrations, agents and the admin token → vector index
and embedding model → LLM → memory (+ index repair) → note enrichment → memory jobs → context paging → files (+
semantic index) → syscall queues → the LLM's intake → gRPC + HTTP servers → metrics → the address file. stop() (and a
start that fails) stops the started parts in reverse: no more syscalls, drain them, end the LLM work still waiting
or running (the intake's stop: the threads waiting for the model return), stop the queues and join the model's
users (file and context summaries, memory jobs, note enrichment), and only then free the model. A thread inside
llama.cpp while the model is freed would crash the process (SIGSEGV) at every SIGTERM with work pending.

What the kernel writes itself (the database and its WAL files, the admin token, the address file, the lock)
is readable by its user only (0600), and a data directory it creates is 0700.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.routing import BaseRoute

from aios._db import create_engine, migrate
from aios.agents import AgentService
from aios.config import ADDRESS_FILE, ADMIN_TOKEN_FILE, KernelConfig  # the file names re-exported
from aios.embeddings import Embedder
from aios.errors import FailedPrecondition, Unavailable
from aios.fs import BlobStore, FileService, SemanticIndex
from aios.http import ClientPool, HttpServer, KernelHooks, Lifespan, Readiness, TlsFiles, build_app, readiness
from aios.lifecycle import Lifecycle, Parts, Step, WorkerHealth
from aios.llm import Backend, LLMService
from aios.mcp import McpHttp
from aios.memory import MemoryService, RepairReport
from aios.memory.context import ContextService
from aios.memory.jobs import MemoryJobs
from aios.metrics import KernelMetrics, KernelState, MetricsServer
from aios.syscalls.admin import AdminServicer
from aios.syscalls.context import ContextServicer
from aios.syscalls.files import FileServicer
from aios.syscalls.llm import LLMServicer
from aios.syscalls.memory import MemoryServicer
from aios.syscalls.queues import ResourceQueue
from aios.syscalls.records import SyscallTable
from aios.syscalls.runtime import SyscallRuntime
from aios.syscalls.server import SyscallServer, server_credentials
from aios.vectors import VectorIndex

__all__ = ["ADDRESS_FILE", "ADMIN_TOKEN_FILE", "Kernel", "connect_address"]

log = logging.getLogger("aios.kernel")
_LOCK_FILE = "kernel.lock"
_PRIVATE = 0o600


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
    db = Path(parsed.database)
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


class Kernel:
    # Built by the start step that opens each (before `start` they do not exist).
    agents: AgentService
    vectors: VectorIndex
    memory: MemoryService
    memory_jobs: MemoryJobs
    context: ContextService
    files: FileService
    repair_report: RepairReport
    _engine: Engine
    _embedder: Embedder

    def __init__(
        self, config: KernelConfig, embedder: Embedder | None = None, llm_backend: Backend | None = None
    ) -> None:
        self.config = config
        self._given_embedder = embedder  # a test's (loaded once for many kernels); None: the one config names
        self._llm_backend = llm_backend  # a test's fake model; None: the backend config.llm names
        self.llm = LLMService(config.llm, config.data_dir)
        self.metrics = KernelMetrics()  # its own registry: several kernels may share a process
        self.table = SyscallTable(config.syscall_history, on_finished=self.metrics.syscall_finished)
        self.llm.on_completion(self.metrics.completion)
        self._lock = DataDirLock(config.data_dir)
        self._queues = {name: ResourceQueue(name, q.capacity, q.workers, self.table)
                        for name, q in config.queues.items()}  # fmt: skip
        self._server: SyscallServer | None = None
        self._metrics: MetricsServer | None = None
        self._http: HttpServer | None = None
        self.http_routes: list[BaseRoute] = []  # served beside /v1 (e.g. Mount("/mcp", ...)); set before start
        self.http_lifespans: list[Lifespan] = []  # entered while the HTTP face serves
        self._parts = Parts()
        self._grace_s = config.grace_period_s
        self.admin_token = ""
        self.port = 0
        self.metrics_port = 0
        self.http_port = 0

    @property
    def target(self) -> str:
        return f"{self.config.host}:{self.port}"

    def _lifecycle(self) -> list[Lifecycle]:
        """The kernel's parts in start order; each stops after every part that started after it (uses it)."""
        llm = self.llm
        return [
            Step("the data directory lock", self._lock.acquire, self._lock.release),
            Step("SQL storage", self._open_sql, lambda: self._engine.dispose()),
            Step("the vector index", self._open_vectors, lambda: self.vectors.close()),
            Step("the embedding model", self._load_embedder),
            Step("the LLM", lambda: llm.start(self._llm_backend), llm.stop),  # freed once its users stopped
            Step("memory", self._open_memory, lambda: self.memory.close()),
            Step("note enrichment", self._start_enrichment, lambda: self.memory.stop_enrichment()),
            Step("memory jobs", self._start_memory_jobs, lambda: self.memory_jobs.stop()),
            Step("context paging", self._start_context, lambda: self.context.stop()),
            Step("files and their index", self._start_files, lambda: self.files.stop()),
            *[Step(f"the {q.name} queue", self._on_loop(q.start), q.stop) for q in self._queues.values()],
            # Stopped once the syscalls drained: LLM work still waiting or running ends (its caller gets UNAVAILABLE,
            # a note being enriched stays pending), so every thread waiting for the model returns; it stays loaded.
            Step("the LLM's intake", lambda: None, llm.quiesce),
            Step("the gRPC server", self._start_server, self._drain),
            Step("the HTTP face", self._start_http, self._stop_http),
            Step("the metrics endpoint", self._start_metrics, self._stop_metrics),
            Step("the address file", self._write_address, self._remove_address),
        ]

    async def start(self) -> None:
        """Start every part; if one fails, those started are stopped and its error is raised."""
        cfg = self.config
        cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._parts.start(self._lifecycle())
        http = f"HTTP on port {self.http_port}" if self._http is not None else "no HTTP face"
        metrics = f"metrics on port {self.metrics_port}" if self.metrics_port else "no metrics endpoint"
        log.info("aios kernel serving gRPC on %s, %s, %s; %s; data in %s", self.target, http, metrics,
                 self._llm_summary(), cfg.data_dir.resolve())  # fmt: skip

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop the started parts in reverse; syscalls in flight get `grace_s` to finish."""
        self._grace_s = self.config.grace_period_s if grace_s is None else grace_s
        await self._parts.stop()

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def _llm_summary(self) -> str:
        if not self.llm.available:
            return f"LLM unavailable ({self.llm.unavailable_reason})"
        info = self.llm.info()
        enrichment = "on" if self.memory.enrichment_running else "off"
        return (f"LLM backend {info.backend}, model {info.model}, note enrichment {enrichment} "
                f"(llm_enrichment = {self.config.llm_enrichment})")  # fmt: skip

    # -- the steps -------------------------------------------------------------------------------------

    def _open_sql(self) -> None:
        cfg = self.config
        _private_sqlite_files(cfg.sqlalchemy_url)
        self._engine = engine = create_engine(cfg.sqlalchemy_url)
        try:
            migrate(engine)
            self.agents = AgentService(engine)
            self.admin_token = self.agents.ensure_admin_token(cfg.data_dir / ADMIN_TOKEN_FILE)
        except BaseException:
            engine.dispose()
            raise

    def _open_vectors(self) -> None:
        self.vectors = VectorIndex.open(self.config.data_dir, self.config.chroma_url)

    def _load_embedder(self) -> None:
        given, cfg = self._given_embedder, self.config
        self._embedder = given if given is not None else Embedder(cfg.embedding_model, cfg.embedding_device)

    def _open_memory(self) -> None:
        self.memory = MemoryService(self._engine, self._embedder, self.vectors, self.config.limits,
                                    agents=self.agents)  # fmt: skip
        try:
            self.repair_report = report = self.memory.reconcile()
        except BaseException:
            self.memory.close()
            raise
        if report.added or report.removed:
            log.warning("vector index repaired: %d missing vectors added, %d extra removed",
                        report.added, report.removed)  # fmt: skip

    def _start_enrichment(self) -> None:
        if self.llm.available and self.config.enrichment_on:
            self.memory.start_enrichment(self.llm)

    def _start_memory_jobs(self) -> None:
        cfg = self.config
        self.memory_jobs = MemoryJobs(str(cfg.data_dir.resolve()), self.memory, self._engine, cfg.decay_interval_s,
                                      cfg.consolidate_interval_s)  # fmt: skip
        self.memory_jobs.start()

    def _start_context(self) -> None:
        cfg = self.config
        self.context = ContextService(self._engine, self.memory, self.llm, cfg.context, cfg.limits.max_note_chars)
        self.context.start()

    def _start_files(self) -> None:
        cfg = self.config
        blobs = BlobStore(cfg.data_dir / "blobs", self._engine)
        index = SemanticIndex(self._engine, self._embedder, self.vectors, blobs, cfg.fs)
        llm = self.llm if self.llm.available else None
        self.files = FileService(self._engine, blobs, cfg.fs, index=index, llm=llm)
        self.files.start()  # the index, then retention

    @staticmethod
    def _on_loop(start: Callable[[], None]) -> Callable[[], Awaitable[None]]:
        """`start` as a coroutine function: it runs on the kernel's event loop (a queue's tasks live there)."""

        async def on_loop() -> None:
            start()

        return on_loop

    async def _start_server(self) -> None:
        cfg = self.config
        runtime = SyscallRuntime(self.agents, self.table, self._queues, cfg.limits.max_streams_per_agent)
        servicers = [
            AdminServicer(runtime, self.agents, self.memory, self.files),
            MemoryServicer(runtime, self.memory),
            LLMServicer(runtime, self.llm, self.agents),
            FileServicer(runtime, self.files, cfg.limits.max_message_bytes),
            ContextServicer(runtime, self.context),
        ]
        tls = server_credentials(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca) if cfg.tls_cert and cfg.tls_key else None
        server = SyscallServer(servicers, cfg.host, cfg.port, cfg.limits.max_message_bytes, tls)
        try:
            await server.start()
        except BaseException:
            await server.stop(0)
            raise
        self._server, self.port = server, server.port

    async def _drain(self) -> None:
        """Refuse new syscalls and let those in flight finish within the grace period."""
        if self._server is not None:
            await self._server.stop(self._grace_s)

    async def _start_http(self) -> None:
        cfg, server = self.config, self._server
        if cfg.http_port < 0 or server is None:
            return
        hooks = KernelHooks(server.internal_target or connect_address(cfg.host, self.port), self.agents.authenticate,
                            self._embedder.encode, self._embedder.dimension, self.agents.is_admin,
                            self._collect_metrics, self._readiness, cfg.limits.max_message_bytes)  # fmt: skip
        tls = TlsFiles(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca) if cfg.tls_cert and cfg.tls_key else None
        mcp = McpHttp(hooks.target, host=cfg.host)  # MCP over streamable HTTP at /mcp, bearer token per request
        app = build_app(hooks, ClientPool(hooks.target), [*self.http_routes, mcp.route],
                        [*self.http_lifespans, mcp.lifespan])  # fmt: skip
        try:
            http = HttpServer(app, cfg.host, cfg.http_port, tls, self._grace_s)
            await http.start()
        except Unavailable as exc:  # the kernel serves without its HTTP face rather than not at all
            log.warning("HTTP face disabled: %s", exc.message)
            return
        self._http, self.http_port = http, http.port

    async def _stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    def _readiness(self) -> Readiness:
        planned = [part.name for part in self._lifecycle()]
        return readiness(planned, self._parts.started, self.llm.available, self.llm.unavailable_reason,
                         self.config.llm.backend != "none")  # fmt: skip

    def _start_metrics(self) -> None:
        cfg = self.config
        self.metrics.read_state(KernelState(self.table, list(self._queues.values()), self.memory, self.llm, self.files,
                                            self.agents.names, self._worker_health))  # fmt: skip
        if cfg.metrics_port < 0 or (self._http is not None and cfg.metrics_port == cfg.http_port != 0):
            self.metrics_port = self.http_port if cfg.metrics_port >= 0 else 0  # the HTTP face serves /metrics
            return
        try:
            self._metrics = MetricsServer(cfg.host, cfg.metrics_port, self._collect_metrics, self.agents.is_admin)
        except OSError as exc:  # the kernel serves without metrics rather than not at all
            log.warning("metrics endpoint disabled: cannot listen on %s:%d: %s", cfg.host, cfg.metrics_port, exc)
        else:
            self._metrics.start()
            self.metrics_port = self._metrics.port

    def _stop_metrics(self) -> None:
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None

    def _collect_metrics(self) -> str:
        """The metrics in Prometheus text format (aios.metrics.CONTENT_TYPE): what every /metrics serves."""
        return self.metrics.exposition()

    def _worker_health(self) -> list[WorkerHealth]:
        """Every background worker's counts, for the metrics."""
        health = [self.context.workers.summary.health, self.context.workers.idle.health,
                  self.files.retention.worker.health, self.memory_jobs.health]  # fmt: skip
        if (index := self.files.index) is not None:
            health.append(index.worker.health)
        if (enrichment := self.memory.enrichment_health) is not None:
            health.append(enrichment)
        return health

    def _write_address(self) -> None:
        path = self.config.data_dir / ADDRESS_FILE
        tmp = path.with_name(path.name + ".tmp")  # renamed into place: a reader never sees half an address
        with os.fdopen(_open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w") as f:
            f.write(connect_address(self.config.host, self.port) + "\n")
        tmp.replace(path)

    def _remove_address(self) -> None:
        # Only the file this kernel wrote (a kernel that failed to start never removes the running one's).
        (self.config.data_dir / ADDRESS_FILE).unlink(missing_ok=True)
