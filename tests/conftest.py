"""Shared fixtures: the real embedding model, real PostgreSQL and a real Chroma server, and kernels."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from aios.config import KernelConfig, QueueConfig, load_config  # noqa: E402
from aios.embeddings import Embedder  # noqa: E402
from aios.kernel import Kernel  # noqa: E402

PG_ADMIN_URL = os.environ.get("AIOS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres", "chroma-server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


class PostgresDatabases:
    """Creates a fresh database per use on the test server and drops them all at the end."""

    def __init__(self) -> None:
        self._created: list[str] = []

    def new(self) -> str:
        name = f"aios_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    dbs = PostgresDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server, as users run it to scale out."""
    import chromadb

    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    log = open(path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                tail = (path / "server.log").read_text()[-2000:]
                raise RuntimeError(f"chroma server did not start: {tail}") from None
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres: PostgresDatabases) -> dict[str, str | None]:
    """database_url and chroma_url for each storage mode: the same tests run against all of them."""
    if request.param == "postgres":
        return {"database_url": postgres.new(), "chroma_url": None}
    if request.param == "chroma-server":
        return {"database_url": None, "chroma_url": request.getfixturevalue("chroma_server")}
    return {"database_url": None, "chroma_url": None}


class ThreadedKernel:
    """An in-process kernel on port 0, its event loop on a background thread, for sync tests."""

    def __init__(self, config: KernelConfig, embedder: Embedder) -> None:
        self.kernel = Kernel(config, embedder=embedder)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Kernel:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.kernel.start(), self._loop).result(120)
        return self.kernel

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.kernel.stop(grace_s=1), self._loop).result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()  # its selector and self-pipe: a long test run must not run out of descriptors


def kernel_config(data_dir: Path, **kwargs) -> KernelConfig:  # type: ignore[no-untyped-def]
    queues = kwargs.pop("queues", None)
    # LLM enrichment rewrites notes in the background; tests that want it turn it on.
    kwargs.setdefault("llm_enrichment", 0)
    kwargs.setdefault("http_port", 0)  # never the default port: tests run side by side
    config = load_config(env={}, data_dir=data_dir, port=0, metrics_port=0, **kwargs)
    if queues:
        config = KernelConfig(**{**config.__dict__, "queues": {**config.queues, **queues}})
    return config


@pytest.fixture
def kernel(tmp_path: Path, embedder: Embedder, backend: dict[str, str | None]) -> Iterator[Kernel]:
    with ThreadedKernel(kernel_config(tmp_path / "data", **backend), embedder) as k:
        yield k


@pytest.fixture(scope="module")
def llm_kernel(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Kernel]:
    """A kernel with the real model (enrichment off), shared by one test module."""
    with ThreadedKernel(kernel_config(tmp_path_factory.mktemp("llm") / "data"), embedder) as k:
        assert k.llm.available, k.llm.unavailable_reason
        yield k


@contextlib.contextmanager
def agent_client(kernel: Kernel, name: str, **options: Any) -> Iterator[Any]:
    """A new agent of `kernel`, as the SDK's Client."""
    from aios.client import Client

    with Client(kernel.target, kernel.admin_token) as admin:
        token = admin.create_agent(name).token
    with Client(kernel.target, token, **options) as client:
        yield client


@pytest.fixture
def sqlite_kernel(tmp_path: Path, embedder: Embedder) -> Iterator[Kernel]:
    with ThreadedKernel(kernel_config(tmp_path / "data"), embedder) as k:
        yield k


__all__ = ["QueueConfig", "Storage", "ThreadedKernel", "agent_client", "free_port", "kernel_config"]


def same_note(a, b) -> bool:  # type: ignore[no-untyped-def]
    """The same stored note: reads also report retention and access statistics, which change with time."""
    fields = ("id", "agent_id", "content", "metadata", "created_at", "version")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


class Storage:
    """What a subsystem stands on, without a kernel: a migrated SQL engine, a vector index and the real
    embedder, and the config. Tests build the service they test from it directly (no gRPC, no model)."""

    def __init__(self, config: KernelConfig, embedder: Embedder) -> None:
        from aios._db import create_engine, migrate
        from aios.agents import AgentService
        from aios.vectors import VectorIndex

        self.config = config
        self.embedder = embedder
        self.engine = create_engine(config.sqlalchemy_url)
        migrate(self.engine)
        self.vectors = VectorIndex.open(config.data_dir, config.chroma_url)
        self.agents = AgentService(self.engine)

    def new_agent(self, name: str = "agent") -> str:
        """A registered agent's id."""
        return self.agents.create(f"{name}-{uuid.uuid4().hex[:6]}")[0].id

    def close(self) -> None:
        self.vectors.close()
        self.engine.dispose()


@pytest.fixture
def storage(tmp_path: Path, embedder: Embedder) -> Iterator[Storage]:
    """SQLite + embedded Chroma + the embedder, for building one service directly."""
    config = kernel_config(tmp_path / "data")
    config.data_dir.mkdir(parents=True)
    s = Storage(config, embedder)
    yield s
    s.close()


@pytest.fixture
def any_storage(tmp_path: Path, embedder: Embedder, backend: dict[str, str | None]) -> Iterator[Storage]:
    """`storage` on each backend (SQLite, PostgreSQL, a Chroma server)."""
    config = kernel_config(tmp_path / "data", **backend)
    config.data_dir.mkdir(parents=True)
    s = Storage(config, embedder)
    yield s
    s.close()
