"""The migrations build the schema the code declares: Alembic's `compare_metadata` between a database migrated
to head (`aios._db.migrate`) and the live metadata (every subsystem's `_schema` module), on SQLite and PostgreSQL.

A table, column, index, unique or foreign key that one side has and the other lacks, or a column whose type or
nullability differs, fails the test: a migration that forgot a column, or a `_schema.py` edit with no migration.
Server defaults are not compared: migrations set them only to fill rows that existed before a column did; the
code always writes every column.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from aios._db import create_engine, metadata, migrate

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aios",)

# What the migrations create with raw SQL that SQLAlchemy's metadata cannot express. Each is named with why.
IGNORED_TABLE_PREFIXES = {
    "notes_fts": "SQLite FTS5: per-scope virtual tables notes_fts_p<n> (and FTS5's shadow tables), their "
    "numbering notes_fts_parts and placement notes_fts_rows; created by migration 0008 and aios/lexical.py",
    "fs_chunks_fts": "SQLite FTS5 for file chunks, as notes_fts",
}
IGNORED_COLUMNS = {
    ("notes", "search_tsv"): "PostgreSQL: tsvector GENERATED ALWAYS AS (to_tsvector(...)) STORED (migration 0002)",
    ("fs_chunks", "search_tsv"): "PostgreSQL: the same generated tsvector over the chunk text (migration 0003)",
    ("notes", "search_body"): "PostgreSQL only: the text the tsvector is computed from (migration 0002); "
    "aios/memory/_schema.py keeps it out of the notes table because SQLite's notes have no such column",
}
IGNORED_INDEXES = {
    "ix_notes_search_tsv": "PostgreSQL: GIN index on the generated tsvector (migration 0002)",
    "ix_fs_chunks_search_tsv": "PostgreSQL: GIN index on the generated tsvector (migration 0003)",
}


def live_metadata() -> sa.MetaData:
    """The metadata with every subsystem's tables: each `_schema` module of our packages, found, not listed, so a
    new subsystem's tables are compared too."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("_schema.py")):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return metadata


def include(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    if kind == "table":
        return not any(name and name.startswith(p) for p in IGNORED_TABLE_PREFIXES)
    if kind == "column":
        return (obj.table.name, name) not in IGNORED_COLUMNS
    if kind == "index":
        return name not in IGNORED_INDEXES
    return True


def differences(engine: sa.Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
        return list(compare_metadata(context, target))


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    url = request.getfixturevalue("postgres").new() if request.param == "postgres" else f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    migrate(engine)
    request.addfinalizer(engine.dispose)
    return engine


def test_every_subsystem_has_tables_in_the_metadata() -> None:
    tables = set(live_metadata().tables)
    for expected in ("agents", "notes", "fs_files", "ctx_messages"):
        assert expected in tables


def test_migrations_build_the_declared_schema(migrated: sa.Engine) -> None:
    diff = differences(migrated, live_metadata())
    assert not diff, "migrations and _schema.py disagree:\n" + "\n".join(map(str, diff))


def test_a_missing_or_extra_column_is_a_difference(migrated: sa.Engine) -> None:
    # The check can fail: the database lacks a column the code declares (a migration forgot it) and has one the
    # code does not.
    with migrated.begin() as conn:
        conn.execute(sa.text("ALTER TABLE fs_blobs DROP COLUMN data"))
        conn.execute(sa.text("ALTER TABLE notes ADD COLUMN stray INTEGER"))
    diff = differences(migrated, live_metadata())
    found = {(d[0], d[2], d[3].name) for d in diff if isinstance(d, tuple) and d[0].endswith("_column")}
    assert found == {("add_column", "fs_blobs", "data"), ("remove_column", "notes", "stray")}
