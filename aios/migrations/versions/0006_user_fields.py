"""agentic memory: which of a note's fields the user set (kernel jobs never rewrite them)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notes") as batch:
        batch.add_column(sa.Column("user_fields", sa.JSON, nullable=False, server_default="[]"))
    # Notes the user edited before this column existed: what an edit may have set is theirs from now on.
    notes = sa.table("notes", sa.column("id", sa.String), sa.column("user_fields", sa.JSON))
    versions = sa.table("note_versions", sa.column("note_id", sa.String), sa.column("cause", sa.Text))
    edited = sa.select(versions.c.note_id).where(versions.c.cause == "update")
    op.execute(
        notes.update().where(notes.c.id.in_(edited)).values(user_fields=["keywords", "context", "tags", "category"])
    )


def downgrade() -> None:
    with op.batch_alter_table("notes") as batch:
        batch.drop_column("user_fields")
