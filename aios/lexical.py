"""Lexical full-text search from the database engine itself: SQLite FTS5 (bm25) or PostgreSQL tsvector.

One `Lexical` per searchable table: memory notes and file chunks use the same query rules. On SQLite the
text lives in an FTS5 table keyed by the row id; on PostgreSQL in a generated `search_tsv` column.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aios.text import STOPWORDS

__all__ = ["Lexical", "body", "rrf"]

_TERM = re.compile(r"[A-Za-z0-9]+")
_MAX_TERMS = 32
_POOL = 200
RRF_K = 5


def body(content: str, keywords: list[str], tags: list[str], context: str) -> str:
    return " ".join([content, " ".join(keywords), " ".join(tags), context])


def rrf(**rankings: dict[str, float]) -> dict[str, tuple[float, dict[str, float]]]:
    """Reciprocal-rank fusion of named rankings (id -> score, higher is better); keeps each raw score."""
    fused: dict[str, tuple[float, dict[str, float]]] = {}
    for name, scores in rankings.items():
        for rank, key in enumerate(sorted(scores, key=lambda i: -scores[i])):
            total, signals = fused.get(key, (0.0, {}))
            fused[key] = (total + 1.0 / (RRF_K + rank + 1), {**signals, name: scores[key]})
    return fused


def terms_of(query: str) -> list[str]:
    # Stopwords match nearly every row: bm25 would score thousands of rows for no ranking signal.
    words = list(dict.fromkeys(w.lower() for w in _TERM.findall(query)))
    return ([t for t in words if t not in STOPWORDS and len(t) >= 3] or words)[:_MAX_TERMS]  # "I'm" gives "m"


class Lexical:
    """Full-text search over `table` (primary key `id`).

    `fts` is the SQLite FTS5 table (columns `<key>`, body); `pg_body` the PostgreSQL column the generated
    tsvector is computed from when it must be written explicitly (None: generated from the row itself).
    """

    def __init__(self, dialect: str, table: sa.Table, fts: str, key: str, pg_body: str | None = None) -> None:
        self.sqlite = dialect == "sqlite"
        self._table = table
        self._fts = fts
        self._key = key
        self._pg_body = pg_body

    def put(self, conn: Connection, rows: list[tuple[str, str]], fresh: bool = False) -> None:
        """(row id, searchable text) for new or changed rows; `fresh`: none of them has an entry yet."""
        if not rows:
            return
        if self.sqlite:
            if not fresh:  # the key column is UNINDEXED: this delete scans the whole FTS table
                self.delete(conn, [row_id for row_id, _ in rows])
            conn.execute(
                sa.text(f"INSERT INTO {self._fts} ({self._key}, body) VALUES (:i, :b)"),
                [{"i": i, "b": b} for i, b in rows],
            )
        elif self._pg_body:
            conn.execute(
                sa.text(f"UPDATE {self._table.name} SET {self._pg_body} = :b WHERE id = :i"),
                [{"i": i, "b": b} for i, b in rows],
            )

    def delete(self, conn: Connection, ids: list[str]) -> None:
        if self.sqlite and ids:
            conn.execute(
                sa.text(f"DELETE FROM {self._fts} WHERE {self._key} IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )

    def search(
        self, conn: Connection, where: sa.ColumnElement[bool], query: str, limit: int
    ) -> list[tuple[str, float]]:
        """Best `limit` row ids among rows matching `where`, with a score where higher is better."""
        terms = terms_of(query)
        if not terms:
            return []
        table = self._table
        if self.sqlite:
            return self._search_sqlite(conn, where, " OR ".join(f'"{t}"' for t in terms), limit)
        tsquery = sa.func.to_tsquery("english", " | ".join(terms))
        tsv = sa.literal_column(f"{table.name}.search_tsv")
        rank = sa.func.ts_rank_cd(tsv, tsquery)
        stmt = (
            sa.select(table.c.id, rank.label("rank"))
            .where(tsv.op("@@")(tsquery), where)
            .order_by(rank.desc())
            .limit(limit)
        )
        return [(row.id, float(row.rank)) for row in conn.execute(stmt)]

    def _search_sqlite(
        self, conn: Connection, where: sa.ColumnElement[bool], match: str, limit: int
    ) -> list[tuple[str, float]]:
        table = self._table
        fts = sa.table(self._fts, sa.column(self._key), sa.column("rank"))
        matching = sa.literal_column(self._fts).op("MATCH")(match)
        # The best few matches first (FTS5 sorts by its bm25 `rank` itself), then the filter on those
        # rows only, looked up by primary key: joined to the filter, SQLite scored every match and often
        # walked the table by a filter index instead. Exact: when at least `limit` of the first `pool`
        # pass, no match ranked below them can enter the top `limit`; otherwise the full query runs.
        pool = max(4 * limit, _POOL)
        best = sa.select(fts.c[self._key].label("key"), fts.c.rank).where(matching).order_by(fts.c.rank).limit(pool)
        sub = best.subquery()
        rows = conn.execute(
            sa.select(sub.c.key, sub.c.rank, where.label("ok")).join(table, table.c.id == sub.c.key)
            .order_by(sub.c.rank)
        ).all()  # fmt: skip
        hits = [(row.key, -float(row.rank)) for row in rows if row.ok][:limit]
        if len(hits) == limit or len(rows) < pool:
            return hits
        rank = sa.func.bm25(sa.literal_column(self._fts))
        stmt = (
            sa.select(fts.c[self._key].label("key"), rank.label("rank"))
            .join(table, table.c.id == fts.c[self._key])
            .where(matching, where)
            .order_by(rank)
            .limit(limit)
        )
        return [(row.key, -float(row.rank)) for row in conn.execute(stmt)]
