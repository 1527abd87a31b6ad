"""``promptlearn generate``: one query through one method (or several side by side) on a Stable
Diffusion checkpoint, written atomically as an image or a captioned grid."""

from __future__ import annotations

import math
from pathlib import Path

import click

from ..errors import InputError
from ..synthesis.methods import DEFAULT_SWITCH_STEP, INITIAL, LEARNED
from .arguments import SwitchStepType
from .options import build_llm, llm_options, pop_llm_options


@click.command()
@click.option("--model", default=None, help="Diffusers Stable Diffusion (1.x, 2.x, XL) folder, hub id, or toy [default: toy, the embedded toy-world model; said on stderr].")
@click.option("--query", required=True, help="The user's query.")
@click.option("--concept", "concepts", multiple=True, help="A concept the image must not show (repeatable).")
@click.option("--method", default=None, help="A method of `promptlearn methods` [default: original].")
@click.option("--compare", default=None, help="Comma-separated methods shown side by side, e.g. original,blacklist,negative,sld,tin.")
@click.option("--rewrite", default=None, help="The rewritten query, for methods that rewrite with the learned instruction (tin).")
@click.option("--instruction", default=None,
              help="The learned instruction (a file, a fit run folder, or human); the query is rewritten on the fly with --llm.")
@click.option("--initial-instruction", default=None,
              help="The initial instruction for tin-no-instruction [default: --instruction's fit run's initial one].")
@click.option("--task", "task_name", default="ores", show_default=True, help="Task whose rewrite prompt, parser and check are used.")
@click.option("--verify", "verify_retries", default=0, show_default=True, type=click.IntRange(min=0),
              help="Check each on-the-fly rewrite and ask again with the failure shown, up to N times.")
@click.option("--switch-step", type=SwitchStepType(), default=DEFAULT_SWITCH_STEP, show_default=True,
              help="tin: steps conditioned on the query (int in [0, steps]) or a fraction of the steps (float in [0, 1]).")
@click.option("--steps", default=20, show_default=True, type=int, help="Sampler steps.")
@click.option("--guidance", default=7.5, show_default=True, type=float, help="Classifier-free guidance scale.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the first image.")
@click.option("--num-images", default=1, show_default=True, type=click.IntRange(min=1), help="Images per method (seeds seed, seed+1, ...).")
@click.option("--negative-prompt", default=None, help="A negative prompt added to every method.")
@click.option("--sld-preset", type=click.Choice(["weak", "medium", "strong", "max"]), default="medium", show_default=True)
@click.option("--negative-weight", type=click.FloatRange(min=0), default=None,
              help="negative: give the concepts their own guidance branch with this weight (alpha): "
                   "uncond + s(cond - uncond) - alpha(neg - uncond) [default: the concepts replace the unconditional branch].")
