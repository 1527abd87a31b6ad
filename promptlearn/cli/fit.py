"""``promptlearn fit``: learn an instruction for a task (TIN's first stage), or run a baseline."""

from __future__ import annotations

import click

from .options import build_llm, llm_options, max_errors_option, pop_llm_options


@click.command()
@click.option("--task", "task_name", default="ores", show_default=True, help="Task name, or a .py/.yaml task file.")
@click.option("--train", default=None, help="Training set: a bundled dataset name, a .jsonl/.csv/.tsv file, or the ORES paper's training.txt (Input Caption / Concept / Output Caption blocks) [default: the task's].")
@click.option("--val", default=None, help="Validation set; every instruction is scored on it (needed by --select best).")
@click.option("--recipe", default=None, help="Learning recipe: promptlearn (default: k proposals, accept if better, select on validation), paper (the ORES paper's loop, exactly) or single (one proposal per step, always taken); `promptlearn recipes` lists them.")
@click.option("--templates", type=click.Path(file_okay=False), default=None, help="Folder of templates overriding the built-in ones (optimizer/init.j2, optimizer/update.j2, optimizer/pack.j2, ...).")
@click.option("--epochs", default=None, type=click.IntRange(min=0), help="Passes over the training set; 0 keeps the LLM's initial instruction [default: the recipe's: promptlearn 2, paper 3].")
@click.option("--batch-size", default=None, type=click.IntRange(min=1), help="Examples per update step; 1 turns batching off [default: the recipe's: promptlearn 4, paper 6].")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the shuffling (and of every sampled call of a sampling recipe).")
@click.option("--select", type=click.Choice(["last", "best"]), default=None, help="Keep the last instruction (the paper's rule) or the best by validation score [default: the recipe's: promptlearn best, paper last].")
@click.option("--no-history", is_flag=True, help="Do not show earlier steps to the optimizer LLM (neither scored instructions nor chat turns).")
@click.option("--history-size", default=None, type=click.IntRange(min=1), help="Earlier instructions shown by a scored history (the last K) [default: 3].")
@click.option("--baseline", type=click.Choice(["human", "in-context"]), default=None, help="Instead of learning: the task's human instruction, or all training examples in context.")
@click.option("--max-steps", type=click.IntRange(min=0), default=None, help="Stop after this many update steps.")
@click.option("--max-cost", type=click.FloatRange(min=0.0), default=None, help="Stop once this many dollars are spent (priced APIs only).")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Stop after this many steps without improvement.")
@click.option("--out", type=click.Path(), default=None, help="Run directory (config, history, state, instruction.txt); `touch OUT/STOP` stops after the current step.")
@click.option("--resume", is_flag=True, help="Continue the run in --out (finished LLM calls come from the cache); with nothing there yet, start it.")
@click.option("--overwrite", is_flag=True, help="Delete the run in --out (its config, history, state and instruction) and start over.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--demos", default=None, type=click.IntRange(min=0), help="Demonstrations drawn (seeded) from the training split that travel with each instruction, sent as earlier chat turns; 0: none [default: the recipe's: promptlearn 3, paper 0].")
@click.option("--candidates", default=None, type=click.IntRange(min=1), help="Instructions proposed per step (k), scored on the mini-batch; the best is kept only if it beats the current one [default: the recipe's: promptlearn 3, paper 1].")
@click.option("--start", default=None, help="Starting instruction: p0 (the LLM's, the paper's), human (the task's human-written one), best (p0 and human, each with and without the recipe's demonstrations, scored on validation; the best starts), a file holding one, or an earlier run's folder (its instruction.txt: a warm start) [default: the recipe's: best in promptlearn's, p0 in paper's].")
@click.option("--scorer", type=click.Choice(["strict", "graded"]), default=None, help="Scorer that drives learning: the task's strict one or its graded one (partial credit; tasks that declare none use the strict one) [default: the recipe's].")
@click.option("--max-calls", type=click.IntRange(min=0), default=None, help="Stop once this many LLM calls are made (checked between steps).")
@click.option("--max-tokens", type=click.IntRange(min=0), default=None, help="Stop once this many prompt + completion tokens are used (checked between steps).")
@click.option("--estimate", is_flag=True, help="Print the projected calls, tokens (and cost where the model's price is known) and exit without calling the model.")
@click.option("--track", default=None, metavar="mlflow", help="Log the config, per-step scores, instructions and result to a local MLflow store (optional extra: pip install 'promptlearn[mlflow]').")
@max_errors_option
@llm_options
def fit(
    task_name: str,
    recipe: str | None,
    train: str | None,
    val: str | None,
    templates: str | None,
    epochs: int | None,
    batch_size: int | None,
    seed: int,
    select: str | None,
    no_history: bool,
    history_size: int | None,
    baseline: str | None,
    max_steps: int | None,
    max_cost: float | None,
    patience: int | None,
    out: str | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
    candidates: int | None,
    demos: int | None,
    start: str | None,
    scorer: str | None,
    max_calls: int | None,
    max_tokens: int | None,
    estimate: bool,
    max_errors: int,
    track: str | None = None,
    **kwargs,
) -> None:
    """Learn an instruction for TASK's examples and print it (summary on stderr)."""
    from ..data import load_examples
    from ..error_budget import ErrorBudget, TooManyErrorsError
    from ..errors import InputError
    from ..optimizer import InstructionLearner, check_fit_data, stop_conditions
    from ..optimizer.learner import BASELINE_TEMPLATE_VARIABLES, template_variables
    from ..optimizer.recipes import get_recipe
    from ..runs import RunFolder
    from ..tasks.registry import get_task
    from ..tracking import check_tracker, log_fit

    if quiet:
        from ..progress import silence_library_progress

        silence_library_progress()
    # 1. check every input before the model loads
    check_tracker(track)
    if (resume or overwrite) and out is None:
        raise InputError(f"--{'resume' if resume else 'overwrite'} needs --out (the run directory)")
    if out is not None:
        status = RunFolder(out, argument="out").check(resume=resume, overwrite=overwrite)
        if resume and status.state != "run":
            click.echo(f"note: nothing to resume in {status.path} (no run has taken a step there); starting a new run", err=True)
    task = get_task(task_name)
    chosen = get_recipe(recipe)
    if select == "best" and val is None and not chosen.holdout > 0:
        raise InputError("--select best needs --val (the validation set to select by)")
    chosen.check_task(task.name)
    prompts = task.prompt_library(templates)
    task.check_templates(prompts)
    prompts.check_all(BASELINE_TEMPLATE_VARIABLES if baseline == "in-context" else template_variables(chosen) if baseline is None else {})
    source = train if train is not None else task.default_trainset
    if source is None:
        raise InputError(f"task {task.name!r} has no bundled training set; give --train")
    trainset = load_examples(source, task)
    valset = load_examples(val, task) if val is not None else None
    check_fit_data(task, trainset, valset, baseline=baseline, epochs=chosen.epochs if epochs is None else epochs, select=select or chosen.select, holdout=chosen.holdout)  # type: ignore[arg-type]

    # 2. the LLM and the learner (an estimate loads no model and makes no call)
    errors = ErrorBudget(max_errors, unit="step or answer")
    llm_options_given = pop_llm_options(kwargs)

    def make_learner(llm):
        return InstructionLearner(
            llm,
            task,
            recipe=chosen,
            epochs=epochs,
            batch_size=batch_size,
            history=False if no_history else None,
            history_size=history_size,
            select=select,  # type: ignore[arg-type]
            seed=seed,
            baseline=baseline,
            prompts=prompts,
            run_dir=out,
            resume=resume,
            overwrite=overwrite,
            stop=stop_conditions(max_steps=max_steps, max_cost=max_cost, patience=patience, stop_file=None, max_calls=max_calls, max_tokens=max_tokens),
            progress=not quiet,
            candidates=candidates,
            demos=demos,
            start=start,
            scorer=scorer,
            errors=errors,
        )

    from ..optimizer.estimate import NoCallLLM, estimate_fit

    if estimate:
        click.echo(estimate_fit(make_learner(NoCallLLM(llm_options_given["llm_spec"])), trainset, valset).summary())
        return
    make_learner(NoCallLLM(llm_options_given["llm_spec"]))  # its checks (e.g. --start) before the model loads
    llm = build_llm(**llm_options_given)
    try:
        learner = make_learner(llm)
        # 3. learn
        result = learner.fit(trainset, valset=valset)
    finally:
        llm.close()

    # 4. report: the summary on stderr, the instruction on stdout
    click.echo(result.summary(), err=True)
    if track is not None:
        click.echo(f"tracked: {track} run {log_fit(result, learner.config(trainset, valset))}", err=True)
    if result.run_dir is not None:
        click.echo(f"run directory: {result.run_dir} (instruction.txt, history.jsonl)", err=True)
    if errors.exhausted:  # stopped early, saved; one line, exit != 0, no instruction on stdout
        where = f"; continue with --resume --out {result.run_dir}" if result.run_dir is not None else ""
        raise TooManyErrorsError(f"stopped: {errors.reason()}{where}")
    click.echo("instruction:", err=True)
    click.echo(result.instruction)
    if errors.count:
        click.echo(f"warning: {errors.reason()}", err=True)
