"""Memory's tables: notes (the source of truth), their shares, links, versions and the link-judgement queue."""

import sqlalchemy as sa

from aios._db import metadata

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("event_at", sa.Float, nullable=True),
    sa.Column("last_accessed", sa.Float, nullable=False),
    sa.Column("access_count", sa.Integer, nullable=False),
    sa.Column("strength_s", sa.Float, nullable=False),
    sa.Column("importance", sa.Float, nullable=False),
    sa.Column("pinned", sa.Boolean, nullable=False),
    sa.Column("archived_at", sa.Float, nullable=True),
    sa.Column("enrichment", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("user_fields", sa.JSON, nullable=False, server_default="[]"),
    sa.Index("ix_notes_agent_created", "agent_id", "created_at"),
    sa.Index("ix_notes_agent_archived", "agent_id", "archived_at"),
)
"""`user_fields`: the enrichment fields (keywords, context, tags, category) the user set, at creation or by an
update; a kernel job (enrichment, link judgement, evolution) never rewrites them."""

# PostgreSQL only: the text its generated tsvector column indexes (SQLite uses the notes_fts table).
search_body = sa.Column("search_body", sa.Text, nullable=False)

note_shares = sa.Table(
    "note_shares",
    metadata,
    sa.Column("note_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
    # No foreign key to agents: a share with an id no agent has is kept (and reaches nobody) rather than
    # refused, so that sharing does not tell which agent ids exist.
    sa.Column("agent_id", sa.String(32), primary_key=True),
    sa.Index("ix_note_shares_agent", "agent_id"),
)


def note_readers(agent_ids: sa.Select[tuple[str]]) -> sa.CompoundSelect:
    """SQLite: the scopes each note's full-text entry is in (aios/lexical.py), so that its bm25 statistics are those
    of what the searcher may see: its owner's and each reader's. `agent_ids` selects every agent's id (the agent
    directory's): a share with an id no agent has reaches nobody and gets no scope."""
    return sa.union_all(
        sa.select(notes.c.id, notes.c.agent_id),
        sa.select(note_shares.c.note_id, note_shares.c.agent_id).where(note_shares.c.agent_id.in_(agent_ids)),
    )


note_links = sa.Table(
    "note_links",
    metadata,
    sa.Column("from_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("to_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_note_links_to", "to_id"),
)

note_versions = sa.Table(
    "note_versions",
    metadata,
    sa.Column("note_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

note_link_queue = sa.Table(
    "note_link_queue",
    metadata,
    sa.Column("note_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("queued_at", sa.Float, nullable=False),
)
"""New notes whose links the LLM has yet to judge: written with the note, removed once judged, so a
judgement the kernel did not get to (stopped, killed, model unavailable) is made at the next start."""