@click.option("--feedback-liked", multiple=True, type=click.Path(dir_okay=False), help="FABRIC: a liked image (repeatable).")
@click.option("--feedback-disliked", multiple=True, type=click.Path(dir_okay=False), help="FABRIC: a disliked image (repeatable).")
@click.option("--feedback-weight", default=0.8, show_default=True, type=float, help="FABRIC: the largest weight of the feedback images' attention (w_max).")
@click.option("--feedback-min-weight", default=0.05, show_default=True, type=float, help="FABRIC: the weight outside the feedback window (w_min).")
@click.option("--feedback-neg-scale", default=0.5, show_default=True, type=float, help="FABRIC: the disliked images' weight relative to the liked ones.")
@click.option("--feedback-rounds", default=1, show_default=True, type=click.IntRange(min=1), help="FABRIC: rounds of --num-images images; after each round the --filter judges them: images it passes are liked, flagged ones disliked, for the next round (needs --filter when > 1; one method).")
@click.option("--feedback-window", default="0.33:0.66", show_default=True, help="FABRIC: the steps that get the full weight, as START:END fractions of the run, 'all' (0:1) or 'first-half' (0:0.5).")
@click.option("--filter", "filter_spec", default=None, help="Output filter, e.g. 'safety-checker' or 'clip:MODEL' (a folder or a hub id).")
@click.option("--acceptable", default=None, help="With --filter clip:MODEL: each concept's acceptable counterpart, 'nudity=a photo of a clothed person;...' or a .json/.tsv file [default: 'a photo without {concept}'].")
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
    from ..synthesis.methods import get_method, parse_methods

    llm_settings = pop_llm_options(kwargs)
    o = kwargs
    if o["model"] is None:
        o["model"] = "toy"
        click.echo("no --model given: using the embedded toy-world model (--model toy)", err=True)
    # 1. check every input before any model loads
    if o["method"] and o["compare"]:
        raise InputError("give --method or --compare, not both")
    names = parse_methods(o["compare"]) if o["compare"] else parse_methods(o["method"] or "original")
    specs = [get_method(name) for name in names]
    if o["rewrite"] is not None and o["instruction"] is not None:
        raise InputError("give --rewrite or --instruction, not both")
    if o["rewrite"] is not None and not o["rewrite"].strip():
        raise InputError("empty rewrite (--rewrite)")
    _check_cheap_inputs(o, specs)
    sources = _instruction_sources(o, specs)
    task, instructions = _resolve_instructions(o, sources)
    if sources:
        from .options import check_llm

        check_llm(**llm_settings)  # provider, key and --api-base before any model loads

    # 2. rewrite on the fly (the one rewrite path: the Rewriter with the task's prompt), then let the LLM go
    rewrites: dict[str, str] = {}
    if o["rewrite"] is not None:
        rewrites[LEARNED] = o["rewrite"].strip()
    if instructions:
        rewrites.update(_rewrite_on_the_fly(o, llm_settings, task, instructions))

    # 3. sample
    from ..synthesis.components import load_components
    from ..synthesis.sampler import Synthesizer

    fabric = _fabric(o)
    output_filter = _output_filter(o)
    components = load_components(o["model"], device=o["device"], dtype=o["dtype"], scheduler=o["scheduler"])
    _report_long_rewrites(components, specs, rewrites)
    synthesizer = Synthesizer(components, progress=o["progress"])
    if o["feedback_rounds"] > 1:
        _feedback_rounds(synthesizer, specs[0], o, rewrites, output_filter)
        return
    seeds = list(range(o["seed"], o["seed"] + o["num_images"]))
    results = {spec.name: _run_method(synthesizer, spec, o, rewrites, fabric, seeds) for spec in specs}
    tiles, captions = [], []
    for index, seed in enumerate(seeds):  # rows: seeds, columns: methods
        for spec in specs:
            tiles.append(results[spec.name].images[index])
            captions.append(_caption(spec, o, seed if len(seeds) > 1 else None))
    if output_filter is not None:
        tiles, captions = _apply_filter(output_filter, tiles, captions)
    _write(tiles, captions, columns=len(specs), out=o["out"])
    click.echo(str(Path(o["out"])))


def _check_cheap_inputs(o: dict, specs: list) -> None:
    """Everything that can be checked before loading a model or an LLM."""
    from ..synthesis.components import parse_device, scheduler_class_name
    from ..synthesis.grid import image_format

    if not o["query"].strip():
        raise InputError("empty query (--query)")
    if o["steps"] <= 0:
        raise InputError(f"--steps must be a positive integer, got {o['steps']}")
    if o["seed"] < 0:
        raise InputError(f"--seed must be >= 0, got {o['seed']}")
    guidance = o["guidance"]
    if not math.isfinite(guidance) or guidance < 0:
        raise InputError(f"--guidance must be >= 0, got {guidance}")
    for spec in specs:
        spec.check(concepts=o["concepts"], guidance=guidance, switch_step=o["switch_step"], num_steps=o["steps"], check_rewrite=False)
    image_format(o["out"])
    from ..files import check_output_file

    check_output_file(o["out"], "--out")  # before sampling, not when the image is written
    _check_guidance(o)
    parse_feedback_window(o["feedback_window"])
    if o["feedback_rounds"] > 1:
        if o["filter_spec"] is None:
            raise InputError("--feedback-rounds > 1 needs --filter: it judges each round (passed: liked, flagged: disliked)")
        if len(specs) > 1:
            raise InputError("--feedback-rounds > 1 runs one method: give --method, not --compare")
    if o["scheduler"] is not None:
        scheduler_class_name(o["scheduler"])
    parse_device(o["device"])


