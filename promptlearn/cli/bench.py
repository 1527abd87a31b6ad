"""``promptlearn bench``: the ORES benchmark (paper protocol, baselines, ablations) in one command,
with a resumable run folder and reports to look at (report.md, index.html, plots)."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .options import build_llm, llm_options, pop_llm_options

IMAGE_DEFAULT = "original,blacklist,negative,sld,tin,tin-no-instruction,tin-no-intervention"


def _read_instruction(path: str | Path, what: str) -> str:
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"{what} file not found: {file}")
    text = file.read_text(encoding="utf-8").strip()
    if not text:
        raise InputError(f"{what} file is empty: {file}")
    return text


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


def _instructions(
    names: list[str], *, instruction: str | None, initial_instruction: str | None, fit_run: str | None, task: Any, trainset: str | None, compare: dict[str, str]
) -> dict[str, str]:
    """The instruction text of every named method that needs one, from files, the fit run, or
    the task (human, in-context); one clear line for what is missing."""
    from ..evaluation.methods import HUMAN, IN_CONTEXT, INITIAL, LEARNED

    run = Path(fit_run).expanduser() if fit_run else None
    out: dict[str, str] = {}
    for name in names:
        if name == LEARNED:
            if instruction:
                out[name] = _read_instruction(instruction, "--instruction")
            elif run is not None:
                out[name] = _read_instruction(run / "instruction.txt", "the fit run's instruction.txt")
            else:
                raise InputError("the learned instruction is needed: give --instruction FILE or --fit-run DIR")
        elif name == INITIAL:
            if initial_instruction:
                out[name] = _read_instruction(initial_instruction, "--initial-instruction")
            elif run is not None:
                out[name] = _initial_from_run(run)
            else:
                raise InputError("the initial instruction is needed: give --initial-instruction FILE or --fit-run DIR")
        elif name == HUMAN:
            from ..optimizer.baselines import human_instruction

            out[name] = human_instruction(task)
        elif name == IN_CONTEXT:
            from ..data import load_examples
            from ..optimizer.baselines import in_context_instruction

            source = trainset or task.default_trainset
            if not source:
                raise InputError(f"the in-context baseline needs training examples: give --trainset (task {task.name!r} has no default)")
            out[name] = in_context_instruction(task.prompt_library(), task, load_examples(source, task))
        elif name in compare:
            out[name] = _read_instruction(compare[name], f"--compare {name}")
    return out


def _initial_from_run(run: Path) -> str:
    from ..files import read_jsonl

    history = run / "history.jsonl"
    if not history.is_file():
        raise InputError(f"--fit-run {run}: no history.jsonl (is it a promptlearn fit run folder?)")
    for record in read_jsonl(history):
        if record.get("kind") == "init" and str(record.get("instruction", "")).strip():
            return str(record["instruction"]).strip()
    raise InputError(f"--fit-run {run}: its history has no initial instruction (a baseline run?); give --initial-instruction FILE")


def _parse_compare(values: tuple[str, ...]) -> dict[str, str]:
    from ..evaluation.methods import TEXT_BUILTIN_METHODS

    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        name = name.strip()
        if not sep or not name or not path.strip():
            raise InputError(f"bad --compare {value!r}; use NAME=FILE")
        if name in TEXT_BUILTIN_METHODS:
            raise InputError(f"--compare name {name!r} is a built-in method; pick another name")
        out[name] = path.strip()
    return out


@click.command()
@click.option("--dataset", required=True, help="Rows to evaluate: ORES TSV (concept, implicit object, query), JSONL or CSV, or a bundled dataset name.")
@click.option("--stage", type=click.Choice(["image", "text"]), default="image", show_default=True, help="image: the full protocol (diffusion model + judge); text: rewrites only, scored by the ORES text task (CPU).")
@click.option("--methods", default=None, help=f"Comma-separated. Image stage [default: {IMAGE_DEFAULT}]; text stage: learned, initial, human, in-context, blacklist and --compare names [default: those available].")
@click.option("--seeds", default="0,1,2,3,4", show_default=True, help="Image seeds (e.g. 0,1,2 or 0-4); the table shows mean ± std over them.")
@click.option("--model", "model", default=None, help="Diffusers Stable Diffusion folder, or toy (the embedded toy-world model) (image stage).")
@click.option("--judge", default=None, help="Image judge: vqa:PATH (a transformers VQA model, e.g. BLIP-2), clip:PATH, or toy (the toy world's exact judge).")
@click.option("--instruction", default=None, type=click.Path(dir_okay=False), help="The learned instruction (a text file) [default: --fit-run's instruction.txt].")
@click.option("--initial-instruction", default=None, type=click.Path(dir_okay=False), help="The unlearned instruction for 'initial' and tin-no-instruction [default: --fit-run's initial one].")
@click.option("--fit-run", default=None, type=click.Path(file_okay=False), help="A promptlearn fit run folder: its instructions, and a plot of its score per step in the report.")
@click.option("--compare", multiple=True, help="Text stage: another instruction to compare, as NAME=FILE (repeatable).")
@click.option("--task", "task_name", default="ores", show_default=True, help="Task whose rewrite prompt and text scorer are used.")
@click.option("--trainset", default=None, help="Training examples shown by the in-context baseline [default: the task's].")
@click.option("--out", required=True, type=click.Path(file_okay=True), help="Run folder; rerunning into it resumes, skipping finished cells.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Use the first N rows only.")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(min=1), help="Denoising steps.")
@click.option("--switch-step", "switch_step", default=2, show_default=True, type=click.IntRange(min=0), help="S: steps conditioned on the user's query before the switch to the rewrite.")
@click.option("--guidance", default=7.5, show_default=True, type=float, help="Classifier-free guidance scale.")
@click.option("--size", default=None, type=click.IntRange(min=8), help="Image height and width [default: the model's].")
@click.option("--scheduler", default="ddim", show_default=True, help="Sampler (the paper: ddim).")
@click.option("--device", default=None, help="torch device for the diffusion model and judge [default: cuda if available].")
@click.option("--dtype", default=None, help="Diffusion model dtype (float32, float16, bfloat16).")
@click.option("--failure-score", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0), help="Score of a cell whose concept was not avoided (paper appendix 0, main text 0.5).")
@click.option("--mse-normaliser", default=1.0 / 6.0, show_default="1/6", type=click.FloatRange(min=0.0, min_open=True), help="Similarity = 1 - clip(MSE / this, 0, 1), pixels in [0, 1].")
@click.option("--rewrites", "rewrites", type=click.Choice(["llm", "reference"]), default="llm", show_default=True, help="Image stage: where the tin methods' rewrites come from: the LLM with the instruction, or each row's first reference rewrite (no LLM).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@llm_options
@click.pass_context
def bench(ctx: click.Context, **kwargs: Any) -> None:
    """Run the ORES benchmark into --out: results.jsonl, summary.json, report.md, index.html."""
    started = time.perf_counter()
    llm_values = pop_llm_options(kwargs)
    command = _command_line(ctx)
    if kwargs["stage"] == "text":
        folder, fit_run, options = _run_text(kwargs, llm_values, command)
    else:
        folder, fit_run, options = _run_image(kwargs, llm_values, command)
    from ..evaluation.report import ReportOptions, write_reports

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


def _predictor(llm_values: dict[str, Any], task: Any, *, progress: bool):
    from ..evaluation.adapters import PredictorRewriter
    from ..optimizer.predictor import Predictor

    llm = build_llm(**llm_values)
    # a placeholder instruction: the rewriter swaps in each method's own
    return llm, PredictorRewriter(Predictor(llm, task, "(set per method)"), progress=progress)


def _run_text(kwargs: dict[str, Any], llm_values: dict[str, Any], command: str):
    from ..evaluation.methods import BLACKLIST, HUMAN, IN_CONTEXT, INITIAL, LEARNED, parse_method_list
    from ..evaluation.text_stage import run_text_bench

    task = _common(kwargs)
    compare = _parse_compare(kwargs["compare"])
    known = [LEARNED, INITIAL, HUMAN, IN_CONTEXT, *compare, BLACKLIST]
    if kwargs["methods"]:
        methods = parse_method_list(kwargs["methods"], known=known)
    else:
        have_run = kwargs["fit_run"] is not None
        methods = [m for m in known if (m != LEARNED or kwargs["instruction"] or have_run)
                   and (m != INITIAL or kwargs["initial_instruction"] or have_run)
                   and (m != IN_CONTEXT or kwargs["trainset"] or task.default_trainset)
                   and (m != HUMAN or task.human_instruction)]
    rows = _load_rows(kwargs, task)
    instructions = _instructions(
        [m for m in methods if m != BLACKLIST], instruction=kwargs["instruction"], initial_instruction=kwargs["initial_instruction"],
        fit_run=kwargs["fit_run"], task=task, trainset=kwargs["trainset"], compare=compare,
    )
    needs_llm = any(m != BLACKLIST for m in methods)
    # the stage's own bar counts the rows; no second bar per LLM batch
    llm, rewriter = _predictor(llm_values, task, progress=False) if needs_llm else (None, None)
    options = {
        "command": command, "stage": "text", "dataset": str(kwargs["dataset"]), "rows": len(rows), "limit": kwargs["limit"],
        "task": task.name, "llm": llm.spec if llm is not None else None,
        "instructions": {name: text for name, text in instructions.items() if name != IN_CONTEXT},
    }
    try:
        run_text_bench(rows=rows, out=kwargs["out"], task=task, methods=methods, instructions=instructions,
                       rewriter=rewriter, options=options, progress=not kwargs["no_progress"])
    finally:
        if llm is not None:
            llm.close()
    return Path(kwargs["out"]).expanduser(), kwargs["fit_run"], options


def _run_image(kwargs: dict[str, Any], llm_values: dict[str, Any], command: str):
    from ..evaluation.judges import parse_judge_spec
    from ..evaluation.methods import IMAGE_METHODS, parse_method_list, parse_seeds
    from ..evaluation.harness import run_image_bench

    methods = parse_method_list(kwargs["methods"] or IMAGE_DEFAULT, known=list(IMAGE_METHODS))
    seeds = parse_seeds(kwargs["seeds"])
    if not kwargs["judge"]:
        raise InputError("the image stage needs --judge vqa:PATH, clip:PATH or toy")
    judge_spec = parse_judge_spec(kwargs["judge"])
    if not kwargs["model"]:
        kwargs["model"] = "toy"
        click.echo("no --model given: using the embedded toy-world model (--model toy)", err=True)
    from ..synthesis.components import resolve_model_name

    if not Path(resolve_model_name(kwargs["model"])).expanduser().exists():
        raise InputError(f"diffusion model not found: {kwargs['model']}")
    model_path = str(Path(resolve_model_name(kwargs["model"])).expanduser().resolve())  # absolute: it names the model in the run's config
    task = _common(kwargs)
    rows = _load_rows(kwargs, task)
    needed = sorted({IMAGE_METHODS[m].instruction for m in methods if IMAGE_METHODS[m].instruction})
    from ..evaluation.adapters import ReferenceRewriter, SynthesizerGenerator

    if kwargs["rewrites"] == "reference":
        instructions = {name: ReferenceRewriter.REFERENCE_INSTRUCTION for name in needed}
    else:
        instructions = _instructions(needed, instruction=kwargs["instruction"], initial_instruction=kwargs["initial_instruction"],
                                     fit_run=kwargs["fit_run"], task=task, trainset=None, compare={})
    from ..synthesis.components import load_components
    from ..synthesis.sampler import Synthesizer

    if kwargs["rewrites"] == "reference":
        llm, rewriter = None, (ReferenceRewriter() if needed else None)
    else:
        llm, rewriter = _predictor(llm_values, task, progress=not kwargs["no_progress"]) if needed else (None, None)
    try:
        device = kwargs["device"] or ("cuda" if _cuda() else "cpu")
        components = load_components(model_path, device=device, dtype=kwargs["dtype"], scheduler=kwargs["scheduler"])
        generator = SynthesizerGenerator(Synthesizer(components), model=model_path, steps=kwargs["steps"],
                                         guidance_scale=kwargs["guidance"], height=kwargs["size"], width=kwargs["size"])
        judge = judge_spec.load(device=device)
        options = {
            "command": command, "stage": "image", "dataset": str(kwargs["dataset"]), "rows": len(rows), "limit": kwargs["limit"],
            "model": model_path, "judge": str(judge_spec), "steps": kwargs["steps"], "switch_step": kwargs["switch_step"],
            "guidance": kwargs["guidance"], "scheduler": kwargs["scheduler"], "llm": llm.spec if llm is not None else None,
            "instructions": instructions, "rewrites": kwargs["rewrites"],
        }
        run_image_bench(rows=rows, out=kwargs["out"], generator=generator, judge=judge, methods=methods, seeds=seeds,
                        switch_step=kwargs["switch_step"], rewriter=rewriter, instructions=instructions, options=options,
                        progress=not kwargs["no_progress"])
    finally:
        if llm is not None:
            llm.close()
    return Path(kwargs["out"]).expanduser(), kwargs["fit_run"], options


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())
