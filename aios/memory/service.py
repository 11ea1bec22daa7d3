"""Agentic memory, the service the syscalls call: a thin facade over the collaborators that do the work.

- `NoteStore` (aios/memory/store.py): rows <-> `Note`, who sees a note, versions, the compare-and-set write;
- `NoteWriter` (aios/memory/writes.py): add, edit, delete — SQL first, the vector in the same transaction;
- `NoteSearch` (aios/memory/search.py): hybrid dense + lexical search and the buffer of recalls it writes back;
- `Linker` (aios/memory/linker.py): links, evolution, the LLM's link judgement, undo;
- `Refiner` (aios/memory/refinement.py) and the `Enricher` worker (aios/memory/enrichment.py): the model's enrichment;
- `Consolidator` (aios/memory/consolidator.py): decay, consolidation, the profile note;
- `IndexMaintenance` (aios/memory/maintenance.py): reconcile and reindex the vectors against SQL;
- `Validator` (aios/memory/validation.py): what a caller may send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.agents import AgentService
from aios.config import LimitsConfig
from aios.embeddings import Embedder
from aios.errors import NotFound
from aios.memory._schema import note_link_queue, notes
from aios.memory.consolidation import PROFILE, ConsolidationReport
from aios.memory.consolidator import Consolidator
from aios.memory.directory import AgentDirectory
from aios.memory.enrichment import Enricher
from aios.memory.forgetting import ForgettingConfig
from aios.memory.grounding import Grounding
from aios.memory.linker import Linker
from aios.memory.maintenance import IndexMaintenance, Progress
from aios.memory.models import (
    Link,
    MemoryStats,
    NewNote,
    Note,
    NoteUpdate,
    NoteVersion,
    RepairReport,
    SearchFilters,
    SearchHit,
)
from aios.memory.refinement import Refiner
from aios.memory.search import NoteSearch
from aios.memory.store import NoteStore
from aios.memory.validation import Validator, check_id
from aios.memory.writes import NoteWriter
from aios.vectors import VectorIndex

if TYPE_CHECKING:
    from aios.lifecycle import WorkerHealth
    from aios.llm import LLMPort

__all__ = ["MemoryService"]


class MemoryService:
    """`agents`: the kernel's agent directory (an `AgentService` on `engine` when not given)."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        vectors: VectorIndex,
        limits: LimitsConfig | None = None,
        clock: Callable[[], float] = time.time,
        forgetting: ForgettingConfig | None = None,
        link_threshold: float = 0.6,
        *,
        agents: AgentDirectory | None = None,
    ) -> None:
        directory = agents if agents is not None else AgentService(engine)
        self.forgetting = forgetting or ForgettingConfig()
        validator = Validator(limits or LimitsConfig())
        self._store = NoteStore(engine, directory, clock, self.forgetting)
        self._grounding = Grounding(embedder.encode)
        self._linker = Linker(self._store, vectors, self._grounding, link_threshold)
        self._writer = NoteWriter(self._store, embedder, vectors, self._linker, validator)
        self._search = NoteSearch(self._store, embedder, vectors, validator)
        self._refiner = Refiner(self._store, self._grounding)
        self._consolidator = Consolidator(self._store, vectors, directory, self.flush_recalls, self.add, self.update)
        self._index = IndexMaintenance(self._store, embedder, vectors, directory)
        self._enricher: Enricher | None = None
        self._llm: LLMPort | None = None

    # -- lifecycle and the model ------------------------------------------------------------------------

    def start_enrichment(self, llm: LLMPort) -> None:
        """Refine notes with the kernel's LLM from now on (background priority), resuming pending ones;
        consolidation summaries use it too."""
        self._llm = llm
        self._enricher = Enricher(llm, self._refiner.pending, self._refiner.apply, self._judge_links)
        self._enricher.start()
        with self._store.engine.connect() as conn:
            pending = list(conn.execute(sa.select(notes.c.id).where(notes.c.enrichment == "llm_pending")).scalars())
            unjudged = conn.execute(sa.select(note_link_queue.c.note_id)
                                    .order_by(note_link_queue.c.queued_at)).scalars()  # fmt: skip
            links_only = [i for i in unjudged if i not in set(pending)]
        self._enricher.submit(pending)  # enrichment, then the link judgement
        self._enricher.submit(links_only, enrich=False)

    def stop_enrichment(self) -> None:
        self._llm = None
        if self._enricher is not None:
            self._enricher.stop()
            self._enricher = None

    def close(self) -> None:
        """Stop the search helper threads, once nothing searches any more (a search after this fails)."""
        self._search.close()

    @property
    def enrichment_running(self) -> bool:
        return self._enricher is not None

    def enrichment_backlog(self) -> int:
        return self._enricher.pending() if self._enricher else 0

    @property
    def enrichment_health(self) -> WorkerHealth | None:
        """The enrichment worker's bugs and postponed notes (for the metrics); None when it is not running."""
        return self._enricher.worker.health if self._enricher else None

    def enrichment_stats(self) -> dict[str, dict[str, int]]:
        """The model's proposals offered and accepted since start, by kind (keywords, tags, context, reason)."""
        return self._grounding.stats.as_dict()

    def _judge_links(self, note_id: str) -> None:
        self._linker.judge(note_id, self._llm)  # the model of now: none once enrichment stopped

    # -- writes -----------------------------------------------------------------------------------------

    def add(self, agent_id: str, new_notes: Sequence[NewNote]) -> list[Note]:
        """Add notes in one transaction (all or none); returns them in order once durable."""
        llm = self._enricher is not None  # its judgement (after the write) replaces the similarity links
        added = self._writer.add(agent_id, new_notes, llm)
        if llm and (enricher := self._enricher) is not None:
            enricher.submit([n.id for n in added if n.enrichment == "llm_pending"])
            enricher.submit([n.id for n in added if n.enrichment != "llm_pending" and n.category != PROFILE],
                            enrich=False)  # fmt: skip
        return added

    def update(self, agent_id: str, note_id: str, change: NoteUpdate) -> Note:
        """Edit an own note; a new version. Content changes re-embed it."""
        self._writer.update(agent_id, note_id, change)
        return self.get(agent_id, note_id)

    def delete(self, agent_id: str, note_id: str) -> None:
        self._writer.delete(agent_id, note_id)

    def set_flags(
        self, agent_id: str, note_id: str, *, archived: bool | None = None, pinned: bool | None = None
    ) -> Note:
        """Archive / restore / pin / unpin an own note. Archived notes are kept, searchable with a flag."""
        self._store.set_flags(agent_id, note_id, archived=archived, pinned=pinned)
        return self.get(agent_id, note_id)

    def share(self, agent_id: str, note_id: str, with_agents: Sequence[str], share: bool = True) -> Note:
        self._store.share(agent_id, note_id, with_agents, share)
        return self.get(agent_id, note_id)

    def link(
        self, agent_id: str, from_id: str, to_id: str, kind: str = "related", reason: str = "", weight: float = 1.0
    ) -> Link:
        return self._linker.link(agent_id, from_id, to_id, kind, reason, weight)

    def unlink(self, agent_id: str, from_id: str, to_id: str) -> None:
        self._linker.unlink(agent_id, from_id, to_id)

    def undo_evolution(self, agent_id: str, cause_note_id: str) -> int:
        """Revert every change a new note's evolution made to the agent's notes; each revert is a new version."""
        return self._linker.undo_evolution(agent_id, cause_note_id)

    # -- reads ------------------------------------------------------------------------------------------

    def get(self, agent_id: str, note_id: str) -> Note:
        check_id(note_id)
        found = self._store.get_many(agent_id, [note_id])
        if not found:
            raise NotFound(f"no note {note_id!r}")
        return found[0]

    def get_many(self, agent_id: str, ids: Sequence[str]) -> list[Note]:
        """Visible notes among `ids`, in that order."""
        return self._store.get_many(agent_id, ids)

    def search(
        self, agent_id: str, query: str, k: int = 10, filters: SearchFilters | None = None, expand_links: bool = False,
        as_of: float | None = None,
    ) -> list[SearchHit]:  # fmt: skip
        """Hybrid search (aios/memory/search.py); returned notes count as recalled."""
        return self._search.search(agent_id, query, k, filters, expand_links, as_of)

    def flush_recalls(self) -> int:
        """Write pending recalls (access count, last access, strength). Run periodically and at stop."""
        return self._search.flush_recalls()

    def graph(self, agent_id: str, limit: int = 200, include_archived: bool = False) -> tuple[list[Note], list[Link]]:
        """The agent's most recent notes and the links among them."""
        return self._linker.graph(agent_id, limit, include_archived)

    def history(self, agent_id: str, note_id: str) -> list[NoteVersion]:
        return self._store.history(agent_id, note_id)

    def neighbours(self, agent_id: str, note_id: str, depth: int = 1) -> tuple[list[Note], list[Link]]:
        """Notes reachable from `note_id` over links in either direction, up to `depth` hops."""
        return self._linker.neighbours(agent_id, note_id, depth)

    def stats(self, agent_id: str) -> MemoryStats:
        return self._store.stats(agent_id)

    def agents_with_notes(self) -> list[str]:
        return self._store.agents_with_notes()

    def count(self, agent_id: str | None = None) -> int:
        return self._store.count(agent_id)

    # -- upkeep -----------------------------------------------------------------------------------------

    def decay(self, agent_id: str | None = None) -> int:
        """Archive notes whose retention fell below the threshold. Nothing is deleted."""
        return self._consolidator.decay(agent_id)

    def consolidate(
        self, agent_id: str, min_age_s: float = 7 * 86_400.0, weak_below: float = 0.5, threshold: float = 0.55,
        min_group: int = 3, max_group: int = 12,
    ) -> ConsolidationReport:  # fmt: skip
        """Summarise groups of related notes that are old or fading; archive the sources; refresh the profile."""
        return self._consolidator.consolidate(agent_id, self._llm, min_age_s, weak_below, threshold, min_group,
                                              max_group)  # fmt: skip

    def update_profile(self, agent_id: str) -> str:
        """Create or refresh the agent's pinned profile note (a new version when it changed)."""
        return self._consolidator.update_profile(agent_id)

    def reconcile(self) -> RepairReport:
        """Make the vector index hold exactly the notes in SQL: embed what is missing, drop extras."""
        return self._index.reconcile()

    def reindex(
        self,
        agent_id: str | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Drop and rebuild the vectors of one agent (or all) from SQL; returns notes indexed."""
        return self._index.reindex(agent_id, progress, should_stop)
