"""``promptlearn generate``: one query through one method (or several side by side) on a Stable
Diffusion checkpoint, written atomically as an image or a captioned grid."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ..errors import InputError
from .options import build_llm, llm_options, pop_llm_options


class SwitchStep(click.ParamType):
    """An int (sampler steps) or a float in (0, 1) (a fraction of them)."""

    name = "S"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a step count nor a fraction in (0, 1)", param, ctx)


@click.command()
@click.option("--model", default=None, help="Diffusers Stable Diffusion (1.x, 2.x, XL) folder, hub id, or toy [default: toy, the embedded toy-world model; said on stderr].")
@click.option("--query", required=True, help="The user's query.")
@click.option("--concept", "concepts", multiple=True, help="A concept the image must not show (repeatable).")
@click.option("--method", type=click.Choice(["original", "blacklist", "negative", "sld", "tin"]), default=None,
              help="Intervention to apply [default: original].")
@click.option("--compare", default=None, help="Comma-separated methods shown side by side, e.g. original,blacklist,negative,sld,tin.")
@click.option("--rewrite", default=None, help="The rewritten query for tin.")
@click.option("--instruction", type=click.Path(dir_okay=False), default=None,
              help="File with the learned instruction; the query is rewritten on the fly with --llm.")
@click.option("--switch-step", type=SwitchStep(), default=2, show_default=True,
              help="tin: steps conditioned on the query (int) or a fraction of the steps (float in (0, 1)).")
@click.option("--steps", default=20, show_default=True, type=int, help="Sampler steps.")
@click.option("--guidance", default=7.5, show_default=True, type=float, help="Classifier-free guidance scale.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the first image.")
@click.option("--num-images", default=1, show_default=True, type=click.IntRange(min=1), help="Images per method (seeds seed, seed+1, ...).")
@click.option("--negative-prompt", default=None, help="A negative prompt added to every method.")
@click.option("--sld-preset", type=click.Choice(["weak", "medium", "strong", "max"]), default="medium", show_default=True)
@click.option("--feedback-liked", multiple=True, type=click.Path(dir_okay=False), help="FABRIC: a liked image (repeatable).")
@click.option("--feedback-disliked", multiple=True, type=click.Path(dir_okay=False), help="FABRIC: a disliked image (repeatable).")
@click.option("--filter", "filter_spec", default=None, help="Output filter, e.g. 'safety-checker' or 'clip:PATH'.")
@click.option("--scheduler", default=None, help="Replace the checkpoint's scheduler: ddim, pndm, euler, euler-ancestral, dpm++, lms, heun.")
@click.option("--height", default=None, type=int, help="Image height in pixels [default: the model's].")
@click.option("--width", default=None, type=int, help="Image width in pixels [default: the model's].")
@click.option("--device", default="cpu", show_default=True, help="torch device.")
@click.option("--dtype", default="fp32", show_default=True, type=click.Choice(["fp32", "fp16", "bf16"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output image (.png, .jpg, .webp).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@llm_options
def generate(**kwargs) -> None:
    """Generate images for QUERY with one method, or a side-by-side grid with --compare."""
    from ..synthesis.methods import parse_methods

    llm_settings = pop_llm_options(kwargs)
    o = kwargs
    if o["model"] is None:
        o["model"] = "toy"
        click.echo("no --model given: using the embedded toy-world model (--model toy)", err=True)
    if o["method"] and o["compare"]:
        raise InputError("give --method or --compare, not both")
    methods = parse_methods(o["compare"]) if o["compare"] else [o["method"] or "original"]
    if o["rewrite"] is not None and o["instruction"] is not None:
        raise InputError("give --rewrite or --instruction, not both")
    if o["rewrite"] is not None and not o["rewrite"].strip():
        raise InputError("empty rewrite (--rewrite)")
    if "tin" in methods and o["rewrite"] is None and o["instruction"] is None:
        raise InputError("method tin needs --rewrite, or --instruction FILE with --llm SPEC")
    if "tin" in methods and not o["concepts"] and o["instruction"] is not None:
        raise InputError("rewriting with --instruction needs the concept (--concept)")
    _check_cheap_inputs(o, methods)

    from ..synthesis.components import load_components
    from ..synthesis.sampler import Synthesizer

    fabric = _fabric(o)
    output_filter = _output_filter(o)
    components = load_components(o["model"], device=o["device"], dtype=o["dtype"], scheduler=o["scheduler"])
    synthesizer = Synthesizer(components, progress=o["progress"])
    rewrite = o["rewrite"]
    if "tin" in methods and rewrite is None:
        rewrite = _rewrite_on_the_fly(o, llm_settings)
        click.echo(f"rewrite: {rewrite}", err=True)
    seeds = list(range(o["seed"], o["seed"] + o["num_images"]))
    results = {method: _run_method(synthesizer, method, o, rewrite, fabric, seeds) for method in methods}
    tiles, captions = [], []
    for index, seed in enumerate(seeds):  # rows: seeds, columns: methods
        for method in methods:
            tiles.append(results[method].images[index])
            captions.append(_caption(method, o, seed if len(seeds) > 1 else None))
    if output_filter is not None:
        tiles, captions = _apply_filter(output_filter, tiles, captions)
    _write(tiles, captions, columns=len(methods), out=o["out"])
    click.echo(str(Path(o["out"])))


def _check_cheap_inputs(o: dict, methods: list[str]) -> None:
    """Everything that can be checked before loading a model or an LLM."""
    from ..synthesis.components import parse_device, scheduler_class_name
    from ..synthesis.grid import image_format
    from ..synthesis.interventions.prompt_switch import resolve_switch_step

    if not o["query"].strip():
        raise InputError("empty query (--query)")
    if o["steps"] <= 0:
        raise InputError(f"--steps must be a positive integer, got {o['steps']}")
    if o["seed"] < 0:
        raise InputError(f"--seed must be >= 0, got {o['seed']}")
    if "tin" in methods:
        try:
            resolve_switch_step(o["switch_step"], o["steps"])
        except InputError as exc:
            raise InputError(f"--switch-step: {exc}") from None
    if any(m in methods for m in ("blacklist", "negative", "sld")) and not any(c.strip() for c in o["concepts"]):
        raise InputError("methods blacklist, negative and sld need --concept")
    image_format(o["out"])
    if o["instruction"] is not None and not Path(o["instruction"]).is_file():
        raise InputError(f"instruction file not found: {o['instruction']}")
    _check_guidance(o, methods)
    if o["scheduler"] is not None:
        scheduler_class_name(o["scheduler"])
    parse_device(o["device"])


def _check_guidance(o: dict, methods: list[str]) -> None:
    """What needs classifier-free guidance gets it; SLD is refused rather than silently turned off."""
    guidance = o["guidance"]
    if not math.isfinite(guidance) or guidance < 0:
        raise InputError(f"--guidance must be >= 0, got {guidance}")
    if guidance > 1.0:
        return
    needing = [m for m in methods if m in ("negative", "sld")]
    if needing:
        raise InputError(f"method {', '.join(needing)} needs classifier-free guidance (--guidance > 1), got {guidance}")
    if o["negative_prompt"]:
        raise InputError(f"--negative-prompt needs classifier-free guidance (--guidance > 1), got {guidance}")
    if o["feedback_disliked"]:
        raise InputError(f"--feedback-disliked needs classifier-free guidance (--guidance > 1), got {guidance}")


def _fabric(o: dict):
    if not o["feedback_liked"] and not o["feedback_disliked"]:
        return None
    from ..synthesis.interventions.fabric import Fabric

    return Fabric(liked=o["feedback_liked"], disliked=o["feedback_disliked"], seed=o["seed"])


def _output_filter(o: dict):
    if o["filter_spec"] is None:
        return None
    from ..synthesis.filters import parse_filter_spec

    return parse_filter_spec(o["filter_spec"], concepts=o["concepts"], sd_checkpoint=o["model"], device=o["device"])


def _apply_filter(output_filter, tiles: list, captions: list[str]) -> tuple[list, list[str]]:
    """Black out the images the filter flags (as diffusers' safety checker does) and say so."""
    from PIL import Image

    decisions = output_filter.check(tiles)
    for index, decision in enumerate(decisions):
        if decision.flagged:
            tiles[index] = Image.new("RGB", tiles[index].size, "black")
            captions[index] = f"{captions[index]} [filtered]"
    click.echo(f"filter {output_filter.name}: {sum(d.flagged for d in decisions)}/{len(decisions)} images flagged", err=True)
    return tiles, captions


def _rewrite_on_the_fly(o: dict, llm_settings: dict) -> str:
    from ..synthesis.rewrite_hook import rewrite_query

    try:
        instruction = Path(o["instruction"]).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read instruction file {o['instruction']}: {exc}") from exc
    if not instruction:
        raise InputError(f"instruction file {o['instruction']} is empty")
    llm = build_llm(**llm_settings)
    try:
        return rewrite_query(llm, instruction, ", ".join(o["concepts"]), o["query"])
    finally:
        llm.close()


def _run_method(synthesizer, method: str, o: dict, rewrite: str | None, fabric, seeds: list[int]):
    from ..synthesis.methods import method_interventions

    interventions = method_interventions(method, concepts=o["concepts"], rewrite=rewrite,
                                         switch_step=o["switch_step"], sld_preset=o["sld_preset"])
    if fabric is not None:
        interventions.append(fabric)
    return synthesizer.generate(
        o["query"], seeds=seeds, interventions=interventions, num_inference_steps=o["steps"],
        guidance_scale=o["guidance"], negative_prompt=o["negative_prompt"], height=o["height"], width=o["width"],
    )


def _caption(method: str, o: dict, seed: int | None) -> str:
    label = {"sld": f"sld ({o['sld_preset']})", "tin": f"tin (S={o['switch_step']})"}.get(method, method)
    if o["feedback_liked"] or o["feedback_disliked"]:
        label += f" + fabric (+{len(o['feedback_liked'])}/-{len(o['feedback_disliked'])})"
    return label if seed is None else f"{label}, seed {seed}"


def _write(tiles: list, captions: list[str], *, columns: int, out: str) -> None:
    from ..synthesis.grid import make_grid, save_image

    if len(tiles) == 1:
        save_image(tiles[0], out)
    else:
        save_image(make_grid(tiles, captions, columns=columns), out)
