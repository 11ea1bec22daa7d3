"""isolation: file summaries cached per tree; note shares and tree grants may name ids no agent has

The summary cache was keyed by content alone, so one agent's summary answered another's request for the same
bytes. Shares and grants referenced `agents`, so sharing with an id answered NOT_FOUND only when no agent had
it: an existence oracle. A share or grant to an unknown id is now kept and reaches nobody.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite reflects the foreign keys unnamed; batch mode names them by this convention so they can be dropped.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
_AGENT_REFS = ("note_shares", "fs_grants")


def upgrade() -> None:
    # A cache: its rows cannot be told apart by tree, so they go, and summaries are made again on demand.
    op.drop_table("fs_summaries")
    op.create_table(
        "fs_summaries",
        sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    for table in _AGENT_REFS:
        for fk in sa.inspect(op.get_bind()).get_foreign_keys(table):
            if fk["referred_table"] != "agents":
                continue
            name = fk["name"] or f"fk_{table}_{fk['constrained_columns'][0]}_agents"
            with op.batch_alter_table(table, naming_convention=_NAMING) as batch:
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table in _AGENT_REFS:
        op.execute(f"DELETE FROM {table} WHERE agent_id NOT IN (SELECT id FROM agents)")
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"fk_{table}_agent_id_agents", "agents", ["agent_id"], ["id"])
    op.drop_table("fs_summaries")
    op.create_table(
        "fs_summaries",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
