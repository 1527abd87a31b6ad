"""Tiny random-weight checkpoints: real CLIP tokenization, loadable layouts, determinism, CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from promptlearn.cli.main import main
from promptlearn.errors import InputError
from promptlearn.synthesis.tiny import CLIP_VOCAB_SIZE, write_clip_tokenizer, write_tiny_clip, write_tiny_sd
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)

CAT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat" with the released CLIP tokenizer


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> Path:
    return write_tiny_sd(tmp_path_factory.mktemp("ckpt") / "sd", with_safety_checker=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_clip_tokenizer_gives_released_ids(tmp_path):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(write_clip_tokenizer(tmp_path / "tok"))
    assert len(tokenizer) == CLIP_VOCAB_SIZE == 49408
    assert tokenizer("a photo of a cat").input_ids == CAT_IDS
    assert tokenizer("A  Photo of a CAT!").input_ids == [49406, 320, 1125, 539, 320, 2368, 256, 49407]
    assert tokenizer.model_max_length == 77
    assert tokenizer.convert_ids_to_tokens([0, 256, 49406, 49407]) == ["!", "!</w>", "<|startoftext|>", "<|endoftext|>"]


def test_sd_checkpoint_loads_and_samples(tiny_sd):
    from diffusers import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.tokenizer("a photo of a cat").input_ids == CAT_IDS
    assert pipe.text_encoder.config.vocab_size == CLIP_VOCAB_SIZE
    assert pipe.text_encoder.get_input_embeddings().weight.shape == (CLIP_VOCAB_SIZE, 32)
    assert pipe.unet.config.in_channels == 4 and pipe.unet.config.cross_attention_dim == 32
    assert pipe.scheduler.config.prediction_type == "epsilon"
    assert isinstance(pipe.safety_checker, StableDiffusionSafetyChecker)
    assert torch.all(pipe.safety_checker.concept_embeds_weights == 1.0)
    out = pipe("a photo of a cat", num_inference_steps=2, height=32, width=32, output_type="np",
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (1, 32, 32, 3)
    assert out.nsfw_content_detected == [False]


def test_sd_variants(tmp_path):
    from diffusers import StableDiffusionPipeline

    v_pred = StableDiffusionPipeline.from_pretrained(write_tiny_sd(tmp_path / "v", prediction_type="v_prediction"))
    assert v_pred.scheduler.config.prediction_type == "v_prediction"
    assert v_pred.unet.config.use_linear_projection is True
    assert v_pred.safety_checker is None and v_pred.feature_extractor is None
    inpaint = StableDiffusionPipeline.from_pretrained(write_tiny_sd(tmp_path / "i", unet_in_channels=9))
    assert inpaint.unet.config.in_channels == 9


def test_weights_are_a_function_of_the_seed_and_global_rng_is_untouched(tmp_path):
    state = torch.random.get_rng_state()
    a, b, c = (write_tiny_sd(tmp_path / name, seed=seed) for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    assert torch.equal(state, torch.random.get_rng_state())
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        assert _digest(a / part) == _digest(b / part) != _digest(c / part)


def test_clip_checkpoint_loads(tmp_path):
    from transformers import AutoProcessor, CLIPModel, CLIPProcessor
    from PIL import Image

    folder = write_tiny_clip(tmp_path / "clip", seed=3)
    model = CLIPModel.from_pretrained(folder)
    processor = CLIPProcessor.from_pretrained(folder)
    assert isinstance(AutoProcessor.from_pretrained(folder), CLIPProcessor)
    assert model.config.text_config.vocab_size == CLIP_VOCAB_SIZE
    assert processor.tokenizer("a photo of a cat").input_ids == CAT_IDS
    inputs = processor(text=["a cat", "a dog"], images=[Image.new("RGB", (50, 40))], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits_per_image.shape == (1, 2)


def test_bad_arguments_are_one_line_input_errors(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        write_tiny_sd(tmp_path / "full")
    with pytest.raises(InputError, match="prediction_type"):
        write_tiny_sd(tmp_path / "p", prediction_type="sample")
    with pytest.raises(InputError, match="unet_in_channels"):
        write_tiny_sd(tmp_path / "p", unet_in_channels=5)
    with pytest.raises(InputError, match="unet_channels"):
        write_tiny_sd(tmp_path / "p", unet_channels=(30, 64))
    assert not (tmp_path / "p").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["full"]  # no temporary folder left behind


def test_cli_writes_both_checkpoints(tmp_path, capsys):
    assert main(["tiny-models", str(tmp_path / "m"), "--seed", "2", "--v-prediction", "--safety-checker"]) == 0
    assert (tmp_path / "m" / "sd" / "model_index.json").is_file()
    assert (tmp_path / "m" / "sd" / "safety_checker" / "config.json").is_file()
    assert (tmp_path / "m" / "clip" / "config.json").is_file()
    assert '"v_prediction"' in (tmp_path / "m" / "sd" / "scheduler" / "scheduler_config.json").read_text()
    capsys.readouterr()
    assert main(["tiny-models", str(tmp_path / "m")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "already exists" in err and "\n" not in err
