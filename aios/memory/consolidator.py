"""Memory's upkeep over time: the forgetting curve's decay (fading notes are archived, never deleted),
consolidation of old or fading related notes into a summary note (aios/memory/consolidation.py has the grouping and
the texts), and each agent's profile note. Summaries and profiles are written like any note, through the
service's own `add` and `update`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from aios.errors import AiosError
from aios.memory._schema import note_links, notes
from aios.memory.consolidation import (
    PROFILE,
    SUMMARY,
    ConsolidationReport,
    extractive_summary,
    group_related,
    profile_text,
)
from aios.memory.directory import AgentDirectory
from aios.memory.models import NewNote, Note, NoteUpdate
from aios.memory.search import collection
from aios.memory.store import NoteStore, SqlRow
from aios.vectors import VectorIndex

if TYPE_CHECKING:
    from aios.llm import LLMPort

__all__ = ["Consolidator"]

Add = Callable[[str, Sequence[NewNote]], list[Note]]
Update = Callable[[str, str, NoteUpdate], Note]


class Consolidator:
    """`flush` writes the recalls searches buffered (a note recalled a moment ago is not fading); `add` and
    `update` are the memory service's."""

    def __init__(self, store: NoteStore, vectors: VectorIndex, agents: AgentDirectory, flush: Callable[[], int],
                 add: Add, update: Update) -> None:  # fmt: skip
        self._store = store
        self._vectors = vectors
        self._agents = agents
        self._flush = flush
        self._add = add
        self._update = update

    def decay(self, agent_id: str | None = None) -> int:
        """Archive notes whose retention fell below the threshold. Nothing is deleted."""
        store = self._store
        self._flush()
        now = store.clock()
        query = sa.select(notes).where(notes.c.archived_at.is_(None), ~notes.c.pinned)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with store.engine.begin() as conn:
            fading = [r.id for r in conn.execute(query) if store.retention(r, now) < store.forgetting.archive_below]
            for start in range(0, len(fading), 500):
                conn.execute(
                    sa.update(notes).where(notes.c.id.in_(fading[start : start + 500])).values(archived_at=now)
                )
        return len(fading)

    def consolidate(
        self, agent_id: str, llm: LLMPort | None, min_age_s: float, weak_below: float, threshold: float,
        min_group: int, max_group: int,
    ) -> ConsolidationReport:  # fmt: skip
        """Summarise groups of related notes that are old or fading (with `llm` when it is available, else
        extractively); archive the sources; refresh the profile."""
        store = self._store
        self._flush()
        now = store.clock()
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.archived_at.is_(None), ~notes.c.pinned,
                                       notes.c.category.notin_([SUMMARY, PROFILE]))
                .order_by(notes.c.created_at)
            ).all()  # fmt: skip
        candidates = {r.id: r for r in rows if now - r.created_at >= min_age_s or store.retention(r, now) < weak_below}
        vectors = self._vectors.embeddings(collection(agent_id), list(candidates))
        groups = group_related(list(candidates), vectors, threshold, min_group, max_group)
        summaries, archived = [], 0
        for group in groups:
            sources = [candidates[i] for i in group]
            text = self._summarize(agent_id, sources, llm)
            events = [s.event_at for s in sources if s.event_at is not None]
            (summary,) = self._add(agent_id, [NewNote(
                text, category=SUMMARY, importance=max(s.importance for s in sources),
                event_at=min(events) if events else None, metadata={"sources": str(len(sources))},
            )])  # fmt: skip
            with store.engine.begin() as conn:
                conn.execute(sa.delete(note_links).where(note_links.c.from_id == summary.id,
                                                         note_links.c.to_id.in_(group)))  # fmt: skip
                conn.execute(sa.insert(note_links), [
                    {"from_id": summary.id, "to_id": i, "kind": "summarizes", "reason": "consolidation",
                     "weight": 1.0, "created_at": now} for i in group
                ])  # fmt: skip
                archived += conn.execute(sa.update(notes).where(notes.c.id.in_(group)).values(archived_at=now)).rowcount
            summaries.append(summary.id)
        return ConsolidationReport(len(groups), summaries, archived, self.update_profile(agent_id))

    @staticmethod
    def _summarize(agent_id: str, sources: Sequence[SqlRow], llm: LLMPort | None) -> str:
        if llm is not None and llm.available:
            from aios.llm import ChatMessage, JobClass, SamplingParams

            listing = "\n".join(f"- {s.content[:400]}" for s in sources)
            try:
                reply = llm.chat(agent_id, [ChatMessage("user", "Summarise these related notes in two or "
                                 f"three sentences, keeping names, numbers and dates:\n{listing}")],
                                 SamplingParams(max_tokens=120), job_class=JobClass.BACKGROUND,
                                 session="consolidation")  # fmt: skip
                if reply.text.strip() and reply.finish_reason in ("stop", "length"):
                    return f"Summary of {len(sources)} related notes: {reply.text.strip()}"
            except AiosError:
                pass  # a model that is away or refuses never blocks consolidation: the summary is extractive
        return extractive_summary([s.context or s.content[:200] for s in sources])

    def update_profile(self, agent_id: str) -> str:
        """Create or refresh the agent's pinned profile note (a new version when it changed)."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.category != PROFILE)).all()
            current = conn.execute(
                sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.category == PROFILE)
            ).first()
        if not rows:
            return current.id if current is not None else ""
        name = self._agents.names().get(agent_id)
        live = [r for r in rows if r.archived_at is None] or rows
        text = profile_text(name or agent_id, [r.keywords for r in live], [r.category for r in live],
                            min(r.created_at for r in rows), max(r.created_at for r in rows), len(live),
                            lambda t: time.strftime("%Y-%m-%d", time.gmtime(t)))  # fmt: skip
        if current is None:
            (note,) = self._add(agent_id, [NewNote(text, category=PROFILE, pinned=True, importance=1.0)])
            return note.id
        if current.content != text:
            self._update(agent_id, current.id, NoteUpdate(content=text, context=text.split(":", 1)[0]))
        return current.id
