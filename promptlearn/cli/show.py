"""``promptlearn show RUN``: a fit's starting and learned instruction on held-out examples."""

from __future__ import annotations

import click

from .options import build_llm, llm_options, pop_llm_options


@click.command()
@click.argument("run", type=click.Path())
@click.option("--examples", "data", default=None, help="Held-out examples to score on: a bundled dataset name or a file [default: the task's test split].")
@click.option("--limit", default=0, type=click.IntRange(min=0), help="Use only the first N examples (0: all).")
@click.option("--show", "n_examples", default=3, show_default=True, type=click.IntRange(min=0), help="Example rewrites printed for each instruction.")
@llm_options
def show(run: str, data: str | None, limit: int, n_examples: int, **kwargs) -> None:
    """Print RUN's starting and learned instruction with their held-out scores and example rewrites."""
    from ..data import load_examples
    from ..errors import InputError
    from ..optimizer.show import compare_run, run_instructions
    from ..tasks.registry import get_task

    config, *_ = run_instructions(run, argument="run")  # checked before the model loads
    task = get_task(config["task"])
    source = data or task.default_testset
    if source is None:
        raise InputError(f"task {task.name!r} has no bundled test split; give --examples")
    examples = load_examples(source, task)[: limit or None]
    llm = build_llm(**pop_llm_options(kwargs))
    try:
        comparison = compare_run(llm, task, run, examples, held_out=f"{source} ({len(examples)})", n_examples=n_examples)
    finally:
        llm.close()
    click.echo(comparison.text())
