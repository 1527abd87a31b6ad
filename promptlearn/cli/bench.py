"""``promptlearn bench``: the ORES benchmark (paper protocol, baselines, ablations) in one command,
with a resumable run folder and reports to look at (report.md, index.html, plots)."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .arguments import SwitchStepType
from .options import build_llm, executor_options, llm_options, llm_settings, pop_executor, pop_llm_options, task_source



def _command_line(ctx: click.Context) -> str:
    """The command as typed, rebuilt from the options that were given (not the defaults)."""
    parts = ["promptlearn", "bench"]
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name == "DEFAULT":
            continue
        value = ctx.params.get(param.name)
        flag = max(param.opts, key=len)
        if param.is_flag:
            if value:
                parts.append(flag)
        elif param.multiple:
            parts += [x for v in value for x in (flag, str(v))]
        elif value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


LEARNED_SOURCES = {"learned": ("instruction", "--instruction"), "initial": ("initial_instruction", "--initial-instruction")}


def _instructions(names: list[str], kwargs: dict[str, Any], *, task: Any, compare: dict[str, str]) -> dict[str, str]:
    """The instruction text of every named method that needs one, through the one role mapping
    (:func:`promptlearn.instructions.method_instruction_source`) and the one resolver; one clear line
    for what is missing. ``--fit-run`` stands in for ``--instruction`` (its learned instruction) and
    gives the initial one unless ``--initial-instruction`` is set."""
    from ..instructions import method_instruction_source, resolve_instruction

    out: dict[str, str] = {}
    for name in names:
        if name in compare:
            source, flag = (compare[name], "learned"), f"--compare {name}"
        else:
            run = kwargs["fit_run"] or kwargs["instruction"] if name == "initial" else kwargs["instruction"] or kwargs["fit_run"]
            source = method_instruction_source(name, instruction=run, initial_instruction=kwargs["initial_instruction"])
            if source is None:
                raise InputError(f"the {name} instruction is needed: give {LEARNED_SOURCES[name][1]} FILE or --fit-run DIR")
            flag = next((f for key, f in LEARNED_SOURCES.values() if kwargs[key] and source[0] == str(kwargs[key])), "--fit-run")
            if name not in LEARNED_SOURCES:
                flag = f"method {name}"
        try:
            out[name] = resolve_instruction(source[0], task=task, role=source[1], trainset=kwargs.get("trainset")).text
        except InputError as exc:
            raise InputError(f"{flag}: {exc}") from None
    return out


def _text_builtins() -> list[str]:
    """Names the text stage knows without --compare: learned, initial, the named instruction
    sources (human, in-context) and the registry's methods with a text form (original, blacklist)."""
    from ..evaluation.text_stage import text_methods
    from ..instructions import instruction_sources

    named = [name for name, _ in instruction_sources() if not name.endswith(":ARG")]
    return [*LEARNED_SOURCES, *named, *text_methods()]


