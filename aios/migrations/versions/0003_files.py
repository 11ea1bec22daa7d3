"""semantic file system: trees and grants, files, versions, changes, blobs, chunks, summaries

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fs_trees",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "fs_grants",
        sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
        sa.Column("mode", sa.String(8), nullable=False),
    )
    op.create_table(
        "fs_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id"), nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_fs_changes_tree", "fs_changes", ["tree_id", "id"])
    op.create_table(
        "fs_files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id"), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mime", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("modified_at", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float, nullable=True),
        sa.Column("indexed_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("tree_id", "path", name="uq_fs_files_tree_path"),
    )
    op.create_table(
        "fs_versions",
        sa.Column("file_id", sa.String(32), sa.ForeignKey("fs_files.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("change_id", sa.Integer, sa.ForeignKey("fs_changes.id"), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mime", sa.String(128), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_fs_versions_change", "fs_versions", ["change_id"])
    op.create_index("ix_fs_versions_sha", "fs_versions", ["sha256"])
    op.create_table(
        "fs_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),  # small blobs live here, large ones in blobs/
    )
    op.create_table(
        "fs_chunks",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("file_id", sa.String(32), sa.ForeignKey("fs_files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tree_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_fs_chunks_file", "fs_chunks", ["file_id"])
    op.create_index("ix_fs_chunks_tree", "fs_chunks", ["tree_id"])
    op.create_table(
        "fs_summaries",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE fs_chunks_fts USING fts5(chunk_id UNINDEXED, body, tokenize='porter unicode61')"
        )
    else:
        op.execute(
            "ALTER TABLE fs_chunks ADD COLUMN search_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_fs_chunks_search_tsv ON fs_chunks USING GIN (search_tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE fs_chunks_fts")
    for table in ("fs_summaries", "fs_chunks", "fs_blobs", "fs_versions", "fs_files", "fs_changes", "fs_grants",
                  "fs_trees"):  # fmt: skip
        op.drop_table(table)
