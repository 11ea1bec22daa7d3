"""The shared LongMemEval dev subset: where it is, reading its sessions and questions, and short distinct texts
cut from its turns."""

from __future__ import annotations

import json
import lzma
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from _common import ROOT

LONGMEMEVAL = ROOT.parent / "shared" / "data" / "longmemeval-dev"
"""The shared LongMemEval dev subset: `../shared/data/...` relative to the repository."""


def load_sessions(data: Path) -> dict[str, list[dict[str, Any]]]:
    """session id -> its turns, from sessions.jsonl.xz."""
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        return {s["session_id"]: s["turns"] for s in map(json.loads, f)}


def session_turns(data: Path) -> Iterator[list[dict[str, Any]]]:
    """Each session's turns, in file order."""
    with lzma.open(data / "sessions.jsonl.xz", "rt", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["turns"]


def read_questions(data: Path) -> list[dict[str, Any]]:
    """Every record of questions.jsonl, in file order."""
    with open(data / "questions.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


SHORT_MAX_CHARS = 400
PARAGRAPH_MIN_CHARS = 40


def short_texts(sessions: Iterable[list[dict[str, Any]]], n: int) -> tuple[list[str], dict[str, Any]]:
    """`n` distinct short texts from LongMemEval sessions (each a list of turns), in file order: user turns
    of at most SHORT_MAX_CHARS characters, then, when those run out, assistant-turn paragraphs of
    PARAGRAPH_MIN_CHARS-SHORT_MAX_CHARS. Returns them and how many of each, with a description."""
    users: list[str] = []
    paragraphs: list[str] = []
    seen: set[str] = set()
    for turns in sessions:
        for turn in turns:
            text = (turn.get("content") or "").strip()
            if turn["role"] == "user":
                if text and len(text) <= SHORT_MAX_CHARS and "\x00" not in text and text not in seen:
                    seen.add(text)
                    users.append(text)
            elif len(users) + len(paragraphs) < n:
                for par in (par.strip() for par in text.split("\n")):
                    if PARAGRAPH_MIN_CHARS <= len(par) <= SHORT_MAX_CHARS and "\x00" not in par and par not in seen:
                        seen.add(par)
                        paragraphs.append(par)
    texts = (users + paragraphs)[:n]
    if len(texts) < n:
        raise SystemExit(f"LongMemEval holds only {len(texts)} short distinct texts; asked for {n}")
    n_users = min(n, len(users))
    description = f"distinct LongMemEval user turns of at most {SHORT_MAX_CHARS} characters in file order"
    if n > n_users:
        description += (f" ({n_users:,}), then distinct assistant-turn paragraphs of {PARAGRAPH_MIN_CHARS}-"
                        f"{SHORT_MAX_CHARS} characters ({n - n_users:,})")  # fmt: skip
    return texts, {"user_turns": n_users, "assistant_paragraphs": n - n_users,
                   "chars_mean": round(sum(map(len, texts)) / n, 1), "description": description}  # fmt: skip
