"""The two-stage prompt intervention for diffusers pipelines we do not re-implement (image-to-image,
inpainting and other Stable Diffusion 1.x/2.x pipelines): the user's query conditions the first S
denoising steps, the rewritten prompt the rest.

It works through ``callback_on_step_end``. Two facts of that hook shape it:

* the callback runs AFTER step ``i`` (``i`` counts the steps the call actually runs: for img2img with
  ``strength < 1`` that is ``int(num_inference_steps * strength)``), so "condition steps >= S on the
  rewrite" means returning the rewrite's embeddings at the end of step ``S - 1``; S = 0 cannot be done
  from a callback, the pipeline is simply called with the rewrite;
* under classifier-free guidance the ``prompt_embeds`` the callback sees is ``torch.cat([negative,
  positive])``; the switch replaces the positive half and keeps (or replaces) the negative half.

Text-to-image uses our own sampler (``promptlearn generate``), not this adapter.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from diffusers.callbacks import PipelineCallback

from ..errors import InputError, one_line
from .model_index import has_component, read_model_index

PIPELINE_TASKS = ("text2img", "img2img", "inpaint")


def _expand_batch(embeds: torch.Tensor, batch: int, what: str) -> torch.Tensor:
    """Repeat each of the ``b`` rows ``batch // b`` times, as diffusers does for ``num_images_per_prompt``."""
    if batch % embeds.shape[0]:
        raise InputError(f"{what} has batch {embeds.shape[0]}, which does not divide the pipeline's batch {batch}")
    return embeds.repeat_interleave(batch // embeds.shape[0], dim=0)


class PromptSwitchCallback(PipelineCallback):
    """A ``callback_on_step_end`` that conditions denoising steps ``>= switch_step`` on new embeddings.

    ``prompt_embeds`` are the rewrite's text-encoder states ``(b, L, D)`` (b prompts; each is repeated
    to fill ``num_images_per_prompt``). ``negative_prompt_embeds``, when given, replace the negative half
    under classifier-free guidance; by default the negative half the pipeline built is kept. Pass the
    object as ``callback_on_step_end``; being a ``PipelineCallback``, the pipeline reads its
    ``tensor_inputs`` itself, and it composes with others in ``MultiPipelineCallbacks``."""

    tensor_inputs = ["prompt_embeds"]

    def __init__(
        self,
        *,
        switch_step: int,
        prompt_embeds: torch.Tensor,
        negative_prompt_embeds: torch.Tensor | None = None,
    ):
        if isinstance(switch_step, bool) or not isinstance(switch_step, int) or switch_step < 1:
            raise InputError(
                f"switch_step must be an integer >= 1, not {switch_step!r} (for 0, call the pipeline with the rewrite)"
            )
        if prompt_embeds.ndim != 3:
            raise InputError(f"prompt_embeds must be (batch, tokens, dim), not {tuple(prompt_embeds.shape)}")
        if negative_prompt_embeds is not None and negative_prompt_embeds.shape != prompt_embeds.shape:
            raise InputError(
                f"negative_prompt_embeds {tuple(negative_prompt_embeds.shape)} "
                f"must match prompt_embeds {tuple(prompt_embeds.shape)}"
            )
        # The base class records the step in its config; it acts at the end of the step before it.
        super().__init__(cutoff_step_ratio=None, cutoff_step_index=switch_step)
        self.switch_step = switch_step
        self.prompt_embeds = prompt_embeds
        self.negative_prompt_embeds = negative_prompt_embeds

    def switched_embeds(self, current: torch.Tensor, *, guidance: bool) -> torch.Tensor:
        """The ``prompt_embeds`` to use from the switch on, given the pipeline's current ones."""
        if current.shape[1:] != self.prompt_embeds.shape[1:]:
            raise InputError(
                f"the rewrite's embeddings {tuple(self.prompt_embeds.shape[1:])} do not match the pipeline's "
                f"{tuple(current.shape[1:])} (tokens, dim): were they encoded by this pipeline's text encoder?"
            )
        like = {"device": current.device, "dtype": current.dtype}
        if not guidance:
            return _expand_batch(self.prompt_embeds, current.shape[0], "prompt_embeds").to(**like)
        if current.shape[0] % 2:
            raise InputError(
                f"under guidance prompt_embeds should be [negative, positive], but its batch is {current.shape[0]}"
            )
        half = current.shape[0] // 2
        positive = _expand_batch(self.prompt_embeds, half, "prompt_embeds").to(**like)
        if self.negative_prompt_embeds is None:
            negative = current[:half]
        else:
            negative = _expand_batch(self.negative_prompt_embeds, half, "negative_prompt_embeds").to(**like)
        return torch.cat([negative, positive])

    def callback_fn(
        self, pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if step_index == self.switch_step - 1:
            if getattr(pipeline, "do_perturbed_attention_guidance", False):
                raise InputError(
                    f"{type(pipeline).__name__}: perturbed-attention guidance stacks prompt_embeds "
                    "in a layout the prompt switch does not handle"
                )
            guidance = bool(getattr(pipeline, "do_classifier_free_guidance", False))
            callback_kwargs["prompt_embeds"] = self.switched_embeds(callback_kwargs["prompt_embeds"], guidance=guidance)
        return callback_kwargs


def generate_with_prompt_switch(
    pipe: Any,
    *,
    query: str,
    rewrite: str,
    switch_step: int,
    negative_prompt: str | None = None,
    num_images_per_prompt: int = 1,
    **call_kwargs: Any,
) -> Any:
    """Call ``pipe`` (an SD-family pipeline whose ``encode_prompt`` takes ``(prompt, device,
    num_images_per_prompt, do_classifier_free_guidance)``) so that ``query`` conditions the first
    ``switch_step`` denoising steps and ``rewrite`` the rest; ``call_kwargs`` go to the pipeline
    (image, mask_image, strength, num_inference_steps, guidance_scale, generator, output_type, ...).
    The negative prompt stays the same in both stages. ``switch_step`` at or beyond the number of steps
    run gives a plain run with the query; 0 a plain run with the rewrite. Returns the pipeline's output."""
    if isinstance(switch_step, bool) or not isinstance(switch_step, int) or switch_step < 0:
        raise InputError(f"switch_step must be an integer >= 0, not {switch_step!r}")
    for reserved in ("prompt", "prompt_embeds", "negative_prompt_embeds", "callback_on_step_end"):
        if reserved in call_kwargs:
            raise InputError(f"generate_with_prompt_switch sets {reserved} itself; do not pass it")
    common = {"negative_prompt": negative_prompt, "num_images_per_prompt": num_images_per_prompt, **call_kwargs}
    if switch_step == 0:
        return pipe(prompt=rewrite, **common)
    with torch.no_grad():
        rewrite_embeds, _ = pipe.encode_prompt(
            rewrite,
            pipe._execution_device,
            num_images_per_prompt,
            False,  # the negative half is the pipeline's own, built from negative_prompt
            clip_skip=call_kwargs.get("clip_skip"),
            lora_scale=(call_kwargs.get("cross_attention_kwargs") or {}).get("scale"),
        )
    switch = PromptSwitchCallback(switch_step=switch_step, prompt_embeds=rewrite_embeds)
    return pipe(prompt=query, callback_on_step_end=switch, **common)


def load_switchable_pipeline(
    path: str | os.PathLike[str],
    task: str,
    *,
    device: str | torch.device | None = None,
    torch_dtype: torch.dtype | None = None,
) -> Any:
    """Load a diffusers checkpoint folder as the pipeline for ``task`` ("img2img", "inpaint" or
    "text2img") through diffusers' AutoPipelines, after checking that it has what the prompt switch
    needs: a text encoder and tokenizer, and ``prompt_embeds`` among the pipeline's callback tensors."""
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

    loaders = {
        "text2img": AutoPipelineForText2Image,
        "img2img": AutoPipelineForImage2Image,
        "inpaint": AutoPipelineForInpainting,
    }
    if task not in loaders:
        raise InputError(f"unknown pipeline task {task!r}; expected one of {', '.join(PIPELINE_TASKS)}")
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such checkpoint folder")
    index = read_model_index(str(folder), local_files_only=True)
    for component in ("text_encoder", "tokenizer"):
        if not has_component(str(folder), index, component):
            raise InputError(f"{folder}: no {component}; the prompt switch must encode the rewritten prompt")
    try:
        pipe = loaders[task].from_pretrained(folder, torch_dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}: cannot load it as a {task} pipeline: {one_line(exc)}") from None
    if "prompt_embeds" not in getattr(pipe, "_callback_tensor_inputs", ()) or not hasattr(pipe, "encode_prompt"):
        raise InputError(f"{folder}: {type(pipe).__name__} does not expose prompt_embeds to step callbacks")
    return pipe.to(device) if device is not None else pipe
