"""The toy trainer's recipe pieces on tiny inputs: the round-trip gate and the object-weighted loss
(the full run takes tens of minutes; docs/toy-world.md records it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from promptlearn.cli.main import main
from promptlearn.errors import InputError
from promptlearn.toyworld.train import TrainConfig, object_weights, reconstruction_loss, round_trip, scene_pixels


class _IdentityVAE:
    """encode/decode as the identity (latent = pixels): a perfect autoencoder, optionally spoiled."""

    def __init__(self, spoil=None):
        self.spoil = spoil

    def eval(self):
        return self

    def encode(self, x):
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: x.clone()))

    def decode(self, z):
        return SimpleNamespace(sample=self.spoil(z) if self.spoil else z)


def test_round_trip_counts_every_scene_intact_for_a_perfect_autoencoder():
    check = round_trip(_IdentityVAE(), scene_pixels())
    assert (check["intact"], check["scenes"], check["failures"]) == (360, 360, [])


def test_round_trip_names_the_scenes_a_blurry_decoder_spoils():
    def grey_objects(z):  # every object drawn halfway to the background: colours wash out
        return (z + z[:, :, :1, :1]) / 2

    check = round_trip(_IdentityVAE(grey_objects), scene_pixels())
    assert check["intact"] < 360
    assert check["failures"] and set(check["failures"][0]) == {"scene", "read"}


def test_object_weighted_loss_counts_object_pixels_more():
    pixels = scene_pixels()[:1]
    weights = object_weights(pixels, 4.0)
    assert set(weights.unique().tolist()) == {1.0, 5.0}
    off_object = pixels.clone()
    off_object[:, :, 0, 0] += 0.5  # a background pixel wrong
    obj = (weights[0, 0] > 1).nonzero()[0]
    on_object = pixels.clone()
    on_object[:, :, obj[0], obj[1]] += 0.5  # an object pixel wrong by as much
    assert reconstruction_loss(on_object, pixels, weights) > reconstruction_loss(off_object, pixels, weights) > 0


@pytest.mark.slow
def test_train_stops_at_the_round_trip_gate_with_one_line(tmp_path, capsys):
    torch.set_num_threads(1)
    code = main(["toy-world", "train", "--out", str(tmp_path / "run"), "--vae-steps", "1", "--decoder-steps", "1",
                 "--unet-steps", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0
    assert "round trip keeps" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "model").exists()


def test_default_recipe_is_deterministic_autoencoder_and_coarse_attention():
    config = TrainConfig()
    assert config.kl_weight == 0.0 and config.vae_norm_groups <= config.vae_channels[0] // 4
    assert config.unet_attention_levels < len(config.unet_channels)


def test_zero_snr_recipe_ships_a_scheduler_that_starts_from_pure_noise():
    from diffusers import DDIMScheduler

    from promptlearn.toyworld.train import scheduler_config

    config = TrainConfig(prediction_type="v_prediction", zero_snr=True)
    config.check()
    shipped = scheduler_config(config)
    assert (shipped["prediction_type"], shipped["rescale_betas_zero_snr"], shipped["timestep_spacing"]) == ("v_prediction", True, "trailing")
    scheduler = DDIMScheduler(**shipped)
    scheduler.set_timesteps(20)
    assert scheduler.alphas_cumprod[-1] == 0 and int(scheduler.timesteps[0]) == 999
    assert scheduler_config(TrainConfig(zero_snr=False, prediction_type="epsilon"))["timestep_spacing"] == "leading"


@pytest.mark.parametrize("args, words", [
    (["--zero-snr", "--prediction-type", "epsilon"], "needs v_prediction"),
    (["--vae-from", "/nonexistent/folder"], "--vae-from"),
    (["--caption-policy", "p_background"], "--caption-policy"),
    (["--caption-policy", "p_sky=0.5"], "unknown field 'p_sky'"),
    (["--attention-levels", "4"], "attention levels"),
    (["--vae-latent-noise", "1.5"], "--vae-latent-noise"),
    (["--vae-channels", "16,x"], "--vae-channels"),
    (["--vae-channels", "16,30"], "vae channels must be positive multiples of 4"),
    (["--vae-channels", "16,64", "--unet-channels", "16,32,64,64,64"], "below 2 x 2"),
    (["--unet-position", "diagonal"], "--unet-position"),
    (["--offset-noise-from", "1000"], "--offset-noise-from"),
])
def test_train_refuses_bad_recipes_with_one_line(tmp_path, capsys, args, words):
    code = main(["toy-world", "train", "--out", str(tmp_path / "run"), "--unet-steps", "1", "--no-progress", *args])
    err = capsys.readouterr().err
    assert code != 0 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


@pytest.mark.slow
def test_unet_phase_on_a_reused_vae_exports_the_recipes_scheduler(tmp_path):
    import json

    torch.set_num_threads(1)
    out = tmp_path / "run"
    code = main(["toy-world", "train", "--out", str(out), "--vae-from", "toy", "--unet-steps", "2", "--prediction-type",
                 "v_prediction", "--zero-snr", "--offset-noise", "0.05", "--no-progress"])
    assert code == 0
    shipped = json.loads((out / "model" / "scheduler" / "scheduler_config.json").read_text())
    assert (shipped["prediction_type"], shipped["rescale_betas_zero_snr"], shipped["timestep_spacing"]) == ("v_prediction", True, "trailing")
    record = json.loads((out / "record.json").read_text())
    assert record["round_trip"]["intact"] == 360 and record["history"]["vae_from"]["round_trip"] == "360/360"
    assert "vae" not in record["phase_seconds"]


def test_offset_noise_from_leaves_the_low_noise_samples_alone():
    from promptlearn.toyworld.train import offset_noise

    noise, offset = torch.randn(4, 4, 16, 16), torch.randn(4, 4, 1, 1)
    t = torch.tensor([10, 599, 600, 999])
    shifted = offset_noise(TrainConfig(offset_noise=0.3, offset_noise_from=600), noise, offset, t)
    assert torch.equal(shifted[:2], noise[:2])
    assert torch.allclose(shifted[2:], noise[2:] + 0.3 * offset[2:])
    everywhere = offset_noise(TrainConfig(offset_noise=0.3), noise, offset, t)  # from 0: every timestep
    assert torch.allclose(everywhere, noise + 0.3 * offset)
    with pytest.raises(InputError, match="offset_noise_from"):
        TrainConfig(offset_noise_from=1000).check()


def test_high_noise_floor_raises_only_the_high_noise_weights():
    from diffusers import DDPMScheduler

    from promptlearn.toyworld.train import scheduler_config, timestep_loss_weights

    config = TrainConfig()
    alphas = DDPMScheduler(**{k: v for k, v in scheduler_config(config).items()
                              if k not in ("set_alpha_to_one", "steps_offset")}).alphas_cumprod
    plain = timestep_loss_weights(config, alphas)
    assert plain[900] < 0.01 and plain[999] == 1.0  # min-SNR-5 in v form: ~SNR at high noise, 1 at SNR 0
    floored = timestep_loss_weights(TrainConfig(high_noise_weight_floor=0.5, high_noise_from=600), alphas)
    assert torch.equal(floored[:600], plain[:600])
    assert (floored[600:] >= 0.5).all() and floored[999] == 1.0


@pytest.mark.parametrize("field, value", [("high_noise_share", 1.5), ("high_noise_weight_floor", -1.0),
                                          ("high_noise_from", 1000), ("decoder_extend", -0.1), ("text_max_length", 78),
                                          ("text_max_length", 4), ("caption_policy", {"p_sky": 0.5}),
                                          ("caption_policy", {"p_background": 1.5}), ("text_attribute_weight", -0.1),
                                          ("vae_latent_noise", 1.0), ("decoder_latent_noise", -0.1)])
def test_recipe_check_refuses_bad_high_noise_and_decoder_options(field, value):
    with pytest.raises(InputError):
        TrainConfig(**{field: value}).check()


@pytest.mark.parametrize("field, value", [("vae_fp16_for_unet", "maybe"), ("zero_snr", 1), ("unet_steps", "x"),
                                          ("unet_steps", 10.5), ("lr", True), ("vae_channels", (16, "x")),
                                          ("caption_policy", {"p_background": "high"}), ("vae_from", 3),
                                          ("prediction_type", None)])
def test_recipe_check_refuses_a_value_of_the_wrong_type_in_one_line(field, value):
    # a config from bench/toy_recipes.py --set or from JSON: a wrong type is named, not compared (a traceback) or
    # taken as truthy (the string "maybe" as True)
    with pytest.raises(InputError, match=f"^{field} must be "):
        TrainConfig(**{field: value}).check()


def test_recipe_check_takes_json_forms_of_the_right_types():
    TrainConfig(lr=1, vae_channels=[16, 64], unet_channels=[16, 32, 64], vae_from="toy").check()  # int for float, list for tuple


def test_two_vae_blocks_give_factor_two_latents_and_the_unet_follows():
    from promptlearn.toyworld.train import build_models

    config = TrainConfig(vae_channels=(16, 64), unet_channels=(16, 32, 64))
    config.check()
    models = build_models(config)
    latents = models["vae"].encode(torch.zeros(1, 3, 32, 32)).latent_dist.mode()
    assert latents.shape == (1, 4, 16, 16) and models["unet"].config.sample_size == 16
    assert models["unet"].config.down_block_types[-1] == "CrossAttnDownBlock2D"  # text still at 4 x 4 only


def test_text_max_length_sets_the_tokenizer_padding_and_the_encoder_positions():
    from promptlearn.toyworld.train import build_models

    models = build_models(TrainConfig(text_max_length=16))
    assert models["tokenizer"].model_max_length == 16
    assert models["text_encoder"].config.max_position_embeddings == 16
    assert len(models["tokenizer"]("a small yellow coin on the right on a white background", padding="max_length",
                                   max_length=16).input_ids) == 16


def test_caption_policy_changes_what_training_captions_name():
    import random

    from promptlearn.toyworld import world

    policy = world.CaptionPolicy(**TrainConfig(caption_policy={"p_background": 1.0, "p_position": 0.0}).caption_policy)
    rng = random.Random(0)
    captions = [world.caption(world.random_scene(rng), rng, policy) for _ in range(50)]
    assert all("background" in c for c in captions) and not any(p in c for c in captions for p in world.POSITION_PHRASES.values())


def test_a_run_saved_before_a_field_was_added_resumes_with_the_value_it_was_trained_with():
    from dataclasses import asdict

    from promptlearn.toyworld.train import _same_recipe

    saved = asdict(TrainConfig(unet_steps=800, text_max_length=77, text_attribute_weight=0.0))
    del saved["text_max_length"], saved["caption_policy"], saved["text_attribute_weight"], saved["unet_text_film"]
    # a run folder from before these fields existed was trained at 77 tokens, without the auxiliary loss
    assert _same_recipe(saved, TrainConfig(unet_steps=800, text_max_length=77, text_attribute_weight=0.0))
    assert not _same_recipe(saved, TrainConfig(unet_steps=800))  # today's defaults: 16 tokens, attribute loss
    assert not _same_recipe(saved, TrainConfig(unet_steps=900, text_max_length=77, text_attribute_weight=0.0))
    assert not _same_recipe({**saved, "retired_field": 1}, TrainConfig(unet_steps=800, text_max_length=77, text_attribute_weight=0.0))
    assert _same_recipe(asdict(TrainConfig()), TrainConfig())
    # how often state.pt is written is not the recipe: a run checkpointed every 100 steps resumes at 500
    assert _same_recipe(asdict(TrainConfig(checkpoint_every=100)), TrainConfig(checkpoint_every=500))


def test_attribute_probe_scores_only_what_each_caption_names():
    from promptlearn.toyworld import world
    from promptlearn.toyworld.train import AttributeProbe

    torch.manual_seed(0)
    probe = AttributeProbe(8)
    hidden = torch.randn(3, 5, 8, requires_grad=True)
    texts = ["a crimson ball on the left", "", "a red shape"]  # 3 + 0 + 1 named attributes
    loss = probe.loss(hidden, texts)
    loss.backward()
    assert torch.isfinite(loss) and hidden.grad[1].abs().sum() == 0  # the dropped caption gets no gradient
    assert hidden.grad[0].abs().sum() > 0 and hidden.grad[2].abs().sum() > 0
    assert probe.heads["position"].weight.grad.abs().sum() > 0
    assert probe.heads["background"].weight.grad is None  # no caption names one
    assert probe.values["position"] == sorted(world.POSITIONS)
    assert probe.loss(hidden, [""] * 3) == 0


def test_attribute_probe_labels_implicit_words_as_their_concept():
    from promptlearn.toyworld.train import AttributeProbe

    torch.manual_seed(0)
    probe = AttributeProbe(8)
    hidden = torch.randn(2, 5, 8)
    # "crimson ball" is red circle: the same loss as the explicit caption for the same text states
    assert torch.equal(probe.loss(hidden, ["a crimson ball", "a scarlet disc"]), probe.loss(hidden, ["a red circle", "a red circle"]))


@pytest.mark.slow
def test_vae_latent_noise_changes_what_the_vae_phase_decodes(tmp_path):
    from promptlearn.toyworld.train import STATE_FILE, train

    torch.set_num_threads(1)
    first_losses = []
    for noise in (0.0, 0.5):
        out = tmp_path / f"noise-{noise}"
        config = TrainConfig(vae_steps=2, decoder_steps=1, decoder_extend=0.0, unet_steps=1, vae_latent_noise=noise)
        with pytest.raises(InputError, match="round trip keeps"):  # two steps cannot pass the gate
            train(out, config, progress=False)
        saved = torch.load(out / STATE_FILE, weights_only=False)
        assert saved["config"]["vae_latent_noise"] == noise
        first_losses.append([loss for _, loss in saved["state"]["losses"]["vae"]])
    # same seed, same batches: the first step (before any update) differs only by the noise
    assert first_losses[0][0] != first_losses[1][0]


@pytest.mark.slow
def test_the_gate_and_the_unet_see_the_vae_in_the_precision_it_ships(tmp_path):
    """After the decoder phase the VAE's weights are rounded to fp16 (export()'s precision) before the gate, so a
    one-command run trains its UNet on the same latents as a run with --vae-from its exported folder."""
    from promptlearn.toyworld.train import STATE_FILE, _same_recipe, train

    torch.set_num_threads(1)
    exact = {}
    for rounded in (True, False):
        out = tmp_path / str(rounded)
        config = TrainConfig(vae_steps=2, decoder_steps=1, decoder_extend=0.0, unet_steps=1, vae_fp16_for_unet=rounded)
        with pytest.raises(InputError, match="round trip keeps"):  # two steps cannot pass the gate
            train(out, config, progress=False)
        vae = torch.load(out / STATE_FILE, weights_only=False)["vae"]
        exact[rounded] = all(torch.equal(v, v.half().float()) for v in vae.values())
    assert exact == {True: True, False: False}
    # a run folder saved before the option existed trained on the unrounded VAE, and resumes so
    from dataclasses import asdict

    saved = asdict(TrainConfig())
    del saved["vae_fp16_for_unet"]
    assert _same_recipe(saved, TrainConfig(vae_fp16_for_unet=False)) and not _same_recipe(saved, TrainConfig())


@pytest.mark.slow
def test_a_run_killed_in_the_unet_phase_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """Every batch is a function of (seed, step) and state.pt holds the weights, the optimiser and the EMA: a run
    killed after step 5 resumes from its step-4 checkpoint and ends bit for bit where the unbroken run does."""
    import promptlearn.toyworld.train as trainer

    torch.set_num_threads(1)
    config = TrainConfig(vae_from="toy", unet_steps=6, checkpoint_every=2)
    trainer.train(tmp_path / "whole", config, progress=False)
    record_step = trainer._record_step

    def killed_after_step_5(state, phase, *args):
        record_step(state, phase, *args)
        if phase == "unet" and state.step == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "_record_step", killed_after_step_5)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(tmp_path / "killed", config, progress=False)
    monkeypatch.setattr(trainer, "_record_step", record_step)
    assert torch.load(tmp_path / "killed" / trainer.STATE_FILE, weights_only=False)["state"]["step"] == 4
    trainer.train(tmp_path / "killed", config, progress=False)
    whole, resumed = (torch.load(tmp_path / run / trainer.STATE_FILE, weights_only=False) for run in ("whole", "killed"))
    assert resumed["state"]["losses"]["unet"] == whole["state"]["losses"]["unet"]
    assert len(whole["state"]["losses"]["unet"]) == 6
    for part in ("unet", "text_encoder", "ema"):
        assert all(torch.equal(resumed[part][k], whole[part][k]) for k in whole[part]), part


def test_an_interrupted_train_command_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import promptlearn.toyworld.train as trainer

    def interrupted(out, config, progress):
        (out / trainer.STATE_FILE).parent.mkdir(parents=True, exist_ok=True)
        (out / trainer.STATE_FILE).write_bytes(b"")  # a checkpoint was written before the interrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", interrupted)
    code = main(["toy-world", "train", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130 and "resumes from the last checkpoint" in err and "Traceback" not in err


def test_the_shipped_checkpoints_training_record_is_todays_default_recipe():
    """docs/ says `promptlearn toy-world train --out DIR` retrains the shipped checkpoint bit for bit: its
    recorded configuration must be TrainConfig()'s, and its recorded size the shipped folder's."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from promptlearn.toyworld.train import _same_recipe

    root = Path(__file__).resolve().parents[1]
    record = json.loads((root / "docs" / "toy-world-train-record.json").read_text())
    assert _same_recipe(record["config"], TrainConfig()), "TrainConfig's defaults changed: retrain the checkpoint, or record why"
    assert set(record["config"]) == set(asdict(TrainConfig()))
    shipped = root / "promptlearn" / "toyworld" / "checkpoint"
    assert record["model_bytes"] == sum(p.stat().st_size for p in shipped.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_run_stopped_after_its_decoder_passed_the_round_trip_resumes_past_the_decoder(tmp_path, monkeypatch):
    """The decoder phase stops at its first 360/360 check; a run killed between that check and the end of the
    phase must not train the decoder further on resume (the unbroken run did not)."""
    import promptlearn.toyworld.train as trainer

    torch.set_num_threads(1)
    calls = []

    def intact(vae, pixels, latents=None):  # every check passes; the second call (after the fp16 rounding) is killed
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"intact": len(pixels), "scenes": len(pixels), "failures": []}

    monkeypatch.setattr(trainer, "round_trip", intact)
    config = TrainConfig(vae_steps=1, decoder_steps=3, decoder_extend=0.0, round_trip_every=1, unet_steps=1)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(tmp_path / "run", config, progress=False)
    trainer.train(tmp_path / "run", config, progress=False)
    saved = torch.load(tmp_path / "run" / trainer.STATE_FILE, weights_only=False)
    assert [step for step, _ in saved["state"]["losses"]["decoder"]] == [1]
    assert saved["state"]["phase"] == "done"
