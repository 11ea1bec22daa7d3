"""Searching the semantic index: hybrid retrieval of files (dense chunk rankings from the index fused by RRF
with lexical ones, FTS5 / tsvector, as in memory), topic groups of files (k-means) and the most alike passages
of two files. Reads only: the index (fs.index) writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios import text as extract
from aios.errors import FailedPrecondition, InvalidArgument
from aios.fs import paths
from aios.fs._schema import fs_chunks, fs_files
from aios.fs.index import SemanticIndex, chunks_fulltext
from aios.fs.models import ChunkHit, PassagePair, RetrieveFilters
from aios.fs.trees import TreeRef
from aios.lexical import rrf

__all__ = ["ChunkSearch"]

_CANDIDATES = 100
_CHUNKS_PER_HIT = 3
_MAX_K = 200


class ChunkSearch:
    def __init__(self, engine: Engine, index: SemanticIndex) -> None:
        self._engine = engine
        self._index = index
        self._lexical = chunks_fulltext(engine)

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
        n = max(_CANDIDATES, k * 10)
        dense = self._index.nearest(by_id, query, n)
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
        per_file: dict[str, list[tuple[float, sa.Row[Any]]]] = defaultdict(list)
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
    def _passes(row: sa.Row[Any], prefix: str, f: RetrieveFilters) -> bool:
        if not paths.is_under(row.path, prefix) or not paths.matches(row.path, prefix, f.glob):
            return False
        if f.mime_prefix and not row.mime.startswith(f.mime_prefix):
            return False
        text = row.text.lower()
        return all(kw.lower() in text for kw in f.keywords)

    def file_vectors(self, tree_id: str, file_ids: Sequence[str]) -> dict[str, tuple[np.ndarray, list[sa.Row[Any]]]]:
        """Per file: its chunks (current version) and their embeddings, in order."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(fs_chunks).join(fs_files, fs_files.c.id == fs_chunks.c.file_id)
                .where(fs_chunks.c.file_id.in_(file_ids), fs_chunks.c.version == fs_files.c.version)
                .order_by(fs_chunks.c.file_id, fs_chunks.c.seq)
            ).all()  # fmt: skip
        vectors = self._index.embeddings(tree_id, [r.id for r in rows])
        out: dict[str, tuple[list[np.ndarray], list[sa.Row[Any]]]] = defaultdict(lambda: ([], []))
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

    def _one(self, ref: TreeRef, file_id: str) -> tuple[np.ndarray, list[sa.Row[Any]]]:
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
