"""The semantic index: text versions chunked and embedded after they commit, on a worker thread of its own.

Indexing never blocks a write: each commit hands the file ids over (`schedule`, a change log listener), and
the worker brings `fs_chunks` (SQL + full-text) and the tree's Chroma collection up to the file's current
version. `fs_files.indexed_version` says how far it got, so a restart (or `reindex`) finishes the work. The
index owns the collections: searches ask it for the nearest chunks and for chunk embeddings.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.config import FsConfig
from aios.embeddings import Embedder
from aios.fs._schema import chunk_trees, fs_chunks, fs_files
from aios.fs.blobs import BlobStore
from aios.fs.passages import chunk_text
from aios.lexical import Lexical
from aios.lifecycle import Worker
from aios.vectors import VectorIndex

__all__ = ["SemanticIndex", "chunks_fulltext", "collection"]

log = logging.getLogger("aios.fs.index")

_BATCH_FILES = 32
_GATHER_S = 0.2
_FULL_RETRY_S = 5.0  # a batch that met a full disk is tried again after this long


def collection(tree_id: str) -> str:
    return f"fs_{tree_id}"


def chunks_fulltext(engine: Engine) -> Lexical:
    """The full-text index of `fs_chunks`, each chunk scoped to its tree."""
    return Lexical(engine.dialect.name, fs_chunks, "fs_chunks_fts", "chunk_id", scopes_of=chunk_trees)


class SemanticIndex:
    def __init__(
        self, engine: Engine, embedder: Embedder, vectors: VectorIndex, blobs: BlobStore, config: FsConfig
    ) -> None:
        self._engine = engine
        self._embedder = embedder
        self._vectors = vectors
        self._blobs = blobs
        self._config = config
        self._lexical = chunks_fulltext(engine)
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._busy = False  # a batch is taken and neither indexed nor back in `_pending`
        self._write = threading.Lock()  # one indexing pass at a time: the worker's or a reindex's
        self.worker = Worker("fs-index", self._take, self._index, wake=self._wake, retry=self._retry,
                             describe=lambda batch: f"a batch of {len(batch)} files")  # fmt: skip

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
        self.worker.start()

    def repair(self) -> tuple[int, int]:
        """Make Chroma agree with fs_chunks: drop vectors SQL does not know (a crash after the vectors were
        written but before the rows committed) and re-index files whose vectors are missing.
        Returns (vectors removed, files re-queued)."""
        removed, requeued = 0, set[str]()
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
        self.worker.stop()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def schedule(self, file_ids: Sequence[str]) -> None:
        with self._cond:
            self._pending.update(file_ids)
            self._cond.notify_all()

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._pending) + (1 if self._busy else 0)

    def behind(self, tree_ids: Iterable[str]) -> int:
        """Files of these trees whose latest version is not indexed yet."""
        with self._engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(fs_files)
                .where(fs_files.c.tree_id.in_(list(tree_ids)), fs_files.c.indexed_version != fs_files.c.version)
            ).scalar_one())  # fmt: skip

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

    def _take(self) -> list[str] | None:
        """The next batch of files; None once stopping. A batch that failed is left behind for the next start."""
        stopping = self.worker.stopping.is_set
        with self._cond:
            self._busy = False  # the last batch is indexed, dropped or queued again
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._pending or stopping())
            # Let a burst of writes gather: one indexing transaction for many files, not one each.
            self._cond.wait_for(lambda: len(self._pending) >= _BATCH_FILES or stopping(), _GATHER_S)
            if stopping():
                return None
            self._busy = True
            return [self._pending.pop() for _ in range(min(_BATCH_FILES, len(self._pending)))]

    def _retry(self, batch: list[str]) -> None:
        """A postponed batch (a full disk) is indexed once there is space again, not only at the next start."""
        with self._cond:
            self._cond.wait_for(self.worker.stopping.is_set, _FULL_RETRY_S)
            self._pending.update(batch)

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

    # -- what searches read ----------------------------------------------------------------------------

    def nearest(self, tree_ids: Iterable[str], query: str, n: int) -> dict[str, float]:
        """The `n` chunks nearest to `query` by meaning in each tree: chunk id -> similarity."""
        vector = self._embedder.encode([query])[0]
        found: dict[str, float] = {}
        for tree_id in tree_ids:
            found.update(self._vectors.query(collection(tree_id), vector, n))
        return found

    def embeddings(self, tree_id: str, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored embeddings of those of `chunk_ids` the tree's collection holds."""
        return self._vectors.embeddings(collection(tree_id), list(chunk_ids))
