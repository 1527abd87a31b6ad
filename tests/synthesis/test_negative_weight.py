"""The negative prompt's two forms: the concepts replacing the unconditional branch (diffusers'),
and the concepts in their own branch weighted by alpha (``--negative-weight``)."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from promptlearn.cli.main import cli
from promptlearn.errors import InputError
from promptlearn.synthesis.interventions import NegativePrompt
from promptlearn.synthesis.interventions.base import BranchNoise, StepInfo
from promptlearn.synthesis.methods import get_method

QUERY = "a photo of a cat"
STEPS = 3


def test_weighted_guidance_is_the_stated_formula():
    torch.manual_seed(0)
    cond, uncond, neg = (torch.randn(2, 4, 8, 8) for _ in range(3))
    step = StepInfo(index=0, step=0, num_steps=STEPS, timestep=torch.tensor(1))
    out = NegativePrompt("naked", weight=3.0).guide(BranchNoise(cond, uncond, {"negative": neg}), step, 7.5)
    torch.testing.assert_close(out, uncond + 7.5 * (cond - uncond) - 3.0 * (neg - uncond))
    # the default form leaves the combination to plain classifier-free guidance
    assert NegativePrompt("naked").guide(BranchNoise(cond, uncond, {"negative": neg}), step, 7.5) is None


def test_weight_zero_is_plain_guidance_and_adds_one_branch(synth, unet_calls):
    plain = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False)
    unet_calls.batch_sizes.clear()
    zero = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False, interventions=[NegativePrompt("dog", weight=0.0)])
    assert unet_calls.batch_sizes == [3] * STEPS  # uncond, cond, negative in one UNet call
    torch.testing.assert_close(zero.latents, plain.latents, rtol=0, atol=1e-5)


def test_weighted_and_default_forms_steer_differently(synth):
    default = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False, interventions=[NegativePrompt("dog")])
    weighted = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False, interventions=[NegativePrompt("dog", weight=5.0)])
    plain = synth.generate(QUERY, seeds=0, num_inference_steps=STEPS, decode=False)
    assert not torch.allclose(weighted.latents, default.latents)
    assert not torch.allclose(weighted.latents, plain.latents)


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf"), True, "2"])
def test_bad_weight_is_one_line_naming_the_argument(weight):
    with pytest.raises(InputError) as info:
        NegativePrompt("dog", weight=weight)
    assert info.value.arguments == ("negative_weight",)


def test_method_layer_passes_the_weight_and_captions_it():
    spec = get_method("negative")
    (intervention,) = spec.interventions(concepts=["dog"], negative_weight=2.5)
    assert intervention.weight == 2.5
    assert spec.describe(negative_weight=2.5) == "negative (alpha=2.5)"
    assert spec.describe() == "negative"
    # other methods ignore it
    assert get_method("blacklist").describe(negative_weight=2.5) == "blacklist"


def test_generate_cli_negative_weight(sd_dir, tmp_path):
    out = tmp_path / "x.png"
    result = CliRunner().invoke(cli, ["generate", "--model", str(sd_dir), "--query", QUERY, "--concept", "dog", "--method", "negative",
                                      "--negative-weight", "4", "--steps", "2", "--no-progress", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists()
    bad = CliRunner().invoke(cli, ["generate", "--model", str(sd_dir), "--query", QUERY, "--concept", "dog", "--method", "negative",
                                   "--negative-weight", "-1", "--steps", "2", "--out", str(tmp_path / "y.png")])
    assert bad.exit_code != 0 and "--negative-weight" in bad.output and "Traceback" not in bad.output


def test_bench_records_the_weight_in_its_config_and_report(tmp_path):
    import json

    from promptlearn.cli.main import main

    out = tmp_path / "bench"
    code = main(["bench", "--model", "toy", "--judge", "toy", "--dataset", "toy", "--limit", "1", "--seeds", "0",
                 "--methods", "original,negative", "--negative-weight", "2", "--steps", "4", "--out", str(out), "--no-progress"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert "negative_weight" in json.dumps(config)
    assert "`negative_weight`: `2.0`" in (out / "report.md").read_text()


def test_only_the_weighted_form_replaces_the_guidance_rule(synth):
    from promptlearn.synthesis.interventions import SafeLatentDiffusion

    assert not NegativePrompt("dog").replaces_guidance and NegativePrompt("dog", weight=1.0).replaces_guidance
    synth.generate(QUERY, seeds=0, num_inference_steps=2, decode=False, interventions=[NegativePrompt("dog"), SafeLatentDiffusion("dog")])
    with pytest.raises(InputError, match="only one intervention may replace the guidance rule"):
        synth.generate(QUERY, seeds=0, num_inference_steps=2, decode=False,
                       interventions=[NegativePrompt("dog", weight=1.0), SafeLatentDiffusion("dog")])
