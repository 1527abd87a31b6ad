"""Model references (folder or hub id) and the weights fingerprint used in cache identities."""

from __future__ import annotations

import os
import sys

import pytest

from promptlearn.backends.model_files import resolve_model_source, weights_fingerprint
from promptlearn.llm import BackendUnavailableError, InvalidRequestError


def make_model_folder(folder):
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


def test_existing_folder_resolves_to_its_absolute_path(tmp_path, monkeypatch):
    make_model_folder(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    source = resolve_model_source("m", backend="transformers")
    assert source.kind == "folder" and source.location == str(tmp_path / "m")


@pytest.mark.parametrize("name", ["HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2", "org/model.v1_2"])
def test_hub_ids(name):
    assert resolve_model_source(name, backend="vllm").kind == "hub"


@pytest.mark.parametrize("name", ["/nowhere/model", "./model", "~/models/x", "a/b/c", "model/", "bad name!"])
def test_missing_paths_are_not_taken_for_hub_ids(name):
    with pytest.raises(BackendUnavailableError, match="model folder not found"):
        resolve_model_source(name, backend="vllm")


def test_empty_model_name():
    with pytest.raises(InvalidRequestError, match="empty"):
        resolve_model_source("  ", backend="vllm")


def test_fingerprint_follows_weights_and_config(tmp_path):
    folder = make_model_folder(tmp_path / "m")
    first = weights_fingerprint(folder)
    assert weights_fingerprint(folder) == first
    (folder / "README.md").write_text("docs do not change answers")
    assert weights_fingerprint(folder) == first
    stat = (folder / "model.safetensors").stat()
    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = weights_fingerprint(folder)
    assert touched != first
    (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": 8}')
    assert weights_fingerprint(folder) != touched


@pytest.mark.parametrize("engine", ["transformers", "vllm"])
def test_cli_names_a_missing_model_folder_in_one_line(engine, tmp_path, capsys, monkeypatch):
    from promptlearn.cli.main import main

    monkeypatch.setitem(sys.modules, "vllm", None)  # the path is checked before vllm is needed
    missing = tmp_path / "no-such-model"
    code = main(["complete", "--llm", f"{engine}/{missing}", "--no-cache", "hi"])
    err = capsys.readouterr().err
    assert code != 0
    assert err == f"error: {engine}: model folder not found: {missing}\n"
