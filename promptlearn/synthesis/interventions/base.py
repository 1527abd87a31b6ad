"""What an intervention may change in the sampler, as hooks that do nothing by default.

The sampler calls the hooks at fixed points of its loop (see :class:`~promptlearn.synthesis.sampler.Synthesizer`):

* before encoding: :meth:`Intervention.edit_prompts` (black list), :meth:`Intervention.edit_negative_prompts`
  (negative prompt), :meth:`Intervention.extra_conditions` (SLD's safety concept: more UNet rows);
* at every step: :meth:`Intervention.step_prompts` (TIN's prompt switch), :meth:`Intervention.extra_rows`
  and :meth:`Intervention.before_unet` (FABRIC's reference images), :meth:`Intervention.guide` (SLD);
* around the run: :meth:`Intervention.start` / :meth:`Intervention.finish`.

A subclass overrides only what it changes, so the plain sampler is the base class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

import torch

if TYPE_CHECKING:
    from ..sampler import SamplingRun


@dataclass(frozen=True)
class RunSettings:
    """What :meth:`Intervention.check` sees: the settings of the run about to start."""

    num_prompts: int
    num_steps: int
    guidance_scale: float

    @property
    def uses_guidance(self) -> bool:
        """Classifier-free guidance (an unconditional branch) is on, as in diffusers: scale > 1."""
        return self.guidance_scale > 1.0


@dataclass(frozen=True)
class StepInfo:
    """Where the loop is. ``step`` counts sampler steps (0..num_steps-1) even for schedulers whose
    timestep list is longer than ``num_steps`` (PNDM, Heun); ``index`` counts loop iterations."""

    index: int
    step: int
    num_steps: int
    timestep: torch.Tensor


@dataclass(frozen=True)
class ExtraRows:
    """UNet rows an intervention adds to a step's batch (e.g. FABRIC's noised reference latents).

    ``latents`` are unscaled (the sampler applies ``scheduler.scale_model_input`` to the whole
    batch); ``texts`` gives each row's prompt, encoded as an unconditional prompt. The UNet output
    of these rows reaches no guidance; only their attention inputs matter.
    """

    name: str
    latents: torch.Tensor
    texts: list[str]


@dataclass(frozen=True)
class BatchLayout:
    """Which rows of a step's single UNet batch belong to which branch or extra row group."""

    rows: Mapping[str, slice]
    size: int

    def __contains__(self, name: str) -> bool:
        return name in self.rows and self.rows[name].stop > self.rows[name].start

    def __getitem__(self, name: str) -> slice:
        return self.rows[name]


@dataclass
class BranchNoise:
    """The UNet's predictions of one step, split by branch (each is ``(num_samples, C, h, w)``)."""

    cond: torch.Tensor
    uncond: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def classifier_free_guidance(noise: BranchNoise, guidance_scale: float) -> torch.Tensor:
    """``uncond + scale * (cond - uncond)``, or ``cond`` alone without an unconditional branch."""
    if noise.uncond is None:
        return noise.cond
    return noise.uncond + guidance_scale * (noise.cond - noise.uncond)


class Intervention:
    """Base class of sampler interventions: every hook is a no-op."""

    name = "plain"

    def check(self, settings: RunSettings) -> None:
        """Raise :class:`~promptlearn.errors.InputError` if this intervention cannot run with ``settings``."""

    def edit_prompts(self, prompts: list[str]) -> list[str]:
        """The user's prompts as the conditional branch should read them (one per prompt)."""
        return prompts

    def edit_negative_prompts(self, negatives: list[str]) -> list[str]:
        """The unconditional branch's prompts (``""`` when the user gave none)."""
        return negatives

    def extra_conditions(self, prompts: list[str], settings: RunSettings) -> dict[str, list[str]]:
        """More text branches evaluated in the same UNet call, name -> one text per prompt."""
        return {}

    def step_prompts(self, prompts: list[str], step: StepInfo) -> list[str]:
        """The conditional branch's prompts at ``step`` (after :meth:`edit_prompts`)."""
        return prompts

    def start(self, run: "SamplingRun") -> None:
        """Called once before the loop (after latents are prepared); reset per-run state here."""

    def extra_rows(self, step: StepInfo, run: "SamplingRun") -> ExtraRows | None:
        """Rows to append to this step's UNet batch, or None."""
        return None

    def before_unet(self, step: StepInfo, layout: BatchLayout) -> None:
        """Called right before the step's UNet call, with the batch layout."""

    @property
    def replaces_guidance(self) -> bool:
        """Whether :meth:`guide` may return a tensor (at most one such intervention per run):
        true when a subclass overrides it."""
        return type(self).guide is not Intervention.guide

    def guide(self, noise: BranchNoise, step: StepInfo, guidance_scale: float) -> torch.Tensor | None:
        """Combine the branches into one noise prediction, or None for plain classifier-free guidance.
        At most one intervention of a run may return a tensor here."""
        return None

    def finish(self, run: "SamplingRun") -> None:
        """Called once after the loop, also when it fails; undo what :meth:`start` installed."""

    def describe(self) -> str:
        """A short caption (used under image grid tiles)."""
        return self.name
