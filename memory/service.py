"""Agentic memory: notes in SQL first (the source of truth), vectors in Chroma second.

A write commits the note, its extractive enrichment, its first version and its full-text entry in one
transaction, then its vector; new notes are linked to similar notes (the reason is recorded) and may
evolve their neighbours' tags (a new, undoable version). Search (memory/search.py, inherited) fuses dense
(Chroma) and lexical (FTS5 / tsvector) rankings, can follow links one hop, and blends in the forgetting
curve. A crash between SQL and Chroma leaves a missing or an extra vector; `reconcile()` repairs both at
start-up.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Container, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from agents import AgentService
from agents._schema import agents
from aios import text as extract
from aios.config import LimitsConfig
from aios.embeddings import Embedder
from aios.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from aios.lexical import Lexical, body, rrf
from aios.vectors import VectorIndex
from memory._schema import note_link_queue, note_links, note_readers, note_shares, note_versions, notes
from memory.consolidation import PROFILE, SUMMARY, ConsolidationReport, extractive_summary, group_related, profile_text
from memory.enrichment import Enricher, EnrichmentResult
from memory.forgetting import ForgettingConfig
from memory.grounding import Grounding
from memory.linking import LLM_REASON_PREFIX, Postponed, judge_links, neighbour_changes, pick_candidates
from memory.models import (
    Link,
    MemoryStats,
    NewNote,
    Note,
    NoteUpdate,
    NoteVersion,
    RepairReport,
)
from memory.search import _CANDIDATES as _CANDIDATES  # the bench reads it here
from memory.search import _PREFIX, _TIME_WEIGHT, NoteSearch, _collection

__all__ = ["MemoryService"]

log = logging.getLogger("aios.memory")

Progress = Callable[[int, int], None]
_REINDEX_BATCH = 256
# Searches whose lexical rankings run at once (more wait their turn); the memory queue runs 2 syscalls at a time.
_SEARCH_THREADS = 4
_MAX_KEY, _MAX_VALUE, _MAX_TAGS, _MAX_TAG = 128, 4096, 32, extract.MAX_TERM
_MAX_KEYWORDS = 10  # after grounded model keywords join the extractive ones
_USER_FIELDS = ("keywords", "context", "tags", "category")
"""Fields a user may set and a kernel job may otherwise fill or evolve; once the user set one it is theirs."""
_EVOLUTION = "evolution:"  # a version's cause: "evolution:<id of the note whose linking changed it>"
_MAX_SHARES = 256  # agents one note is shared with
_WRITE_ATTEMPTS = 5
_LINK_CANDIDATES = 5
# The LLM sees few candidates (short prompts for a small model), each at least this similar to the note.
_JUDGE_CANDIDATES, _JUDGE_POOL, _JUDGE_FLOOR = 3, 10, 0.4


class MemoryService(NoteSearch):
    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        vectors: VectorIndex,
        limits: LimitsConfig | None = None,
        clock: Callable[[], float] = time.time,
        forgetting: ForgettingConfig | None = None,
        link_threshold: float = 0.6,
    ) -> None:
        self._engine = engine
        self._embedder = embedder
        self._vectors = vectors
        self._limits = limits or LimitsConfig()
        self._clock = clock
        self.forgetting = forgetting or ForgettingConfig()
        self.link_threshold = link_threshold
        self.time_weight = _TIME_WEIGHT
        self._lexical = Lexical(
            engine.dialect.name, notes, "notes_fts", "note_id", pg_body="search_body", scopes_of=note_readers
        )
        # Recalls strengthen notes; they are written in batches, not one fsync'd transaction per search.
        self._recalls: dict[str, tuple[int, float]] = {}
        self._recall_lock = threading.Lock()
        # Each search's lexical ranking runs here, beside its dense one (memory/search.py); `close` ends it.
        self._search_pool = ThreadPoolExecutor(_SEARCH_THREADS, thread_name_prefix="aios-memory-search")
        self._enricher: Enricher | None = None
        self._llm: Any = None
        self._grounding = Grounding(embedder.encode)

    def start_enrichment(self, llm: Any) -> None:
        """Refine notes with the kernel's LLM from now on (background priority), resuming pending ones;
        consolidation summaries use it too."""
        self._llm = llm
        self._enricher = Enricher(llm, self._enrichment_input, self._apply_enrichment, self._judge_links)
        self._enricher.start()
        with self._engine.connect() as conn:
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
        self._search_pool.shutdown(wait=True)

    @property
    def enrichment_running(self) -> bool:
        return self._enricher is not None

    def enrichment_backlog(self) -> int:
        return self._enricher.pending() if self._enricher else 0

    def enrichment_stats(self) -> dict[str, dict[str, int]]:
        """The model's proposals offered and accepted since start, by kind (keywords, tags, context, reason)."""
        return self._grounding.stats.as_dict()

    def _enrichment_input(self, note_id: str) -> tuple[str, str] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(notes.c.agent_id, notes.c.content, notes.c.enrichment)
                               .where(notes.c.id == note_id)).first()  # fmt: skip
        return (row.agent_id, row.content) if row is not None and row.enrichment == "llm_pending" else None

    def _apply_enrichment(self, note_id: str, content: str, result: EnrichmentResult | None) -> bool:
        """Fill what the user left empty with what the model proposed for `content`, where it is grounded in
        the note (memory/grounding.py); the rest keeps its extractive enrichment. False when the note changed
        meanwhile: the caller asks the model again. A write that lands between the read and this one (a user
        edit, an evolution) makes it start over from the new state, so the user's edit always wins."""
        for _ in range(_WRITE_ATTEMPTS):
            with self._engine.connect() as conn:
                row = conn.execute(sa.select(notes).where(notes.c.id == note_id)).first()
            if row is None or row.enrichment != "llm_pending":
                return True
            if row.content != content:
                return False  # proposed for text the user has since replaced
            changes: dict[str, Any] = {"enrichment": "llm_failed"}
            if result is not None:
                accepted = self._grounded_enrichment(row, result, set(row.user_fields))
                changes = {**accepted, "enrichment": "llm" if accepted else "llm_rejected"}
            with self._engine.begin() as conn:
                if len(changes) == 1:  # nothing accepted: only the state changes, no new version
                    stale = notes.c.version == row.version
                    if conn.execute(sa.update(notes).where(notes.c.id == note_id, stale).values(**changes)).rowcount:
                        return True
                elif self._write_version(conn, row, changes, "enrichment:llm", self._clock()) is not None:
                    return True
        log.warning("enrichment of note %s gave up: the note kept changing", note_id)
        return True

    def _grounded_enrichment(self, row: Any, result: EnrichmentResult, mine: Container[str]) -> dict[str, Any]:
        """The fields the model may fill: not the user's, and only with grounded proposals."""
        changes: dict[str, Any] = {}
        if "keywords" not in mine:
            keywords = self._grounding.terms("keywords", result.keywords, row.content)
            if keywords:
                changes["keywords"] = list(dict.fromkeys([*keywords, *row.keywords]))[:_MAX_KEYWORDS]
        if "tags" not in mine:
            tags = [t for t in self._grounding.terms("tags", result.tags, row.content) if t not in row.tags]
            if tags:
                changes["tags"] = [*row.tags, *tags][:_MAX_TAGS]
        if (
            "context" not in mine
            and result.context
            and self._grounding.context(result.context, row.context, row.content)
        ):
            changes["context"] = result.context
        return changes

    # -- writes ---------------------------------------------------------------------------------------

    def add(self, agent_id: str, new_notes: Sequence[NewNote]) -> list[Note]:
        """Add notes in one transaction (all or none); returns them in order once durable."""
        self._check_batch(new_notes)
        now = self._clock()
        rows = [self._new_row(agent_id, n, now) for n in new_notes]
        vectors = self._embedder.encode([r["content"] for r in rows])
        # With the LLM on, its judgement (after the write) replaces the similarity links and does the evolution.
        judged = {r["id"] for r in rows if r["category"] != PROFILE} if self._enricher is not None else set()
        with self._engine.begin() as conn:
            self._check_share_targets(agent_id, {a for n in new_notes for a in n.share_with})
            conn.execute(sa.insert(notes), rows)
            if judged:
                conn.execute(sa.insert(note_link_queue), [{"note_id": i, "queued_at": now} for i in judged])
            conn.execute(sa.insert(note_versions), [self._version_row(r, "created", now) for r in rows])
            shares = [
                {"note_id": r["id"], "agent_id": a}
                for r, n in zip(rows, new_notes, strict=True)
                for a in dict.fromkeys(n.share_with)
            ]
            if shares:
                conn.execute(sa.insert(note_shares), shares)
            self._lexical.put(conn, [(r["id"], _search_text(r)) for r in rows], fresh=True)
            # In the transaction, so a vector or link write that fails (a full disk) leaves no note behind; a
            # commit that fails after it leaves only vectors SQL does not know, which search skips and a start drops.
            self._vectors.upsert(_collection(agent_id), [r["id"] for r in rows], vectors)
            self._link_new(conn, agent_id, rows, vectors, now, judged)
        # As written, before the worker touches them (linking never evolves a note of the same batch).
        added = [self._note(_RowView(r), list(dict.fromkeys(n.share_with)), now)
                 for r, n in zip(rows, new_notes, strict=True)]  # fmt: skip
        if self._enricher is not None:
            self._enricher.submit([r["id"] for r in rows if r["enrichment"] == "llm_pending"])
            self._enricher.submit([r["id"] for r in rows if r["enrichment"] != "llm_pending" and r["id"] in judged],
                                  enrich=False)  # fmt: skip
        return added

    def _new_row(self, agent_id: str, n: NewNote, now: float) -> dict[str, Any]:
        user_fields = [f for f in _USER_FIELDS if getattr(n, f)]
        left_to_fill = {"keywords", "context", "tags"} - set(user_fields)
        enrichment = "llm_pending" if self._enricher is not None and left_to_fill else "extractive"
        keywords = n.keywords if n.keywords is not None else extract.keywords_of(n.content)
        return {
            "id": uuid.uuid4().hex,
            "agent_id": agent_id,
            "content": n.content,
            "metadata": dict(n.metadata),
            "created_at": now,
            "updated_at": now,
            "keywords": keywords,
            "context": n.context if n.context is not None else extract.context_of(n.content),
            "tags": n.tags if n.tags is not None else extract.tags_of(keywords),
            "category": n.category,
            "event_at": n.event_at,
            "last_accessed": now,
            "access_count": 0,
            "strength_s": self.forgetting.initial_strength_s,
            "importance": n.importance,
            "pinned": n.pinned,
            "archived_at": None,
            "enrichment": enrichment,
            "version": 1,
            "user_fields": user_fields,
        }

    @staticmethod
    def _version_row(row: dict[str, Any], cause: str, now: float) -> dict[str, Any]:
        return {
            "note_id": row["id"],
            "version": row["version"],
            "content": row["content"],
            "context": row["context"],
            "keywords": row["keywords"],
            "tags": row["tags"],
            "category": row["category"],
            "cause": cause,
            "created_at": now,
        }

    def _link_new(self, conn: Connection, agent_id: str, rows: list[dict[str, Any]], vectors: np.ndarray, now: float,
                  deferred: Container[str] = ()) -> None:  # fmt: skip
        """Link each new note to its nearest notes above the threshold, and evolve their tags (A-MEM);
        notes in `deferred` get provisional links only (the LLM's judgement comes later)."""
        if not rows:
            return
        new_ids = {r["id"] for r in rows}
        neighbours = self._vectors.query_many(_collection(agent_id), vectors, _LINK_CANDIDATES + 1)
        wanted = {i for row, hits in zip(rows, neighbours, strict=True) for i, similarity in hits
                  if i != row["id"] and similarity >= self.link_threshold}  # fmt: skip
        links = []
        fts: dict[str, str] = {}  # evolved notes' new search text, written once for the batch
        # Current state of every neighbour; an evolution updates it here too, so a neighbour of two
        # new notes evolves from its latest version.
        others: dict[str, Any] = {}
        wanted_ids = sorted(wanted)
        for start in range(0, len(wanted_ids), 500):
            chunk = wanted_ids[start : start + 500]
            others.update({r.id: _RowView(dict(r._mapping))
                           for r in conn.execute(sa.select(notes).where(notes.c.id.in_(chunk)))})  # fmt: skip
        for row, hits in zip(rows, neighbours, strict=True):
            for other_id, similarity in hits:
                if other_id == row["id"] or similarity < self.link_threshold:
                    continue
                other = others.get(other_id)
                if other is None or other.agent_id != agent_id:
                    continue
                shared = [k for k in row["keywords"] if k in set(other.keywords)]
                reason = f"cosine {similarity:.2f}" + (f"; shared keywords: {', '.join(shared[:5])}" if shared else "")
                links.append(
                    {
                        "from_id": row["id"],
                        "to_id": other_id,
                        "kind": "related",
                        "reason": reason,
                        "weight": round(similarity, 4),
                        "created_at": now,
                    }
                )
                if other_id not in new_ids and row["id"] not in deferred:
                    updated = self._evolve(conn, other, row, shared, now, fts)
                    if updated is not None:
                        others[other_id] = _RowView(updated)
        if links:
            conn.execute(sa.insert(note_links), links)
        self._lexical.put(conn, list(fts.items()))

    def _evolve(self, conn: Connection, old: Any, new: dict[str, Any], shared: list[str], now: float,
                fts: dict[str, str] | None = None) -> dict[str, Any] | None:  # fmt: skip
        """A new note adds the keywords it shares with a neighbour to the neighbour's tags (a new version),
        unless the user set them; returns the neighbour as updated, if it changed (None also when another
        write won the neighbour's version: an evolution is a nicety, never retried)."""
        if "tags" in old.user_fields:
            return None  # the user's tags are the user's
        tags = list(old.tags)
        added = [k.replace(" ", "-") for k in shared if k.replace(" ", "-") not in tags][: max(0, 8 - len(tags))]
        if added:
            return self._write_version(conn, old, {"tags": tags + added}, f"evolution:{new['id']}", now, fts)
        return None

    def _judge_links(self, note_id: str) -> None:
        """The LLM's link judgement for a new note (memory/linking.py). Its links replace the provisional
        similarity links and the context/tags it proposes update the linked neighbours (new versions caused
        by the note, so `undo_evolution` reverts them). On a bad reply the similarity links stand and the
        neighbours evolve as they would have without an LLM. The note leaves the link queue in the same
        transaction; when the model cannot be asked it stays queued for the next start."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(notes).where(notes.c.id == note_id)).first()
            candidates = self._link_candidates(conn, row) if row is not None else []
        if row is None:
            return
        judged = None
        llm = self._llm
        if candidates and llm is not None:
            try:
                judged = judge_links(llm, row.agent_id, row.content, [c.content for c, _ in candidates])
            except Postponed as exc:
                log.info("link judgement of note %s postponed: %s", note_id, exc)
                return
        now = self._clock()
        with self._engine.begin() as conn:
            dequeued = conn.execute(sa.delete(note_link_queue).where(note_link_queue.c.note_id == note_id))
            if dequeued.rowcount == 0:
                return  # judged already (or the note is gone)
            mine = sa.and_(note_links.c.from_id == note_id, note_links.c.kind == "related")
            provisional = conn.execute(sa.select(note_links).where(mine, note_links.c.reason.like("cosine%"))).all()
            if judged is None:
                for link in provisional:
                    other = conn.execute(sa.select(notes).where(notes.c.id == link.to_id)).first()
                    if other is not None:
                        self._evolve(conn, other, {"id": note_id}, self._shared_keywords(row, other), now)
                return
            conn.execute(sa.delete(note_links).where(mine, note_links.c.reason.like("cosine%")))
            kept = set(conn.execute(sa.select(note_links.c.to_id).where(note_links.c.from_id == note_id)).scalars())
            links = []
            for j in judged:
                candidate, similarity = candidates[j.candidate]
                other = conn.execute(sa.select(notes).where(notes.c.id == candidate.id)).first()
                if other is None or other.id in kept:
                    continue  # gone meanwhile, or the agent linked it already
                if not self._grounding.reason(j.reason, row.content, other.content):
                    # A reason citing what neither note says: the model's judgement of this pair is not
                    # trusted; a similarity link between them stands and the neighbour evolves extractively.
                    fallback = [dict(p._mapping) for p in provisional if p.to_id == other.id]
                    if fallback:
                        conn.execute(sa.insert(note_links), fallback)
                        self._evolve(conn, other, {"id": note_id}, self._shared_keywords(row, other), now)
                    continue
                links.append({"from_id": note_id, "to_id": other.id, "kind": "related",
                              "reason": LLM_REASON_PREFIX + j.reason, "weight": round(similarity, 4),
                              "created_at": now})  # fmt: skip
                changes = self._grounded_evolution(other, row, j)
                if not changes or self._write_version(conn, other, changes, f"evolution:{note_id}", now) is None:
                    self._evolve(conn, other, {"id": note_id}, self._shared_keywords(row, other), now)
            if links:
                conn.execute(sa.insert(note_links), links)

    @staticmethod
    def _shared_keywords(row: Any, other: Any) -> list[str]:
        return [k for k in row.keywords if k in set(other.keywords)]

    def _grounded_evolution(self, other: Any, new: Any, judgement: Any) -> dict[str, Any]:
        """What the model's judgement may change in a linked neighbour: never a field the user set, tags
        grounded in the two notes, a context grounded in them and at least as close to the neighbour."""
        proposed = neighbour_changes(list(other.tags), other.context, judgement)
        changes: dict[str, Any] = {}
        if "tags" in proposed and "tags" not in other.user_fields:
            added = proposed["tags"][len(other.tags) :]
            if grounded := self._grounding.terms("tags", added, other.content, new.content):
                changes["tags"] = [*other.tags, *grounded]
        context = proposed.get("context")
        if (context and "context" not in other.user_fields
                and self._grounding.context(context, other.context, other.content, new.content)):  # fmt: skip
            changes["context"] = context
        return changes

    def _link_candidates(self, conn: Connection, row: sa.Row) -> list[tuple[sa.Row, float]]:
        """Hybrid search (dense + lexical, fused) over the owner's live notes for the note's own text:
        the best few with their cosine to it."""
        collection = _collection(row.agent_id)
        vector = self._vectors.embeddings(collection, [row.id]).get(row.id)
        if vector is None:
            return []
        where = sa.and_(notes.c.agent_id == row.agent_id, notes.c.archived_at.is_(None), notes.c.id != row.id,
                        notes.c.category != PROFILE)  # fmt: skip
        dense = dict(self._vectors.query(collection, vector, _JUDGE_POOL + 1))
        lexical = dict(self._lexical.search(conn, where, row.content, _JUDGE_POOL, scopes=[row.agent_id]))
        rows = self._rows(conn, [*dense, *lexical], where)
        cosine = {i: dense[i] for i in dense if i in rows}
        missing = [i for i in rows if i not in cosine]
        cosine.update({i: float(np.dot(v, vector)) for i, v in self._vectors.embeddings(collection, missing).items()})
        fused = rrf(dense=cosine, lexical={i: lexical[i] for i in lexical if i in rows})
        return [(rows[i], cosine[i]) for i in pick_candidates(fused, cosine, _JUDGE_CANDIDATES, _JUDGE_FLOOR)]

    def _write_version(
        self,
        conn: Connection,
        row: Any,
        changes: dict[str, Any],
        cause: str,
        now: float,
        fts: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """`row`: a notes row (or `_RowView`) as read. The update applies only if the note is still at the
        version read (compare and set: no write is lost between a read and this one); None when it moved on.
        With `fts`, the new search text is left there for the caller to write in one batch."""
        current = dict(row._mapping)
        current.pop("search_body", None)
        current.pop("search_tsv", None)
        updated = {**current, **changes, "version": row.version + 1, "updated_at": now}
        written = conn.execute(
            sa.update(notes)
            .where(notes.c.id == row.id, notes.c.version == row.version)
            .values(**{k: updated[k] for k in (*changes, "version", "updated_at")})
        )
        if written.rowcount != 1:
            return None
        conn.execute(sa.insert(note_versions), [self._version_row(updated, cause, now)])
        if fts is not None:
            fts[row.id] = _search_text(updated)
        else:
            self._lexical.put(conn, [(row.id, _search_text(updated))])
        return updated

    def update(self, agent_id: str, note_id: str, change: NoteUpdate) -> Note:
        """Edit an own note; a new version. Content changes re-embed it."""
        changes = {k: v for k, v in change.__dict__.items() if v is not None and k != "expected_version"}
        if not changes:
            raise InvalidArgument("nothing to update")
        if "content" in changes:
            self._check_content(changes["content"], "content")
        self._check_enrichment(changes.get("keywords"), changes.get("tags"), changes.get("importance"))
        self._check_labels(changes.get("context"), changes.get("category"))
        now = self._clock()
        vector = self._embedder.encode([changes["content"]]) if "content" in changes else None
        for _ in range(_WRITE_ATTEMPTS):
            with self._engine.begin() as conn:
                row = self._own_row(conn, agent_id, note_id)
                if change.expected_version is not None and row.version != change.expected_version:
                    raise FailedPrecondition(
                        f"note {note_id} is at version {row.version}, not {change.expected_version}"
                    )
                mine = [*row.user_fields, *(f for f in _USER_FIELDS if f in changes and f not in row.user_fields)]
                if self._write_version(conn, row, {**changes, "user_fields": mine}, "update", now) is not None:
                    if vector is not None:  # in the transaction, as in `add`: a refused vector write changes nothing
                        self._vectors.upsert(_collection(agent_id), [note_id], vector)
                    break
        else:
            raise ResourceExhausted(f"note {note_id} is being changed by other writers; try again")
        return self.get(agent_id, note_id)

    def delete(self, agent_id: str, note_id: str) -> None:
        with self._engine.begin() as conn:
            self._own_row(conn, agent_id, note_id)
            conn.execute(
                sa.delete(note_links).where(sa.or_(note_links.c.from_id == note_id, note_links.c.to_id == note_id))
            )
            for table in (note_shares, note_versions):
                conn.execute(sa.delete(table).where(table.c.note_id == note_id))
            self._lexical.delete(conn, [note_id])
            conn.execute(sa.delete(notes).where(notes.c.id == note_id))
        self._vectors.delete(_collection(agent_id), [note_id])

    def set_flags(
        self, agent_id: str, note_id: str, *, archived: bool | None = None, pinned: bool | None = None
    ) -> Note:
        """Archive / restore / pin / unpin an own note. Archived notes are kept, searchable with a flag."""
        now = self._clock()
        values: dict[str, Any] = {}
        if archived is not None:
            values["archived_at"] = now if archived else None
            if not archived:
                values["last_accessed"] = now  # a restored note starts a fresh curve
        if pinned is not None:
            values["pinned"] = pinned
        with self._engine.begin() as conn:
            self._own_row(conn, agent_id, note_id)
            conn.execute(sa.update(notes).where(notes.c.id == note_id).values(**values))
        return self.get(agent_id, note_id)

    def share(self, agent_id: str, note_id: str, with_agents: Sequence[str], share: bool = True) -> Note:
        with self._engine.begin() as conn:
            row = self._own_row(conn, agent_id, note_id)
            if share:
                self._check_share_targets(agent_id, set(with_agents))
                have = set(
                    conn.execute(sa.select(note_shares.c.agent_id).where(note_shares.c.note_id == note_id)).scalars()
                )
                new = [{"note_id": note_id, "agent_id": a} for a in dict.fromkeys(with_agents) if a not in have]
                if len(have) + len(new) > _MAX_SHARES:
                    raise ResourceExhausted(f"a note is shared with at most {_MAX_SHARES} agents")
                if new:
                    conn.execute(sa.insert(note_shares), new)
            else:
                self._check_share_targets("", set(with_agents))  # the form only (PostgreSQL refuses a NUL)
                conn.execute(
                    sa.delete(note_shares).where(
                        note_shares.c.note_id == note_id, note_shares.c.agent_id.in_(list(with_agents))
                    )
                )
            self._lexical.put(conn, [(note_id, _search_text(row._mapping))])  # in its readers' statistics
        return self.get(agent_id, note_id)

    def link(
        self, agent_id: str, from_id: str, to_id: str, kind: str = "related", reason: str = "", weight: float = 1.0
    ) -> Link:
        if from_id == to_id:
            raise InvalidArgument("a note cannot link to itself")
        if not kind or len(kind) > 32:
            raise InvalidArgument("link kind must be 1-32 characters")
        now = self._clock()
        with self._engine.begin() as conn:
            self._own_row(conn, agent_id, from_id)
            self._visible_row(conn, agent_id, to_id)
            conn.execute(sa.delete(note_links).where(note_links.c.from_id == from_id, note_links.c.to_id == to_id))
            row = {
                "from_id": from_id,
                "to_id": to_id,
                "kind": kind,
                "reason": reason or "set by the agent",
                "weight": weight,
                "created_at": now,
            }
            conn.execute(sa.insert(note_links), [row])
        return Link(**row)

    def unlink(self, agent_id: str, from_id: str, to_id: str) -> None:
        with self._engine.begin() as conn:
            self._own_row(conn, agent_id, from_id)
            result = conn.execute(
                sa.delete(note_links).where(note_links.c.from_id == from_id, note_links.c.to_id == to_id)
            )
        if result.rowcount == 0:
            raise NotFound(f"no link from {from_id} to {to_id}")

    def undo_evolution(self, agent_id: str, cause_note_id: str) -> int:
        """Revert every change a new note's evolution made to the agent's notes; each revert is a new version."""
        cause = f"evolution:{cause_note_id}"
        now = self._clock()
        reverted = 0
        with self._engine.begin() as conn:
            steps = conn.execute(
                sa.select(note_versions)
                .join(notes, notes.c.id == note_versions.c.note_id)
                .where(note_versions.c.cause == cause, notes.c.agent_id == agent_id)
            ).all()
            for step in steps:
                before = conn.execute(
                    sa.select(note_versions).where(
                        note_versions.c.note_id == step.note_id, note_versions.c.version == step.version - 1
                    )
                ).first()
                row = conn.execute(sa.select(notes).where(notes.c.id == step.note_id)).first()
                if before is None or row is None:
                    continue
                undone = {"tags": list(before.tags), "context": before.context}
                reverted += self._write_version(conn, row, undone, f"undo {cause}", now) is not None
        if not steps:
            raise NotFound(f"no evolution step caused by note {cause_note_id}")
        return reverted

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, agent_id: str, note_id: str) -> Note:
        self._check_id(note_id)
        notes_ = self.get_many(agent_id, [note_id])
        if not notes_:
            raise NotFound(f"no note {note_id!r}")
        return notes_[0]

    def get_many(self, agent_id: str, ids: Sequence[str]) -> list[Note]:
        """Visible notes among `ids`, in that order."""
        with self._engine.connect() as conn:
            rows = list(self._rows(conn, list(ids), self._visible(agent_id)).values())
            shared = self._shares(conn, [r.id for r in rows])
        now = self._clock()
        by_id = {r.id: self._note(r, shared.get(r.id, []), now) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def graph(self, agent_id: str, limit: int = 200, include_archived: bool = False) -> tuple[list[Note], list[Link]]:
        """The agent's most recent notes and the links among them."""
        if not 1 <= limit <= 2000:
            raise InvalidArgument("limit must be 1-2000")
        query = sa.select(notes.c.id).where(notes.c.agent_id == agent_id)
        if not include_archived:
            query = query.where(notes.c.archived_at.is_(None))
        with self._engine.connect() as conn:
            ids = list(conn.execute(query.order_by(notes.c.created_at.desc()).limit(limit)).scalars())
            rows = conn.execute(
                sa.select(note_links).where(note_links.c.from_id.in_(ids), note_links.c.to_id.in_(ids))
            ).all()
        links = [Link(r.from_id, r.to_id, r.kind, r.reason, r.weight, r.created_at) for r in rows]
        return self.get_many(agent_id, ids), links

    def history(self, agent_id: str, note_id: str) -> list[NoteVersion]:
        with self._engine.connect() as conn:
            owner = self._visible_row(conn, agent_id, note_id).agent_id
            rows = conn.execute(
                sa.select(note_versions).where(note_versions.c.note_id == note_id).order_by(note_versions.c.version)
            ).all()
            causes = [r.cause for r in rows]
            if owner != agent_id:
                causes = self._redact_causes(conn, agent_id, causes)
        return [
            NoteVersion(
                r.note_id,
                r.version,
                r.content,
                r.context,
                list(r.keywords),
                list(r.tags),
                r.category,
                cause,
                r.created_at,
            )
            for r, cause in zip(rows, causes, strict=True)
        ]

    def _redact_causes(self, conn: Connection, agent_id: str, causes: list[str]) -> list[str]:
        """Causes as a reader of a shared note may see them: "evolution:<id>" (and its undo) name the owner's note
        that caused the step, which stays named only if the reader sees that note too."""
        parts = [c.partition(_EVOLUTION) for c in causes]
        named = {note for _, sep, note in parts if sep}
        query = sa.select(notes.c.id).where(notes.c.id.in_(named), self._visible(agent_id))
        seen = set(conn.execute(query).scalars()) if named else set()
        return [head + "evolution" if sep and note not in seen else head + sep + note for head, sep, note in parts]

    def neighbours(self, agent_id: str, note_id: str, depth: int = 1) -> tuple[list[Note], list[Link]]:
        """Notes reachable from `note_id` over links in either direction, up to `depth` hops."""
        if not 1 <= depth <= 5:
            raise InvalidArgument("depth must be 1-5")
        seen, frontier, found = {note_id}, {note_id}, []
        with self._engine.connect() as conn:
            self._visible_row(conn, agent_id, note_id)
            for _ in range(depth):
                rows = conn.execute(
                    sa.select(note_links).where(
                        sa.or_(note_links.c.from_id.in_(frontier), note_links.c.to_id.in_(frontier))
                    )
                ).all()
                frontier = set()
                for r in rows:
                    link = Link(r.from_id, r.to_id, r.kind, r.reason, r.weight, r.created_at)
                    if link not in found:
                        found.append(link)
                    for other in (r.from_id, r.to_id):
                        if other not in seen:
                            seen.add(other)
                            frontier.add(other)
        visible = self.get_many(agent_id, [i for i in seen if i != note_id])
        ids = {n.id for n in visible} | {note_id}
        return visible, [link for link in found if link.from_id in ids and link.to_id in ids]

    # -- forgetting -----------------------------------------------------------------------------------

    def decay(self, agent_id: str | None = None) -> int:
        """Archive notes whose retention fell below the threshold. Nothing is deleted."""
        self.flush_recalls()
        now = self._clock()
        query = sa.select(notes).where(notes.c.archived_at.is_(None), ~notes.c.pinned)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self._engine.begin() as conn:
            fading = [r.id for r in conn.execute(query) if self._retention(r, now) < self.forgetting.archive_below]
            for start in range(0, len(fading), 500):
                conn.execute(
                    sa.update(notes).where(notes.c.id.in_(fading[start : start + 500])).values(archived_at=now)
                )
        return len(fading)

    def consolidate(
        self, agent_id: str, min_age_s: float = 7 * 86_400.0, weak_below: float = 0.5, threshold: float = 0.55,
        min_group: int = 3, max_group: int = 12,
    ) -> ConsolidationReport:  # fmt: skip
        """Summarise groups of related notes that are old or fading; archive the sources; refresh the profile."""
        self.flush_recalls()
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.archived_at.is_(None), ~notes.c.pinned,
                                       notes.c.category.notin_([SUMMARY, PROFILE]))
                .order_by(notes.c.created_at)
            ).all()  # fmt: skip
        candidates = {r.id: r for r in rows if now - r.created_at >= min_age_s or self._retention(r, now) < weak_below}
        vectors = self._vectors.embeddings(_collection(agent_id), list(candidates))
        groups = group_related(list(candidates), vectors, threshold, min_group, max_group)
        summaries, archived = [], 0
        for group in groups:
            sources = [candidates[i] for i in group]
            text = self._summarize(agent_id, sources)
            events = [s.event_at for s in sources if s.event_at is not None]
            (summary,) = self.add(agent_id, [NewNote(
                text, category=SUMMARY, importance=max(s.importance for s in sources),
                event_at=min(events) if events else None, metadata={"sources": str(len(sources))},
            )])  # fmt: skip
            with self._engine.begin() as conn:
                conn.execute(sa.delete(note_links).where(note_links.c.from_id == summary.id,
                                                         note_links.c.to_id.in_(group)))  # fmt: skip
                conn.execute(sa.insert(note_links), [
                    {"from_id": summary.id, "to_id": i, "kind": "summarizes", "reason": "consolidation",
                     "weight": 1.0, "created_at": now} for i in group
                ])  # fmt: skip
                archived += conn.execute(sa.update(notes).where(notes.c.id.in_(group)).values(archived_at=now)).rowcount
            summaries.append(summary.id)
        return ConsolidationReport(len(groups), summaries, archived, self.update_profile(agent_id))

    def _summarize(self, agent_id: str, sources: Sequence[sa.Row]) -> str:
        if self._llm is not None and getattr(self._llm, "available", False):
            from aios.llm import ChatMessage, JobClass, SamplingParams

            listing = "\n".join(f"- {s.content[:400]}" for s in sources)
            try:
                reply = self._llm.chat(agent_id, [ChatMessage("user", "Summarise these related notes in two or "
                                       f"three sentences, keeping names, numbers and dates:\n{listing}")],
                                       SamplingParams(max_tokens=120), job_class=JobClass.BACKGROUND,
                                       session="consolidation")  # fmt: skip
                if reply.text.strip() and reply.finish_reason in ("stop", "length"):
                    return f"Summary of {len(sources)} related notes: {reply.text.strip()}"
            except Exception:
                pass  # an unavailable model never blocks consolidation: the summary is extractive
        return extractive_summary([s.context or s.content[:200] for s in sources])

    def update_profile(self, agent_id: str) -> str:
        """Create or refresh the agent's pinned profile note (a new version when it changed)."""
        with self._engine.connect() as conn:
            name = conn.execute(sa.select(agents.c.name).where(agents.c.id == agent_id)).scalar_one_or_none()
            rows = conn.execute(sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.category != PROFILE)).all()
            current = conn.execute(
                sa.select(notes).where(notes.c.agent_id == agent_id, notes.c.category == PROFILE)
            ).first()
        if not rows:
            return current.id if current is not None else ""
        live = [r for r in rows if r.archived_at is None] or rows
        text = profile_text(name or agent_id, [r.keywords for r in live], [r.category for r in live],
                            min(r.created_at for r in rows), max(r.created_at for r in rows), len(live),
                            lambda t: time.strftime("%Y-%m-%d", time.gmtime(t)))  # fmt: skip
        if current is None:
            (note,) = self.add(agent_id, [NewNote(text, category=PROFILE, pinned=True, importance=1.0)])
            return note.id
        if current.content != text:
            self.update(agent_id, current.id, NoteUpdate(content=text, context=text.split(":", 1)[0]))
        return current.id

    def stats(self, agent_id: str) -> MemoryStats:
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(notes).where(notes.c.agent_id == agent_id)).all()
            links = conn.execute(
                sa.select(sa.func.count())
                .select_from(note_links)
                .join(notes, notes.c.id == note_links.c.from_id)
                .where(notes.c.agent_id == agent_id)
            ).scalar_one()
            shared = conn.execute(
                sa.select(sa.func.count()).select_from(note_shares).where(note_shares.c.agent_id == agent_id)
            ).scalar_one()
        live = [r for r in rows if r.archived_at is None]
        mean = sum(self._retention(r, now) for r in live) / len(live) if live else 0.0
        return MemoryStats(len(live), len(rows) - len(live), sum(r.pinned for r in rows), links, shared, mean)

    def agents_with_notes(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(sa.select(notes.c.agent_id).distinct()).scalars())

    def count(self, agent_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(notes)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- index maintenance ----------------------------------------------------------------------------

    def reconcile(self) -> RepairReport:
        """Make the vector index hold exactly the notes in SQL: embed what is missing, drop extras."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.agent_id)).all()
            known_agents = set(conn.execute(sa.select(agents.c.id)).scalars())
        in_sql: dict[str, set[str]] = {}
        for row in rows:
            in_sql.setdefault(row.agent_id, set()).add(row.id)
        # Collections of agents this database does not know may belong to another kernel sharing the
        # Chroma server: leave them alone.
        indexed_agents = {name.removeprefix(_PREFIX) for name in self._vectors.names(_PREFIX)} & known_agents
        added = removed = 0
        for agent_id in sorted(indexed_agents | set(in_sql)):
            want = in_sql.get(agent_id, set())
            have = self._vectors.ids(_collection(agent_id)) if agent_id in indexed_agents else set()
            extra = sorted(have - want)
            self._vectors.delete(_collection(agent_id), extra)
            missing = sorted(want - have)
            self._index(agent_id, missing)
            added, removed = added + len(missing), removed + len(extra)
        return RepairReport(added=added, removed=removed)

    def reindex(
        self,
        agent_id: str | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Drop and rebuild the vectors of one agent (or all) from SQL; returns notes indexed."""
        query = sa.select(notes.c.id, notes.c.agent_id).order_by(notes.c.agent_id, notes.c.id)
        if agent_id is not None:
            query = query.where(notes.c.agent_id == agent_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            known_agents = list(conn.execute(sa.select(agents.c.id)).scalars())
        for target in [agent_id] if agent_id else known_agents:
            self._vectors.drop(_collection(target))
        done = 0
        for start in range(0, len(rows), _REINDEX_BATCH):
            if should_stop():
                break
            batch = rows[start : start + _REINDEX_BATCH]
            by_agent: dict[str, list[str]] = {}
            for row in batch:
                by_agent.setdefault(row.agent_id, []).append(row.id)
            for owner, ids in by_agent.items():
                self._index(owner, ids)
            done += len(batch)
            if progress:
                progress(done, len(rows))
        return done

    def _index(self, agent_id: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(notes.c.id, notes.c.content).where(notes.c.id.in_(ids))).all()
        vectors = self._embedder.encode([row.content for row in rows])
        self._vectors.upsert(_collection(agent_id), [row.id for row in rows], vectors)

    # -- helpers --------------------------------------------------------------------------------------

    def _own_row(self, conn: Connection, agent_id: str, note_id: str) -> sa.Row:
        self._check_id(note_id)
        row = conn.execute(sa.select(notes).where(notes.c.id == note_id, self._visible(agent_id))).first()
        if row is None:
            raise NotFound(f"no note {note_id!r}")
        if row.agent_id != agent_id:
            raise PermissionDenied(f"note {note_id} is shared with you read-only")
        return row

    def _visible_row(self, conn: Connection, agent_id: str, note_id: str) -> sa.Row:
        self._check_id(note_id)
        row = conn.execute(sa.select(notes).where(notes.c.id == note_id, self._visible(agent_id))).first()
        if row is None:
            raise NotFound(f"no note {note_id!r}")
        return row

    @staticmethod
    def _check_share_targets(agent_id: str, targets: set[str]) -> None:
        """Only the form of an id is checked. A share with an id no agent has is kept and reaches nobody:
        refusing it would tell any agent which ids belong to agents."""
        if agent_id in targets:
            raise InvalidArgument("a note cannot be shared with its owner")
        if len(targets) > _MAX_SHARES:  # ids no agent has are kept too: without a bound they would pile up
            raise ResourceExhausted(f"a note is shared with at most {_MAX_SHARES} agents")
        for target in targets:
            if not AgentService.is_agent_id(target):
                raise InvalidArgument(f"an agent id is 32 lowercase hex characters, got {target[:40]!r}")

    def _check_batch(self, new_notes: Sequence[NewNote]) -> None:
        if not new_notes:
            raise InvalidArgument("at least one note is required")
        if len(new_notes) > self._limits.max_batch:
            raise InvalidArgument(f"a batch holds at most {self._limits.max_batch} notes, got {len(new_notes)}")
        for i, note in enumerate(new_notes):
            where = f"note {i}" if len(new_notes) > 1 else "note"
            self._check_content(note.content, f"{where}: content")
            if len(note.metadata) > self._limits.max_metadata_entries:
                raise InvalidArgument(f"{where}: at most {self._limits.max_metadata_entries} metadata entries")
            for key, value in note.metadata.items():
                if not key or len(key) > _MAX_KEY or len(value) > _MAX_VALUE:
                    raise InvalidArgument(
                        f"{where}: metadata keys must be 1-{_MAX_KEY} characters and values at most "
                        f"{_MAX_VALUE}; {key[:40]!r} is not"
                    )
                self._check_text(key + value, f"{where} metadata {key[:40]!r}")
            self._check_enrichment(note.keywords, note.tags, note.importance)
            self._check_labels(note.context, note.category, where)

    def _check_labels(self, context: str | None, category: str | None, where: str = "note") -> None:
        self._check_text(context or "", f"{where} context")
        if category is not None:
            if len(category) > 64:
                raise InvalidArgument(f"{where}: category is at most 64 characters")
            self._check_text(category, f"{where} category")

    def _check_content(self, content: str, what: str) -> None:
        if not content.strip():
            raise InvalidArgument(f"{what} must not be empty")
        if len(content) > self._limits.max_note_chars:
            raise InvalidArgument(f"{what} has {len(content)} characters; the limit is {self._limits.max_note_chars}")
        self._check_text(content, what)

    def _check_enrichment(self, keywords: list[str] | None, tags: list[str] | None, importance: float | None) -> None:
        for name, values in (("keywords", keywords), ("tags", tags)):
            if values is None:
                continue
            if len(values) > _MAX_TAGS or any(not v or len(v) > _MAX_TAG or "\x00" in v or '"' in v for v in values):
                raise InvalidArgument(f"at most {_MAX_TAGS} {name} of 1-{_MAX_TAG} characters (no quotes)")
        if importance is not None and not 0.0 <= importance <= 1.0:
            raise InvalidArgument("importance must be between 0 and 1")

    @staticmethod
    def _check_id(note_id: str) -> None:
        if not note_id or len(note_id) > 64:
            raise InvalidArgument("note id must be 1-64 characters")


def _search_text(row: dict[str, Any]) -> str:
    return body(row["content"], row["keywords"], row["tags"], row["context"])


class _RowView:
    """A note row held as a dict, read like an `sa.Row` (attributes and `_mapping`)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None
