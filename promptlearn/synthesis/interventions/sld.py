"""Safe Latent Diffusion (Schramowski et al., CVPR 2023): guide away from a safety concept.

A third branch predicts the noise for the safety concept (here: any open-vocabulary concept). Where
the conditional prediction is close to the concept's (``eps_c - eps_s < threshold``), the guidance
is pushed away from it, element-wise scaled, with momentum (equations 3-8 of the paper; the same
rule as diffusers' deprecated StableDiffusionPipelineSafe). All three branches share one UNet call.

Warm-up and step count: the paper's presets were defined for 50 sampling steps (the SLD paper's
and diffusers' default), and their warm-up is a number of steps. At 20 steps the medium preset's 10
warm-up steps would cover half the run. So a preset named by its name has its warm-up scaled to the
run's length: ``round(warmup * num_steps / 50)`` (half rounds up), e.g. medium at 20 steps warms
up for 4 steps, at 50 for 10 (the paper's and diffusers' number, unchanged). ``scale_warmup=False``
keeps the preset's step count as printed; an explicit :class:`SLDConfig` is always taken as given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import InputError
from .base import BranchNoise, Intervention, RunSettings, StepInfo


@dataclass(frozen=True)
class SLDConfig:
    """The five SLD hyper-parameters; :data:`SLD_PRESETS` holds the paper's four configurations."""

    sld_warmup_steps: int = 10
    sld_guidance_scale: float = 1000.0
    sld_threshold: float = 0.01
    sld_momentum_scale: float = 0.3
    sld_mom_beta: float = 0.4


# the number of sampling steps the presets' warm-up counts were defined for
PRESET_STEPS = 50

# Table 1 of the SLD paper; identical to diffusers' SafetyConfig.WEAK/MEDIUM/STRONG/MAX
SLD_PRESETS: dict[str, SLDConfig] = {
    "weak": SLDConfig(sld_warmup_steps=15, sld_guidance_scale=20, sld_threshold=0.0, sld_momentum_scale=0.0, sld_mom_beta=0.0),
    "medium": SLDConfig(sld_warmup_steps=10, sld_guidance_scale=1000, sld_threshold=0.01, sld_momentum_scale=0.3, sld_mom_beta=0.4),
    "strong": SLDConfig(sld_warmup_steps=7, sld_guidance_scale=2000, sld_threshold=0.025, sld_momentum_scale=0.5, sld_mom_beta=0.7),
    "max": SLDConfig(sld_warmup_steps=0, sld_guidance_scale=5000, sld_threshold=1.0, sld_momentum_scale=0.5, sld_mom_beta=0.7),
}


class SafeLatentDiffusion(Intervention):
    """SLD guidance against ``concept``; ``config`` is a preset name or an :class:`SLDConfig`.

    A preset's warm-up follows the run's step count (see the module docstring) unless
    ``scale_warmup=False``; :meth:`warmup_steps` gives the number in force.

    Safety guidance is on when ``sld_guidance_scale > 1`` and classifier-free guidance is on (as in
    diffusers); otherwise this intervention changes nothing and adds no UNet rows.
    """

    name = "sld"

    def __init__(self, concept: str, config: str | SLDConfig = "medium", *, scale_warmup: bool = True):
        if not isinstance(concept, str) or not concept.strip():
            raise InputError("SLD needs a non-empty safety concept")
        self.preset: str | None = None
        if isinstance(config, str):
            try:
                self.preset, config = config.lower(), SLD_PRESETS[config.lower()]
            except KeyError:
                raise InputError(f"unknown SLD preset {config!r}; use one of {', '.join(SLD_PRESETS)}") from None
        if config.sld_warmup_steps < 0 or not 0.0 <= config.sld_mom_beta <= 1.0:
            raise InputError("SLD needs sld_warmup_steps >= 0 and sld_mom_beta in [0, 1]")
        self.concept = concept.strip()
        self.config = config
        self.scale_warmup = scale_warmup and self.preset is not None
        self._momentum: torch.Tensor | None = None

    def warmup_steps(self, num_steps: int) -> int:
        """The warm-up (in steps) of a run of ``num_steps`` steps: a preset's scaled from
        :data:`PRESET_STEPS` steps, ``round(warmup * num_steps / 50)``; otherwise as configured."""
        if not self.scale_warmup:
            return self.config.sld_warmup_steps
        return int(self.config.sld_warmup_steps * num_steps / PRESET_STEPS + 0.5)

    def enabled(self, settings: RunSettings) -> bool:
        return self.config.sld_guidance_scale > 1.0 and settings.uses_guidance

    def extra_conditions(self, prompts: list[str], settings: RunSettings) -> dict[str, list[str]]:
        return {"safety": [self.concept] * len(prompts)} if self.enabled(settings) else {}

    def start(self, run) -> None:
        self._momentum = None

    def guide(self, noise: BranchNoise, step: StepInfo, guidance_scale: float) -> torch.Tensor | None:
        if "safety" not in noise.extra or noise.uncond is None:
            return None
        c = self.config
        cond, uncond, safety = noise.cond, noise.uncond, noise.extra["safety"]
        guidance = cond - uncond
        if self._momentum is None:
            self._momentum = torch.zeros_like(guidance)
        # eq. 6: element-wise scale, zero where the prediction is already far enough from the concept
        scale = torch.clamp(torch.abs(cond - safety) * c.sld_guidance_scale, max=1.0)
        scale = torch.where(cond - safety >= c.sld_threshold, torch.zeros_like(scale), scale)
        # eq. 4 and 7: safety guidance plus momentum
        safety_guidance = (safety - uncond) * scale + c.sld_momentum_scale * self._momentum
        # eq. 8: momentum builds up, during warm-up too
        self._momentum = c.sld_mom_beta * self._momentum + (1 - c.sld_mom_beta) * safety_guidance
        if step.step >= self.warmup_steps(step.num_steps):
            guidance = guidance - safety_guidance  # eq. 3
        return uncond + guidance_scale * guidance

    def describe(self) -> str:
        preset = next((name for name, cfg in SLD_PRESETS.items() if cfg == self.config), None)
        return f"sld ({preset})" if preset else "sld"
