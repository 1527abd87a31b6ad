"""``promptlearn rewrite``: rewrite queries with a learned instruction, verified."""

from __future__ import annotations

import json

import click

from ..errors import PromptlearnError
from ..rewriter import DEFAULT_MIN_SIMILARITY
from .options import build_llm, llm_options, pop_llm_options


class RewritesFailed(PromptlearnError):
    """Rows still fail the check after the retries: exit code 1, as a test runner's failed tests."""

    exit_code = 1


@click.command()
@click.argument("queries", nargs=-1)
@click.option("--instruction", "instruction_path", required=True, help="The instruction: a text file, a fit run folder (its learned instruction), or a named source (human, in-context).")
@click.option("--task", "task_name", default="ores", show_default=True, help="Task name, or a .py/.yaml task file.")
@click.option("--concept", default=None, help="The concept(s) to avoid, for QUERIES given on the command line.")
@click.option("--input", "input_path", default=None, type=click.Path(), help="A .tsv/.csv/.jsonl file of inputs (for ORES: concept and query columns).")
@click.option("--output", "output_path", default=None, type=click.Path(dir_okay=False), help="Write JSON lines here (atomically) instead of stdout.")
@click.option("--verify", "verify_retries", default=None, type=click.IntRange(min=0), help="Check each rewrite (concept avoided and similarity to the query >= --min-similarity), ask again with the failure shown up to N times; exit code 1 when a row still fails.")
@click.option("--min-similarity", default=DEFAULT_MIN_SIMILARITY, show_default=True, type=click.FloatRange(0.0, 1.0), help="Least similarity to the query a verified rewrite needs (rejects an echoed instruction).")
@click.option("--threshold", default=None, type=click.FloatRange(0.0, 1.0), help="Check the whole task score against this value instead of avoidance and similarity.")
@click.option("--allow-failures", is_flag=True, help="With --verify: exit 0 even when rows still fail the check.")
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
    verify_retries: int | None,
    min_similarity: float,
    threshold: float | None,
    allow_failures: bool,
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
    from ..instructions import resolve_instruction
    from ..rewriter import Rewriter
    from ..tasks.registry import get_task

    # 1. check every input before the model loads
    task = get_task(task_name)
    try:
        instruction = resolve_instruction(instruction_path, task=task).text
    except InputError as exc:
        raise InputError(f"--instruction: {exc}") from None
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
        rewriter = Rewriter(llm, task, instruction, verify_retries=verify_retries or 0, threshold=threshold,
                            min_similarity=min_similarity, prompts=prompts, params={"max_tokens": max_tokens})
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
    click.echo(f"{len(results)} rewritten, {failed} failing the check, {retried} retries (up to {verify_retries or 0} per row); {llm.usage.summary()}", err=True)
    if verify_retries is not None and failed and not allow_failures:
        raise RewritesFailed(f"{failed} of {len(results)} rewrites fail the check (--allow-failures to exit 0)")
