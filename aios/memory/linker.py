"""Links between notes and the evolution they cause (A-MEM): similarity links made with each write, the LLM's
judgement that later replaces them (aios/memory/linking.py asks the model, aios/memory/grounding.py vets its proposals),
links an agent sets itself, and the undo of an evolution. Every change of a linked neighbour is a new version
caused by the new note ("evolution:<id>"), written through the store's compare-and-set.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aios.errors import NotFound
from aios.lexical import rrf
from aios.memory._schema import note_link_queue, note_links, note_versions, notes
from aios.memory.consolidation import PROFILE
from aios.memory.grounding import Grounding
from aios.memory.linking import LLM_REASON_PREFIX, Judgement, Postponed, judge_links, neighbour_changes, pick_candidates
from aios.memory.models import Link, Note
from aios.memory.search import collection
from aios.memory.store import EVOLUTION, NoteRow, NoteStore, RowView, SqlRow
from aios.memory.validation import Validator
from aios.vectors import VectorIndex

if TYPE_CHECKING:
    from aios.llm import LLMPort

__all__ = ["Linker"]

log = logging.getLogger("aios.memory")

_LINK_CANDIDATES = 5
# The LLM sees few candidates (short prompts for a small model), each at least this similar to the note.
_JUDGE_CANDIDATES, _JUDGE_POOL, _JUDGE_FLOOR = 3, 10, 0.4
_MAX_EVOLVED_TAGS = 8


def _shared_keywords(row: NoteRow, other: NoteRow) -> list[str]:
    return [k for k in row.keywords if k in set(other.keywords)]


class Linker:
    def __init__(self, store: NoteStore, vectors: VectorIndex, grounding: Grounding, threshold: float) -> None:
        self._store = store
        self._vectors = vectors
        self._grounding = grounding
        self._threshold = threshold

    # -- at write time ----------------------------------------------------------------------------------

    def link_new(self, conn: Connection, agent_id: str, rows: list[dict[str, Any]], vectors: np.ndarray, now: float,
                 deferred: Container[str] = ()) -> None:  # fmt: skip
        """Link each new note to its nearest notes above the threshold, and evolve their tags (A-MEM);
        notes in `deferred` get provisional links only (the LLM's judgement comes later)."""
        if not rows:
            return
        new_ids = {r["id"] for r in rows}
        neighbours = self._vectors.query_many(collection(agent_id), vectors, _LINK_CANDIDATES + 1)
        wanted = {i for row, hits in zip(rows, neighbours, strict=True) for i, similarity in hits
                  if i != row["id"] and similarity >= self._threshold}  # fmt: skip
        links = []
        fts: dict[str, str] = {}  # evolved notes' new search text, written once for the batch
        # Current state of every neighbour; an evolution updates it here too, so a neighbour of two
        # new notes evolves from its latest version.
        others: dict[str, NoteRow] = {}
        wanted_ids = sorted(wanted)
        for start in range(0, len(wanted_ids), 500):
            chunk = wanted_ids[start : start + 500]
            others.update({r.id: RowView(dict(r._mapping))
                           for r in conn.execute(sa.select(notes).where(notes.c.id.in_(chunk)))})  # fmt: skip
        for row, hits in zip(rows, neighbours, strict=True):
            for other_id, similarity in hits:
                if other_id == row["id"] or similarity < self._threshold:
                    continue
                other = others.get(other_id)
                if other is None or other.agent_id != agent_id:
                    continue
                shared = [k for k in row["keywords"] if k in set(other.keywords)]
                reason = f"cosine {similarity:.2f}" + (f"; shared keywords: {', '.join(shared[:5])}" if shared else "")
                links.append({"from_id": row["id"], "to_id": other_id, "kind": "related", "reason": reason,
                              "weight": round(similarity, 4), "created_at": now})  # fmt: skip
                if other_id not in new_ids and row["id"] not in deferred:
                    updated = self._evolve(conn, other, row["id"], shared, now, fts)
                    if updated is not None:
                        others[other_id] = RowView(updated)
        if links:
            conn.execute(sa.insert(note_links), links)
        self._store.lexical.put(conn, list(fts.items()))

    def _evolve(self, conn: Connection, old: NoteRow, cause_id: str, shared: list[str], now: float,
                fts: dict[str, str] | None = None) -> dict[str, Any] | None:  # fmt: skip
        """A new note adds the keywords it shares with a neighbour to the neighbour's tags (a new version),
        unless the user set them; returns the neighbour as updated, if it changed (None also when another
        write won the neighbour's version: an evolution is a nicety, never retried)."""
        if "tags" in old.user_fields:
            return None  # the user's tags are the user's
        tags = list(old.tags)
        added = [k.replace(" ", "-") for k in shared
                 if k.replace(" ", "-") not in tags][: max(0, _MAX_EVOLVED_TAGS - len(tags))]  # fmt: skip
        if added:
            return self._store.write_version(conn, old, {"tags": tags + added}, EVOLUTION + cause_id, now, fts)
        return None

    # -- the LLM's judgement, after the write -----------------------------------------------------------

    def judge(self, note_id: str, llm: LLMPort | None) -> None:
        """The LLM's link judgement for a new note (aios/memory/linking.py). Its links replace the provisional
        similarity links and the context/tags it proposes update the linked neighbours (new versions caused
        by the note, so `undo_evolution` reverts them). On a bad reply (or with no model) the similarity links
        stand and the neighbours evolve as they would have without an LLM. The note leaves the link queue in
        the same transaction; when the model cannot be asked it stays queued for the next start."""
        store = self._store
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(notes).where(notes.c.id == note_id)).first()
            candidates = self._candidates(conn, row) if row is not None else []
        if row is None:
            return
        judged = None
        if candidates and llm is not None:
            try:
                judged = judge_links(llm, row.agent_id, row.content, [c.content for c, _ in candidates])
            except Postponed as exc:
                log.info("link judgement of note %s postponed: %s", note_id, exc)
                return
        now = store.clock()
        with store.engine.begin() as conn:
            dequeued = conn.execute(sa.delete(note_link_queue).where(note_link_queue.c.note_id == note_id))
            if dequeued.rowcount == 0:
                return  # judged already (or the note is gone)
            mine = sa.and_(note_links.c.from_id == note_id, note_links.c.kind == "related")
            provisional = conn.execute(sa.select(note_links).where(mine, note_links.c.reason.like("cosine%"))).all()
            if judged is None:
                for link in provisional:
                    other = conn.execute(sa.select(notes).where(notes.c.id == link.to_id)).first()
                    if other is not None:
                        self._evolve(conn, other, note_id, _shared_keywords(row, other), now)
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
                        self._evolve(conn, other, note_id, _shared_keywords(row, other), now)
                    continue
                links.append({"from_id": note_id, "to_id": other.id, "kind": "related",
                              "reason": LLM_REASON_PREFIX + j.reason, "weight": round(similarity, 4),
                              "created_at": now})  # fmt: skip
                changes = self._grounded_evolution(other, row, j)
                if not changes or store.write_version(conn, other, changes, EVOLUTION + note_id, now) is None:
                    self._evolve(conn, other, note_id, _shared_keywords(row, other), now)
            if links:
                conn.execute(sa.insert(note_links), links)

    def _grounded_evolution(self, other: NoteRow, new: NoteRow, judgement: Judgement) -> dict[str, Any]:
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

    def _candidates(self, conn: Connection, row: SqlRow) -> list[tuple[SqlRow, float]]:
        """Hybrid search (dense + lexical, fused) over the owner's live notes for the note's own text:
        the best few with their cosine to it."""
        own = collection(row.agent_id)
        vector = self._vectors.embeddings(own, [row.id]).get(row.id)
        if vector is None:
            return []
        where = sa.and_(notes.c.agent_id == row.agent_id, notes.c.archived_at.is_(None), notes.c.id != row.id,
                        notes.c.category != PROFILE)  # fmt: skip
        dense = dict(self._vectors.query(own, vector, _JUDGE_POOL + 1))
        lexical = dict(self._store.lexical.search(conn, where, row.content, _JUDGE_POOL, scopes=[row.agent_id]))
        rows = self._store.rows(conn, [*dense, *lexical], where)
        cosine = {i: dense[i] for i in dense if i in rows}
        missing = [i for i in rows if i not in cosine]
        cosine.update({i: float(np.dot(v, vector)) for i, v in self._vectors.embeddings(own, missing).items()})
        fused = rrf(dense=cosine, lexical={i: lexical[i] for i in lexical if i in rows})
        return [(rows[i], cosine[i]) for i in pick_candidates(fused, cosine, _JUDGE_CANDIDATES, _JUDGE_FLOOR)]

    # -- an agent's own links, undo, reads --------------------------------------------------------------

    def link(self, agent_id: str, from_id: str, to_id: str, kind: str, reason: str, weight: float) -> Link:
        Validator.link(from_id, to_id, kind)
        now = self._store.clock()
        with self._store.engine.begin() as conn:
            self._store.own_row(conn, agent_id, from_id)
            self._store.visible_row(conn, agent_id, to_id)
            conn.execute(sa.delete(note_links).where(note_links.c.from_id == from_id, note_links.c.to_id == to_id))
            link = Link(from_id, to_id, kind, reason or "set by the agent", weight, now)
            conn.execute(sa.insert(note_links), [asdict(link)])
        return link

    def unlink(self, agent_id: str, from_id: str, to_id: str) -> None:
        with self._store.engine.begin() as conn:
            self._store.own_row(conn, agent_id, from_id)
            result = conn.execute(
                sa.delete(note_links).where(note_links.c.from_id == from_id, note_links.c.to_id == to_id)
            )
        if result.rowcount == 0:
            raise NotFound(f"no link from {from_id} to {to_id}")

    def undo_evolution(self, agent_id: str, cause_note_id: str) -> int:
        """Revert every change a new note's evolution made to the agent's notes; each revert is a new version.
        Returns the reverts that landed."""
        cause = EVOLUTION + cause_note_id
        now = self._store.clock()
        reverted = 0
        with self._store.engine.begin() as conn:
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
                reverted += self._store.write_version(conn, row, undone, f"undo {cause}", now) is not None
        if not steps:
            raise NotFound(f"no evolution step caused by note {cause_note_id}")
        return reverted

    def graph(self, agent_id: str, limit: int, include_archived: bool) -> tuple[list[Note], list[Link]]:
        """The agent's most recent notes and the links among them."""
        Validator.graph(limit)
        query = sa.select(notes.c.id).where(notes.c.agent_id == agent_id)
        if not include_archived:
            query = query.where(notes.c.archived_at.is_(None))
        with self._store.engine.connect() as conn:
            ids = list(conn.execute(query.order_by(notes.c.created_at.desc()).limit(limit)).scalars())
            rows = conn.execute(
                sa.select(note_links).where(note_links.c.from_id.in_(ids), note_links.c.to_id.in_(ids))
            ).all()
        links = [Link(r.from_id, r.to_id, r.kind, r.reason, r.weight, r.created_at) for r in rows]
        return self._store.get_many(agent_id, ids), links

    def neighbours(self, agent_id: str, note_id: str, depth: int) -> tuple[list[Note], list[Link]]:
        """Notes reachable from `note_id` over links in either direction, up to `depth` hops."""
        Validator.depth(depth)
        seen, frontier, found = {note_id}, {note_id}, []
        with self._store.engine.connect() as conn:
            self._store.visible_row(conn, agent_id, note_id)
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
        visible = self._store.get_many(agent_id, [i for i in seen if i != note_id])
        ids = {n.id for n in visible} | {note_id}
        return visible, [link for link in found if link.from_id in ids and link.to_id in ids]
