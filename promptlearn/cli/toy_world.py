"""``promptlearn toy-world``: train, render and measure the toy world (see docs/toy-world.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..toyworld import POSITION_EMBEDDINGS, PREDICTION_TYPES


@click.group("toy-world")
def toy_world() -> None:
    """The toy world: one coloured shape on a plain background, a small text-to-image model trained
    on it on the CPU (shipped as --model toy), and its exact judge (--judge toy)."""


@toy_world.command("train")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder; rerunning into it resumes from its last checkpoint.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--vae-steps", default=None, type=click.IntRange(min=1), help="VAE (encoder + decoder) steps [default: 500].")
@click.option("--decoder-steps", default=None, type=click.IntRange(min=1), help="Decoder steps at most; stops at the first 360/360 round trip [default: 1800].")
@click.option("--unet-steps", default=None, type=click.IntRange(min=1), help="Text encoder + UNet steps [default: the recipe's, 12000].")
@click.option("--prediction-type", default=None, type=click.Choice(PREDICTION_TYPES), help="What the UNet predicts [default: the recipe's].")
@click.option("--zero-snr/--no-zero-snr", default=None, help="Rescale the betas to zero terminal SNR and sample with trailing timesteps (needs v_prediction) [default: the recipe's].")
@click.option("--offset-noise", default=None, type=click.FloatRange(0, 1, max_open=True), help="Offset noise strength [default: the recipe's].")
@click.option("--offset-noise-from", default=None, type=click.IntRange(0, 999), help="Apply the offset noise at the timesteps >= this only [default: 0, all].")
@click.option("--vae-from", default=None, help="Reuse the VAE of a trained toy folder (OUT/model of an earlier run, or toy: the shipped one) instead of the VAE and decoder phases; the round-trip gate still applies.")
@click.option("--unet-position", default=None, type=click.Choice(POSITION_EMBEDDINGS), help="none: the stock UNet2DConditionModel; learned: a learned 2-D positional embedding after conv_in (ToyUNet2DConditionModel); learned-attention: also one before every cross-attention; text-map: learned, plus a map read from the caption (mean text state -> linear) added there [default: the recipe's].")
@click.option("--attention-levels", "unet_attention_levels", default=None, type=click.IntRange(min=1), help="The coarsest UNet levels that cross-attend to the text, plus the mid block [default: the recipe's].")
@click.option("--text-max-length", default=None, type=click.IntRange(8, 77), help="Tokens the tokenizer pads to and the text encoder reads (CLIP: 77; the toy captions need 13) [default: the recipe's].")
@click.option("--text-attribute-weight", default=None, type=click.FloatRange(min=0), help="Weight of an auxiliary loss making the text encoder's mean state predict each attribute its caption names (0: off) [default: the recipe's].")
@click.option("--caption-policy", "caption_policy", multiple=True, metavar="FIELD=P", help="How often training captions name an attribute, e.g. p_background=0.8 (fields of toyworld.world.CaptionPolicy); repeatable.")
@click.option("--vae-channels", default=None, metavar="C,C[,C]", help="VAE block widths; 2 blocks give factor-2 (16 x 16) latents, 3 factor 4 (8 x 8) [default: the recipe's, 16,64].")
@click.option("--unet-channels", default=None, metavar="C,C[,C]", help="UNet level widths, one level per halving of the latent side (32,64 for --vae-channels 16,32,64) [default: the recipe's, 16,32,64].")
@click.option("--vae-latent-noise", default=None, type=click.FloatRange(0, 1, max_open=True), help="Noise (x the latent std) added to the latents the VAE phase decodes, so that the encoder keeps scenes, small shapes too, apart by more than it [default: the recipe's].")
@click.option("--decoder-latent-noise", default=None, type=click.FloatRange(0, 1, max_open=True), help="Noise (x the latent std) the decoder phase learns to ignore [default: the recipe's].")
@click.option("--high-noise-share", default=None, type=click.FloatRange(0, 1), help="Share of each batch drawn from the timesteps >= --high-noise-from [default: 0].")
@click.option("--high-noise-floor", "high_noise_weight_floor", default=None, type=click.FloatRange(min=0), help="Loss weight at least this at the timesteps >= --high-noise-from [default: the recipe's, 0.05].")
@click.option("--high-noise-from", default=None, type=click.IntRange(0, 999), help="First high-noise timestep [default: the recipe's, 940].")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--no-progress", is_flag=True)
def train_command(out: Path, seed: int, vae_steps: int | None, decoder_steps: int | None, unet_steps: int | None,
                  prediction_type: str | None, zero_snr: bool | None, offset_noise: float | None,
                  offset_noise_from: int | None, vae_from: str | None, unet_position: str | None,
                  unet_attention_levels: int | None, text_max_length: int | None,
                  text_attribute_weight: float | None, caption_policy: tuple[str, ...], vae_channels: str | None,
                  unet_channels: str | None, vae_latent_noise: float | None,
                  decoder_latent_noise: float | None, high_noise_share: float | None, high_noise_weight_floor: float | None,
                  high_noise_from: int | None, threads: int, no_progress: bool) -> None:
    """Train the toy checkpoint from scratch on the CPU into OUT (model in OUT/model, loss curve OUT/loss.png).

    Phases: VAE, decoder (then the gate: every scene must survive an encode/decode round trip, toy judge),
    text encoder + UNet. Install the result with:
    rm -r promptlearn/toyworld/checkpoint && cp -r OUT/model promptlearn/toyworld/checkpoint"""
    from ..errors import InputError
    from ..toyworld.train import STATE_FILE, TrainConfig, train

    config = TrainConfig(seed=seed, threads=threads)
    if vae_steps is not None:
        config.vae_steps = vae_steps
    if decoder_steps is not None:
        config.decoder_steps = decoder_steps
    if unet_steps is not None:
        config.unet_steps = unet_steps
    for name, value in (("prediction_type", prediction_type), ("zero_snr", zero_snr), ("offset_noise", offset_noise),
                        ("offset_noise_from", offset_noise_from), ("vae_from", vae_from), ("unet_position", unet_position),
                        ("unet_attention_levels", unet_attention_levels), ("text_max_length", text_max_length),
                        ("text_attribute_weight", text_attribute_weight), ("vae_latent_noise", vae_latent_noise),
                        ("decoder_latent_noise", decoder_latent_noise),
                        ("high_noise_share", high_noise_share), ("high_noise_weight_floor", high_noise_weight_floor),
                        ("high_noise_from", high_noise_from)):
        if value is not None:
            setattr(config, name, value)
    for flag, name, text in (("--vae-channels", "vae_channels", vae_channels), ("--unet-channels", "unet_channels", unet_channels)):
        if text is not None:
            try:
                setattr(config, name, tuple(int(part) for part in text.split(",")))
            except ValueError:
                raise InputError(f"{flag} {text!r}: give widths separated by commas, e.g. 16,32,64") from None
    for item in caption_policy:
        name, _, text = item.partition("=")
        try:
            config.caption_policy[name.strip()] = float(text)
        except ValueError:
            raise InputError(f"--caption-policy {item!r}: give FIELD=P, e.g. p_background=0.8") from None
    try:
        model = train(out, config, progress=not no_progress)
    except KeyboardInterrupt:
        if (out / STATE_FILE).exists():
            click.echo(f"{out}: the same command with the same options resumes from the last checkpoint", err=True)
        raise
    click.echo(f"model: {model}")
    click.echo(f"record: {out / 'record.json'}  loss curve: {out / 'loss.png'}")


@toy_world.command("render")
@click.argument("caption")
@click.option("--seed", default=0, show_default=True, type=int, help="Decides what the caption leaves out.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def render_command(caption: str, seed: int, out: Path) -> None:
    """Render the exact image of CAPTION (attributes it leaves out drawn from --seed)."""
    import random

    from ..files import atomic_write_bytes
    from ..toyworld import world
    from ..errors import InputError

    named = world.parse_caption(caption)
    if not named:
        raise InputError(f"caption {caption!r} names nothing of the toy world (colours, shapes, positions, sizes, backgrounds)")
    rng = random.Random(seed)
    scene = world.random_scene(rng)
    scene = world.Scene(**{a: named.get(a, getattr(scene, a)) for a in world.ATTRIBUTES})
    import io

    buffer = io.BytesIO()
    world.render_pil(scene).save(buffer, format="PNG")
    atomic_write_bytes(out, buffer.getvalue())
    click.echo(f"{out}: {scene}")


@toy_world.command("eval")
@click.option("--model", default="toy", show_default=True, help="Toy checkpoint folder or the embedded 'toy'.")
@click.option("--samples", default=200, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--guidance", default=7.5, show_default=True, type=float)
@click.option("--guidance-rescale", default=0.0, show_default=True, type=click.FloatRange(0, 1), help="diffusers' guidance_rescale (for zero-terminal-SNR models).")
@click.option("--out", default=None, type=click.Path(file_okay=False, path_type=Path), help="Folder for fidelity.json and a sample grid.")
def eval_command(model: str, samples: int, seed: int, steps: int, guidance: float, guidance_rescale: float, out: Path | None) -> None:
    """Measure the judge's accuracy on rendered images and the model's fidelity to captions."""
    from ..files import atomic_write_json
    from ..synthesis.components import load_components
    from ..toyworld.fidelity import judge_accuracy, model_fidelity

    accuracy = judge_accuracy()
    click.echo(f"judge accuracy on rendered images (toy judge): {accuracy['correct']}/{accuracy['questions']} = {accuracy['accuracy']:.4f}")
    components = load_components(model, scheduler="ddim")
    result = model_fidelity(components, samples=samples, seed=seed, steps=steps, guidance=guidance,
                            guidance_rescale=guidance_rescale)
    for attribute, row in result["per_attribute"].items():
        share = "n/a" if row["share"] is None else f"{row['share']:.3f}"
        click.echo(f"fidelity {attribute:<10} {row['shown']}/{row['asked']} = {share}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        from ..toyworld.plots import caption_grid

        caption_grid(result["images"][:40], result["captions"][:40], out / "fidelity-samples.png")
        record = {k: v for k, v in result.items() if k not in ("images",)}
        record["judge_accuracy"] = {k: v for k, v in accuracy.items()}
        record["model"] = str(model)
        atomic_write_json(out / "fidelity.json", record)
        click.echo(f"wrote {out / 'fidelity.json'}")
