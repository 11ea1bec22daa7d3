"""The notes' rows: SQL rows to `Note`s, who may see a note (the owner and whom it is shared with), its versions and
the compare-and-set write every change of a note goes through. The other memory collaborators read and write
notes through this store; it knows nothing of vectors, links or the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aios.errors import NotFound, PermissionDenied, ResourceExhausted
from aios.lexical import Lexical, body
from aios.memory._schema import note_links, note_readers, note_shares, note_versions, notes
from aios.memory.directory import AgentDirectory
from aios.memory.forgetting import ForgettingConfig, retention
from aios.memory.models import MemoryStats, Note, NoteVersion, SearchFilters
from aios.memory.validation import MAX_SHARES, check_id, check_share_targets

__all__ = ["EVOLUTION", "USER_FIELDS", "WRITE_ATTEMPTS", "NoteRow", "NoteStore", "RowView", "SqlRow", "search_text"]

EVOLUTION = "evolution:"
"""A version's cause when linking changed the note: "evolution:<id of the new note that caused it>"."""
USER_FIELDS = ("keywords", "context", "tags", "category")
"""Fields a user may set and a kernel job may otherwise fill or evolve; once the user set one it is theirs."""
WRITE_ATTEMPTS = 5
"""Times a read-modify-write of a note starts over when another write won its version."""


