"""Our sampling loop: parity with diffusers, batching, seeding, one UNet call per step, input checks."""

from __future__ import annotations

import pytest
import torch

from synth_helpers import QUERY, STEPS, diffusers_pipeline, tiny_sdxl_components
from promptlearn.errors import InputError
from promptlearn.synthesis.components import load_components
from promptlearn.synthesis.interventions import Intervention, NegativePrompt, PromptSwitch, SafeLatentDiffusion
from promptlearn.synthesis.sampler import Synthesizer


def _diffusers_latents(components, prompt, seed, **kwargs):
    pipe = diffusers_pipeline(components)
    return pipe(prompt, generator=torch.Generator().manual_seed(seed), num_inference_steps=STEPS,
                output_type="latent", **kwargs).images


@pytest.mark.parametrize("scheduler", [None, "euler", "pndm", "dpm++"])
def test_plain_run_matches_diffusers_epsilon(components, scheduler):
    parts = components if scheduler is None else components.with_scheduler(scheduler)
    ours = Synthesizer(parts).generate(QUERY, seeds=3, num_inference_steps=STEPS, guidance_scale=6.0, decode=False)
    theirs = _diffusers_latents(parts, QUERY, 3, guidance_scale=6.0)
    torch.testing.assert_close(ours.latents, theirs, rtol=0, atol=1e-5)


def test_plain_run_matches_diffusers_v_prediction(sd_v_dir):
    parts = load_components(sd_v_dir)
    assert parts.prediction_type == "v_prediction"
    ours = Synthesizer(parts).generate(QUERY, seeds=1, num_inference_steps=STEPS, guidance_scale=7.5,
                                       negative_prompt="blurry", decode=False)
    theirs = _diffusers_latents(parts, QUERY, 1, guidance_scale=7.5, negative_prompt="blurry")
    torch.testing.assert_close(ours.latents, theirs, rtol=0, atol=1e-5)


def test_plain_run_matches_diffusers_zero_terminal_snr_v_prediction(sd_v_dir):
    """The toy recipe's scheduler (zero terminal SNR, trailing DDIM timesteps, v-prediction) read from the config."""
    from diffusers import DDIMScheduler

    parts = load_components(sd_v_dir)
    config = dict(parts.scheduler.config) | {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}
    parts = parts.with_scheduler("ddim")
    from dataclasses import replace

    parts = replace(parts, scheduler=DDIMScheduler.from_config(config))
    assert parts.scheduler.alphas_cumprod[-1] == 0
    ours = Synthesizer(parts).generate(QUERY, seeds=2, num_inference_steps=STEPS, guidance_scale=7.5, decode=False)
    theirs = _diffusers_latents(parts, QUERY, 2, guidance_scale=7.5)
    assert torch.isfinite(ours.latents).all()
    torch.testing.assert_close(ours.latents, theirs, rtol=0, atol=1e-5)
    ours = Synthesizer(parts).generate(QUERY, seeds=2, num_inference_steps=STEPS, guidance_scale=7.5, decode=False,
                                       guidance_rescale=0.7)
    theirs = _diffusers_latents(parts, QUERY, 2, guidance_scale=7.5, guidance_rescale=0.7)
    torch.testing.assert_close(ours.latents, theirs, rtol=0, atol=1e-5)
    with pytest.raises(InputError, match="guidance rescale"):
        Synthesizer(parts).generate(QUERY, seeds=2, num_inference_steps=STEPS, guidance_rescale=1.5)


def test_plain_run_matches_diffusers_sdxl(tmp_path):
    parts = tiny_sdxl_components(tmp_path / "tokenizer")
    ours = Synthesizer(parts).generate(QUERY, seeds=0, num_inference_steps=3, guidance_scale=5.0, decode=False)
    theirs = diffusers_pipeline(parts)(QUERY, generator=torch.Generator().manual_seed(0), num_inference_steps=3,
                                       guidance_scale=5.0, output_type="latent").images
    torch.testing.assert_close(ours.latents, theirs, rtol=0, atol=1e-5)
    switched = Synthesizer(parts).generate(QUERY, seeds=0, num_inference_steps=3, guidance_scale=5.0, decode=False,
                                           interventions=PromptSwitch("a photo of a dog", switch_step=3))
    assert torch.equal(switched.latents, ours.latents)


def test_decoded_images_match_diffusers(components, synth):
    ours = synth.generate(QUERY, seeds=0, num_inference_steps=2)
    theirs = diffusers_pipeline(components)(QUERY, generator=torch.Generator().manual_seed(0), num_inference_steps=2,
                                            output_type="pil").images
    import numpy as np

    assert ours.images[0].size == (16, 16)
    assert np.abs(np.asarray(ours.images[0], dtype=int) - np.asarray(theirs[0], dtype=int)).max() <= 1


