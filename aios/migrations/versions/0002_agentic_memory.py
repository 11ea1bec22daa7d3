"""agentic memory: note attributes, forgetting curve, sharing, links, versions, full-text search

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notes") as batch:
        batch.add_column(sa.Column("keywords", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("context", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("tags", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("category", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("event_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("last_accessed", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("access_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("strength_s", sa.Float, nullable=False, server_default="259200"))
        batch.add_column(sa.Column("importance", sa.Float, nullable=False, server_default="0"))
        batch.add_column(sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("archived_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("enrichment", sa.String(16), nullable=False, server_default="extractive"))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.execute("UPDATE notes SET last_accessed = created_at")
    op.create_index("ix_notes_agent_archived", "notes", ["agent_id", "archived_at"])
    op.create_table(
        "note_shares",
        sa.Column("note_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
    )
    op.create_index("ix_note_shares_agent", "note_shares", ["agent_id"])
    op.create_table(
        "note_links",
        sa.Column("from_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("to_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_note_links_to", "note_links", ["to_id"])
    op.create_table(
        "note_versions",
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
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE notes_fts USING fts5(note_id UNINDEXED, body, tokenize='porter unicode61')")
        op.execute("INSERT INTO notes_fts (note_id, body) SELECT id, content FROM notes")
    else:
        op.add_column("notes", sa.Column("search_body", sa.Text, nullable=False, server_default=""))
        op.execute("UPDATE notes SET search_body = content")
        op.execute(
            "ALTER TABLE notes ADD COLUMN search_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', search_body)) STORED"
        )
        op.execute("CREATE INDEX ix_notes_search_tsv ON notes USING GIN (search_tsv)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE notes_fts")
    else:
        op.execute("DROP INDEX ix_notes_search_tsv")
        op.drop_column("notes", "search_tsv")
        op.drop_column("notes", "search_body")
    op.drop_table("note_versions")
    op.drop_table("note_links")
    op.drop_table("note_shares")
    op.drop_index("ix_notes_agent_archived", "notes")
    with op.batch_alter_table("notes") as batch:
        for column in ("keywords", "context", "tags", "category", "event_at", "last_accessed", "access_count",
                       "strength_s", "importance", "pinned", "archived_at", "enrichment", "version"):  # fmt: skip
            batch.drop_column(column)
