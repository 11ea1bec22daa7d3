"""Persistence of contexts: the context rows, their messages and core blocks, the event log and the quarantine.

A call's whole change is saved in one transaction (`save`); the summary worker replaces a summary only if no
call changed it meanwhile (`replace_summary`, compare-and-set on its version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.memory.context._schema import context_blocks, context_events, context_messages, context_quarantine, contexts
from aios.memory.context.models import ContextEvent, ContextMessage, CoreBlock, Pressure, RecalledItem
from aios.memory.context.state import COUNTERS, Change, State

__all__ = ["ContextStore", "Quarantined", "quarantined"]


@dataclass(frozen=True)
class Quarantined:
    """A paged-out message whose recall note could not be written: kept in SQL, out of start-up repair."""

    message_id: str
    agent_id: str
    reason: str
    at: float


def quarantined(engine: Engine) -> list[Quarantined]:
    """The quarantined messages, oldest first (what `aios admin doctor` lists)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(context_quarantine).order_by(context_quarantine.c.at)).all()
    return [Quarantined(r.message_id, r.agent_id, r.reason, r.at) for r in rows]


class ContextStore:
    def __init__(self, engine: Engine, system_prompt: str) -> None:
        self._engine = engine
        self._system_prompt = system_prompt  # a new context's

    def load(self, agent_id: str) -> State:
        """The agent's context (a new one, not stored yet, if it has none)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(contexts).where(contexts.c.agent_id == agent_id)).first()
            blocks = conn.execute(
                sa.select(context_blocks).where(context_blocks.c.agent_id == agent_id).order_by(context_blocks.c.label)
            ).all()
            messages = conn.execute(
                sa.select(context_messages)
                .where(context_messages.c.agent_id == agent_id, context_messages.c.evicted_at.is_(None))
                .order_by(context_messages.c.seq)
            ).all()
        core = [CoreBlock(b.label, b.value, b.limit_tokens, b.tokens, b.updated_at) for b in blocks]
        active = [_message(m) for m in messages]
        if row is None:
            st = State.new(agent_id, self._system_prompt)
            st.blocks, st.messages = core, active
            return st
        recalled = [RecalledItem(**i) for i in row.recalled]
        stats = {**dict.fromkeys(COUNTERS, 0), **row.stats}
        return State(agent_id, True, row.system_prompt, row.summary, row.summary_version, recalled,
                     row.recall_anchor, row.next_seq, row.level, stats, core, active)  # fmt: skip

    def save(self, st: State, change: Change, now: float, p: Pressure, blocks: bool) -> None:
        """The call's change in one transaction: the context row, added/evicted/pinned messages, the core blocks
        (if `blocks`) and the call's events."""
        values = {
            "system_prompt": st.system_prompt, "summary": st.summary, "summary_version": st.summary_version,
            "recalled": [i.__dict__ for i in st.recalled], "recall_anchor": st.anchor, "next_seq": st.next_seq,
            "level": st.level, "stats": dict(st.stats), "updated_at": now,
        }  # fmt: skip
        with self._engine.begin() as conn:
            if st.exists:
                conn.execute(sa.update(contexts).where(contexts.c.agent_id == st.agent_id).values(**values))
            else:
                conn.execute(sa.insert(contexts).values(agent_id=st.agent_id, created_at=now, **values))
            added = {m.id for m in change.added}
            evicted = {m.id for m in change.evicted}
            if change.added:
                conn.execute(sa.insert(context_messages), [
                    {"id": m.id, "agent_id": st.agent_id, "seq": m.seq, "role": m.role, "content": m.content,
                     "tokens": m.tokens, "pinned": m.pinned, "created_at": m.created_at,
                     "evicted_at": now if m.id in evicted else None, "note_id": None}
                    for m in change.added
                ])  # fmt: skip
            gone = [i for i in evicted if i not in added]
            if gone:
                conn.execute(sa.update(context_messages).where(context_messages.c.id.in_(gone)).values(evicted_at=now))
            for message_id, pinned in change.pinned.items():
                conn.execute(sa.update(context_messages).where(context_messages.c.id == message_id)
                             .values(pinned=pinned))  # fmt: skip
            if blocks:
                conn.execute(sa.delete(context_blocks).where(context_blocks.c.agent_id == st.agent_id))
                if st.blocks:
                    conn.execute(sa.insert(context_blocks), [
                        {"agent_id": st.agent_id, "label": b.label, "value": b.value, "limit_tokens": b.limit_tokens,
                         "tokens": b.tokens, "updated_at": b.updated_at} for b in st.blocks
                    ])  # fmt: skip
            if st.events:
                conn.execute(sa.insert(context_events), [
                    {"agent_id": st.agent_id, "kind": kind, "at": now, "fraction": p.fraction, "tokens": p.tokens,
                     "detail": detail} for kind, detail in st.events
                ])  # fmt: skip
        st.exists = True

    def message(self, agent_id: str, message_id: str) -> ContextMessage | None:
        """One of the agent's messages, active or evicted."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(context_messages).where(
                context_messages.c.id == message_id, context_messages.c.agent_id == agent_id)).first()  # fmt: skip
        return _message(row) if row is not None else None

    def evicted_count(self, agent_id: str) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).where(
                    context_messages.c.agent_id == agent_id, context_messages.c.evicted_at.is_not(None)
                )
            ).scalar_one())  # fmt: skip

    def events(self, agent_id: str, after_id: int, limit: int) -> list[ContextEvent]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(context_events)
                .where(context_events.c.agent_id == agent_id, context_events.c.id > after_id)
                .order_by(context_events.c.id)
                .limit(limit)
            ).all()
        return [ContextEvent(r.id, r.kind, r.at, r.fraction, r.tokens, r.detail) for r in rows]

    # -- the summary worker's read and write ------------------------------------------------------------

    def summary(self, agent_id: str) -> tuple[str, int] | None:
        """(summary, its version), None without a context."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(contexts.c.summary, contexts.c.summary_version)
                               .where(contexts.c.agent_id == agent_id)).first()  # fmt: skip
        return (row.summary, row.summary_version) if row is not None else None

    def replace_summary(self, agent_id: str, version: int, text: str, tokens: int, now: float) -> bool:
        """Replace the summary if it is still at `version` (with a "summary" event); False if a call changed it."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.update(contexts)
                .where(contexts.c.agent_id == agent_id, contexts.c.summary_version == version)
                .values(summary=text, summary_version=version + 1)
            ).rowcount
            if done:
                conn.execute(sa.insert(context_events).values(agent_id=agent_id, kind="summary", at=now, fraction=0.0,
                                                              tokens=tokens, detail="refined by the LLM"))  # fmt: skip
        return bool(done)

    # -- recall notes: written after the eviction's commit, repaired at start-up ---------------------------

    def unwritten(self) -> dict[str, list[ContextMessage]]:
        """Evicted messages (by agent) with no recall note that are not quarantined: a crash came in between."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(context_messages).where(
                    context_messages.c.evicted_at.is_not(None),
                    context_messages.c.note_id.is_(None),
                    context_messages.c.id.not_in(sa.select(context_quarantine.c.message_id)),
                )
            ).all()
        by_agent: dict[str, list[ContextMessage]] = {}
        for row in rows:
            by_agent.setdefault(row.agent_id, []).append(_message(row))
        return by_agent

    def set_notes(self, note_ids: Sequence[tuple[str, str]]) -> None:
        """(message id, note id): where each paged-out message is in recall storage."""
        with self._engine.begin() as conn:
            for message_id, note_id in note_ids:
                conn.execute(sa.update(context_messages).where(context_messages.c.id == message_id)
                             .values(note_id=note_id))  # fmt: skip

    def quarantine(self, agent_id: str, message_id: str, reason: str, at: float) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.insert(context_quarantine).values(message_id=message_id, agent_id=agent_id, reason=reason,
                                                              at=at))  # fmt: skip


def _message(row: Any) -> ContextMessage:
    return ContextMessage(row.id, row.seq, row.role, row.content, row.tokens, row.created_at, row.pinned,
                          row.evicted_at, row.note_id or "")  # fmt: skip
