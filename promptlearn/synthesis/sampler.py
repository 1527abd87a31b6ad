"""Our own Stable Diffusion sampling loop, with pluggable interventions.

The loop mirrors diffusers' StableDiffusionPipeline (same encoding, latents, scheduler calls), so a
plain run gives the pipeline's latents; interventions hook into it (see
:mod:`promptlearn.synthesis.interventions.base`). Every step makes ONE UNet call holding all of
its conditions: unconditional, conditional, extra concepts (SLD) and reference rows (FABRIC), for
every prompt and seed of the batch.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from PIL import Image

from ..errors import InputError
from ..progress import progress_bar
from .components import DiffusionComponents
from .conditioning import PromptEncoder
from .interventions.base import (
    BatchLayout,
    BranchNoise,
    Intervention,
    RunSettings,
    StepInfo,
    classifier_free_guidance,
)
from .vae_codec import decode_latents


@dataclass
class SynthesisResult:
    """Images (prompt-major: every seed of prompt 0, then of prompt 1, ...) and their final latents."""

    images: list[Image.Image]
    latents: torch.Tensor
    prompts: list[str]
    seeds: list[int]
    conditioned_on: list[str] = field(default_factory=list)  # the conditional text at the last step, per sample


@dataclass
class ConditionPlan:
    """The texts of every branch, one per prompt; expanded to one per sample at each step."""

    prompts: list[str]
    negatives: list[str] | None
    extra: dict[str, list[str]]
    samples_per_prompt: int

    def per_sample(self, texts: Sequence[str]) -> list[str]:
        return [text for text in texts for _ in range(self.samples_per_prompt)]


@dataclass
class SamplingRun:
    """The state of one :meth:`Synthesizer.generate` call, readable by interventions."""

    components: DiffusionComponents
    encoder: PromptEncoder
    scheduler: Any
    settings: RunSettings
    height: int
    width: int
    num_samples: int
    generators: list[torch.Generator]
    step_kwargs: dict[str, Any]
    guidance_rescale: float = 0.0

    @property
    def device(self) -> torch.device:
        return self.components.device

    @property
    def dtype(self) -> torch.dtype:
        return self.components.dtype


class Synthesizer:
    """Text-to-image sampling over given components, with interventions.

    >>> synth = Synthesizer(load_components("path/to/sd21", scheduler="ddim"))     # doctest: +SKIP
    >>> out = synth("a photo of a cat", seeds=[0, 1], num_inference_steps=20,       # doctest: +SKIP
    ...             interventions=[PromptSwitch("a photo of a dog", switch_step=2)])
    >>> out.images[0].save("cat.png")                                               # doctest: +SKIP
    """

    def __init__(self, components: DiffusionComponents, *, progress: bool = False):
        self.components = components
        self.progress = progress

    @torch.no_grad()
    def generate(
        self,
        prompts: str | Sequence[str],
        *,
        seeds: int | Sequence[int] = 0,
        interventions: Intervention | Sequence[Intervention] = (),
        num_inference_steps: int = 20,
        guidance_scale: float = 7.5,
        negative_prompt: str | None = None,
        height: int | None = None,
        width: int | None = None,
        eta: float = 0.0,
        decode: bool = True,
        guidance_rescale: float = 0.0,
    ) -> SynthesisResult:
        """Generate one image per (prompt, seed), all in one UNet batch per step.

        ``seeds`` seed one ``torch.Generator`` per sample (the same seed gives the same image as a
        diffusers pipeline called with ``generator=torch.Generator().manual_seed(seed)``).
        ``guidance_scale > 1`` turns on classifier-free guidance. ``decode=False`` skips the VAE
        and returns latents only. ``guidance_rescale`` in [0, 1] rescales the guided prediction towards the
        conditional one's std, as diffusers' pipeline (Lin et al. 2024, Sec. 3.4; for zero-terminal-SNR models).
        """
        if not isinstance(guidance_rescale, (int, float)) or not 0.0 <= guidance_rescale <= 1.0:
            raise InputError(f"guidance rescale must be in [0, 1], got {guidance_rescale!r}")
        # 1. Check inputs
        prompt_list, seed_list, active = self.check_inputs(
            prompts, seeds, interventions, num_inference_steps, guidance_scale, negative_prompt, height, width, eta
        )
        height = height or self.components.default_size
        width = width or self.components.default_size
        settings = RunSettings(len(prompt_list), num_inference_steps, float(guidance_scale))

        # 2. Encode prompts (the texts of every branch; each distinct text is encoded once)
        plan = self.plan_conditions(prompt_list, negative_prompt, active, settings, len(seed_list))
        encoder = PromptEncoder(self.components, height=height, width=width)

        # 3. Prepare timesteps (on a fresh copy of the scheduler: runs never share its state)
        scheduler = copy.deepcopy(self.components.scheduler)
        scheduler.set_timesteps(num_inference_steps, device=self.components.device)
        timesteps = scheduler.timesteps

        # 4. Prepare latents: one generator per sample
        generators = [torch.Generator("cpu").manual_seed(seed) for _ in prompt_list for seed in seed_list]
        latents = self.prepare_latents(generators, height, width) * scheduler.init_noise_sigma
        run = SamplingRun(
            components=self.components, encoder=encoder, scheduler=scheduler, settings=settings,
            height=height, width=width, num_samples=len(generators), generators=generators,
            step_kwargs=_step_kwargs(scheduler, generators, eta), guidance_rescale=float(guidance_rescale),
        )

        # 5. Denoising loop
        started: list[Intervention] = []
        try:
            for intervention in active:
                intervention.start(run)
                started.append(intervention)
            with progress_bar(len(timesteps), "denoising", enabled=self.progress, unit="step") as bar:
                for index, timestep in enumerate(timesteps):
                    step = StepInfo(index, index * num_inference_steps // len(timesteps), num_inference_steps, timestep)
                    latents = self.denoise_step(run, plan, active, latents, step)
                    bar.update()
        finally:
            for intervention in reversed(started):
                intervention.finish(run)

        # 6. Decode
        last = StepInfo(len(timesteps) - 1, num_inference_steps - 1, num_inference_steps, timesteps[-1])
        images = decode_latents(self.components, latents) if decode else []
        return SynthesisResult(
            images=images,
            latents=latents,
            prompts=plan.per_sample(prompt_list),
            seeds=[seed for _ in prompt_list for seed in seed_list],
            conditioned_on=plan.per_sample(self.conditional_texts(plan, active, last)),
        )

    __call__ = generate

    def check_inputs(
        self,
        prompts: str | Sequence[str],
        seeds: int | Sequence[int],
        interventions: Intervention | Sequence[Intervention],
        num_inference_steps: int,
        guidance_scale: float,
        negative_prompt: str | None,
        height: int | None,
        width: int | None,
        eta: float,
    ) -> tuple[list[str], list[int], list[Intervention]]:
        """Validate everything before any model runs; return prompts, seeds and interventions as lists."""
        prompt_list = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompt_list:
            raise InputError("no prompt given")
        for prompt in prompt_list:
            if not isinstance(prompt, str) or not prompt.strip():
                raise InputError(f"empty query: every prompt must be non-empty text, got {prompt!r}")
        seed_list = [seeds] if isinstance(seeds, int) else list(seeds)
        if not seed_list:
            raise InputError("no seed given")
        for seed in seed_list:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise InputError(f"seeds must be non-negative integers, got {seed!r}")
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) or num_inference_steps <= 0:
            raise InputError(f"steps must be a positive integer, got {num_inference_steps!r}")
        if not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise InputError(f"guidance scale must be >= 0, got {guidance_scale!r}")
        if negative_prompt and guidance_scale <= 1.0:
            raise InputError(f"a negative prompt needs classifier-free guidance (guidance scale > 1), got {guidance_scale}")
        if not math.isfinite(eta) or eta < 0:
            raise InputError(f"eta must be >= 0, got {eta!r}")
        factor = self.components.vae_scale_factor
        for name, value in (("height", height), ("width", width)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % factor):
                raise InputError(f"{name} must be a positive multiple of {factor}, got {value!r}")
        active = [interventions] if isinstance(interventions, Intervention) else list(interventions)
        for intervention in active:
            if not isinstance(intervention, Intervention):
                raise InputError(f"not an intervention: {intervention!r}")
        guiding = [iv.name for iv in active if iv.replaces_guidance]
        if len(guiding) > 1:
            raise InputError(f"only one intervention may replace the guidance rule, got {', '.join(guiding)}")
        settings = RunSettings(len(prompt_list), num_inference_steps, float(guidance_scale))
        for intervention in active:
            intervention.check(settings)
        return prompt_list, seed_list, active

    def plan_conditions(
        self,
        prompts: list[str],
        negative_prompt: str | None,
        interventions: list[Intervention],
        settings: RunSettings,
        samples_per_prompt: int,
    ) -> ConditionPlan:
        """Apply the interventions' text hooks: conditional, unconditional and extra branches."""
        edited = list(prompts)
        negatives = [negative_prompt or ""] * len(prompts)
        extra: dict[str, list[str]] = {}
        for intervention in interventions:
            edited = _same_length(intervention.edit_prompts(edited), prompts, intervention, "edit_prompts")
            negatives = _same_length(intervention.edit_negative_prompts(negatives), prompts, intervention, "edit_negative_prompts")
            for name, texts in intervention.extra_conditions(edited, settings).items():
                if name in ("cond", "uncond") or name in extra:
                    raise InputError(f"{intervention.name}: condition name {name!r} is already taken")
                extra[name] = _same_length(texts, prompts, intervention, "extra_conditions")
        return ConditionPlan(edited, negatives if settings.uses_guidance else None, extra, samples_per_prompt)

    @staticmethod
    def conditional_texts(plan: ConditionPlan, interventions: list[Intervention], step: StepInfo) -> list[str]:
        """The conditional branch's text of each prompt at ``step``."""
        texts = list(plan.prompts)
        for intervention in interventions:
            texts = _same_length(intervention.step_prompts(texts, step), plan.prompts, intervention, "step_prompts")
        return texts

    def prepare_latents(self, generators: list[torch.Generator], height: int, width: int) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        factor = self.components.vae_scale_factor
        shape = (len(generators), self.components.unet.config.in_channels, height // factor, width // factor)
        return randn_tensor(shape, generator=generators, device=self.components.device, dtype=self.components.dtype)

    def denoise_step(
        self,
        run: SamplingRun,
        plan: ConditionPlan,
        interventions: list[Intervention],
        latents: torch.Tensor,
        step: StepInfo,
    ) -> torch.Tensor:
        """One sampler step: assemble the batch, call the UNet once, guide, step the scheduler."""
        # a. the batch: a block of rows per branch (all samples), then rows interventions add
        blocks: list[tuple[str, torch.Tensor, list[tuple[str, bool]]]] = []
        if plan.negatives is not None:
            blocks.append(("uncond", latents, [(text, True) for text in plan.per_sample(plan.negatives)]))
        cond_texts = self.conditional_texts(plan, interventions, step)
        blocks.append(("cond", latents, [(text, False) for text in plan.per_sample(cond_texts)]))
        for name, texts in plan.extra.items():
            blocks.append((name, latents, [(text, False) for text in plan.per_sample(texts)]))
        for intervention in interventions:
            rows = intervention.extra_rows(step, run)
            if rows is not None:
                blocks.append((rows.name, rows.latents, [(text, True) for text in rows.texts]))
        layout, start = {}, 0
        for name, block_latents, _ in blocks:
            layout[name] = slice(start, start + block_latents.shape[0])
            start += block_latents.shape[0]
        batch_layout = BatchLayout(layout, start)
        model_input = torch.cat([block_latents for _, block_latents, _ in blocks])
        model_input = run.scheduler.scale_model_input(model_input, step.timestep)
        conditioning = run.encoder.rows([text for _, _, texts in blocks for text in texts])

        # b. one UNet call for every condition
        for intervention in interventions:
            intervention.before_unet(step, batch_layout)
        output = self.components.unet(
            model_input,
            step.timestep,
            encoder_hidden_states=conditioning.encoder_hidden_states,
            added_cond_kwargs=conditioning.added_cond_kwargs,
            return_dict=False,
        )[0]

        # c. guidance
        noise = BranchNoise(
            cond=output[layout["cond"]],
            uncond=output[layout["uncond"]] if "uncond" in layout else None,
            extra={name: output[layout[name]] for name in plan.extra},
        )
        prediction = None
        for intervention in interventions:
            prediction = intervention.guide(noise, step, run.settings.guidance_scale)
            if prediction is not None:
                break
        if prediction is None:
            prediction = classifier_free_guidance(noise, run.settings.guidance_scale)
        if run.guidance_rescale > 0 and noise.uncond is not None:
            prediction = rescale_guidance(prediction, noise.cond, run.guidance_rescale)

        # d. scheduler step x_t -> x_{t-1}
        return run.scheduler.step(prediction, step.timestep, latents, **run.step_kwargs, return_dict=False)[0]


def rescale_guidance(guided: torch.Tensor, cond: torch.Tensor, rescale: float) -> torch.Tensor:
    """diffusers' ``rescale_noise_cfg``: mix the guided prediction with itself rescaled to the conditional
    prediction's per-sample std, by ``rescale``."""
    dims = list(range(1, guided.ndim))
    rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return rescale * rescaled + (1 - rescale) * guided


def _step_kwargs(scheduler: Any, generators: list[torch.Generator], eta: float) -> dict[str, Any]:
    """``eta`` and the per-sample generators for schedulers whose ``step`` takes them (as diffusers)."""
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = eta
    if "generator" in accepted:
        kwargs["generator"] = generators
    return kwargs


def _same_length(texts: list[str], prompts: list[str], intervention: Intervention, hook: str) -> list[str]:
    texts = list(texts)
    if len(texts) != len(prompts):
        raise InputError(f"{intervention.name}.{hook} returned {len(texts)} texts for {len(prompts)} prompts")
    return texts
