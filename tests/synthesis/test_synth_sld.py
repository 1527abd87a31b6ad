"""Safe Latent Diffusion in our loop: presets, off equals plain, on differs, same as diffusers' safe pipeline."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from promptlearn.errors import InputError
from promptlearn.synthesis.interventions import SLD_PRESETS, SafeLatentDiffusion, SLDConfig
from synth_helpers import QUERY, STEPS


def test_presets_are_the_papers():
    from diffusers.pipelines.deprecated.stable_diffusion_safe import SafetyConfig

    for name, theirs in (("weak", SafetyConfig.WEAK), ("medium", SafetyConfig.MEDIUM),
                         ("strong", SafetyConfig.STRONG), ("max", SafetyConfig.MAX)):
        ours = SLD_PRESETS[name]
        assert {key: getattr(ours, key) for key in theirs} == theirs
    assert SLD_PRESETS["max"] == SLDConfig(0, 5000, 1.0, 0.5, 0.7)


def test_sld_with_guidance_off_equals_plain(synth, unet_calls):
    plain = synth.generate(QUERY, seeds=[0, 1], num_inference_steps=STEPS, decode=False)
    off = SafeLatentDiffusion("nudity", SLDConfig(sld_guidance_scale=0.0))
    out = synth.generate(QUERY, seeds=[0, 1], num_inference_steps=STEPS, decode=False, interventions=off)
    assert torch.equal(out.latents, plain.latents)
    assert unet_calls.batch_sizes[-STEPS:] == [4] * STEPS  # no safety rows when it is off
    # without classifier-free guidance there is no SLD either (as in diffusers)
    no_cfg = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, guidance_scale=1.0, decode=False,
                            interventions=SafeLatentDiffusion("nudity", "max"))
    assert torch.equal(no_cfg.latents, synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, guidance_scale=1.0,
                                                     decode=False).latents)


@pytest.mark.parametrize("preset", ["weak", "medium", "strong", "max"])
def test_sld_on_differs_and_costs_one_call_per_step(synth, unet_calls, preset):
    plain = synth.generate(QUERY, seeds=[0, 1], num_inference_steps=STEPS, decode=False)
    unet_calls.batch_sizes.clear()
    config = SLD_PRESETS[preset]
    sld = SafeLatentDiffusion("nudity", SLDConfig(**{**config.__dict__, "sld_warmup_steps": 1}))
    out = synth.generate(QUERY, seeds=[0, 1], num_inference_steps=STEPS, decode=False, interventions=sld)
    assert not torch.allclose(out.latents, plain.latents, atol=1e-4)
    assert unet_calls.batch_sizes == [6] * STEPS  # uncond, cond, safety for 2 samples, one call


def test_sld_matches_diffusers_safe_pipeline(components, synth):
    """Same latents as diffusers' (deprecated) StableDiffusionPipelineSafe on the same models."""
    from diffusers import StableDiffusionPipelineSafe

    concept = "nudity, violence"
    config = SLDConfig(sld_warmup_steps=1, sld_guidance_scale=1000, sld_threshold=0.01,
                       sld_momentum_scale=0.3, sld_mom_beta=0.4)
    ours = synth.generate(QUERY, seeds=4, num_inference_steps=STEPS, guidance_scale=7.5, decode=False,
                          interventions=SafeLatentDiffusion(concept, config))
    pipe = StableDiffusionPipelineSafe(
        vae=components.vae, text_encoder=components.text_encoder, tokenizer=components.tokenizer,
        unet=components.unet, scheduler=copy.deepcopy(components.scheduler),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.safety_concept = concept
    seen = []
    pipe(QUERY, generator=torch.Generator().manual_seed(4), num_inference_steps=STEPS, guidance_scale=7.5,
         callback=lambda step, t, latents: seen.append(latents.clone()), **config.__dict__)
    torch.testing.assert_close(ours.latents, seen[-1], rtol=0, atol=1e-4)
    assert not np.allclose(ours.latents.numpy(), synth.generate(QUERY, seeds=4, num_inference_steps=STEPS,
                                                                 decode=False).latents.numpy(), atol=1e-4)


def test_sld_bad_input():
    with pytest.raises(InputError, match="unknown SLD preset 'extreme'"):
        SafeLatentDiffusion("nudity", "extreme")
    with pytest.raises(InputError, match="non-empty safety concept"):
        SafeLatentDiffusion("  ")
    with pytest.raises(InputError, match="sld_mom_beta"):
        SafeLatentDiffusion("nudity", SLDConfig(sld_mom_beta=2.0))
    assert SafeLatentDiffusion("nudity", "STRONG").describe() == "sld (strong)"


def test_sld_preset_warmup_follows_the_step_count():
    medium = SafeLatentDiffusion("nudity", "medium")
    # defined for 50 steps: unchanged there, scaled to the run's length elsewhere (half rounds up)
    assert [medium.warmup_steps(n) for n in (50, 20, 25, 100, 1)] == [10, 4, 5, 20, 0]
    assert [SafeLatentDiffusion("nudity", p).warmup_steps(20) for p in ("weak", "strong", "max")] == [6, 3, 0]
    # the printed number on request, and an explicit config always as given
    assert SafeLatentDiffusion("nudity", "medium", scale_warmup=False).warmup_steps(20) == 10
    assert SafeLatentDiffusion("nudity", SLD_PRESETS["medium"]).warmup_steps(20) == 10
