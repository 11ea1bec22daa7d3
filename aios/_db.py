"""The SQL engine (SQLite in WAL mode by default, PostgreSQL by URL), its Alembic migrations, and what a full
disk looks like from each store.

SQL is the source of truth for everything the kernel stores; vector indexes are rebuilt from it.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

from aios.errors import ResourceExhausted

__all__ = [
    "MIN_FREE_BYTES",
    "check_free_space",
    "create_engine",
    "free_bytes",
    "low_on_space",
    "metadata",
    "migrate",
    "storage_full",
]

metadata = sa.MetaData()

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and synchronous=FULL (acknowledged = on disk)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=8)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_DATA_DIR_FULL = "no space left on the device holding the data dir"
MIN_FREE_BYTES = 16 << 20
"""Vector and file writes stop while less than this is free on the data dir's device: embedded Chroma can hang
after it meets a full disk, and what is left lets SQLite commit, checkpoint and roll back the rest."""


def free_bytes(path: Path) -> int:
    """Free bytes an unprivileged writer may use on the device holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def low_on_space(path: Path) -> bool:
    return free_bytes(path) < MIN_FREE_BYTES


class _LowOnSpace(ResourceExhausted):
    pass


def check_free_space(path: Path) -> None:
    """RESOURCE_EXHAUSTED (before anything is written) while less than MIN_FREE_BYTES is free on `path`'s device."""
    free = free_bytes(path)
    if free < MIN_FREE_BYTES:
        raise _LowOnSpace(
            f"{_DATA_DIR_FULL} ({free / 2**20:.1f} MiB free; writes stop below {MIN_FREE_BYTES / 2**20:.0f} MiB): "
            "free some space and try again"
        )


# What the stores say when their disk is full and they report it only as text: SQLite's SQLITE_FULL as Chroma
# wraps it ("(code: 13) database or disk is full"), and Rust's io::Error for ENOSPC ("os error 28").
_FULL_TEXTS = ("database or disk is full", "no space left on device", "os error 28")


def storage_full(exc: BaseException) -> str | None:
    """What to tell a client when `exc` (or an error it wraps) means a store ran out of disk space: a write of
    SQLite, a blob file or Chroma (ENOSPC, SQLITE_FULL), PostgreSQL's disk_full (SQLSTATE 53100), or one
    `check_free_space` refused. None if it does not."""
    chain = _chain(exc)
    for error in chain:  # the codes first: PostgreSQL's message also says "No space left on device"
        if isinstance(error, _LowOnSpace):
            return error.message
        if getattr(error, "sqlstate", None) == "53100" or getattr(error, "pgcode", None) == "53100":
            return f"the PostgreSQL server has no space left on its disk ({_first_line(error)}); free some, try again"
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            what = "no space" if error.errno == errno.ENOSPC else "over the disk quota"
            return f"{_DATA_DIR_FULL} ({what}: {error.strerror}); free some space and try again"
        if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return f"{_DATA_DIR_FULL} ({_first_line(error)}); free some space and try again"
    for error in chain:
        if any(text in str(error).lower() for text in _FULL_TEXTS):
            return f"{_DATA_DIR_FULL} ({_first_line(error)}); free some space and try again"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every error it wraps: causes, contexts and SQLAlchemy's `.orig` (the DBAPI error)."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop(0)
        if error is None or any(error is e for e in chain):
            continue
        chain.append(error)
        orig = getattr(error, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, error.__cause__, error.__context__]
    return chain


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
