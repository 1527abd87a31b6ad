"""``promptlearn generate --prompts FILE``: the flags of ``generate`` mapped onto
:func:`promptlearn.synthesis.batch.generate_batch` (the batch logic lives there)."""

from __future__ import annotations

import click

from ..errors import InputError, PromptlearnError
from .options import build_llm

NOT_WITH_PROMPTS = ("rewrite", "feedback_liked", "feedback_disliked", "filter_spec", "acceptable")


def _device(o: dict, executor) -> str | None:
    """``--device``; on GPU actors (``--gpus-per-worker`` > 0) without one given, ``None``: each
    actor takes ``cuda`` when it sees a GPU (generate's own default is cpu)."""
    source = click.get_current_context().get_parameter_source("device")
    if getattr(executor, "gpus_per_worker", 0) and source == click.core.ParameterSource.DEFAULT:
        return None
    return o["device"]


class PromptsFailed(PromptlearnError):
    """Some prompts failed (no manifest): exit code 1; a rerun tries only them again."""

    exit_code = 1


def generate_prompts(o: dict, llm_settings: dict, executor) -> None:
    from ..data import load_examples
    from ..hub import is_hub_id, resolve_model_source
    from ..synthesis.batch import check_generate_folder, generate_batch
    from ..synthesis.components import parse_device, resolve_model_name, scheduler_class_name
    from ..synthesis.methods import get_method, parse_methods
    from ..tasks.registry import get_task
    from ..workers import ImageWorker
    from .bench import _torch_threads
    from .generate import _check_guidance, _instruction_sources, _resolve_instructions

    # 1. check every input before any model loads
    for name in NOT_WITH_PROMPTS:
        if o[name]:
            raise InputError(f"--{name.removesuffix('_spec').replace('_', '-')} is not available with --prompts")
    if o["feedback_rounds"] > 1:
        raise InputError("--feedback-rounds is not available with --prompts")
    if o["method"] and o["compare"]:
        raise InputError("give --method or --compare, not both")
    names = parse_methods(o["compare"] or o["method"] or "original")
    specs = [get_method(name) for name in names]
    if o["steps"] <= 0:
        raise InputError(f"--steps must be a positive integer, got {o['steps']}")
    if o["seed"] < 0:
        raise InputError(f"--seed must be >= 0, got {o['seed']}")
    if not o["guidance"] >= 0:
        raise InputError(f"--guidance must be >= 0, got {o['guidance']}")
    for spec in specs:  # the concepts are checked per prompt by the library
        spec.check(guidance=o["guidance"], switch_step=o["switch_step"], num_steps=o["steps"], check_rewrite=False, concepts=("-",))
    _check_guidance(o)
    if o["scheduler"] is not None:
        scheduler_class_name(o["scheduler"])
    parse_device(o["device"])
    task = get_task(o["task_name"])
    concepts = [c.strip() for c in o["concepts"] if c.strip()]
    rows = load_examples(o["prompts"], task, concept=", ".join(concepts) if concepts else None)
    check_generate_folder(o["out"])
    try:
        folder = resolve_model_source(str(resolve_model_name(o["model"])), what="diffusion model")
    except InputError as exc:
        raise InputError(f"--model: {exc}") from None
    model = o["model"].strip() if is_hub_id(o["model"]) else str(folder)
    sources = _instruction_sources(o, specs)
    _, instructions = _resolve_instructions(o, sources)
    if sources:
        from .options import check_llm

        check_llm(**llm_settings)

    # 2. the rewriters (made here, before the images), the worker each executor loads once
    from ..rewriter import Rewriter

    llm = build_llm(**llm_settings) if instructions else None
    try:
        rewriters = {role: Rewriter(llm, task, text, verify_retries=o["verify_retries"]) for role, text in instructions.items()}
        worker = ImageWorker(model_folder=str(folder), model=model, judge=None, device=_device(o, executor), dtype=o["dtype"],
                             scheduler=o["scheduler"], threads=_torch_threads(),
                             generator=dict(steps=o["steps"], guidance_scale=o["guidance"], height=o["height"], width=o["width"],
                                            sld_preset=o["sld_preset"], negative_prompt=o["negative_prompt"],
                                            negative_weight=o["negative_weight"]))
        options = {"prompts_file": str(o["prompts"]), "model": model, "task": task.name,
                   "concepts": concepts or "each prompt's", **executor.describe()}
        run = generate_batch(rows=rows, out=o["out"], methods=names, seeds=range(o["seed"], o["seed"] + o["num_images"]),
                             switch_step=o["switch_step"], load=worker, rewriters=rewriters, executor=executor, options=options,
                             progress=o["progress"])
    finally:
        if llm is not None:
            llm.close()
    click.echo(f"{run.done} prompts generated ({run.images} images), {run.skipped} already done, {run.failed} failed: {run.folder}", err=True)
    click.echo(str(run.folder))
    if run.failed:
        raise PromptsFailed(f"{run.failed} of {len(rows)} prompts failed (rerun the same command to retry them): {run.errors[0]}")
