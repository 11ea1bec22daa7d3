"""Lexical full-text search from the database engine itself: SQLite FTS5 (bm25) or PostgreSQL tsvector."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from memory._schema import notes
from memory.enrich import STOPWORDS

_TERM = re.compile(r"[A-Za-z0-9]+")
_MAX_TERMS = 32


def body(content: str, keywords: list[str], tags: list[str], context: str) -> str:
    return " ".join([content, " ".join(keywords), " ".join(tags), context])


class Lexical:
    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def put(self, conn: Connection, rows: list[tuple[str, str]]) -> None:
        """(note id, searchable text) for new or changed notes."""
        if not rows:
            return
        if self.sqlite:
            self.delete(conn, [note_id for note_id, _ in rows])
            conn.execute(
                sa.text("INSERT INTO notes_fts (note_id, body) VALUES (:i, :b)"), [{"i": i, "b": b} for i, b in rows]
            )
        else:
            conn.execute(
                sa.text("UPDATE notes SET search_body = :b WHERE id = :i"), [{"i": i, "b": b} for i, b in rows]
            )

    def delete(self, conn: Connection, ids: list[str]) -> None:
        if self.sqlite and ids:
            conn.execute(
                sa.text("DELETE FROM notes_fts WHERE note_id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids},
            )

    def search(
        self, conn: Connection, where: sa.ColumnElement[bool], query: str, limit: int
    ) -> list[tuple[str, float]]:
        """Best `limit` note ids among rows matching `where`, with a score where higher is better."""
        # Stopwords match nearly every note: bm25 would score thousands of rows for no ranking signal.
        words = list(dict.fromkeys(w.lower() for w in _TERM.findall(query)))
        terms = [t for t in words if t not in STOPWORDS and len(t) >= 3] or words  # "I'm" gives "m"
        terms = terms[:_MAX_TERMS]
        if not terms:
            return []
        if self.sqlite:
            fts = sa.table("notes_fts", sa.column("note_id"), sa.column("body"))
            match = " OR ".join(f'"{t}"' for t in terms)
            rank = sa.func.bm25(sa.literal_column("notes_fts"))
            stmt = (
                sa.select(fts.c.note_id, rank.label("rank"))
                .join(notes, notes.c.id == fts.c.note_id)
                .where(sa.literal_column("notes_fts").op("MATCH")(match), where)
                .order_by(rank)
                .limit(limit)
            )
            return [(row.note_id, -float(row.rank)) for row in conn.execute(stmt)]
        tsquery = sa.func.to_tsquery("english", " | ".join(terms))
        tsv = sa.literal_column("notes.search_tsv")
        rank = sa.func.ts_rank_cd(tsv, tsquery)
        stmt = (
            sa.select(notes.c.id, rank.label("rank"))
            .where(tsv.op("@@")(tsquery), where)
            .order_by(rank.desc())
            .limit(limit)
        )
        return [(row.id, float(row.rank)) for row in conn.execute(stmt)]
