"""FABRIC (von Rütte et al., 2023): steer sampling with liked and disliked images through self-attention.

Feedback images are VAE-encoded once. At every step their latents, noised to the current timestep,
ride along in the step's single UNet batch with a null prompt. In every self-attention layer
(``attn1``) an attention processor appends the reference rows' hidden states (the inputs of attn1)
as extra keys and values: liked images to the conditional rows, disliked ones to the unconditional
rows. The extra keys are weighted by adding ``log(weight)`` to their attention logits, which is
the community pipeline's "multiply the probabilities by the weight and renormalise". The weight
is ``feedback_weight`` inside the step window ``[feedback_start_ratio, feedback_end_ratio]`` of the
run and ``min_weight`` outside it; disliked images get it times ``neg_scale``.

Differences from diffusers' community ``pipeline_fabric``: references share the main UNet call
instead of a separate pass (same hidden states, one call), the VAE posterior's mode is used instead
of a sample, reference noise comes from a seeded generator, and the per-block weight ramp
(``pos_bottleneck_scale``/``neg_bottleneck_scale``, 1.0 by default there) is not implemented.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ...errors import InputError, one_line
from .base import BatchLayout, ExtraRows, Intervention, RunSettings, StepInfo

ImageLike = Image.Image | str | os.PathLike[str]
REFERENCE_ROWS = "fabric.references"


def load_feedback_images(images: Sequence[ImageLike]) -> list[Image.Image]:
    """PIL images as they are; paths opened and converted to RGB, or one clear :class:`InputError`."""
    loaded = []
    for image in images:
        if isinstance(image, Image.Image):
            loaded.append(image.convert("RGB"))
            continue
        path = Path(image)
        if not path.is_file():
            raise InputError(f"feedback image not found: {path}")
        try:
            with Image.open(path) as handle:
                loaded.append(handle.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"cannot read feedback image {path}: {one_line(exc)}") from exc
    return loaded


@dataclass(frozen=True)
class _StepPlan:
    """This step's references: where they sit in the batch and each row's weight per group."""

    liked: slice
    disliked: slice
    row_weights: torch.Tensor  # (batch, 3): own tokens, liked tokens, disliked tokens

    def runs(self) -> list[tuple[slice, float, float]]:
        """Consecutive rows with the same (liked, disliked) weights: ``(rows, w_liked, w_disliked)``."""
        weights = [(float(w[1]), float(w[2])) for w in self.row_weights]
        runs: list[tuple[slice, float, float]] = []
        start = 0
        for row in range(1, len(weights) + 1):
            if row == len(weights) or weights[row] != weights[start]:
                runs.append((slice(start, row), *weights[start]))
                start = row
        return runs


class _SharedState:
    plan: _StepPlan | None = None


class FabricAttnProcessor:
    """Self-attention processor adding the batch's reference rows as extra, weighted keys/values.

    Rows are handled in runs of equal weights, each attending only over the keys it weighs above
    zero: a conditional row over its own tokens and the liked images', an unconditional row over
    its own and the disliked images', and rows that weigh no reference (the references themselves,
    SLD's safety branch) through the processor this one replaced, as plain self-attention. The
    references' keys and values are projected once per call. The result is the same attention as
    one pass of every row over all keys with ``log 0 = -inf`` masking the unused ones, at about
    half its cost (measured in docs/benchmarks.md).

    Without a plan for the step (no feedback, or a weight of zero) it calls the processor it replaced.
    """

    def __init__(self, base: Any, state: _SharedState):
        self.base = base
        self.state = state

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        plan = self.state.plan
        if (
            plan is None
            or encoder_hidden_states is not None
            or attention_mask is not None
            or hidden_states.ndim != 3
            or attn.group_norm is not None
            or attn.spatial_norm is not None
        ):
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        channels = hidden_states.shape[-1]
        # the references' tokens side by side, each set as one row of (n * L) tokens, projected once
        tokens = {"liked": hidden_states[plan.liked].reshape(1, -1, channels),
                  "disliked": hidden_states[plan.disliked].reshape(1, -1, channels)}
        projected: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def keys_values(name: str) -> tuple[torch.Tensor, torch.Tensor]:
            if name not in projected:
                projected[name] = (attn.to_k(tokens[name]), attn.to_v(tokens[name]))
            return projected[name]

        outputs = []
        for rows, w_liked, w_disliked in plan.runs():
            hidden = hidden_states[rows]
            extra = [(name, weight) for name, weight in (("liked", w_liked), ("disliked", w_disliked))
                     if weight > 0 and tokens[name].shape[1] > 0]
            if not extra:
                outputs.append(self.base(attn, hidden, None, None, temb, *args, **kwargs))
            else:
                outputs.append(self._attend(attn, hidden, [(keys_values(name), weight) for name, weight in extra]))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=0)

    @staticmethod
    def _attend(attn, hidden_states, references):
        """Self-attention of ``hidden_states`` rows over their own tokens plus each reference set's
        keys/values, whose logits get ``log(weight)`` added (no bias at all when every weight is 1)."""
        residual = hidden_states
        batch, length, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        key = torch.cat([attn.to_k(hidden_states), *(k.expand(batch, -1, -1) for (k, _), _ in references)], dim=1)
        value = torch.cat([attn.to_v(hidden_states), *(v.expand(batch, -1, -1) for (_, v), _ in references)], dim=1)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        bias = None
        if any(weight != 1.0 for _, weight in references):
            bias = torch.zeros(key.shape[2], device=hidden_states.device, dtype=torch.float32)
            start = length
            for (k, _), weight in references:
                bias[start : start + k.shape[1]] = math.log(weight)
                start += k.shape[1]
            bias = bias.to(query.dtype).view(1, 1, 1, -1)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class Fabric(Intervention):
    """Condition on liked/disliked images (PIL images or paths). No feedback: a plain run."""

    name = "fabric"

    def __init__(
        self,
        liked: Sequence[ImageLike] = (),
        disliked: Sequence[ImageLike] = (),
        *,
        feedback_weight: float = 0.8,
        min_weight: float = 0.05,
        neg_scale: float = 0.5,
        feedback_start_ratio: float = 0.33,
        feedback_end_ratio: float = 0.66,
        seed: int = 0,
    ):
        for label, value in (("feedback_weight", feedback_weight), ("min_weight", min_weight), ("neg_scale", neg_scale)):
            if not math.isfinite(value) or value < 0:
                raise InputError(f"FABRIC {label} must be >= 0, got {value}")
        if not 0.0 <= feedback_start_ratio <= feedback_end_ratio <= 1.0:
            raise InputError(
                f"FABRIC needs 0 <= feedback_start_ratio <= feedback_end_ratio <= 1, got {feedback_start_ratio}, {feedback_end_ratio}"
            )
        self.liked = load_feedback_images(liked)
        self.disliked = load_feedback_images(disliked)
        self.feedback_weight = feedback_weight
        self.min_weight = min_weight
        self.neg_scale = neg_scale
        self.feedback_start_ratio = feedback_start_ratio
        self.feedback_end_ratio = feedback_end_ratio
        self.seed = seed
        self._state = _SharedState()
        self._references: torch.Tensor | None = None
        self._noise: torch.Generator | None = None
        self._saved_processors: dict[str, Any] | None = None

    @property
    def has_feedback(self) -> bool:
        return bool(self.liked or self.disliked)

    def check(self, settings: RunSettings) -> None:
        if self.disliked and not settings.uses_guidance:
            raise InputError("disliked feedback images need classifier-free guidance (guidance scale > 1)")

    def weight_at(self, step: StepInfo) -> float:
        """Liked-image weight at ``step``: ``feedback_weight`` inside the window, ``min_weight`` outside."""
        start = round(step.num_steps * self.feedback_start_ratio)
        end = round(step.num_steps * self.feedback_end_ratio)
        return self.feedback_weight if start <= step.step <= end else self.min_weight

    def start(self, run) -> None:
        self._state.plan = None
        self._references = None
        if not self.has_feedback:
            return
        from ..vae_codec import encode_images

        self._references = encode_images(run.components, self.liked + self.disliked, height=run.height, width=run.width)
        self._noise = torch.Generator("cpu").manual_seed(self.seed)
        unet = run.components.unet
        self._saved_processors = dict(unet.attn_processors)
        replaced = {
            name: FabricAttnProcessor(processor, self._state) if name.endswith("attn1.processor") else processor
            for name, processor in self._saved_processors.items()
        }
        unet.set_attn_processor(replaced)

    def extra_rows(self, step: StepInfo, run) -> ExtraRows | None:
        if self._references is None or self.weight_at(step) == 0.0:
            return None
        from diffusers.utils.torch_utils import randn_tensor

        refs = self._references
        noise = randn_tensor(refs.shape, generator=self._noise, device=refs.device, dtype=refs.dtype)
        noised = run.scheduler.add_noise(refs, noise, step.timestep.reshape(1).repeat(refs.shape[0]))
        return ExtraRows(REFERENCE_ROWS, noised, [""] * refs.shape[0])

    def before_unet(self, step: StepInfo, layout: BatchLayout) -> None:
        if REFERENCE_ROWS not in layout:
            self._state.plan = None
            return
        refs = layout[REFERENCE_ROWS]
        liked = slice(refs.start, refs.start + len(self.liked))
        disliked = slice(liked.stop, refs.stop)
        weight = self.weight_at(step)
        weights = torch.zeros(layout.size, 3)
        weights[:, 0] = 1.0
        weights[layout["cond"], 1] = weight
        if "uncond" in layout:
            weights[layout["uncond"], 2] = weight * self.neg_scale
        self._state.plan = _StepPlan(liked, disliked, weights)

    def finish(self, run) -> None:
        self._state.plan = None
        self._references = None
        if self._saved_processors is not None:
            run.components.unet.set_attn_processor(dict(self._saved_processors))
            self._saved_processors = None

    def describe(self) -> str:
        return f"fabric (+{len(self.liked)}/-{len(self.disliked)})"
