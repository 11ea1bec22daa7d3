"""Memory benchmark, the data and the metrics: LongMemEval questions at turn level (each user turn of the
haystack a unit, gold = `has_answer`), the speed run's texts, and recall / NDCG over a ranking (bench/memory_bench.py;
bench/enrichment.py uses them too)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import percentile
from _longmemeval import read_questions, session_turns, short_texts

KS = (1, 3, 5, 10)
SEARCH_K = 10


@dataclass
class Unit:
    """One user turn of a haystack: a note on our side, a vector on the baseline's."""

    session_id: str
    turn: int
    content: str
    gold: bool
    event_at: float


@dataclass
class Question:
    qid: str
    qtype: str
    question: str
    evidence_sessions: list[str]
    units: list[Unit]
    asked_at: float = 0.0
    """question_date: the reference time (`as_of`) for the question's relative time expressions."""

    @property
    def gold(self) -> set[int]:
        return {i for i, u in enumerate(self.units) if u.gold}


def parse_date(text: str) -> float:
    """'2023/05/20 (Sat) 00:59' as epoch seconds (UTC)."""
    clean = re.sub(r"\s*\([^)]*\)", "", text).strip()
    return dt.datetime.strptime(clean, "%Y/%m/%d %H:%M").replace(tzinfo=dt.UTC).timestamp()


def load_questions(data: Path, sessions: dict[str, list[dict[str, Any]]]) -> tuple[list[Question], dict[str, int]]:
    """The questions the turn-level protocol keeps, in file order, and how many were skipped and why."""
    kept, skipped = [], Counter()
    for raw in read_questions(data):
        if raw["question_id"].endswith("_abs"):
            skipped["abstention (_abs)"] += 1
            continue
        units = [
            Unit(h["session_id"], i, t["content"], bool(t.get("has_answer")), parse_date(h["date"]))
            for h in raw["haystack"]
            for i, t in enumerate(sessions[h["session_id"]])
            if t["role"] == "user"
        ]
        empty = [u for u in units if not u.content.strip()]  # a note must have content
        if empty:
            skipped["empty_turns_dropped"] += len(empty)
            skipped["empty_gold_turns_dropped"] += sum(1 for u in empty if u.gold)
            units = [u for u in units if u.content.strip()]
        if not any(u.gold for u in units):
            skipped["no user-side has_answer turn"] += 1
            continue
        kept.append(Question(raw["question_id"], raw["question_type"], raw["question"],
                             list(raw["answer_session_ids"]), units, parse_date(raw["question_date"])))  # fmt: skip
    return kept, {k: v for k, v in skipped.items() if v}


def pick_quick(questions: list[Question], per_type: int) -> list[Question]:
    seen: Counter[str] = Counter()
    out = []
    for q in questions:
        if seen[q.qtype] < per_type:
            seen[q.qtype] += 1
            out.append(q)
    return out


def speed_texts(data: Path, n: int) -> tuple[list[str], dict[str, Any]]:
    """`n` short realistic texts (bench/_common.py short_texts), read from the sessions file."""
    texts, info = short_texts(session_turns(data), n)
    return texts, {"notes": n, **info, "chars_p50": percentile([len(t) for t in texts], 50)}


# -- metrics ----------------------------------------------------------------------------------------


def turn_metrics(ranking: Sequence[int], gold: set[int]) -> dict[str, float]:
    """recall@k (fraction of gold in the top k), recall_any@k, NDCG@k (binary relevance) for KS."""
    out = {}
    for k in KS:
        top = list(ranking[:k])
        found = sum(1 for i in top if i in gold)
        dcg = sum(1.0 / math.log2(r + 2) for r, i in enumerate(top) if i in gold)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(gold))))
        out[f"recall@{k}"] = found / len(gold)
        out[f"recall_any@{k}"] = float(found > 0)
        out[f"ndcg@{k}"] = dcg / idcg
    return out


def session_found(ranking: Sequence[int], q: Question, k: int = 5) -> float:
    sessions = {q.units[i].session_id for i in ranking[:k]}
    return float(bool(sessions & set(q.evidence_sessions)))


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over questions, overall and per type; `rows` hold `type`, `turn` (metrics) and `session`."""
    keys = [f"{m}@{k}" for m in ("recall", "recall_any", "ndcg") for k in KS]

    def mean(sub: list[dict[str, Any]]) -> dict[str, float]:
        return {key: round(sum(r["turn"][key] for r in sub) / len(sub), 4) for key in keys}

    by_type = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
    turn = mean(rows) | {
        "by_type": {
            t: {"questions": len(sub)}
            | mean(sub)
            | {"session_recall_any@5": round(sum(r["session"] for r in sub) / len(sub), 4)}
            for t, sub in sorted(by_type.items())
        }
    }
    return {"turn": turn, "session": {"recall_any@5": round(sum(r["session"] for r in rows) / len(rows), 4)}}