def _parse_compare(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    builtins = _text_builtins()
    for value in values:
        name, sep, path = value.partition("=")
        name = name.strip()
        if not sep or not name or not path.strip():
            raise InputError(f"bad --compare {value!r}; use NAME=SOURCE")
        if name in builtins:
            raise InputError(f"--compare name {name!r} is a built-in method; pick another name")
        out[name] = path.strip()
    return out


@click.command()
@click.option("--dataset", required=True, help="Rows to evaluate: ORES TSV (concept, implicit object, query), JSONL or CSV, or a bundled dataset name.")
@click.option("--stage", type=click.Choice(["image", "text"]), default="image", show_default=True, help="image: the full protocol (diffusion model + judge); text: rewrites only, scored by the ORES text task (CPU).")
@click.option("--methods", default=None, help="Comma-separated. Image stage: methods of `promptlearn methods` [default: all]; text stage: learned, initial, human, in-context, blacklist, original and --compare names [default: those available].")
@click.option("--seeds", default="0,1,2,3,4", show_default=True, help="Image seeds (e.g. 0,1,2 or 0-4); the table shows mean ± std over them.")
@click.option("--model", "model", default=None, help="Diffusers Stable Diffusion folder, hub id, or toy (the embedded toy-world model, the default; said on stderr) (image stage).")
@click.option("--judge", default=None, help="Image judge: vqa:MODEL (a transformers VQA model, e.g. BLIP-2) or clip:MODEL, MODEL a folder or a hub id; or toy (the toy world's exact judge).")
@click.option("--instruction", default=None, help="The learned instruction: a text file, a fit run folder or a named source [default: --fit-run's instruction.txt].")
@click.option("--initial-instruction", default=None, help="The unlearned instruction for 'initial' and tin-no-instruction (a file, a fit run folder) [default: --fit-run's initial one].")
@click.option("--fit-run", default=None, type=click.Path(file_okay=False), help="A promptlearn fit run folder: its instructions, and a plot of its score per step in the report.")
@click.option("--compare", multiple=True, help="Another instruction to compare, as NAME=SOURCE (a file, a fit run folder; repeatable). Image stage: a method NAME, TIN with that instruction (the paper's Tables 4-5: fit runs).")
@click.option("--task", "task_name", default="ores", show_default=True, help="Task whose rewrite prompt and text scorer are used.")
@click.option("--trainset", default=None, help="Training examples shown by the in-context baseline [default: the task's].")
@click.option("--out", required=True, type=click.Path(file_okay=True), help="Run folder; rerunning into it resumes, skipping finished cells.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Use the first N rows only.")
@click.option("--preset", default="promptlearn", show_default=True, help="Image protocol: paper (ORES as published: Eq. 7 similarity, a rewrite per image at temperature 1.0, S = 2 of 20, the official demo's guidance 9.0, added and negative prompt) or promptlearn (noise-normalised similarity, one greedy rewrite per row). Flags given override it; see docs/evaluation.md.")
@click.option("--steps", default=None, type=click.IntRange(min=1), help="Denoising steps [default: the preset's, 20].")
@click.option("--switch-step", "switch_step", default=None, type=SwitchStepType(), help="S: steps conditioned on the user's query before the switch to the rewrite (int in [0, steps]) or a fraction of the steps (float in [0, 1]) [default: the preset's, 2; the official demo uses 0.2].")
@click.option("--guidance", default=None, type=float, help="Classifier-free guidance scale [default: the preset's: promptlearn 7.5, paper 9.0 (the official demo's)].")
@click.option("--similarity", default=None, help="Visual similarity: eq7 (the paper's 1 − MSE) or noise-normalised (promptlearn's 1 − clip(MSE / (1/6))) [default: the preset's].")
@click.option("--size", default=None, type=click.IntRange(min=8), help="Image height and width [default: the model's].")
@click.option("--scheduler", default=None, help="Sampler [default: the preset's, ddim (the paper's)].")
@click.option("--device", default=None, help="torch device for the diffusion model and judge [default: cuda if available].")
@click.option("--dtype", default=None, help="Diffusion model dtype (float32, float16, bfloat16).")
@click.option("--failure-score", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0), help="Score of a cell whose concept was not avoided (paper appendix 0, main text 0.5).")
@click.option("--mse-normaliser", default=None, type=click.FloatRange(min=0.0, min_open=True), help="A custom similarity = 1 - clip(MSE / this, 0, 1), pixels in [0, 1] [default: --similarity's: eq7 1, noise-normalised 1/6].")
@click.option("--negative-weight", default=None, type=click.FloatRange(min=0), help="Image stage, method negative: the concepts get their own guidance branch with this weight (alpha) [default: they replace the unconditional branch, diffusers' negative prompt]; the ORES paper's alpha is not known to promptlearn, see docs/fidelity.md.")
@click.option("--rewrites", "rewrites", type=click.Choice(["llm", "reference"]), default="llm", show_default=True, help="Image stage: where the tin methods' rewrites come from: the LLM with the instruction, or each row's first reference rewrite (no LLM).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@llm_options
@executor_options
@click.pass_context
def bench(ctx: click.Context, **kwargs: Any) -> None:
    """Run the ORES benchmark into --out: results.jsonl, summary.json, report.md, index.html."""
    started = time.perf_counter()
    llm_values = pop_llm_options(kwargs)
    command = _command_line(ctx)
    kwargs["executor"] = pop_executor(kwargs)
    _apply_preset(kwargs)
    from ..evaluation.report import ReportOptions, write_reports

    with _compare_methods(kwargs):
        if kwargs["stage"] == "text":
            folder, fit_run, options = _run_text(kwargs, llm_values, command)
        else:
            folder, fit_run, options = _run_image(kwargs, llm_values, command)
        summary = write_reports(
            folder,
            ReportOptions(failure_score=kwargs["failure_score"], mse_normaliser=kwargs["mse_normaliser"]),
            fit_run=fit_run,
            wall_seconds=time.perf_counter() - started,
        )
    from ..evaluation.report import results_table

    for line in results_table(summary):
        click.echo(" | ".join(line[:1] + line[2:6]))
    click.echo(f"report: {folder / 'report.md'}  page: {folder / 'index.html'}", err=True)


def _compare_methods(kwargs: dict[str, Any]):
    """Image stage: each ``--compare NAME=SOURCE`` is a TIN-like method for this run only (the
    registry forgets it afterwards); the text stage compares instructions without methods."""
    from ..synthesis.methods import method_names, prompt_switch_method, scoped_methods

    if kwargs["stage"] == "text":
        return scoped_methods([])
    compare = _parse_compare(kwargs["compare"])
    taken = [name for name in compare if name in method_names()]
    if taken:
        raise InputError(f"--compare name {taken[0]!r} is a built-in method; pick another name")
    specs = [prompt_switch_method(name, name, f"prompt switch at S with the rewrite of the instruction {source}",
                                  recipe="fit run compared (ORES Tables 4-5)")
             for name, source in compare.items()]
    return scoped_methods(specs)


def _apply_preset(kwargs: dict[str, Any]) -> None:
    """Fill the flags not given from the preset (one table: promptlearn.evaluation.presets)."""
    from ..evaluation.metrics import get_similarity_metric
    from ..evaluation.presets import get_preset

    try:
        preset = get_preset(kwargs["preset"])
    except InputError as exc:
        raise InputError(f"--preset: {exc}") from None
    for key in ("steps", "switch_step", "guidance", "scheduler", "similarity"):
        if kwargs[key] is None:
            kwargs[key] = getattr(preset, key)
    try:
        metric = get_similarity_metric(kwargs["similarity"])
    except InputError as exc:
        raise InputError(f"--similarity: {exc}") from None
    if kwargs["mse_normaliser"] is None:
        kwargs["mse_normaliser"] = metric.normaliser
    kwargs["preset_spec"] = preset


def _common(kwargs: dict[str, Any]):
    from ..evaluation.rundir import check_out_folder
    from ..tasks.registry import get_task

    check_out_folder(kwargs["out"])  # before any model loads
    task = get_task(kwargs["task_name"])
    if kwargs["fit_run"] is not None and not Path(kwargs["fit_run"]).expanduser().is_dir():
        raise InputError(f"--fit-run folder not found: {kwargs['fit_run']}")
    return task


def _load_rows(kwargs: dict[str, Any], task: Any):
    from ..data import load_examples
    from ..evaluation.rows import check_rows

    rows = load_examples(kwargs["dataset"], task, limit=kwargs["limit"])
    check_rows(rows, source=f"dataset {kwargs['dataset']}")
    return rows


def _predictor(llm_values: dict[str, Any], task: Any, *, progress: bool, per_image_temperature: float | None = None):
    from ..evaluation.adapters import PredictorRewriter
    from ..rewriter import Rewriter

    llm = build_llm(**llm_values)
    # the one rewrite path (the Rewriter's Predictor: the task's prompt, parser and sampling);
    # a placeholder instruction: each method's own is swapped in
    return llm, PredictorRewriter(Rewriter(llm, task, "(set per method)"), progress=progress,
                                  per_image_temperature=per_image_temperature)


def _run_text(kwargs: dict[str, Any], llm_values: dict[str, Any], command: str):
    from ..evaluation.text_stage import run_text_bench, text_methods
    from ..workers import TextWorker
    from ..synthesis.methods import parse_methods

    task = _common(kwargs)
    compare = _parse_compare(kwargs["compare"])
    builtins = _text_builtins()
    known = [*builtins[: len(builtins) - len(text_methods())], *compare, *text_methods()]
    if kwargs["methods"]:
        methods = parse_methods(kwargs["methods"], known=known)
    else:
        have_run = kwargs["fit_run"] is not None
        methods = [m for m in known if (m != "learned" or kwargs["instruction"] or have_run)
                   and (m != "initial" or kwargs["initial_instruction"] or have_run)
                   and (m != "in-context" or kwargs["trainset"] or task.default_trainset)
                   and (m != "human" or task.human_instruction)
                   and m != "original"]  # the query itself: ask for it by name
    rows = _load_rows(kwargs, task)
    instructions = _instructions([m for m in methods if m not in text_methods()], kwargs, task=task, compare=compare)
    needs_llm = bool(instructions)
    # the stage's own bar counts the rows; no second bar per LLM batch
    llm, rewriter = _predictor(llm_values, task, progress=False) if needs_llm else (None, None)
    options = {
        "command": command, "stage": "text", "dataset": str(kwargs["dataset"]), "rows": len(rows), "limit": kwargs["limit"],
        "task": task.name, "llm": llm.spec if llm is not None else None,
        "instructions": {name: text for name, text in instructions.items() if name != "in-context"},
        **kwargs["executor"].describe(),
    }
    executor = kwargs["executor"]
    # the local executor uses the task and rewriter built here; a Ray actor builds its own
    load = None if executor.name == "local" else TextWorker(task_source(kwargs["task_name"]), llm_settings(**llm_values) if needs_llm else None)
    try:
        run_text_bench(rows=rows, out=kwargs["out"], task=task, methods=methods, instructions=instructions,
                       rewriter=rewriter, options=options, progress=not kwargs["no_progress"], executor=executor, load=load)
    finally:
        if llm is not None:
            llm.close()
    return Path(kwargs["out"]).expanduser(), kwargs["fit_run"], options


def _run_image(kwargs: dict[str, Any], llm_values: dict[str, Any], command: str):
    from ..evaluation.harness import run_image_bench
    from ..evaluation.judges import parse_judge_spec
    from ..evaluation.rows import parse_seeds
    from ..synthesis.methods import get_method, method_names, parse_methods
    from ..synthesis.switch_step import resolve_switch_step

    compare = _parse_compare(kwargs["compare"])  # registered for this run by bench() (_compare_methods)
    preset_all = kwargs["preset"] == "paper"  # Tables 1-3 of the paper: every method
    methods = parse_methods(kwargs["methods"] or [*method_names(defaults_only=not preset_all), *compare])
    seeds = parse_seeds(kwargs["seeds"])
    preset = kwargs["preset_spec"]
    per_seed = preset.rewrites == "per-seed"
    if any(get_method(m).switch == "given" for m in methods):
        resolve_switch_step(kwargs["switch_step"], kwargs["steps"])
    if not kwargs["judge"]:
        raise InputError("the image stage needs --judge vqa:MODEL, clip:MODEL or toy")
    try:
        judge_spec = parse_judge_spec(kwargs["judge"])
    except InputError as exc:
        raise InputError(f"--judge: {exc}") from None
    if not kwargs["model"]:
        kwargs["model"] = "toy"
        click.echo("no --model given: using the embedded toy-world model (--model toy)", err=True)
    from ..hub import is_hub_id, resolve_model_source
    from ..synthesis.components import resolve_model_name

    try:
        folder = resolve_model_source(str(resolve_model_name(kwargs["model"])), what="diffusion model")
    except InputError as exc:
        raise InputError(f"--model: {exc}") from None
    # an absolute folder or the hub id: it names the model in the run's config
    model_path = kwargs["model"].strip() if is_hub_id(kwargs["model"]) else folder
    task = _common(kwargs)
    rows = _load_rows(kwargs, task)
    needed = sorted({get_method(m).instruction for m in methods if get_method(m).instruction})
    from ..evaluation.adapters import ReferenceRewriter
    from ..evaluation.report import ReportOptions
    from ..workers import ImageWorker

    if kwargs["rewrites"] == "reference":  # each row's first reference rewrite: no LLM, one per row
        per_seed = False
        instructions = {name: ReferenceRewriter.REFERENCE_INSTRUCTION for name in needed}
        llm, rewriter = None, (ReferenceRewriter() if needed else None)
    else:
        instructions = _instructions(needed, kwargs, task=task, compare=compare)
        llm, rewriter = (_predictor(llm_values, task, progress=not kwargs["no_progress"],
                                    per_image_temperature=preset.rewrite_temperature) if needed else (None, None))
    try:
        # what each worker loads once: here (--executor local) or in every Ray actor
        worker = ImageWorker(model_folder=str(folder), model=str(model_path), judge=judge_spec, device=kwargs["device"],
                             dtype=kwargs["dtype"], scheduler=kwargs["scheduler"],
                             generator=dict(steps=kwargs["steps"], guidance_scale=kwargs["guidance"], height=kwargs["size"],
                                            width=kwargs["size"], added_prompt=preset.added_prompt,
                                            negative_prompt=preset.negative_prompt, negative_weight=kwargs["negative_weight"]),
                             threads=_torch_threads())
        options = {
            "command": command, "stage": "image", "dataset": str(kwargs["dataset"]), "rows": len(rows), "limit": kwargs["limit"],
            "model": model_path, "judge": str(judge_spec), "steps": kwargs["steps"], "switch_step": kwargs["switch_step"],
            "guidance": kwargs["guidance"], "scheduler": kwargs["scheduler"], "llm": llm.spec if llm is not None else None,
            "instructions": instructions, "rewrite_source": kwargs["rewrites"],
            "compare": compare, "preset": preset.name, "similarity": ReportOptions(mse_normaliser=kwargs["mse_normaliser"]).similarity,
            "rewrites": "per row: each row's first reference rewrite (no LLM)" if kwargs["rewrites"] == "reference"
            else ("per image: one LLM call per (row, seed), temperature "
                  f"{preset.rewrite_temperature}, the seed in the request") if per_seed
            else "per row: one greedy rewrite per (row, instruction), shared by all seeds",
            "added_prompt": preset.added_prompt, "negative_prompt": preset.negative_prompt,
            **({"negative_weight": kwargs["negative_weight"]} if kwargs["negative_weight"] is not None else {}),
            "preset_sources": preset.sources,
            **kwargs["executor"].describe(),
        }
        run_image_bench(rows=rows, out=kwargs["out"], load=worker, executor=kwargs["executor"], methods=methods, seeds=seeds,
                        switch_step=kwargs["switch_step"], rewriter=rewriter, instructions=instructions, options=options,
                        progress=not kwargs["no_progress"], rewrites_per_seed=per_seed)
    finally:
        if llm is not None:
            llm.close()
    return Path(kwargs["out"]).expanduser(), kwargs["fit_run"], options


def _torch_threads() -> int:
    """This process's torch CPU threads, given to every worker (same images on every executor)."""
    import torch

    return torch.get_num_threads()