class RowView:
    """A note row held as a dict, read like an `sa.Row` (attributes and `_mapping`)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


SqlRow: TypeAlias = "sa.Row[*tuple[Any, ...]]"
"""A row as SQLAlchemy returns it, of any columns."""
NoteRow: TypeAlias = "SqlRow | RowView"


def search_text(row: Any) -> str:
    """What the full-text index holds of a note (`row`: a notes row's mapping)."""
    return body(row["content"], row["keywords"], row["tags"], row["context"])


class NoteStore:
    """`engine`, `clock` and `forgetting` are the memory service's; the full-text index (`lexical`) is kept here,
    beside the rows it indexes."""

    def __init__(self, engine: Engine, agents: AgentDirectory, clock: Callable[[], float],
                 forgetting: ForgettingConfig) -> None:  # fmt: skip
        self.engine = engine
        self.clock = clock
        self.forgetting = forgetting
        self.lexical = Lexical(engine.dialect.name, notes, "notes_fts", "note_id", pg_body="search_body",
                               scopes_of=note_readers(agents.id_query()))  # fmt: skip

    # -- rows and notes ---------------------------------------------------------------------------------

    def retention(self, row: NoteRow, now: float) -> float:
        return retention(now - row.last_accessed, row.strength_s, row.importance, row.pinned, self.forgetting)

    def to_note(self, row: NoteRow, shared_with: list[str], now: float) -> Note:
        return Note(
            row.id,
            row.agent_id,
            row.content,
            dict(row.metadata),
            row.created_at,
            list(row.keywords),
            row.context,
            list(row.tags),
            row.category,
            row.event_at,
            row.last_accessed,
            row.access_count,
            row.strength_s,
            row.importance,
            row.pinned,
            row.archived_at,
            row.enrichment,
            row.version,
            sorted(shared_with),
            self.retention(row, now),
            list(row.user_fields),
        )

    @staticmethod
    def rows(
        conn: Connection, ids: Sequence[str], where: sa.ColumnElement[bool], columns: Sequence[Any] = (notes,)
    ) -> dict[str, SqlRow]:
        """The notes among `ids` that match `where`, by id (`columns` of them). The filter is evaluated per
        row, not in the WHERE clause: there SQLite walked every note of the agent by the (agent_id,
        archived_at) index instead of looking the few ids up by primary key."""
        out: dict[str, SqlRow] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            for row in conn.execute(sa.select(*columns, where.label("_ok")).where(notes.c.id.in_(chunk))):
                if row._ok:
                    out[row.id] = row
        return out

    @staticmethod
    def shares(conn: Connection, ids: list[str]) -> dict[str, list[str]]:
        """Note id -> the agents it is shared with, for `ids`."""
        out: dict[str, list[str]] = {}
        if ids:
            for note_id, agent in conn.execute(sa.select(note_shares).where(note_shares.c.note_id.in_(ids))):
                out.setdefault(note_id, []).append(agent)
        return out

    def get_many(self, agent_id: str, ids: Sequence[str]) -> list[Note]:
        """Visible notes among `ids`, in that order."""
        with self.engine.connect() as conn:
            rows = list(self.rows(conn, list(ids), self.visible(agent_id)).values())
            shared = self.shares(conn, [r.id for r in rows])
        now = self.clock()
        by_id = {r.id: self.to_note(r, shared.get(r.id, []), now) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    # -- who sees what ----------------------------------------------------------------------------------

    @staticmethod
    def visible(agent_id: str) -> sa.ColumnElement[bool]:
        """The notes `agent_id` may read: its own and those shared with it."""
        shared = sa.select(note_shares.c.note_id).where(note_shares.c.agent_id == agent_id)
        return sa.or_(notes.c.agent_id == agent_id, notes.c.id.in_(shared))

    @staticmethod
    def matching(agent_id: str, f: SearchFilters) -> sa.ColumnElement[bool]:
        """The notes a search of `agent_id` with filters `f` may return."""
        shared = sa.select(note_shares.c.note_id).where(note_shares.c.agent_id == agent_id)
        scope = {
            "own": notes.c.agent_id == agent_id,
            "shared": notes.c.id.in_(shared),
            "all": sa.or_(notes.c.agent_id == agent_id, notes.c.id.in_(shared)),
        }[f.scope]
        clauses = [scope]
        if not f.include_archived:
            clauses.append(notes.c.archived_at.is_(None))
        if f.category:
            clauses.append(notes.c.category == f.category)
        for column, low, high in (
            (notes.c.created_at, f.created_after, f.created_before),
            (notes.c.event_at, f.event_after, f.event_before),
        ):
            if low is not None:
                clauses.append(column >= low)
            if high is not None:
                clauses.append(column < high)
        if f.tags:
            # JSON containment differs per engine; a LIKE on the serialised list is portable and exact
            # because tags are quoted in it.
            clauses.append(sa.or_(*[sa.cast(notes.c.tags, sa.Text).like(f'%"{t}"%') for t in f.tags]))
        return sa.and_(*clauses)

    def visible_row(self, conn: Connection, agent_id: str, note_id: str) -> SqlRow:
        check_id(note_id)
        row = conn.execute(sa.select(notes).where(notes.c.id == note_id, self.visible(agent_id))).first()
        if row is None:
            raise NotFound(f"no note {note_id!r}")
        return row

    def own_row(self, conn: Connection, agent_id: str, note_id: str) -> SqlRow:
        row = self.visible_row(conn, agent_id, note_id)
        if row.agent_id != agent_id:
            raise PermissionDenied(f"note {note_id} is shared with you read-only")
        return row

    def set_flags(self, agent_id: str, note_id: str, *, archived: bool | None, pinned: bool | None) -> None:
        now = self.clock()
        values: dict[str, Any] = {}
        if archived is not None:
            values["archived_at"] = now if archived else None
            if not archived:
                values["last_accessed"] = now  # a restored note starts a fresh curve
        if pinned is not None:
            values["pinned"] = pinned
        with self.engine.begin() as conn:
            self.own_row(conn, agent_id, note_id)
            conn.execute(sa.update(notes).where(notes.c.id == note_id).values(**values))

    def share(self, agent_id: str, note_id: str, with_agents: Sequence[str], share: bool) -> None:
        with self.engine.begin() as conn:
            row = self.own_row(conn, agent_id, note_id)
            if share:
                check_share_targets(agent_id, set(with_agents))
                have = set(
                    conn.execute(sa.select(note_shares.c.agent_id).where(note_shares.c.note_id == note_id)).scalars()
                )
                new = [{"note_id": note_id, "agent_id": a} for a in dict.fromkeys(with_agents) if a not in have]
                if len(have) + len(new) > MAX_SHARES:
                    raise ResourceExhausted(f"a note is shared with at most {MAX_SHARES} agents")
                if new:
                    conn.execute(sa.insert(note_shares), new)
            else:
                check_share_targets("", set(with_agents))  # the form only (PostgreSQL refuses a NUL)
                conn.execute(
                    sa.delete(note_shares).where(
                        note_shares.c.note_id == note_id, note_shares.c.agent_id.in_(list(with_agents))
                    )
                )
            self.lexical.put(conn, [(note_id, search_text(row._mapping))])  # in its readers' statistics

    # -- versions ---------------------------------------------------------------------------------------

    @staticmethod
    def version_row(row: dict[str, Any], cause: str, now: float) -> dict[str, Any]:
        return {
            "note_id": row["id"],
            "version": row["version"],
            "content": row["content"],
            "context": row["context"],
            "keywords": row["keywords"],
            "tags": row["tags"],
            "category": row["category"],
            "cause": cause,
            "created_at": now,
        }

    def write_version(
        self,
        conn: Connection,
        row: NoteRow,
        changes: dict[str, Any],
        cause: str,
        now: float,
        fts: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """`row`: a notes row (or `RowView`) as read. The update applies only if the note is still at the
        version read (compare and set: no write is lost between a read and this one); None when it moved on.
        With `fts`, the new search text is left there for the caller to write in one batch."""
        current = dict(row._mapping)
        current.pop("search_body", None)
        current.pop("search_tsv", None)
        updated = {**current, **changes, "version": row.version + 1, "updated_at": now}
        written = conn.execute(
            sa.update(notes)
            .where(notes.c.id == row.id, notes.c.version == row.version)
            .values(**{k: updated[k] for k in (*changes, "version", "updated_at")})
        )
        if written.rowcount != 1:
            return None
        conn.execute(sa.insert(note_versions), [self.version_row(updated, cause, now)])
        if fts is not None:
            fts[row.id] = search_text(updated)
        else:
            self.lexical.put(conn, [(row.id, search_text(updated))])
        return updated

    def history(self, agent_id: str, note_id: str) -> list[NoteVersion]:
        with self.engine.connect() as conn:
            owner = self.visible_row(conn, agent_id, note_id).agent_id
            rows = conn.execute(
                sa.select(note_versions).where(note_versions.c.note_id == note_id).order_by(note_versions.c.version)
            ).all()
            causes = [r.cause for r in rows]
            if owner != agent_id:
                causes = self._redact_causes(conn, agent_id, causes)
        return [
            NoteVersion(
                r.note_id,
                r.version,
                r.content,
                r.context,
                list(r.keywords),
                list(r.tags),
                r.category,
                cause,
                r.created_at,
            )  # fmt: skip
            for r, cause in zip(rows, causes, strict=True)
        ]

    def _redact_causes(self, conn: Connection, agent_id: str, causes: list[str]) -> list[str]:
        """Causes as a reader of a shared note may see them: "evolution:<id>" (and its undo) name the owner's note
        that caused the step, which stays named only if the reader sees that note too."""
        parts = [c.partition(EVOLUTION) for c in causes]
        named = {note for _, sep, note in parts if sep}
        query = sa.select(notes.c.id).where(notes.c.id.in_(named), self.visible(agent_id))
        seen = set(conn.execute(query).scalars()) if named else set()
        return [head + "evolution" if sep and note not in seen else head + sep + note for head, sep, note in parts]

    # -- counts -----------------------------------------------------------------------------------------

    def stats(self, agent_id: str) -> MemoryStats:
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(notes).where(notes.c.agent_id == agent_id)).all()
            links = conn.execute(
                sa.select(sa.func.count())
                .select_from(note_links)
                .join(notes, notes.c.id == note_links.c.from_id)
                .where(notes.c.agent_id == agent_id)
            ).scalar_one()
            shared = conn.execute(
                sa.select(sa.func.count()).select_from(note_shares).where(note_shares.c.agent_id == agent_id)
            ).scalar_one()
        live = [r for r in rows if r.archived_at is None]
        mean = sum(self.retention(r, now) for r in live) / len(live) if live else 0.0
        return MemoryStats(len(live), len(rows) - len(live), sum(r.pinned for r in rows), links, shared, mean)

    def agents_with_notes(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(notes.c.agent_id).distinct()).scalars())

    def count(self, agent_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(notes)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
