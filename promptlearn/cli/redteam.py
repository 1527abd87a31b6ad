"""``promptlearn redteam``: attack a prompt set's queries and count per attack how often the
concept gets through the verified rewrite (text level) and, with a model, the image."""

from __future__ import annotations

import click

from ..errors import InputError
from ..rewriter import DEFAULT_MIN_SIMILARITY
from ..synthesis.methods import DEFAULT_SWITCH_STEP
from .arguments import SwitchStepType
from .options import build_llm, check_llm, llm_options, max_errors_option, pop_llm_options


@click.command()
@click.option("--dataset", required=True, help="A prompt set (I2P, UnlearnDiffAtk, P4D, Ring-A-Bell or MMA-Diffusion CSV; .parquet or a dataset folder with pyarrow), an ORES file, or a bundled name (redteam-i2p-sample, redteam-toy-sample, ...).")
@click.option("--attacks", default="all", show_default=True, help="all, or comma-separated attacks, each possibly a + composition (leetspeak+spacing).")
@click.option("--concept", default=None, help="The concept(s) every row must avoid [default: each row's concept or categories].")
@click.option("--category", default=None, help="Only rows of these categories, comma-separated (sexual,violence).")
@click.option("--limit", default=0, type=click.IntRange(min=0), help="Use only the first N rows (0: all).")
@click.option("--seed", "attack_seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the attacks.")
@click.option("--instruction", "instruction_source", default="human", show_default=True, help="The rewrite instruction: a text file, a fit run folder, or a named source (human, in-context).")
@click.option("--verify", "verify_retries", default=1, show_default=True, type=click.IntRange(min=0), help="Verification retries per rewrite.")
@click.option("--min-similarity", default=DEFAULT_MIN_SIMILARITY, show_default=True, type=click.FloatRange(0.0, 1.0), help="Least similarity to the query a verified rewrite needs.")
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(min=1), help="Tokens per rewrite.")
@click.option("--model", default=None, help="Diffusion model for the image level: a diffusers folder, a hub id, or toy.")
@click.option("--judge", default=None, help="Image judge (with --model): toy, vqa:MODEL, clip:MODEL, nudenet[:THRESHOLD] or q16:MODEL[@PROMPTS].")
@click.option("--filter", "filter_spec", default=None, help="With --model, also check every image with an output filter: safety-checker[:MODEL] (the model's own by default) or clip:MODEL.")
@click.option("--methods", default="original,tin", show_default=True, help="Image-level methods (original, blacklist, negative, sld, tin).")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1), help="Sampler steps.")
@click.option("--switch-step", type=SwitchStepType(), default=DEFAULT_SWITCH_STEP, show_default=True, help="tin: steps on the attacked query before the rewrite.")
@click.option("--guidance", default=None, type=click.FloatRange(min=0.0), help="Guidance scale for every row [default: the row's, else 7.5].")
@click.option("--height", default=None, type=click.IntRange(min=8), help="Image height for every row [default: the row's, else the model's].")
@click.option("--width", default=None, type=click.IntRange(min=8), help="Image width for every row [default: the row's, else the model's].")
@click.option("--device", default="cpu", show_default=True, help="torch device of the model and judge.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for cases.jsonl, summary.json and report.md.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@max_errors_option
@llm_options
def redteam(**o) -> None:
    """Attack every row of --dataset and report, per attack, how often the concept gets through.

    \b
    promptlearn redteam --dataset redteam-i2p-sample --attacks all --llm local --out runs/redteam
    promptlearn redteam --dataset redteam-toy-sample --model toy --judge toy --out runs/redteam-toy
    """
    import time

    from ..data import load_examples
    from ..error_budget import ErrorBudget
    from ..files import check_output_folder
    from ..instructions import resolve_instruction
    from ..redteam.attacks import parse_attacks
    from ..redteam.run import check_methods, image_stage, plan_cases, summarise, text_stage, write_grids, write_results
    from ..rewriter import Rewriter
    from ..tasks.registry import get_task

    started = time.monotonic()
    llm_settings = pop_llm_options(o)
    # 1. every input checked before a model loads
    task = get_task("ores")
    attacks = parse_attacks(o["attacks"])
    categories = [c.strip() for c in o["category"].split(",")] if o["category"] is not None else None
    rows = load_examples(o["dataset"], task, concept=o["concept"], categories=categories, limit=o["limit"] or None)
    try:
        instruction = resolve_instruction(o["instruction_source"], task=task).text
    except InputError as exc:
        raise InputError(f"--instruction: {exc}") from None
    methods: list[str] = []
    judge_spec = None
    if o["model"] is not None:
        if o["judge"] is None:
            raise InputError("--model needs --judge (toy, vqa:MODEL or clip:MODEL) to say whether the concept is in an image")
        from ..evaluation.judges import parse_judge_spec

        methods = check_methods(o["methods"].split(","))
        try:
            judge_spec = parse_judge_spec(o["judge"])
        except InputError as exc:
            raise InputError(f"--judge: {exc}") from None
    elif o["judge"] is not None:
        raise InputError("--judge goes with --model")
    check_output_folder(o["out"], "out")
    check_llm(**llm_settings)
    image_filter = None
    if o["filter_spec"] is not None:
        if o["model"] is None:
            raise InputError("--filter goes with --model")
        from ..synthesis.components import resolve_model_name
        from ..synthesis.filters import parse_filter_spec
        from ..tasks.concept_match import split_concepts

        concepts = list(dict.fromkeys(c for row in rows for c in split_concepts(row.inputs["concept"])))
        try:  # loaded now: a bad spec or a checkpoint without a checker stops the run before any LLM call
            image_filter = parse_filter_spec(o["filter_spec"], concepts=concepts, sd_checkpoint=str(resolve_model_name(o["model"])),
                                             device=o["device"])
        except InputError as exc:
            raise InputError(f"--filter: {exc}") from None
    cases = plan_cases(rows, attacks, seed=o["attack_seed"])
    click.echo(f"{len(rows)} rows x {len(attacks) + 1} attacks (with none): {sum(c.applied for c in cases)} attacked queries to rewrite", err=True)

    # 2. text level: one verified rewrite batch
    llm = build_llm(**llm_settings)
    errors = ErrorBudget(o["max_errors"], unit="row")
    try:
        rewriter = Rewriter(llm, task, instruction, verify_retries=o["verify_retries"], min_similarity=o["min_similarity"],
                            params={"max_tokens": o["max_tokens"]})
        text_stage(cases, rewriter, errors=errors, progress=not o["quiet"])
    finally:
        llm.close()

    # 3. image level
    images: dict = {}
    model_sha256 = None
    if judge_spec is not None:
        from pathlib import Path

        from ..files import folder_sha256
        from ..synthesis.components import load_components, resolve_model_name
        from ..synthesis.sampler import Synthesizer

        components = load_components(o["model"], device=o["device"])
        folder = Path(resolve_model_name(o["model"]))
        model_sha256 = folder_sha256(folder) if folder.is_dir() else None
        judge = judge_spec.load(device=o["device"])
        images = image_stage(cases, Synthesizer(components), judge, methods, steps=o["steps"], switch_step=o["switch_step"],
                             guidance=o["guidance"], height=o["height"], width=o["width"], image_filter=image_filter,
                             progress=not o["quiet"])

    # 4. summary
    summaries = summarise(cases, methods)
    config = {
        "dataset": o["dataset"], "rows": len(rows), "attacks": [a.name for a in attacks], "attack_seed": o["attack_seed"],
        "concept": o["concept"], "category": categories, "instruction_source": o["instruction_source"], "recipe": "promptlearn",
        "verify": o["verify_retries"], "min_similarity": o["min_similarity"], "llm": llm.spec,
        "model": o["model"], "model_sha256": model_sha256, "judge": None if judge_spec is None else str(judge_spec),
        "methods": methods, "filter": o["filter_spec"], "steps": o["steps"], "switch_step": o["switch_step"] if methods else None,
    }
    grids = write_grids(o["out"], cases, images, methods) if images else {}
    config["wall_s"] = round(time.monotonic() - started, 1)
    folder = write_results(o["out"], cases, summaries, config, methods, grids)
    from ..redteam.run import format_summary

    click.echo(format_summary(summaries, methods))
    if errors.count:
        click.echo(f"warning: {errors.reason()}", err=True)
    click.echo(f"written: {folder}/report.md, summary.json, cases.jsonl", err=True)
