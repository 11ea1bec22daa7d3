"""agentic memory: the queue of new notes whose links the LLM has yet to judge (survives restarts)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "note_link_queue",
        sa.Column("note_id", sa.String(32), sa.ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("queued_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("note_link_queue")
