"""TIN's prompt switch: S = T is the query, S = 0 the rewrite (bit for bit), in between differs from both."""

from __future__ import annotations

import pytest
import torch

from promptlearn.errors import InputError
from promptlearn.synthesis.interventions import PromptSwitch, resolve_switch_step
from promptlearn.synthesis.sampler import Synthesizer
from synth_helpers import QUERY, REWRITE, STEPS


def _latents(synth, prompts, **kwargs):
    return synth.generate(prompts, seeds=[7, 8], num_inference_steps=STEPS, decode=False, **kwargs).latents


def test_switch_at_last_step_is_the_query_and_at_zero_the_rewrite_bit_for_bit(synth):
    query_only = _latents(synth, QUERY)
    rewrite_only = _latents(synth, REWRITE)
    at_t = _latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=STEPS))
    at_zero = _latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=0))
    assert torch.equal(at_t, query_only)
    assert torch.equal(at_zero, rewrite_only)
    for s in range(1, STEPS):
        middle = _latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=s))
        assert not torch.allclose(middle, query_only, atol=1e-4)
        assert not torch.allclose(middle, rewrite_only, atol=1e-4)


def test_bit_for_bit_also_with_a_longer_timestep_list(components):
    """PNDM runs STEPS + 1 iterations; S counts sampler steps, not iterations."""
    synth = Synthesizer(components.with_scheduler("pndm"))
    query_only = _latents(synth, QUERY)
    assert torch.equal(_latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=STEPS)), query_only)
    assert torch.equal(_latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=0)), _latents(synth, REWRITE))


def test_fraction_of_steps_equals_the_step_count(synth):
    by_fraction = _latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=0.5))
    by_count = _latents(synth, QUERY, interventions=PromptSwitch(REWRITE, switch_step=2))
    assert torch.equal(by_fraction, by_count)


def test_one_rewrite_per_prompt_in_a_batch(synth):
    prompts, rewrites = [QUERY, "a naked woman in a park"], [REWRITE, "a woman in a dress in a park"]
    out = synth.generate(prompts, seeds=[0, 1], num_inference_steps=STEPS, decode=False,
                         interventions=PromptSwitch(rewrites, switch_step=0))
    assert out.conditioned_on == [rewrites[0], rewrites[0], rewrites[1], rewrites[1]]
    plain = synth.generate(rewrites, seeds=[0, 1], num_inference_steps=STEPS, decode=False)
    torch.testing.assert_close(out.latents, plain.latents, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "value, steps, expected",
    [(0, 20, 0), (2, 20, 2), (20, 20, 20), (0.1, 20, 2), (0.5, 3, 2), (0.01, 20, 0), (0.99, 20, 20), (0.0, 20, 0), (1.0, 20, 20)],
)
def test_resolve_switch_step(value, steps, expected):
    assert resolve_switch_step(value, steps) == expected


@pytest.mark.parametrize(
    "value, message",
    [(21, "exceeds the 20 sampler steps"), (-1, ">= 0"), (1.5, r"in \[0, 1\]"), (-0.5, r"in \[0, 1\]"),
     (float("nan"), r"in \[0, 1\]"), (True, "must be an int"), ("2", "must be an int")],
)
def test_bad_switch_steps(value, message):
    with pytest.raises(InputError, match=message):
        resolve_switch_step(value, 20)


def test_bad_rewrites(synth):
    with pytest.raises(InputError, match="rewritten query is empty"):
        PromptSwitch("  ")
    with pytest.raises(InputError, match="switch_step must be"):
        PromptSwitch(REWRITE, switch_step="2")
    with pytest.raises(InputError, match="got 2 rewrites for 3 prompts"):
        synth.generate(["a", "b", "c"], num_inference_steps=2, interventions=PromptSwitch(["x", "y"]), decode=False)
