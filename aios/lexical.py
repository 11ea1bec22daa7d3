"""Lexical full-text search from the database engine itself: SQLite FTS5 (bm25) or PostgreSQL tsvector.

One `Lexical` per searchable table: memory notes and file chunks use the same query rules. On PostgreSQL the
text lives in a generated `search_tsv` column.

A score depends on nothing its searcher cannot see. PostgreSQL's `ts_rank_cd` (cover density) reads only the
document and the query. FTS5's bm25 reads table-wide statistics (row count, average length, how many rows hold
each term), so on SQLite the rows are indexed by *scope*: one FTS5 table per scope, `<fts>_p<n>` (numbered in
`<fts>_parts`), each row in every scope it is searched in (a note in its owner's and in each reader's, a file
chunk in its tree's), and a search reads its caller's scopes only. bm25 stays FTS5's own (k1=1.2, b=0.75), over
the rows the caller may see. `<fts>_rows` places each row: its FTS5 rowid in each of its scopes.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aios.text import STOPWORDS

__all__ = ["Lexical", "body", "rrf"]

_TERM = re.compile(r"[A-Za-z0-9]+")
_MAX_TERMS = 32
_POOL = 200
_BATCH = 500  # ids a statement binds at once
RRF_K = 5
_CREATE = "CREATE VIRTUAL TABLE {table} USING fts5({key} UNINDEXED, body, tokenize='porter unicode61')"
_T = TypeVar("_T")


def body(content: str, keywords: list[str], tags: list[str], context: str) -> str:
    return " ".join([content, " ".join(keywords), " ".join(tags), context])


def rrf(**rankings: dict[str, float]) -> dict[str, tuple[float, dict[str, float]]]:
    """Reciprocal-rank fusion of named rankings (id -> score, higher is better); keeps each raw score.

    Equal scores share a rank (the number of better ones), so how a ranking happened to order its ties (row ids,
    insertion order) never decides the fused order."""
    fused: dict[str, tuple[float, dict[str, float]]] = {}
    for name, scores in rankings.items():
        ordered = sorted(scores.values(), reverse=True)
        for key, score in scores.items():
            rank = bisect.bisect_left(ordered, -score, key=lambda s: -s)  # how many score higher
            total, signals = fused.get(key, (0.0, {}))
            fused[key] = (total + 1.0 / (RRF_K + rank + 1), {**signals, name: score})
    return fused


def terms_of(query: str) -> list[str]:
    # Stopwords match nearly every row: bm25 would score thousands of rows for no ranking signal.
    words = list(dict.fromkeys(w.lower() for w in _TERM.findall(query)))
    return ([t for t in words if t not in STOPWORDS and len(t) >= 3] or words)[:_MAX_TERMS]  # "I'm" gives "m"


def _batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


def _in(sql: str) -> sa.TextClause:
    return sa.text(sql).bindparams(sa.bindparam("ids", expanding=True))


class Lexical:
    """Full-text search over `table` (primary key `id`).

    `fts` names the SQLite FTS5 tables (columns `<key>`, body); `pg_body` the PostgreSQL column the generated
    tsvector is computed from when it must be written explicitly (None: generated from the row itself).
    `scopes_of` selects (row id, scope) pairs: the scopes each row is searched in, each with statistics of its
    own (None: one scope for the whole table).
    """

    def __init__(
        self, dialect: str, table: sa.Table, fts: str, key: str, pg_body: str | None = None,
        scopes_of: sa.SelectBase | None = None,
    ) -> None:  # fmt: skip
        self.sqlite = dialect == "sqlite"
        self._table = table
        self._fts = fts
        self._key = key
        self._pg_body = pg_body
        self._scopes_of = scopes_of

    def put(self, conn: Connection, rows: list[tuple[str, str]], fresh: bool = False) -> None:
        """(row id, searchable text) for new or changed rows, or rows whose scopes changed (a note shared or
        unshared); `fresh`: none of them has an entry yet."""
        if not rows:
            return
        if self.sqlite:
            texts = dict(rows)
            ids = list(texts)
            if not fresh:
                self.delete(conn, ids)
            pairs = self._scopes(conn, ids)
            parts = self._parts(conn, {scope for _, scope in pairs}, create=True)
            if not pairs:
                return
            conn.execute(
                sa.text(f"INSERT INTO {self._fts}_rows (key, part) VALUES (:k, :p)"),
                [{"k": i, "p": parts[scope]} for i, scope in pairs],
            )
            by_part: dict[int, list[dict[str, object]]] = defaultdict(list)
            for batch in _batches(ids):
                for rid, key, part in conn.execute(
                    _in(f"SELECT rid, key, part FROM {self._fts}_rows WHERE key IN :ids"), {"ids": batch}
                ):
                    by_part[part].append({"r": rid, "k": key, "b": texts[key]})
            for part, values in by_part.items():
                conn.execute(
                    sa.text(f"INSERT INTO {self._part(part)} (rowid, {self._key}, body) VALUES (:r, :k, :b)"), values
                )
        elif self._pg_body:
            conn.execute(
                sa.text(f"UPDATE {self._table.name} SET {self._pg_body} = :b WHERE id = :i"),
                [{"i": i, "b": b} for i, b in rows],
            )

    def delete(self, conn: Connection, ids: list[str]) -> None:
        if not (self.sqlite and ids):
            return
        by_part: dict[int, list[int]] = defaultdict(list)
        for batch in _batches(ids):
            for rid, part in conn.execute(_in(f"SELECT rid, part FROM {self._fts}_rows WHERE key IN :ids"),
                                          {"ids": batch}):  # fmt: skip
                by_part[part].append(rid)
        for part, rids in by_part.items():
            for rid_batch in _batches(rids):
                conn.execute(_in(f"DELETE FROM {self._part(part)} WHERE rowid IN :ids"), {"ids": rid_batch})
        for batch in _batches(ids):
            conn.execute(_in(f"DELETE FROM {self._fts}_rows WHERE key IN :ids"), {"ids": batch})

    def search(
        self, conn: Connection, where: sa.ColumnElement[bool], query: str, limit: int,
        scopes: Iterable[str] | None = None,
    ) -> list[tuple[str, float]]:  # fmt: skip
        """Best `limit` row ids among rows matching `where`, with a score where higher is better.

        On SQLite bm25 counts the rows of `scopes` (the scopes the caller may read; `where` should admit rows of
        these scopes only); None reads every scope, a row found in several scoring its best (for maintenance:
        such scores mix statistics of scopes no single caller may read)."""
        terms = terms_of(query)
        if not terms:
            return []
        table = self._table
        if self.sqlite:
            if isinstance(scopes, str):
                raise TypeError("scopes is a collection of scope keys, not one string")
            parts = self._parts(conn, None if scopes is None else set(scopes))
            match = " OR ".join(f'"{t}"' for t in terms)
            best: dict[str, float] = {}
            for part in sorted(parts.values()):
                for key, score in self._search_sqlite(conn, self._part(part), where, match, limit):
                    best[key] = max(score, best.get(key, score))
            return sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:limit]
        tsquery = sa.func.to_tsquery("english", " | ".join(terms))
        tsv: sa.ColumnClause[Any] = sa.literal_column(f"{table.name}.search_tsv")
        rank = sa.func.ts_rank_cd(tsv, tsquery)  # the row and the query only: no statistics of other rows
        stmt = (
            sa.select(table.c.id, rank.label("rank"))
            .where(tsv.op("@@")(tsquery), where)
            .order_by(rank.desc(), table.c.id)  # ties in a fixed order, whatever else the table holds
            .limit(limit)
        )
        return [(row.id, float(row.rank)) for row in conn.execute(stmt)]

    def _part(self, n: int) -> str:
        return f"{self._fts}_p{int(n)}"

    def _scopes(self, conn: Connection, ids: list[str]) -> list[tuple[str, str]]:
        """The (row id, scope) pairs of `ids`: where each row is to be indexed."""
        if self._scopes_of is None:
            return [(i, "") for i in ids]
        pairs = self._scopes_of.subquery()
        row_id, scope = list(pairs.c)
        found: set[tuple[str, str]] = set()
        for batch in _batches(ids):
            found.update((i, s) for i, s in conn.execute(sa.select(row_id, scope).where(row_id.in_(batch))))
        return sorted(found)

    def _parts(self, conn: Connection, scopes: set[str] | None, create: bool = False) -> dict[str, int]:
        """scope -> number of its FTS5 table, for `scopes` (None: all); with `create`, new scopes get a table."""
        if scopes is None:
            return dict(conn.execute(sa.text(f"SELECT key, n FROM {self._fts}_parts")).all())
        found: dict[str, int] = {}
        listed = sorted(scopes)
        for batch in _batches(listed):
            found.update(conn.execute(_in(f"SELECT key, n FROM {self._fts}_parts WHERE key IN :ids"),
                                      {"ids": batch}).all())  # fmt: skip
        for scope in listed if create else ():
            if scope not in found:
                n = conn.execute(sa.text(f"INSERT INTO {self._fts}_parts (key) VALUES (:k)"), {"k": scope}).lastrowid
                assert n is not None
                conn.execute(sa.text(_CREATE.format(table=self._part(n), key=self._key)))
                found[scope] = n
        return found

    def _search_sqlite(
        self, conn: Connection, part: str, where: sa.ColumnElement[bool], match: str, limit: int
    ) -> list[tuple[str, float]]:
        table = self._table
        fts = sa.table(part, sa.column(self._key), sa.column("rank"))
        matching = sa.literal_column(part).op("MATCH")(match)
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
        rank = sa.func.bm25(sa.literal_column(part))
        stmt = (
            sa.select(fts.c[self._key].label("key"), rank.label("rank"))
            .join(table, table.c.id == fts.c[self._key])
            .where(matching, where)
            .order_by(rank)
            .limit(limit)
        )
        return [(row.key, -float(row.rank)) for row in conn.execute(stmt)]
