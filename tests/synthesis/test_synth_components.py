"""Loading checkpoints: what is covered, and one clear line for what is not."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from promptlearn.errors import InputError
from promptlearn.synthesis.components import DiffusionComponents, load_components, parse_device, parse_dtype
from promptlearn.synthesis.tiny import write_tiny_sd


def test_loads_sd_folder_with_options(sd_dir, sd_v_dir):
    parts = load_components(sd_dir)
    assert parts.family == "sd" and not parts.is_sdxl
    assert parts.prediction_type == "epsilon"
    assert parts.default_size == 16 and parts.vae_scale_factor == 2
    assert type(parts.scheduler).__name__ == "DDIMScheduler"
    assert parts.safety_checker is None
    v = load_components(sd_v_dir, scheduler="euler", dtype="bf16")
    assert v.prediction_type == "v_prediction"  # kept when the scheduler is swapped
    assert type(v.scheduler).__name__ == "EulerDiscreteScheduler"
    assert v.dtype == torch.bfloat16 and v.text_encoder.dtype == torch.bfloat16
    assert not v.unet.training


def test_optional_safety_checker(tmp_path):
    folder = write_tiny_sd(tmp_path / "sd", sample_size=8, with_safety_checker=True)
    assert load_components(folder).safety_checker is None
    parts = load_components(folder, load_safety_checker=True)
    assert type(parts.safety_checker).__name__ == "StableDiffusionSafetyChecker"
    assert parts.feature_extractor is not None


def test_from_pipeline_and_back(components):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**components.pipeline_kwargs())
    again = DiffusionComponents.from_pipeline(pipe)
    assert again.unet is components.unet and again.tokenizer is components.tokenizer


def _broken_copy(sd_dir, tmp_path, edit):
    folder = tmp_path / "copy"
    shutil.copytree(sd_dir, folder)
    edit(folder)
    return folder


def _drop_index_entry(name):
    def edit(folder):
        index = json.loads((folder / "model_index.json").read_text())
        index[name] = [None, None]
        (folder / "model_index.json").write_text(json.dumps(index))
    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: shutil.rmtree(f / "text_encoder"), r"folder text_encoder/ is missing"),
        (_drop_index_entry("text_encoder"), r"has no text_encoder"),
        (lambda f: (f / "model_index.json").unlink(), r"not a diffusers model folder \(no model_index.json\)"),
        (lambda f: (f / "model_index.json").write_text("{nope"), r"unreadable model_index.json"),
        (lambda f: (f / "unet" / "config.json").write_text("{}"), r"cannot load unet"),
    ],
)
def test_broken_folders_are_one_clear_error(sd_dir, tmp_path, edit, message):
    with pytest.raises(InputError, match=message):
        load_components(_broken_copy(sd_dir, tmp_path, edit))


def test_bad_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="model path does not exist: .*nowhere"):
        load_components(tmp_path / "nowhere")
    (tmp_path / "model.ckpt").write_bytes(b"x")
    with pytest.raises(InputError, match="single-file checkpoints are not supported"):
        load_components(tmp_path / "model.ckpt")
    with pytest.raises(InputError, match="model 'someone/some-model' is not in the local hub cache and the hub is offline"):
        load_components("someone/some-model", local_files_only=True)


def test_unsupported_unets_and_options(tmp_path, sd_dir):
    inpaint = write_tiny_sd(tmp_path / "inpaint", sample_size=8, unet_in_channels=9)
    with pytest.raises(InputError, match="9 input channels .*inpainting"):
        load_components(inpaint)
    with pytest.raises(InputError, match="unknown scheduler 'fancy'"):
        load_components(sd_dir, scheduler="fancy")
    with pytest.raises(InputError, match="unknown dtype 'fp8'"):
        parse_dtype("fp8")


def test_devices_are_checked_before_loading(sd_dir):
    assert parse_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="unknown device 'gpu0'"):
        load_components(sd_dir, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="device 'cuda': this torch build or machine has no CUDA GPU"):
            parse_device("cuda")
