"""``promptlearn rewrite``: rewrite queries with a learned instruction, verified."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import build_llm, llm_options, pop_llm_options


@click.command()
@click.argument("queries", nargs=-1)
@click.option("--instruction", "instruction_path", required=True, type=click.Path(), help="The instruction: a text file, or a run directory holding instruction.txt.")
@click.option("--task", "task_name", default="ores", show_default=True, help="Task name, or a .py/.yaml task file.")
@click.option("--concept", default=None, help="The concept(s) to avoid, for QUERIES given on the command line.")
@click.option("--input", "input_path", default=None, type=click.Path(), help="A .tsv/.csv/.jsonl file of inputs (for ORES: concept and query columns).")
@click.option("--output", "output_path", default=None, type=click.Path(dir_okay=False), help="Write JSON lines here (atomically) instead of stdout.")
@click.option("--verify", "verify_retries", default=0, show_default=True, type=click.IntRange(min=0), help="Check each rewrite and ask again with the failure shown, up to N times.")
@click.option("--threshold", default=None, type=click.FloatRange(0.0, 1.0), help="Check the whole task score against this value instead of the avoidance part.")
@click.option("--templates", type=click.Path(file_okay=False), default=None, help="Folder of templates overriding the built-in ones.")
@click.option("--max-tokens", default=64, show_default=True, type=click.IntRange(min=1), help="Tokens per rewrite.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@llm_options
def rewrite(
    queries: tuple[str, ...],
    instruction_path: str,
    task_name: str,
    concept: str | None,
    input_path: str | None,
    output_path: str | None,
    verify_retries: int,
    threshold: float | None,
    templates: str | None,
    max_tokens: int,
    quiet: bool,
    **kwargs,
) -> None:
    """Rewrite QUERIES (with --concept) or the rows of --input with a learned instruction.

    \b
    promptlearn rewrite --instruction runs/demo/instruction.txt --concept "golden brown" "Indulge in this caramelized dessert"
    promptlearn rewrite --instruction runs/demo --input queries.tsv --output rewrites.jsonl --verify 2
    """
    from ..data import load_examples
    from ..errors import InputError
    from ..files import atomic_write_text, check_output_file
    from ..rewriter import Rewriter
    from ..tasks.registry import get_task

    # 1. check every input before the model loads
    instruction = _read_instruction(Path(instruction_path))
    task = get_task(task_name)
    prompts = task.prompt_library(templates)
    if input_path is not None and (queries or concept is not None):
        raise InputError("give either --input FILE or --concept with QUERIES, not both")
    if input_path is not None:
        items: list = load_examples(input_path, task)
    else:
        if not queries or concept is None:
            raise InputError("give --concept and one or more QUERIES, or --input FILE")
        if set(task.input_fields) != {"concept", "query"}:
            raise InputError(f"task {task.name!r} has input fields {', '.join(task.input_fields)}; use --input FILE")
        items = [{"concept": concept, "query": query} for query in queries]
    if output_path is not None:
        check_output_file(output_path, "--output")

    # 2. rewrite
    llm = build_llm(**pop_llm_options(kwargs))
    try:
        rewriter = Rewriter(llm, task, instruction, verify_retries=verify_retries, threshold=threshold, prompts=prompts, params={"max_tokens": max_tokens})
        results = rewriter.rewrite_many(items, progress=not quiet)
    finally:
        llm.close()

    # 3. output: JSON lines for files, plain rewrites for command-line queries
    lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in results)
    if output_path is not None:
        atomic_write_text(output_path, lines)
    elif input_path is not None:
        click.echo(lines, nl=False)
    else:
        for index, result in enumerate(results, 1):
            click.echo(result.output)
            if result.passed is False:
                click.echo(f"warning: rewrite {index} fails the check after {result.retries} retries: {result.problem}", err=True)
    failed = sum(1 for r in results if r.passed is False)
    retried = sum(r.retries for r in results)
    click.echo(f"{len(results)} rewritten, {failed} failing the check, {retried} retries; {llm.usage.summary()}", err=True)


def _read_instruction(path: Path) -> str:
    from ..errors import InputError

    if path.is_dir():
        path = path / "instruction.txt"
    if not path.is_file():
        raise InputError(f"instruction file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read instruction file {path}: {exc}") from None
    if not text:
        raise InputError(f"instruction file {path} is empty")
    return text
