"""The vector index: Chroma, embedded (persistent in the data directory) or a `chroma run` server.

It holds only derived data: every vector can be rebuilt from SQL.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings

from aios._db import check_free_space, low_on_space
from aios.errors import AiosError, InvalidArgument

__all__ = ["VectorIndex"]

log = logging.getLogger("aios.vectors")


def _recovering(method: Callable[..., Any]) -> Callable[..., Any]:
    """An embedded Chroma client can hang in the first call after one that failed (seen after a write met a full
    disk), holding the GIL and so the whole kernel: after a failure the client is closed, before any other thread
    calls it again, and the next call opens a new one."""

    @functools.wraps(method)
    def call(self: VectorIndex, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._client is None:
                assert self._reopen is not None
                self._client = self._reopen()
            try:
                return method(self, *args, **kwargs)
            except AiosError:  # refused before Chroma was called
                raise
            except Exception:
                if self._reopen is not None:
                    log.warning("vector index: a Chroma call failed; the embedded client is opened again")
                    self._collections.clear()
                    with contextlib.suppress(Exception):
                        self._client.close()
                    self._client = None
                raise

    return call


def _embedded(path: str, settings: Settings) -> ClientAPI:
    try:
        return chromadb.PersistentClient(path=path, settings=settings)
    except Exception:
        # Chroma caches a path's system before it starts it: one that failed to start (a full disk) would be
        # handed out again, broken for good. Forget it, so the next attempt starts afresh.
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)
        raise


class VectorIndex:
    def __init__(
        self, client: ClientAPI, reopen: Callable[[], ClientAPI] | None = None, path: Path | None = None
    ) -> None:
        self._client: Any = client  # None after a failed call, until the next one opens it again
        self._collections: dict[str, Any] = {}
        self._reopen = reopen  # embedded only: each call holds the GIL anyway, so the lock costs no concurrency
        self._lock: Any = threading.RLock() if reopen is not None else contextlib.nullcontext()
        self._path = path  # embedded only: where its files are, kept from filling up (check_free_space)

    @classmethod
    def open(cls, data_dir: Path, chroma_url: str | None = None) -> VectorIndex:
        settings = Settings(anonymized_telemetry=False)
        if chroma_url is None:
            path = str(data_dir / "chroma")
            return cls(_embedded(path, settings), lambda: _embedded(path, settings), data_dir)
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidArgument(f"chroma_url must look like http://host:port, got {chroma_url!r}")
        port = url.port or (443 if url.scheme == "https" else 8000)
        client = chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https", settings=settings)
        return cls(client)

    def _collection(self, name: str) -> Any:
        collection = self._collections.get(name)
        if collection is None:
            collection = self._client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            self._collections[name] = collection
        return collection

    @_recovering
    def upsert(self, name: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        if ids:
            if self._path is not None:
                check_free_space(self._path)
            self._collection(name).upsert(ids=list(ids), embeddings=vectors)

    @_recovering
    def delete(self, name: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        if self._path is not None and low_on_space(self._path):
            # What SQL no longer holds may stay here for now: searches skip it, the next start drops it.
            log.warning("vector index: too little disk space to delete %d vectors of %s; left for the repair "
                        "at the next start", len(ids), name)  # fmt: skip
            return
        self._collection(name).delete(ids=list(ids))

    @_recovering
    def query(self, name: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest `k` ids with cosine similarity, best first."""
        collection = self._collection(name)
        result = collection.query(query_embeddings=vector[None, :], n_results=k, include=["distances"])
        ids, distances = result["ids"][0], (result["distances"] or [[]])[0]
        return [(id_, 1.0 - float(d)) for id_, d in zip(ids, distances, strict=True)]

    @_recovering
    def query_many(self, name: str, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """`query` for several vectors in one call."""
        if len(vectors) == 0:
            return []
        result = self._collection(name).query(query_embeddings=vectors, n_results=k, include=["distances"])
        return [
            [(id_, 1.0 - float(d)) for id_, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(result["ids"], result["distances"] or [], strict=True)
        ]

    @_recovering
    def embeddings(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._collection(name).get(ids=list(ids), include=["embeddings"])
        return {id_: np.asarray(e, dtype=np.float32) for id_, e in zip(got["ids"], got["embeddings"], strict=True)}

    @_recovering
    def ids(self, name: str) -> set[str]:
        return set(self._collection(name).get(include=[])["ids"])

    @_recovering
    def names(self, prefix: str) -> list[str]:
        return [c.name for c in self._client.list_collections() if c.name.startswith(prefix)]

    @_recovering
    def drop(self, name: str) -> None:
        """Remove every vector of the collection. The collection itself stays: Chroma (1.x, embedded) keeps the
        memory of a deleted collection, ~2.5 MiB each time one is deleted and created again (every reindex)."""
        if self._path is not None:
            check_free_space(self._path)
        if name in self.names(name):
            collection = self._collection(name)
            ids = collection.get(include=[])["ids"]
            for start in range(0, len(ids), 5000):  # under Chroma's largest batch
                collection.delete(ids=ids[start : start + 5000])

    @_recovering
    def heartbeat(self) -> None:
        self._client.heartbeat()

    def close(self) -> None:
        """Release the client: an embedded index closes its files (a stopped kernel leaves no descriptors)."""
        self._collections.clear()
        if self._client is not None:
            self._client.close()
