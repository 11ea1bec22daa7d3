"""The vector index: Chroma, embedded (persistent in the data directory) or a `chroma run` server.

It holds only derived data: every vector can be rebuilt from SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings

from aios.errors import InvalidArgument

__all__ = ["VectorIndex"]


class VectorIndex:
    def __init__(self, client: ClientAPI) -> None:
        self._client = client
        self._collections: dict[str, Any] = {}

    @classmethod
    def open(cls, data_dir: Path, chroma_url: str | None = None) -> VectorIndex:
        settings = Settings(anonymized_telemetry=False)
        if chroma_url is None:
            return cls(chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=settings))
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

    def upsert(self, name: str, ids: Sequence[str], vectors: np.ndarray) -> None:
        if ids:
            self._collection(name).upsert(ids=list(ids), embeddings=vectors)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            self._collection(name).delete(ids=list(ids))

    def query(self, name: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest `k` ids with cosine similarity, best first."""
        collection = self._collection(name)
        result = collection.query(query_embeddings=vector[None, :], n_results=k, include=["distances"])
        ids, distances = result["ids"][0], (result["distances"] or [[]])[0]
        return [(id_, 1.0 - float(d)) for id_, d in zip(ids, distances, strict=True)]

    def query_many(self, name: str, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """`query` for several vectors in one call."""
        if len(vectors) == 0:
            return []
        result = self._collection(name).query(query_embeddings=vectors, n_results=k, include=["distances"])
        return [
            [(id_, 1.0 - float(d)) for id_, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(result["ids"], result["distances"] or [], strict=True)
        ]

    def embeddings(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._collection(name).get(ids=list(ids), include=["embeddings"])
        return {id_: np.asarray(e, dtype=np.float32) for id_, e in zip(got["ids"], got["embeddings"], strict=True)}

    def ids(self, name: str) -> set[str]:
        return set(self._collection(name).get(include=[])["ids"])

    def names(self, prefix: str) -> list[str]:
        return [c.name for c in self._client.list_collections() if c.name.startswith(prefix)]

    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        if name in self.names(name):
            self._client.delete_collection(name)

    def heartbeat(self) -> None:
        self._client.heartbeat()

    def close(self) -> None:
        """Release the client: an embedded index closes its files (a stopped kernel leaves no descriptors)."""
        self._collections.clear()
        self._client.close()
