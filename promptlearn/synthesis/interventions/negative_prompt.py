"""The concept as negative conditioning: classifier-free guidance steers away from it.

Two forms:

* ``weight=None`` (the default, diffusers' ``negative_prompt``): the concepts *replace* the
  unconditional branch, ``eps = eps_neg + s * (eps_cond - eps_neg)``; no extra UNet rows.
* ``weight=alpha``: the concepts get a branch of their own beside the unconditional one, and the
  guidance pushes away from them with their own weight,
  ``eps = eps_uncond + s * (eps_cond - eps_uncond) - alpha * (eps_neg - eps_uncond)``
  (negative guidance as in composable diffusion; one more UNet row per prompt). ``alpha = 0`` is plain
  classifier-free guidance.

Which of the two the ORES paper's negative-prompt baseline used, and with which weight, is not
known to this project (the paper's text was not available offline; its official code has no
negative-prompt baseline). ``docs/fidelity.md`` says so; the ``paper`` preset uses the default form.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ...errors import InputError
from .base import BranchNoise, Intervention, RunSettings, StepInfo


class NegativePrompt(Intervention):
    """Guide away from the concepts (joined with ", "). Without ``weight`` they go in the
    unconditional branch (after any user negative prompt); with ``weight`` they get their own
    branch, weighted by ``weight`` (see the module docstring)."""

    name = "negative"

    def __init__(self, concepts: str | Sequence[str], weight: float | None = None):
        self.concepts = [c.strip() for c in ([concepts] if isinstance(concepts, str) else concepts) if c.strip()]
        if not self.concepts:
            raise InputError("the negative prompt needs at least one non-empty concept")
        if weight is not None:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise InputError(f"{{negative_weight}} must be a finite number >= 0, got {weight!r}", arguments="negative_weight")
            weight = float(weight)
        self.weight = weight

    def check(self, settings: RunSettings) -> None:
        if not settings.uses_guidance:
            raise InputError(f"a negative prompt needs classifier-free guidance (guidance scale > 1), got {settings.guidance_scale}")

    def edit_negative_prompts(self, negatives: list[str]) -> list[str]:
        if self.weight is not None:
            return negatives
        concepts = ", ".join(self.concepts)
        return [f"{negative}, {concepts}" if negative else concepts for negative in negatives]

    def extra_conditions(self, prompts: list[str], settings: RunSettings) -> dict[str, list[str]]:
        if self.weight is None or not settings.uses_guidance:
            return {}
        return {"negative": [", ".join(self.concepts)] * len(prompts)}

    @property
    def replaces_guidance(self) -> bool:
        return self.weight is not None  # the default form only edits the unconditional prompt

    def guide(self, noise: BranchNoise, step: StepInfo, guidance_scale: float) -> torch.Tensor | None:
        if self.weight is None or "negative" not in noise.extra or noise.uncond is None:
            return None
        uncond = noise.uncond
        return uncond + guidance_scale * (noise.cond - uncond) - self.weight * (noise.extra["negative"] - uncond)

    def describe(self) -> str:
        return self.name if self.weight is None else f"{self.name} (alpha={self.weight:g})"