def test_batch_of_prompts_and_seeds_equals_single_runs(synth):
    prompts, seeds = [QUERY, "a red car in the rain"], [5, 9]
    batch = synth.generate(prompts, seeds=seeds, num_inference_steps=STEPS, decode=False)
    assert batch.prompts == [prompts[0], prompts[0], prompts[1], prompts[1]]
    assert batch.seeds == [5, 9, 5, 9]
    for index, (prompt, seed) in enumerate(zip(batch.prompts, batch.seeds)):
        single = synth.generate(prompt, seeds=seed, num_inference_steps=STEPS, decode=False)
        torch.testing.assert_close(batch.latents[index : index + 1], single.latents, rtol=0, atol=1e-4)


def test_batch_equals_single_runs_with_ancestral_noise(components):
    """Per-sample generators also drive the scheduler's own noise (DDIM eta > 0)."""
    synth = Synthesizer(components)
    batch = synth.generate(QUERY, seeds=[1, 2], num_inference_steps=STEPS, eta=1.0, decode=False)
    second = synth.generate(QUERY, seeds=2, num_inference_steps=STEPS, eta=1.0, decode=False)
    torch.testing.assert_close(batch.latents[1:], second.latents, rtol=0, atol=1e-4)


def test_runs_are_repeatable_and_leave_global_rng_alone(synth):
    state = torch.get_rng_state()
    first = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False)
    second = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False)
    assert torch.equal(first.latents, second.latents)
    assert torch.equal(torch.get_rng_state(), state)
    other = synth.generate(QUERY, seeds=1, num_inference_steps=STEPS, decode=False)
    assert not torch.allclose(first.latents, other.latents)


@pytest.mark.parametrize(
    "interventions, rows_per_sample",
    [
        ([], 2),
        ([NegativePrompt("naked")], 2),
        ([SafeLatentDiffusion("nudity", "medium")], 3),
        ([PromptSwitch("a man in swimwear", switch_step=2)], 2),
        ([NegativePrompt("naked"), SafeLatentDiffusion("nudity", "max"), PromptSwitch("a man", switch_step=1)], 3),
    ],
)
def test_one_unet_call_per_step_holds_every_condition(synth, unet_calls, interventions, rows_per_sample):
    synth.generate([QUERY, "a dog"], seeds=[0, 1], num_inference_steps=STEPS, interventions=interventions, decode=False)
    assert unet_calls.batch_sizes == [rows_per_sample * 4] * STEPS


def test_without_guidance_only_the_conditional_branch_runs(synth, unet_calls):
    synth.generate(QUERY, seeds=[0, 1], num_inference_steps=STEPS, guidance_scale=1.0, decode=False)
    assert unet_calls.batch_sizes == [2] * STEPS


def test_conditioned_on_reports_the_last_step_text(synth):
    out = synth.generate(QUERY, seeds=0, num_inference_steps=2, decode=False,
                         interventions=PromptSwitch("a dog", switch_step=1))
    assert out.conditioned_on == ["a dog"]
    assert out.images == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompts": "   "}, "empty query"),
        ({"prompts": []}, "no prompt"),
        ({"num_inference_steps": 0}, "steps must be a positive integer"),
        ({"num_inference_steps": -3}, "steps must be a positive integer"),
        ({"guidance_scale": -1.0}, "guidance scale must be >= 0"),
        ({"guidance_scale": 0.5, "negative_prompt": "blur"}, "negative prompt needs classifier-free guidance"),
        ({"seeds": -1}, "non-negative integers"),
        ({"seeds": []}, "no seed"),
        ({"height": 15}, "height must be a positive multiple of 2"),
        ({"eta": -0.1}, "eta must be >= 0"),
        ({"interventions": [PromptSwitch("x", switch_step=9)]}, "exceeds the 4 sampler steps"),
        ({"interventions": [NegativePrompt("x")], "guidance_scale": 1.0}, "needs classifier-free guidance"),
        ({"interventions": [SafeLatentDiffusion("x"), SafeLatentDiffusion("y")]}, "only one intervention may replace"),
        ({"interventions": ["tin"]}, "not an intervention"),
    ],
)
def test_bad_input_is_one_clear_error(synth, unet_calls, kwargs, message):
    args = {"prompts": QUERY, "num_inference_steps": STEPS, **kwargs}
    with pytest.raises(InputError, match=message):
        synth.generate(args.pop("prompts"), **args)
    assert unet_calls.batch_sizes == []  # nothing ran


def test_intervention_hooks_returning_wrong_lengths_are_caught(synth):
    class Broken(Intervention):
        name = "broken"

        def edit_prompts(self, prompts):
            return prompts + ["extra"]

    with pytest.raises(InputError, match=r"broken.edit_prompts returned 2 texts for 1 prompts"):
        synth.generate(QUERY, num_inference_steps=1, interventions=Broken(), decode=False)
