"""The SQL engine (SQLite in WAL mode by default, PostgreSQL by URL) and its Alembic migrations.

SQL is the source of truth for everything the kernel stores; vector indexes are rebuilt from it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

__all__ = ["metadata", "create_engine", "migrate"]

metadata = sa.MetaData()

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine(url: str) -> Engine:
    """An engine for `url`. SQLite gets WAL, a busy timeout and synchronous=FULL (acknowledged = on disk)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
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
