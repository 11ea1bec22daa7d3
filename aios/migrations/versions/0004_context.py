"""context paging: contexts, core blocks, messages (active and paged out), pressure and paging events

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ctx_contexts",
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("system_prompt", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("summary_version", sa.Integer, nullable=False),
        sa.Column("recalled", sa.JSON, nullable=False),
        sa.Column("recall_anchor", sa.Integer, nullable=True),
        sa.Column("next_seq", sa.Integer, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ctx_blocks",
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("limit_tokens", sa.Integer, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "ctx_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("evicted_at", sa.Float, nullable=True),
        sa.Column("note_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_ctx_messages_agent_seq", "ctx_messages", ["agent_id", "seq"], unique=True)
    op.create_table(
        "ctx_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("fraction", sa.Float, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_ctx_events_agent", "ctx_events", ["agent_id", "id"])


def downgrade() -> None:
    for table in ("ctx_events", "ctx_messages", "ctx_blocks", "ctx_contexts"):
        op.drop_table(table)
