"""``promptlearn fit``: learn an instruction for a task (TIN's first stage), or run a baseline."""

from __future__ import annotations

import click

from .options import build_llm, llm_options, max_errors_option, pop_llm_options


@click.command()
@click.option("--task", "task_name", default="ores", show_default=True, help="Task name, or a .py/.yaml task file.")
@click.option("--train", default=None, help="Training set: a bundled dataset name or a .jsonl/.csv/.tsv file [default: the task's].")
@click.option("--val", default=None, help="Validation set; every instruction is scored on it (needed by --select best).")
@click.option("--templates", type=click.Path(file_okay=False), default=None, help="Folder of templates overriding the built-in ones (optimizer/init.j2, optimizer/update.j2, optimizer/pack.j2, ...).")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(min=0), help="Passes over the training set; 0 keeps the LLM's initial instruction.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1), help="Examples per update step; 1 turns batching off.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the shuffling.")
@click.option("--select", type=click.Choice(["last", "best"]), default="last", show_default=True, help="Keep the last instruction (the paper) or the best by validation score.")
@click.option("--no-history", is_flag=True, help="Do not show earlier instructions to the optimizer LLM.")
@click.option("--history-size", default=3, show_default=True, type=click.IntRange(min=1), help="Earlier instructions shown (the last K).")
@click.option("--baseline", type=click.Choice(["human", "in-context"]), default=None, help="Instead of learning: the task's human instruction, or all training examples in context.")
@click.option("--max-steps", type=click.IntRange(min=0), default=None, help="Stop after this many update steps.")
@click.option("--max-cost", type=click.FloatRange(min=0.0), default=None, help="Stop once this many dollars are spent (priced APIs only).")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Stop after this many steps without improvement.")
@click.option("--out", type=click.Path(), default=None, help="Run directory (config, history, state, instruction.txt); `touch OUT/STOP` stops after the current step.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (finished LLM calls come from the cache); with nothing there yet, start it.")
@click.option("--overwrite", is_flag=True, help="Delete the run in --out (its config, history, state and instruction) and start over.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@max_errors_option
@llm_options
def fit(
    task_name: str,
    train: str | None,
    val: str | None,
    templates: str | None,
    epochs: int,
    batch_size: int,
    seed: int,
    select: str,
    no_history: bool,
    history_size: int,
    baseline: str | None,
    max_steps: int | None,
    max_cost: float | None,
    patience: int | None,
    out: str | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
    max_errors: int,
    **kwargs,
) -> None:
    """Learn an instruction for TASK's examples and print it (summary on stderr)."""
    from ..data import load_examples
    from ..error_budget import ErrorBudget, TooManyErrorsError
    from ..errors import InputError
    from ..optimizer import InstructionLearner, check_fit_data, stop_conditions
    from ..optimizer.learner import BASELINE_TEMPLATE_VARIABLES, TEMPLATE_VARIABLES
    from ..runs import RunFolder
    from ..tasks.registry import get_task

    if quiet:
        from ..progress import silence_library_progress

        silence_library_progress()
    # 1. check every input before the model loads
    if (resume or overwrite) and out is None:
        raise InputError(f"--{'resume' if resume else 'overwrite'} needs --out (the run directory)")
    if out is not None:
        status = RunFolder(out, argument="out").check(resume=resume, overwrite=overwrite)
        if resume and status.state != "run":
            click.echo(f"note: nothing to resume in {status.path} (no run has taken a step there); starting a new run", err=True)
    if select == "best" and val is None:
        raise InputError("--select best needs --val (the validation set to select by)")
    task = get_task(task_name)
    prompts = task.prompt_library(templates)
    task.check_templates(prompts)
    prompts.check_all(BASELINE_TEMPLATE_VARIABLES if baseline == "in-context" else TEMPLATE_VARIABLES if baseline is None else {})
    source = train if train is not None else task.default_trainset
    if source is None:
        raise InputError(f"task {task.name!r} has no bundled training set; give --train")
    trainset = load_examples(source, task)
    valset = load_examples(val, task) if val is not None else None
    check_fit_data(task, trainset, valset, baseline=baseline, epochs=epochs, select=select)  # type: ignore[arg-type]

    # 2. the LLM and the learner
    errors = ErrorBudget(max_errors, unit="step")
    llm = build_llm(**pop_llm_options(kwargs))
    try:
        learner = InstructionLearner(
            llm,
            task,
            epochs=epochs,
            batch_size=batch_size,
            history=not no_history,
            history_size=history_size,
            select=select,  # type: ignore[arg-type]
            seed=seed,
            baseline=baseline,
            prompts=prompts,
            run_dir=out,
            resume=resume,
            overwrite=overwrite,
            stop=stop_conditions(max_steps=max_steps, max_cost=max_cost, patience=patience, stop_file=None),
            progress=not quiet,
            errors=errors,
        )
        # 3. learn
        result = learner.fit(trainset, valset=valset)
    finally:
        llm.close()

    # 4. report: the summary on stderr, the instruction on stdout
    click.echo(result.summary(), err=True)
    if result.run_dir is not None:
        click.echo(f"run directory: {result.run_dir} (instruction.txt, history.jsonl)", err=True)
    if errors.exhausted:  # stopped early, saved; one line, exit != 0, no instruction on stdout
        where = f"; continue with --resume --out {result.run_dir}" if result.run_dir is not None else ""
        raise TooManyErrorsError(f"stopped: {errors.reason()}{where}")
    click.echo("instruction:", err=True)
    click.echo(result.instruction)
    if errors.count:
        click.echo(f"warning: {errors.reason()}", err=True)
