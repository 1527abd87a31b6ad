"""Prompt switch for other diffusers pipelines: callback arithmetic on constructed tensors, step
timing observed at the UNet, and end-to-end img2img / inpainting on tiny checkpoints."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.synthesis.pipeline_adapter import (
    PromptSwitchCallback,
    generate_with_prompt_switch,
    load_switchable_pipeline,
)
from promptlearn.synthesis.tiny import write_tiny_sd
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)

QUERY = "a photo of a bloody knife"
REWRITE = "a photo of a clean kitchen knife"
STEPS = 4


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    return {"sd": write_tiny_sd(root / "sd"), "inpaint": write_tiny_sd(root / "inpaint", unet_in_channels=9)}


@pytest.fixture(scope="module")
def img2img(checkpoints):
    pipe = load_switchable_pipeline(checkpoints["sd"], "img2img")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def inpaint(checkpoints):
    pipe = load_switchable_pipeline(checkpoints["inpaint"], "inpaint")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def _mask() -> Image.Image:
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[8:24, 8:24] = 255
    return Image.fromarray(mask)


def _defaults() -> dict:
    return {"num_inference_steps": STEPS, "output_type": "np", "generator": torch.Generator().manual_seed(0)}


def _run(pipe, switch_step: int, **kwargs) -> np.ndarray:
    kwargs = {**_defaults(), **kwargs}
    return generate_with_prompt_switch(pipe, query=QUERY, rewrite=REWRITE, switch_step=switch_step, **kwargs).images


def _plain(pipe, prompt: str, **kwargs) -> np.ndarray:
    kwargs = {**_defaults(), **kwargs}
    return pipe(prompt=prompt, **kwargs).images


# --- callback arithmetic on constructed tensors -----------------------------------------------------


def test_switch_replaces_positive_half_at_the_end_of_step_s_minus_1():
    rewrite = torch.full((1, 3, 2), 7.0)
    switch = PromptSwitchCallback(switch_step=2, prompt_embeds=rewrite)
    current = torch.cat([torch.zeros(2, 3, 2), torch.ones(2, 3, 2)])  # CFG, 2 images: [neg, neg, pos, pos]
    guided = SimpleNamespace(do_classifier_free_guidance=True)
    assert switch(guided, 0, None, {"prompt_embeds": current})["prompt_embeds"] is current
    switched = switch(guided, 1, None, {"prompt_embeds": current})["prompt_embeds"]
    assert torch.equal(switched, torch.cat([torch.zeros(2, 3, 2), torch.full((2, 3, 2), 7.0)]))
    assert switch(guided, 2, None, {"prompt_embeds": current})["prompt_embeds"] is current  # only once


def test_switch_without_guidance_and_with_new_negative():
    prompts = torch.stack([torch.full((3, 2), 1.0), torch.full((3, 2), 2.0)])  # two prompts
    negatives = -prompts
    unguided = SimpleNamespace(do_classifier_free_guidance=False)
    switch = PromptSwitchCallback(switch_step=1, prompt_embeds=prompts)
    out = switch(unguided, 0, None, {"prompt_embeds": torch.zeros(4, 3, 2)})["prompt_embeds"]
    assert out[:, 0, 0].tolist() == [1.0, 1.0, 2.0, 2.0]  # num_images_per_prompt = 2, diffusers' order
    switch = PromptSwitchCallback(switch_step=1, prompt_embeds=prompts, negative_prompt_embeds=negatives)
    out = switch(SimpleNamespace(do_classifier_free_guidance=True), 0, None, {"prompt_embeds": torch.zeros(4, 3, 2)})
    assert out["prompt_embeds"][:, 0, 0].tolist() == [-1.0, -2.0, 1.0, 2.0]


def test_switch_rejects_bad_arguments():
    with pytest.raises(InputError, match="call the pipeline with the rewrite"):
        PromptSwitchCallback(switch_step=0, prompt_embeds=torch.zeros(1, 3, 2))
    with pytest.raises(InputError, match=r"\(batch, tokens, dim\)"):
        PromptSwitchCallback(switch_step=1, prompt_embeds=torch.zeros(3, 2))
    with pytest.raises(InputError, match="must match"):
        PromptSwitchCallback(
            switch_step=1, prompt_embeds=torch.zeros(1, 3, 2), negative_prompt_embeds=torch.zeros(1, 4, 2)
        )
    switch = PromptSwitchCallback(switch_step=1, prompt_embeds=torch.zeros(2, 3, 2))
    with pytest.raises(InputError, match="does not divide"):
        switch.switched_embeds(torch.zeros(3, 3, 2), guidance=False)
    with pytest.raises(InputError, match="text encoder"):
        switch.switched_embeds(torch.zeros(2, 5, 2), guidance=False)
    with pytest.raises(InputError, match=r"\[negative, positive\]"):
        switch.switched_embeds(torch.zeros(3, 3, 2), guidance=True)
    pag = SimpleNamespace(do_classifier_free_guidance=True, do_perturbed_attention_guidance=True)
    with pytest.raises(InputError, match="perturbed-attention"):
        switch(pag, 0, None, {"prompt_embeds": torch.zeros(6, 3, 2)})


# --- timing, observed at the UNet ------------------------------------------------------------------------


def test_unet_sees_query_for_s_steps_then_rewrite(img2img):
    seen: list[torch.Tensor] = []
    hook = img2img.unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"].clone()), with_kwargs=True
    )
    try:
        _run(img2img, 2, image=_image(), num_inference_steps=5, strength=0.8)  # runs int(5 * 0.8) = 4 steps
    finally:
        hook.remove()
    with torch.no_grad():
        query, negative = img2img.encode_prompt(QUERY, "cpu", 1, True, None)
        rewrite, _ = img2img.encode_prompt(REWRITE, "cpu", 1, False)
    assert len(seen) == 4
    for step, states in enumerate(seen):
        assert torch.equal(states[:1], negative)  # the negative half never changes
        assert torch.equal(states[1:], query if step < 2 else rewrite)


# --- end to end on tiny pipelines --------------------------------------------------------------------


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
def test_s_equal_t_is_query_s_zero_is_rewrite_between_differs(request, task):
    pipe = request.getfixturevalue(task)
    inputs = {"image": _image(), "strength": 1.0, "height": 32, "width": 32}
    if task == "inpaint":
        inputs["mask_image"] = _mask()
    plain_query, plain_rewrite = _plain(pipe, QUERY, **inputs), _plain(pipe, REWRITE, **inputs)
    assert not np.allclose(plain_query, plain_rewrite)
    np.testing.assert_array_equal(_run(pipe, STEPS, **inputs), plain_query)
    np.testing.assert_array_equal(_run(pipe, STEPS + 3, **inputs), plain_query)
    np.testing.assert_array_equal(_run(pipe, 0, **inputs), plain_rewrite)
    middle = _run(pipe, 2, **inputs)
    assert middle.shape == (1, 32, 32, 3)
    assert not np.allclose(middle, plain_query) and not np.allclose(middle, plain_rewrite)


# diffusers' img2img warns that it duplicates the one init image for num_images_per_prompt
@pytest.mark.filterwarnings("ignore:You have passed 2 text prompts:FutureWarning")
def test_several_images_per_prompt_and_negative_prompt(img2img):
    out = _run(img2img, 1, image=_image(), num_images_per_prompt=2, negative_prompt="blood")
    assert out.shape == (2, 32, 32, 3)
    plain = _plain(img2img, QUERY, image=_image(), num_images_per_prompt=2, negative_prompt="blood")
    assert not np.allclose(out, plain)


def test_generate_rejects_reserved_arguments(img2img):
    with pytest.raises(InputError, match="sets callback_on_step_end itself"):
        _run(img2img, 1, image=_image(), callback_on_step_end=lambda *a: {})
    with pytest.raises(InputError, match="switch_step"):
        _run(img2img, -1, image=_image())


# --- loader ------------------------------------------------------------------------------------------------


def test_loader_bad_inputs(checkpoints, tmp_path):
    with pytest.raises(InputError, match="no such checkpoint folder"):
        load_switchable_pipeline(tmp_path / "missing", "img2img")
    with pytest.raises(InputError, match="no model_index.json"):
        load_switchable_pipeline(tmp_path, "img2img")
    with pytest.raises(InputError, match="unknown pipeline task"):
        load_switchable_pipeline(checkpoints["sd"], "depth")
    no_encoder = tmp_path / "no_encoder"
    shutil.copytree(checkpoints["sd"], no_encoder)
    shutil.rmtree(no_encoder / "text_encoder")
    with pytest.raises(InputError, match="no text_encoder; the prompt switch") as info:
        load_switchable_pipeline(no_encoder, "inpaint")
    assert "\n" not in str(info.value)
    index = json.loads((no_encoder / "model_index.json").read_text())
    index["text_encoder"] = [None, None]
    (no_encoder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="no text_encoder"):
        load_switchable_pipeline(no_encoder, "img2img")


def test_loader_picks_the_task_pipeline(img2img, inpaint):
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline" and inpaint.unet.config.in_channels == 9
