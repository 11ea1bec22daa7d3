"""The semantic layer: text versions chunked and embedded after they commit; retrieve, summarize, group, join.

Indexing runs on its own thread and never blocks a write: each commit hands the file ids over, and the
indexer brings `fs_chunks` (SQL + full-text) and the tree's Chroma collection up to the file's current
version. `fs_files.indexed_version` says how far it got, so a restart (or `reindex`) finishes the work.
Retrieval is hybrid as in memory: dense (Chroma) and lexical (FTS5 / tsvector) chunk rankings fused by RRF.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios import text as extract
from aios._db import storage_full
from aios.embeddings import Embedder
from aios.errors import FailedPrecondition, InvalidArgument
from aios.lexical import Lexical, rrf
from aios.vectors import VectorIndex
from fs import paths
from fs._schema import chunk_trees, fs_chunks, fs_files, fs_summaries
from fs.models import ChunkHit, PassagePair, RetrieveFilters, Summary
from fs.service import FileService, TreeRef

__all__ = ["SemanticIndex", "chunk_text", "collection"]

log = logging.getLogger("aios.fs.index")

_BATCH_FILES = 32
_GATHER_S = 0.2
_FULL_RETRY_S = 5.0  # a batch that met a full disk is tried again after this long
_CANDIDATES = 100
_CHUNKS_PER_HIT = 3
_MAX_K = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def collection(tree_id: str) -> str:
    return f"fs_{tree_id}"


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


class SemanticIndex:
    def __init__(
        self, engine: Engine, embedder: Embedder, vectors: VectorIndex, files: FileService, llm: Any = None
    ) -> None:
        self._engine = engine
        self._embedder = embedder
        self._vectors = vectors
        self._blobs = files.blobs
        self._files = files
        self._config = files.config
        self._llm = llm
        self._lexical = Lexical(engine.dialect.name, fs_chunks, "fs_chunks_fts", "chunk_id", scopes_of=chunk_trees)
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._write = threading.Lock()  # one indexing pass at a time: the worker's or a reindex's
        self._thread: threading.Thread | None = None
        files.on_commit(self.schedule)

    # -- indexing ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Repair the index, then index whatever is behind (after a crash, or written while the kernel was down)."""
        self.repair()
        with self._engine.connect() as conn:
            behind = conn.execute(
                sa.select(fs_files.c.id).where(fs_files.c.indexed_version != fs_files.c.version)
            ).scalars().all()  # fmt: skip
        if behind:
            log.info("fs index: %d files to (re)index", len(behind))
        self.schedule(list(behind))
        self._thread = threading.Thread(target=self._run, name="aios-fs-index", daemon=True)
        self._thread.start()

    def repair(self) -> tuple[int, int]:
        """Make Chroma agree with fs_chunks: drop vectors SQL does not know (a crash after the vectors were
        written but before the rows committed) and re-index files whose vectors are missing.
        Returns (vectors removed, files re-queued)."""
        removed, requeued = 0, set()
        with self._engine.connect() as conn:
            chunks: dict[str, dict[str, str]] = defaultdict(dict)
            for chunk_id, file_id, tree_id in conn.execute(
                sa.select(fs_chunks.c.id, fs_chunks.c.file_id, fs_chunks.c.tree_id)
            ):
                chunks[tree_id][chunk_id] = file_id
        for name in self._vectors.names("fs_"):
            tree_id = name.removeprefix("fs_")
            stored = self._vectors.ids(name)
            extra = [i for i in stored if i not in chunks.get(tree_id, {})]
            self._vectors.delete(name, extra)
            removed += len(extra)
            requeued.update(f for c, f in chunks.get(tree_id, {}).items() if c not in stored)
        for tree_id, known in chunks.items():
            if collection(tree_id) not in self._vectors.names(collection(tree_id)):
                requeued.update(known.values())
        if requeued:
            with self._engine.begin() as conn:
                conn.execute(sa.update(fs_files).where(fs_files.c.id.in_(requeued)).values(indexed_version=0))
        if removed or requeued:
            log.warning("fs index repaired: %d stray vectors removed, %d files queued again", removed, len(requeued))
        return removed, len(requeued)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def schedule(self, file_ids: Sequence[str]) -> None:
        with self._cond:
            self._pending.update(file_ids)
            self._cond.notify_all()

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._pending) + (1 if self._busy else 0)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every committed change is indexed; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def reindex(
        self, progress: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] = lambda: False
    ) -> int:
        """Rebuild every chunk, vector and full-text row from SQL and the blobs. Stopped early, the files
        not yet rebuilt stay marked behind and the worker finishes them."""
        with self._engine.begin() as conn:
            ids = conn.execute(sa.select(fs_files.c.id)).scalars().all()
            conn.execute(sa.update(fs_files).values(indexed_version=0))
        for name in self._vectors.names("fs_"):
            self._vectors.drop(name)
        for i in range(0, len(ids), _BATCH_FILES):
            if should_stop():
                self.schedule(ids[i:])
                return i
            self._index(ids[i : i + _BATCH_FILES])
            if progress:
                progress(min(i + _BATCH_FILES, len(ids)), len(ids))
        return len(ids)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                # Let a burst of writes gather: one indexing transaction for many files, not one each.
                self._cond.wait_for(lambda: len(self._pending) >= _BATCH_FILES or self._stopping, _GATHER_S)
                if self._stopping:
                    return
                batch = [self._pending.pop() for _ in range(min(_BATCH_FILES, len(self._pending)))]
                self._busy = True
            try:
                self._index(batch)
            except Exception as exc:
                full = storage_full(exc)
                if full is None:
                    log.exception("fs index: batch of %d files failed; they stay behind until the next start",
                                  len(batch))  # fmt: skip
                else:  # indexed once there is space again, not only at the next start
                    log.warning("fs index: %d files wait for space: %s", len(batch), full)
                    with self._cond:
                        self._cond.wait_for(lambda: self._stopping, _FULL_RETRY_S)
                        self._pending.update(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _index(self, file_ids: Sequence[str]) -> None:
        with self._write:
            self._index_locked(file_ids)

    def _index_locked(self, file_ids: Sequence[str]) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(fs_files).where(fs_files.c.id.in_(file_ids))).all()
            old = defaultdict(list)
            for chunk_id, file_id in conn.execute(
                sa.select(fs_chunks.c.id, fs_chunks.c.file_id).where(fs_chunks.c.file_id.in_(file_ids))
            ):
                old[file_id].append(chunk_id)
        new_rows: list[dict[str, Any]] = []
        for row in rows:
            text = self._text(row)
            for seq, (start, end) in enumerate(chunk_text(text, self._config.chunk_chars) if text else []):
                new_rows.append({"id": f"{row.id}-{row.version}-{seq}", "file_id": row.id, "tree_id": row.tree_id,
                                 "version": row.version, "seq": seq, "start": start, "end": end,
                                 "text": text[start:end]})  # fmt: skip
        if new_rows:
            vectors = self._embedder.encode([r["text"] for r in new_rows])
            by_tree: dict[str, list[int]] = defaultdict(list)
            for i, r in enumerate(new_rows):
                by_tree[r["tree_id"]].append(i)
            for tree_id, idx in by_tree.items():
                self._vectors.upsert(collection(tree_id), [new_rows[i]["id"] for i in idx], vectors[idx])
        new_ids = {r["id"] for r in new_rows}
        with self._engine.begin() as conn:
            stale = [c for row in rows for c in old[row.id]]
            conn.execute(sa.delete(fs_chunks).where(fs_chunks.c.file_id.in_(file_ids)))
            self._lexical.delete(conn, stale)
            if new_rows:
                conn.execute(sa.insert(fs_chunks), new_rows)
                self._lexical.put(conn, [(r["id"], r["text"]) for r in new_rows])
            for row in rows:
                # Only if no newer version committed meanwhile (that one is scheduled already).
                conn.execute(sa.update(fs_files).where(fs_files.c.id == row.id, fs_files.c.version == row.version)
                             .values(indexed_version=row.version))  # fmt: skip
        for row in rows:
            gone = [c for c in old[row.id] if c not in new_ids]
            if gone:
                self._vectors.delete(collection(row.tree_id), gone)

    def _text(self, row: sa.Row) -> str:
        """The indexable text of a live file; "" for directories, deleted files and binary content."""
        if row.kind != "file" or row.deleted_at is not None or not row.sha256:
            return ""
        data = b"".join(self._blobs.stream(row.sha256, self._config.index_max_bytes))[: self._config.index_max_bytes]
        if b"\x00" in data[:8192]:
            return ""
        return data.decode("utf-8", errors="ignore")

    # -- queries -------------------------------------------------------------------------------------

    def retrieve(
        self, trees: Sequence[TreeRef], query: str, k: int, filters: RetrieveFilters
    ) -> list[tuple[TreeRef, str, float, list[ChunkHit]]]:
        """Best `k` files for `query` in `trees`: (tree, file id, score, best chunks)."""
        if not query.strip():
            raise InvalidArgument("query must not be empty")
        if not 1 <= k <= _MAX_K:
            raise InvalidArgument(f"k must be between 1 and {_MAX_K}")
        prefix = paths.normalize(filters.path_prefix or "/", "path_prefix")
        by_id = {t.id: t for t in trees}
        vector = self._embedder.encode([query])[0]
        n = max(_CANDIDATES, k * 10)
        dense: dict[str, float] = {}
        for tree_id in by_id:
            dense.update(self._vectors.query(collection(tree_id), vector, n))
        live = sa.select(fs_files.c.id).where(
            fs_files.c.tree_id.in_(by_id), fs_files.c.deleted_at.is_(None),
            *([] if prefix == "/" else [fs_files.c.path.like(paths.like_prefix(prefix), escape="\\")]),
        )  # fmt: skip
        where = sa.and_(fs_chunks.c.tree_id.in_(by_id), fs_chunks.c.file_id.in_(live))
        with self._engine.connect() as conn:
            lexical = dict(self._lexical.search(conn, where, query, n, scopes=list(by_id)))  # bm25 per tree
            candidates = list({*dense, *lexical})
            rows = conn.execute(
                sa.select(fs_chunks, fs_files.c.path, fs_files.c.mime)
                .join(fs_files, fs_files.c.id == fs_chunks.c.file_id)
                .where(fs_chunks.c.id.in_(candidates), where, fs_chunks.c.version == fs_files.c.version)
            ).all()
        keep = {r.id: r for r in rows if self._passes(r, prefix, filters)}
        fused = rrf(dense={i: s for i, s in dense.items() if i in keep},
                    lexical={i: s for i, s in lexical.items() if i in keep})  # fmt: skip
        per_file: dict[str, list[tuple[float, sa.Row]]] = defaultdict(list)
        for chunk_id, (score, _) in fused.items():
            per_file[keep[chunk_id].file_id].append((score, keep[chunk_id]))
        ranked = []
        for file_id, scored in per_file.items():
            scored.sort(key=lambda x: -x[0])
            # The best passage decides; more matching passages in the same file add a little.
            score = scored[0][0] + 0.1 * sum(s for s, _ in scored[1:_CHUNKS_PER_HIT])
            chunks = [ChunkHit(r.text, r.start, r.end, s) for s, r in scored[:_CHUNKS_PER_HIT]]
            ranked.append((by_id[scored[0][1].tree_id], file_id, score, chunks))
        ranked.sort(key=lambda x: -x[2])
        return ranked[:k]

    @staticmethod
    def _passes(row: sa.Row, prefix: str, f: RetrieveFilters) -> bool:
        if not paths.is_under(row.path, prefix) or not paths.matches(row.path, prefix, f.glob):
            return False
        if f.mime_prefix and not row.mime.startswith(f.mime_prefix):
            return False
        text = row.text.lower()
        return all(kw.lower() in text for kw in f.keywords)

    def summarize(self, agent_id: str, tree_id: str, path: str, version: int, sha: str, **llm_options: Any) -> Summary:
        """An LLM summary through the kernel's scheduler, cached per tree and content (so a hit, and its speed,
        tells nothing about other agents' files); extractive without an LLM."""
        method = "llm" if self._llm is not None and self._llm.available else "extractive"
        key = sa.and_(fs_summaries.c.tree_id == tree_id, fs_summaries.c.sha256 == sha)
        with self._engine.connect() as conn:
            cached = conn.execute(sa.select(fs_summaries).where(key)).first()
        if cached is not None and (cached.method == method or method == "extractive"):
            return Summary(path, version, cached.summary, cached.method, True)
        data = self._blobs.read(sha)[: self._config.index_max_bytes]
        if b"\x00" in data[:8192]:
            raise FailedPrecondition(f"{path} is not text")
        text = data.decode("utf-8", errors="ignore")
        summary = self._llm_summary(agent_id, text, **llm_options) if method == "llm" else _extractive(text)
        with self._engine.begin() as conn:
            conn.execute(sa.delete(fs_summaries).where(key))
            conn.execute(sa.insert(fs_summaries).values(tree_id=tree_id, sha256=sha, summary=summary, method=method,
                                                        created_at=self._files._clock()))  # fmt: skip
        return Summary(path, version, summary, method, False)

    def _llm_summary(self, agent_id: str, text: str, **options: Any) -> str:
        from aios.llm import ChatMessage, SamplingParams  # the LLM core is optional for the file system

        budget_chars = max(1000, (self._llm.info().n_ctx - self._config.summary_tokens - 200) * 3)
        body = text if len(text) <= budget_chars else _extractive(text, budget_chars)
        messages = [
            ChatMessage("system", "Summarize the document in at most 5 sentences. Keep names, numbers and dates."),
            ChatMessage("user", body),
        ]
        # Greedy decoding of a small model loops ("a product that is a product that is ...") without a penalty.
        params = SamplingParams(max_tokens=self._config.summary_tokens, temperature=0.0, repeat_penalty=1.3)
        completion = self._llm.chat(agent_id, messages, params, **options)
        return completion.text.strip() or _extractive(text)

    def file_vectors(self, tree_id: str, file_ids: Sequence[str]) -> dict[str, tuple[np.ndarray, list[sa.Row]]]:
        """Per file: its chunks (current version) and their embeddings, in order."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(fs_chunks).join(fs_files, fs_files.c.id == fs_chunks.c.file_id)
                .where(fs_chunks.c.file_id.in_(file_ids), fs_chunks.c.version == fs_files.c.version)
                .order_by(fs_chunks.c.file_id, fs_chunks.c.seq)
            ).all()  # fmt: skip
        vectors = self._vectors.embeddings(collection(tree_id), [r.id for r in rows])
        out: dict[str, tuple[list[np.ndarray], list[sa.Row]]] = defaultdict(lambda: ([], []))
        for r in rows:
            if r.id in vectors:
                out[r.file_id][0].append(vectors[r.id])
                out[r.file_id][1].append(r)
        return {f: (np.vstack(v), rs) for f, (v, rs) in out.items()}

    def group(self, ref: TreeRef, file_ids: Sequence[str], groups: int) -> list[tuple[str, list[str], list[str]]]:
        """Cluster files by topic (k-means on mean chunk embeddings); (name, keywords, file ids) per group."""
        data = self.file_vectors(ref.id, file_ids)
        ids = [f for f in file_ids if f in data]
        if not ids:
            return []
        means = np.vstack([data[f][0].mean(axis=0) for f in ids])
        means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-9
        k = groups or max(1, min(8, round((len(ids) / 2) ** 0.5)))
        labels = _kmeans(means, min(k, len(ids)))
        out = []
        for label in sorted(set(labels), key=lambda g: -list(labels).count(g)):
            members = [f for f, g in zip(ids, labels, strict=True) if g == label]
            text = " ".join(r.text for f in members for r in data[f][1][:4])
            keywords = extract.keywords_of(text, 5)
            out.append((" / ".join(keywords[:3]) or "misc", keywords, members))
        return out

    def join(self, a: tuple[TreeRef, str], b: tuple[TreeRef, str], k: int) -> list[PassagePair]:
        """The `k` most similar passage pairs between two files (each passage used at most once)."""
        if not 1 <= k <= _MAX_K:
            raise InvalidArgument(f"k must be between 1 and {_MAX_K}")
        (va, ra), (vb, rb) = (self._one(*a), self._one(*b))
        sims = _normalised(va) @ _normalised(vb).T
        pairs, used_a, used_b = [], set(), set()
        for flat in np.argsort(-sims, axis=None):
            i, j = divmod(int(flat), sims.shape[1])
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            score = float(sims[i, j])
            pairs.append(PassagePair(ChunkHit(ra[i].text, ra[i].start, ra[i].end, score),
                                     ChunkHit(rb[j].text, rb[j].start, rb[j].end, score), score))  # fmt: skip
            if len(pairs) == k:
                break
        return pairs

    def _one(self, ref: TreeRef, file_id: str) -> tuple[np.ndarray, list[sa.Row]]:
        got = self.file_vectors(ref.id, [file_id]).get(file_id)
        if got is None:
            raise FailedPrecondition("the file has no indexed text yet (binary, empty, or still being indexed)")
        return got


def _normalised(m: np.ndarray) -> np.ndarray:
    return m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-9)


def _kmeans(x: np.ndarray, k: int, iterations: int = 25) -> list[int]:
    """Spherical k-means with k-means++ seeding from a fixed seed: the same files give the same groups."""
    rng = np.random.default_rng(0)
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min(1 - x @ np.vstack(centers).T, axis=1).clip(0)
        total = d.sum()
        centers.append(x[rng.choice(len(x), p=d / total)] if total > 0 else x[rng.integers(len(x))])
    c = np.vstack(centers)
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iterations):
        labels = np.argmax(x @ c.T, axis=1)
        new = np.vstack([x[labels == j].mean(axis=0) if np.any(labels == j) else c[j] for j in range(k)])
        new = _normalised(new)
        if np.allclose(new, c):
            break
        c = new
    return [int(v) for v in labels]


def _extractive(text: str, limit: int = 600) -> str:
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
    chosen, used = [], 0
    for i in scored:
        if used + len(sentences[i]) > limit and chosen:
            continue
        chosen.append(i)
        used += len(sentences[i]) + 1
        if used >= limit:
            break
    return " ".join(sentences[i] if len(sentences[i]) <= limit else sentences[i][:limit] + "…" for i in sorted(chosen))
