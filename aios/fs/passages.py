"""Pure text work of the semantic layer: cutting a text into passages (the index's chunks) and picking its key
sentences (the extractive summary, used without an LLM and to fit a long text into the model's window)."""

from __future__ import annotations

import re

from aios import text as extract

__all__ = ["chunk_text", "extractive"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def chunk_text(text: str, target: int) -> list[tuple[int, int]]:
    """(start, end) character spans of about `target` characters, cut at paragraph, then line, then
    sentence boundaries; a longer run without any boundary is cut hard."""
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    while start < n:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            break
        end = min(start + target, n)
        if end < n:
            window = text[start:end]
            cut = max(window.rfind("\n\n"), -1)
            if cut < target // 3:
                cut = window.rfind("\n")
            if cut < target // 3:
                found = [m.start() for m in _SENTENCE.finditer(window)]
                cut = found[-1] if found and found[-1] >= target // 3 else -1
            if cut >= target // 3:
                end = start + cut
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


def extractive(text: str, limit: int = 600) -> str:
    """The sentences that carry most of the text's keywords, in their original order, up to `limit` chars."""
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    if not sentences:
        return ""
    keywords = extract.keywords_of(text, 20)
    weights = {w: len(keywords) - i for i, w in enumerate(keywords)}  # the first keyword weighs most
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (
            -(sum(weights.get(w, 0) for w in set(extract.words(sentences[i]))) / (1 + len(sentences[i]) / 400))
        ),
    )
    chosen: list[int] = []
    used = 0
    for i in scored:
        if used + len(sentences[i]) > limit and chosen:
            continue
        chosen.append(i)
        used += len(sentences[i]) + 1
        if used >= limit:
            break
    return " ".join(sentences[i] if len(sentences[i]) <= limit else sentences[i][:limit] + "…" for i in sorted(chosen))