def _instruction_sources(o: dict, specs: list) -> dict[str, tuple[str, str]]:
    """Where each needed instruction comes from (method role -> (source, resolver role), through the
    library's one mapping); one line for a rewriting method that has neither a rewrite nor an instruction."""
    from ..instructions import method_instruction_source

    needed = {spec.instruction for spec in specs if spec.instruction is not None}
    sources: dict[str, tuple[str, str]] = {}
    for role in sorted(needed):
        users = ", ".join(spec.name for spec in specs if spec.instruction == role)
        if role == LEARNED and o["rewrite"] is not None:
            continue
        try:
            source = method_instruction_source(role, instruction=o["instruction"], initial_instruction=o["initial_instruction"])
        except InputError:
            raise InputError(f"method {users} rewrites with the {role!r} instruction, which generate cannot read") from None
        if source is None and role == INITIAL:
            raise InputError(f"method {users} rewrites with the initial instruction: give --initial-instruction SOURCE, "
                             "or --instruction FIT_RUN_FOLDER, with --llm SPEC")
        if source is None:
            raise InputError(f"method {users} needs --rewrite, or --instruction SOURCE with --llm SPEC")
        sources[role] = source
    if sources and not any(c.strip() for c in o["concepts"]):
        raise InputError("rewriting with an instruction needs the concept (--concept)")
    return sources


def _resolve_instructions(o: dict, sources: dict[str, tuple[str, str]]):
    from ..instructions import resolve_instruction
    from ..tasks.registry import get_task

    if not sources:
        return None, {}
    task = get_task(o["task_name"])
    instructions = {}
    for role, (source, resolver_role) in sources.items():
        flag = "--initial-instruction" if source == o["initial_instruction"] else "--instruction"
        try:
            instructions[role] = resolve_instruction(source, task=task, role=resolver_role).text
        except InputError as exc:
            raise InputError(f"{flag}: {exc}") from None
    return task, instructions


def _check_guidance(o: dict) -> None:
    """Options that need classifier-free guidance get it (methods say so in the registry)."""
    guidance = o["guidance"]
    if guidance > 1.0:
        return
    if o["negative_prompt"]:
        raise InputError(f"--negative-prompt needs classifier-free guidance (--guidance > 1), got {guidance}")
    if o["feedback_disliked"]:
        raise InputError(f"--feedback-disliked needs classifier-free guidance (--guidance > 1), got {guidance}")


def _fabric(o: dict):
    if not o["feedback_liked"] and not o["feedback_disliked"]:
        return None
    from ..synthesis.interventions.fabric import Fabric

    return Fabric(liked=o["feedback_liked"], disliked=o["feedback_disliked"], **_fabric_options(o))


FEEDBACK_WINDOWS = {"all": (0.0, 1.0), "first-half": (0.0, 0.5)}
"""Named FABRIC step windows (the FABRIC paper's ablation: feedback at all steps, in the first half)."""


def parse_feedback_window(text: str) -> tuple[float, float]:
    """``all``, ``first-half`` or ``START:END`` (fractions of the run, 0 <= START <= END <= 1)."""
    value = text.strip()
    if value in FEEDBACK_WINDOWS:
        return FEEDBACK_WINDOWS[value]
    start, sep, end = value.partition(":")
    try:
        bounds = (float(start), float(end)) if sep else None
    except ValueError:
        bounds = None
    if bounds is None or not 0.0 <= bounds[0] <= bounds[1] <= 1.0:
        raise InputError(f"bad --feedback-window {text!r}; use START:END fractions (0 <= START <= END <= 1), 'all' or 'first-half'")
    return bounds


def _output_filter(o: dict):
    if o["filter_spec"] is None:
        return None
    from ..synthesis.filters import parse_filter_spec

    from ..synthesis.filters.spec import parse_acceptable

    try:
        acceptable = parse_acceptable(o["acceptable"]) if o["acceptable"] is not None else None
    except InputError as exc:
        raise InputError(f"--acceptable: {exc}") from None
    try:
        return parse_filter_spec(o["filter_spec"], concepts=o["concepts"], sd_checkpoint=o["model"], device=o["device"], acceptable=acceptable)
    except InputError as exc:
        raise InputError(f"--filter: {exc}") from None


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


def _rewrite_on_the_fly(o: dict, llm_settings: dict, task, instructions: dict[str, str]) -> dict[str, str]:
    """One rewrite of the query per instruction, through :class:`~promptlearn.rewriter.Rewriter`
    (the messages ``promptlearn rewrite`` and ``bench`` send for the same inputs)."""
    from ..rewriter import Rewriter

    concept = ", ".join(c.strip() for c in o["concepts"] if c.strip())
    llm = build_llm(**llm_settings)
    out: dict[str, str] = {}
    try:
        for role, instruction in instructions.items():
            result = Rewriter(llm, task, instruction, verify_retries=o["verify_retries"]).rewrite(concept=concept, query=o["query"])
            if not result.output.strip():
                raise InputError(f"the LLM's answer held no rewrite with the {role} instruction (raw: {result.attempts[-1]!r})")
            click.echo(f"rewrite ({role} instruction): {result.output}", err=True)
            if result.passed is False:
                click.echo(f"warning: the {role} rewrite fails the check after {result.retries} retries: {result.problem}", err=True)
            out[role] = result.output.strip()
    finally:
        llm.close()
    return out


