"""full-text statistics per scope: on SQLite one FTS5 table per scope, so bm25 counts only rows the searcher may see

FTS5's bm25 reads table-wide statistics (row count, average length, how many rows hold each term): with every
agent's rows in one table, one agent's notes moved another agent's scores and rankings. Each row is now in the
FTS5 table of every scope it is searched in (aios/lexical.py): a note in its owner's and in each reader's, a file
chunk in its tree's. PostgreSQL ranks with ts_rank_cd, which reads the row and the query only: nothing changes.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (FTS5 table, its key column, the (row_id, scope) pairs): as aios/memory/_schema.py and aios/fs/_schema.py define them.
_FTS = (
    ("notes_fts", "note_id", "SELECT id AS row_id, agent_id AS scope FROM notes UNION "
     "SELECT s.note_id, s.agent_id FROM note_shares s JOIN agents a ON a.id = s.agent_id"),
    ("fs_chunks_fts", "chunk_id", "SELECT id AS row_id, tree_id AS scope FROM fs_chunks"),
)  # fmt: skip
_CREATE = "CREATE VIRTUAL TABLE {table} USING fts5({key} UNINDEXED, body, tokenize='porter unicode61')"


def _parts(fts: str) -> list[int]:
    return list(op.get_bind().execute(sa.text(f"SELECT n FROM {fts}_parts ORDER BY n")).scalars())


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts, key, pairs in _FTS:
        op.execute(f"CREATE TABLE {fts}_parts (n INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE)")
        op.execute(f"CREATE TABLE {fts}_rows (rid INTEGER PRIMARY KEY, key TEXT NOT NULL, part INTEGER NOT NULL)")
        op.execute(f"CREATE INDEX ix_{fts}_rows_key ON {fts}_rows (key)")
        op.execute(f"INSERT INTO {fts}_parts (key) SELECT DISTINCT scope FROM ({pairs}) ORDER BY scope")
        # The FTS5 key column has no index: read the old table once, in order, and look the rest up by key.
        op.execute(
            f"INSERT INTO {fts}_rows (key, part) SELECT p.row_id, parts.n FROM {fts} AS f "
            f"CROSS JOIN ({pairs}) AS p ON p.row_id = f.{key} JOIN {fts}_parts AS parts ON parts.key = p.scope "
            "ORDER BY parts.n, f.rowid"
        )
        op.execute(
            f"CREATE TEMP TABLE _moved AS SELECT r.rid, r.part, r.key, f.body FROM {fts} AS f "
            f"CROSS JOIN {fts}_rows AS r ON r.key = f.{key}"
        )
        op.execute("CREATE INDEX temp._ix_moved ON _moved (part)")
        for n in _parts(fts):
            part = f"{fts}_p{n}"
            op.execute(_CREATE.format(table=part, key=key))
            op.execute(f"INSERT INTO {part} (rowid, {key}, body) SELECT rid, key, body FROM _moved WHERE part = {n}")
        op.execute("DROP TABLE _moved")
        op.execute(f"DROP TABLE {fts}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts, key, _ in _FTS:
        op.execute(_CREATE.format(table=fts, key=key))
        first = f"SELECT min(rid) FROM {fts}_rows GROUP BY key"  # one entry a row, from any of its scopes
        for n in _parts(fts):
            op.execute(f"INSERT INTO {fts} ({key}, body) SELECT {key}, body FROM {fts}_p{n} WHERE rowid IN ({first})")
            op.execute(f"DROP TABLE {fts}_p{n}")
        op.execute(f"DROP TABLE {fts}_rows")
        op.execute(f"DROP TABLE {fts}_parts")
