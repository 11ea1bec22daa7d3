import sqlalchemy as sa

from aios._db import metadata

fs_trees = sa.Table(
    "fs_trees",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("owner_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

fs_grants = sa.Table(
    "fs_grants",
    metadata,
    sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id", ondelete="CASCADE"), primary_key=True),
    # No foreign key to agents: a grant to an id no agent has is kept (and reaches nobody) rather than refused,
    # so that granting does not tell which agent ids exist.
    sa.Column("agent_id", sa.String(32), primary_key=True),
    sa.Column("mode", sa.String(8), nullable=False),
)

fs_changes = sa.Table(
    "fs_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id"), nullable=False),
    sa.Column("agent_id", sa.String(32), nullable=False),
    sa.Column("op", sa.String(16), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_fs_changes_tree", "tree_id", "id"),
)

fs_files = sa.Table(
    "fs_files",
    metadata,
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
    sa.Column("indexed_version", sa.Integer, nullable=False),
    sa.UniqueConstraint("tree_id", "path", name="uq_fs_files_tree_path"),
)

fs_versions = sa.Table(
    "fs_versions",
    metadata,
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
    sa.Index("ix_fs_versions_change", "change_id"),
    sa.Index("ix_fs_versions_sha", "sha256"),
)

fs_blobs = sa.Table(
    "fs_blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=True),
)

fs_chunks = sa.Table(
    "fs_chunks",
    metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("file_id", sa.String(32), sa.ForeignKey("fs_files.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tree_id", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_fs_chunks_file", "file_id"),
    sa.Index("ix_fs_chunks_tree", "tree_id"),
)

# SQLite: the scope of each chunk's full-text entry (aios/lexical.py): its tree, which whoever reads one chunk reads.
chunk_trees = sa.select(fs_chunks.c.id, fs_chunks.c.tree_id)

fs_summaries = sa.Table(
    "fs_summaries",
    metadata,
    sa.Column("tree_id", sa.String(32), sa.ForeignKey("fs_trees.id"), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