def _report_long_rewrites(components, specs: list, rewrites: dict[str, str]) -> None:
    """One line per rewrite longer than the text encoder reads (it is cut), naming its methods."""
    from ..synthesis.conditioning import prompt_window, too_long

    for role, text in rewrites.items():
        count = too_long(components, text)
        users = [spec.name for spec in specs if spec.instruction == role]
        if count is not None and users:
            click.echo(f"warning: {', '.join(users)}: the rewrite is {count} tokens; the text encoder reads "
                       f"{prompt_window(components)}, the rest is cut", err=True)


def _method_settings(o: dict) -> dict:
    """The method settings a method's interventions and caption are made with."""
    return {"switch_step": o["switch_step"], "sld_preset": o["sld_preset"], "negative_weight": o["negative_weight"]}


def _run_method(synthesizer, spec, o: dict, rewrites: dict[str, str], fabric, seeds: list[int]):
    interventions = spec.interventions(concepts=o["concepts"], rewrite=rewrites.get(spec.instruction) if spec.instruction else None,
                                       **_method_settings(o))
    if fabric is not None:
        interventions.append(fabric)
    return synthesizer.generate(
        o["query"], seeds=seeds, interventions=interventions, num_inference_steps=o["steps"],
        guidance_scale=o["guidance"], negative_prompt=o["negative_prompt"], height=o["height"], width=o["width"],
    )


def _fabric_options(o: dict) -> dict:
    start, end = parse_feedback_window(o["feedback_window"])
    return {"feedback_weight": o["feedback_weight"], "min_weight": o["feedback_min_weight"], "neg_scale": o["feedback_neg_scale"],
            "feedback_start_ratio": start, "feedback_end_ratio": end, "seed": o["seed"]}


def _feedback_rounds(synthesizer, spec, o: dict, rewrites: dict[str, str], output_filter) -> None:
    """Several FABRIC rounds (:class:`~promptlearn.synthesis.feedback_loop.FeedbackLoop`): the
    filter's verdicts are the feedback; the grid has a line per round."""
    from ..synthesis.feedback_loop import FeedbackLoop

    interventions = spec.interventions(concepts=o["concepts"], rewrite=rewrites.get(spec.instruction) if spec.instruction else None,
                                       **_method_settings(o))
    loop = FeedbackLoop(synthesizer, o["query"], batch_size=o["num_images"], seed=o["seed"], fabric=_fabric_options(o),
                        interventions=interventions, num_inference_steps=o["steps"], guidance_scale=o["guidance"],
                        negative_prompt=o["negative_prompt"], height=o["height"], width=o["width"])
    loop.give_feedback(liked=list(o["feedback_liked"]), disliked=list(o["feedback_disliked"]))
    verdicts: list[list[bool]] = []

    def judge(result):
        flags = [d.flagged for d in output_filter.check(result.images)]
        verdicts.append(flags)
        return [i for i, f in enumerate(flags) if not f], [i for i, f in enumerate(flags) if f]

    results = loop.run(o["feedback_rounds"], judge)
    verdicts.append([d.flagged for d in output_filter.check(results[-1].images)])
    tiles, captions = [], []
    label = spec.describe(**_method_settings(o))
    for number, (result, flags) in enumerate(zip(results, verdicts), start=1):
        for index, image in enumerate(result.images):
            tiles.append(image)
            captions.append(f"{label}, round {number}, seed {o['seed'] + (number - 1) * o['num_images'] + index}"
                            + (" (flagged)" if flags[index] else ""))
    click.echo(f"feedback rounds: flagged per round {[sum(f) for f in verdicts]} of {o['num_images']}", err=True)
    _write(tiles, captions, columns=o["num_images"], out=o["out"])
    click.echo(str(Path(o["out"])))


def _caption(spec, o: dict, seed: int | None) -> str:
    label = spec.describe(**_method_settings(o))
    if o["feedback_liked"] or o["feedback_disliked"]:
        label += f" + fabric (+{len(o['feedback_liked'])}/-{len(o['feedback_disliked'])})"
    return label if seed is None else f"{label}, seed {seed}"


def _write(tiles: list, captions: list[str], *, columns: int, out: str) -> None:
    from ..synthesis.grid import make_grid, save_image

    if len(tiles) == 1:
        save_image(tiles[0], out)
    else:
        save_image(make_grid(tiles, captions, columns=columns), out)
