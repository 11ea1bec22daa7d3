import sqlalchemy as sa

from aios._db import metadata

contexts = sa.Table(
    "ctx_contexts",
    metadata,
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

context_blocks = sa.Table(
    "ctx_blocks",
    metadata,
    sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), primary_key=True),
    sa.Column("label", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("limit_tokens", sa.Integer, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

context_messages = sa.Table(
    "ctx_messages",
    metadata,
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
    sa.Index("ix_ctx_messages_agent_seq", "agent_id", "seq", unique=True),
)

context_events = sa.Table(
    "ctx_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("fraction", sa.Float, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_ctx_events_agent", "agent_id", "id"),
)

# Paged-out messages whose recall note start-up repair could not write (kept, never deleted): the kernel
# serves without them rather than not at all, skips them at later starts, and `aios admin doctor` lists them.
context_quarantine = sa.Table(
    "ctx_quarantine",
    metadata,
    sa.Column("message_id", sa.String(32), sa.ForeignKey("ctx_messages.id"), primary_key=True),
    sa.Column("agent_id", sa.String(32), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
