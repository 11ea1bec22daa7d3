"""Memory benchmark, retrieval quality: per LongMemEval question a fresh in-process memory holding its haystack's
user turns, searched with the question, against a dense baseline over the same turn vectors
(bench/memory_bench.py)."""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import Meter, loadavg, progress_bar
from _longmemeval import load_sessions
from _memory_data import SEARCH_K, load_questions, pick_quick, session_found, summarise, turn_metrics

MEMORY_BATCH = 1_000  # MemoryService.add takes at most this many notes per call
QUICK = {"per_type": 2, "notes": 1_000, "big": 2_000, "queries": 30}


class RecordingEmbedder:
    """The kernel's Embedder, keeping every vector it computes by text, so the dense baseline reuses the
    memory's own turn vectors (same model, same settings) instead of encoding every turn a second time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.vectors: dict[str, Any] = {}
        self.encoded = 0

    def encode(self, texts: list[str]) -> Any:
        vectors = self.inner.encode(texts)
        self.encoded += len(texts)
        for text, vector in zip(texts, vectors, strict=True):
            self.vectors[text] = vector
        return vectors


def run_quality(args: argparse.Namespace, console: Any) -> dict[str, Any]:
    import numpy as np
    import sqlalchemy as sa

    from aios import lexical
    from aios._db import create_engine, migrate
    from aios.agents.service import AgentService
    from aios.config import LimitsConfig
    from aios.embeddings import Embedder
    from aios.memory import MemoryService
    from aios.memory.models import NewNote
    from aios.memory.search import CANDIDATES
    from aios.memory.temporal import windows_of
    from aios.vectors import VectorIndex

    load = {"before": loadavg()}
    with console.status("reading LongMemEval"):
        sessions = load_sessions(args.data)
        questions, skipped = load_questions(args.data, sessions)
    total_kept = len(questions)
    if args.quick:
        questions = pick_quick(questions, QUICK["per_type"])
    elif args.questions:
        questions = questions[: args.questions]
    n_units = sum(len(q.units) for q in questions)
    console.log(f"{len(questions)} questions of {total_kept} kept ({skipped}), {n_units:,} user turns")

    tmp = Path(tempfile.mkdtemp(prefix="aios-bench-memory-"))
    meter = Meter(None)
    rows: dict[str, list[dict[str, Any]]] = {"dense_baseline": [], "aios": []}
    per_question = []
    signal_counts: Counter[str] = Counter()
    gold_signal_counts: Counter[str] = Counter()
    versus_dense: Counter[str] = Counter()
    add_s = search_s = 0.0
    try:
        with console.status("loading the embedding model"):
            embedder = RecordingEmbedder(Embedder())
        vectors = VectorIndex.open(tmp)
        with progress_bar(console) as progress, meter():
            task = progress.add_task("quality: questions", total=len(questions))
            units_task = progress.add_task("quality: turns added", total=n_units)
            for q in questions:
                # A fresh memory per question: its own SQLite database (so FTS5's bm25 statistics are the
                # haystack's own), its own agent and so its own Chroma collection (one Chroma directory).
                engine = create_engine(f"sqlite:///{tmp / (q.qid + '.db')}")
                migrate(engine)
                agent, _ = AgentService(engine).create("lme-" + re.sub(r"[^A-Za-z0-9_.-]", "_", q.qid))
                memory = MemoryService(engine, embedder, vectors, LimitsConfig())
                ids: list[str] = []
                t0 = time.perf_counter()
                for start in range(0, len(q.units), MEMORY_BATCH):
                    chunk = q.units[start : start + MEMORY_BATCH]
                    added = memory.add(agent.id, [NewNote(u.content, event_at=u.event_at) for u in chunk])
                    ids += [n.id for n in added]
                    progress.advance(units_task, len(chunk))
                t1 = time.perf_counter()
                hits = memory.search(agent.id, q.question, k=SEARCH_K, as_of=q.asked_at)
                t2 = time.perf_counter()
                add_s, search_s = add_s + t1 - t0, search_s + t2 - t1
                position = {note_id: i for i, note_id in enumerate(ids)}
                ours = [position[h.note.id] for h in hits]

                # The baseline: the same turn vectors, exact cosine (vectors are unit length).
                matrix = np.stack([embedder.vectors[u.content] for u in q.units])
                query = embedder.inner.encode([q.question])[0]
                scores = matrix @ query
                dense_order = [int(i) for i in np.argsort(-scores, kind="stable")]
                gold = q.gold
                for name, ranking in (("dense_baseline", dense_order), ("aios", ours)):
                    rows[name].append(
                        {"type": q.qtype, "turn": turn_metrics(ranking, gold), "session": session_found(ranking, q)}
                    )
                # Which signals put each of our top-5 hits there (dense, lexical or both).
                for rank, h in enumerate(hits[:5]):
                    kind = "+".join(s for s in ("dense", "lexical") if s in h.signals) or "none"
                    signal_counts[kind] += 1
                    if ours[rank] in gold:
                        gold_signal_counts[kind] += 1
                # Gold turns our top 5 holds and the baseline's does not, and the other way round.
                ours5, dense5 = set(ours[:5]) & gold, set(dense_order[:5]) & gold
                versus_dense["gold_gained"] += len(ours5 - dense5)
                versus_dense["gold_lost"] += len(dense5 - ours5)
                versus_dense["top5_shared_with_dense"] += len(set(ours[:5]) & set(dense_order[:5]))
                versus_dense["top5"] += len(ours[:5])
                dense_rank = {i: r for r, i in enumerate(dense_order)}
                per_question.append({
                    "id": q.qid,
                    "type": q.qtype,
                    "turns": len(q.units),
                    "gold": sorted(gold),
                    "dense_gold_ranks": sorted(dense_rank[i] + 1 for i in gold),
                    "aios_top10": ours,
                    "dense_top10": dense_order[:SEARCH_K],
                    "aios_recall@5": round(rows["aios"][-1]["turn"]["recall@5"], 4),
                    "dense_recall@5": round(rows["dense_baseline"][-1]["turn"]["recall@5"], 4),
                })  # fmt: skip
                with engine.connect() as conn:
                    links = conn.execute(sa.text("SELECT count(*) FROM note_links")).scalar_one()
                per_question[-1]["links"] = links
                memory.close()
                engine.dispose()
                progress.advance(task)
        if args.save_vectors:
            texts = list(embedder.vectors)
            np.savez_compressed(args.save_vectors, texts=np.array(texts, dtype=object),
                                vectors=np.stack([embedder.vectors[t] for t in texts]))  # fmt: skip
            console.log(f"saved {len(texts)} turn vectors to {args.save_vectors}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = loadavg()
    result: dict[str, Any] = {name: summarise(r) for name, r in rows.items()}
    types = Counter(q.qtype for q in questions)
    result["protocol"] = {
        "questions": len(questions),
        "questions_kept_in_dataset": total_kept,
        "skipped": skipped,
        "by_type": dict(sorted(types.items())),
        "turns": n_units,
        "questions_with_time_expression": sum(1 for q in questions if windows_of(q.question, q.asked_at)),
        "gold_turns": sum(len(q.gold) for q in questions),
        "turns_per_question_mean": round(n_units / len(questions), 1),
        "distinct_turn_texts_encoded": len(embedder.vectors),
        "memory_layout": "per question: a fresh SQLite database, a fresh agent (own Chroma collection); one "
        "Chroma directory for the run",
        "session_metric": "turn-derived: an evidence session (answer_session_ids) counts as found when any of "
        "its user turns is among the top 5 turns",
        "event_at": "each note's event_at is its session's date (UTC)",
        "search": f"MemoryService.search(agent, question, k={SEARCH_K}, as_of=question_date), default filters, "
        "expand_links=False",
        "baseline": "all-MiniLM-L6-v2 turn vectors (the ones the memory computed on add), exact cosine in numpy",
    }
    result["diagnostics"] = {
        "aios_top5_signals": dict(signal_counts),
        "aios_top5_gold_signals": dict(gold_signal_counts),
        "signals_note": "for each of our top-5 hits: which ranking(s) held it among their candidates",
        "versus_dense_top5": dict(versus_dense),
        "fusion": f"RRF k={lexical.RRF_K}, {CANDIDATES} candidates a ranking (read from memory.search at run time)",
        "add_notes_per_s": round(n_units / add_s, 2) if add_s else None,
        "search_ms_mean": round(search_s / len(questions) * 1000, 2),
        "links_per_question_mean": round(sum(p["links"] for p in per_question) / len(per_question), 1),
        "phase": meter.as_dict(),
    }
    result["load"] = load
    result["per_question"] = per_question
    return result
