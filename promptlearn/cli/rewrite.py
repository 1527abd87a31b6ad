"""``promptlearn rewrite``: rewrite queries with a learned instruction, verified."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import PromptlearnError
from ..rewriter import DEFAULT_MIN_SIMILARITY
from .options import build_llm, executor_options, llm_options, llm_settings, max_errors_option, pop_executor, pop_llm_options, task_source


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
@max_errors_option
@llm_options
@executor_options
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
    max_errors: int,
    **kwargs,
) -> None:
    """Rewrite QUERIES (with --concept) or the rows of --input with a learned instruction.

    \b
    promptlearn rewrite --instruction runs/demo/instruction.txt --concept "golden brown" "Indulge in this caramelized dessert"
    promptlearn rewrite --instruction runs/demo --input queries.tsv --output rewrites.jsonl --verify 2
    """
    from ..data import load_examples
    from ..error_budget import ErrorBudget, TooManyErrorsError
    from ..executors import LocalExecutor, chunks
    from ..llm.usage import Usage
    from ..workers import Loaded, RewriteWorker, ray_data_vllm, rewrite_chunk
    from ..errors import InputError
    from ..files import atomic_write_text, check_output_file
    from ..instructions import resolve_instruction
    from ..progress import progress_bar
    from ..rewriter import TEMPLATE_VARIABLES, Rewriter
    from ..tasks.registry import get_task

    if quiet:
        from ..progress import silence_library_progress

        silence_library_progress()
    # 1. check every input before the model loads
    task = get_task(task_name)
    try:
        instruction = resolve_instruction(instruction_path, task=task).text
    except InputError as exc:
        raise InputError(f"--instruction: {exc}") from None
    prompts = task.prompt_library(templates)
    task.check_templates(prompts)
    prompts.check_all(TEMPLATE_VARIABLES)
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
        for index, item in enumerate(items):
            if not item["concept"].strip() or not item["query"].strip():
                raise InputError(f"{'--concept' if not item['concept'].strip() else f'QUERY {index + 1}'} is empty")
    executor = pop_executor(kwargs)
    partial = None
    if output_path is not None:
        check_output_file(output_path, "--output")
        partial = _Partial(Path(output_path))

    # 2. rewrite in chunks; with --output each finished chunk goes to OUTPUT.partial.jsonl, so a
    #    rerun after a failure or a kill pays only for the rows not yet done
    llm_options_ = pop_llm_options(kwargs)
    ray_data = ray_data_vllm(executor, llm_options_["llm_spec"])
    if ray_data is None:
        llm = build_llm(**llm_options_)
    else:  # vLLM on ray.data.llm: the engines spread each batch; the chunks are sent from here
        llm = llm_settings(**llm_options_).load(ray_data=ray_data)
        executor = LocalExecutor()
        click.echo(f"rewriting on ray.data.llm's vLLM processor ({ray_data['engines']} engines)", err=True)
    errors = ErrorBudget(max_errors, unit="row")
    usage = Usage()
    try:
        rewriter = Rewriter(llm, task, instruction, verify_retries=verify_retries or 0, threshold=threshold,
                            min_similarity=min_similarity, prompts=prompts, params={"max_tokens": max_tokens})
        examples = [rewriter._as_example(item, index) for index, item in enumerate(items)]
        for example in examples:
            task.check_example(example)
        fingerprint = {
            "instruction": instruction,
            "task": task.name,
            "llm": llm.spec,
            "identity": dict(llm.backend.identity()),
            "verify": verify_retries or 0,
            "threshold": threshold,
            "min_similarity": min_similarity,
            "max_tokens": max_tokens,
            "templates": {name: prompts.source(name) for name in (task.predict_template, *TEMPLATE_VARIABLES)},
        }
        done = partial.load(fingerprint, examples) if partial is not None else {}
        if done and len(done) == len(examples) and partial.finished:
            click.echo(f"{output_path} is already complete for this rewrite: no calls (delete it to rewrite again)", err=True)
        elif done:
            click.echo(f"resuming: {len(done)} of {len(examples)} rows already done in {partial.path}", err=True)
        results: dict[int, object] = dict(done)
        todo = [i for i in range(len(examples)) if i not in done]
        units = chunks(todo, _chunk_size(llm))
        # the local executor uses the rewriter built here; a Ray actor builds its own (same LLM
        # settings, cache and retries)
        load = Loaded(rewriter) if executor.name == "local" else RewriteWorker(
            llm_settings(**llm_options_), task_source(task_name), instruction, verify_retries=verify_retries or 0,
            threshold=threshold, min_similarity=min_similarity, templates=templates, max_tokens=max_tokens)
        with progress_bar(len(examples), "rewrite", enabled=not quiet, unit="row") as bar, \
                (executor.start(load) if units else LocalExecutor().start(load)) as pool:  # nothing to do: no actors
            bar.update(len(done))
            for outcome in pool.map(rewrite_chunk, [[examples[i] for i in indices] for indices in units]):
                indices = units[outcome.index]
                if outcome.ok:
                    batch = outcome.value.results
                    for where, why in outcome.value.failures:
                        errors.record(where, why)
                    usage.add(Usage(**outcome.value.usage))
                else:  # the worker kept failing: its rows are failed rows, retried by a rerun
                    batch = [rewriter._failed(examples[i], f"worker failed: {outcome.error}") for i in indices]
                    for i in indices:
                        errors.record(f"row {examples[i].id}", outcome.error or "worker failed")
                results.update(zip(indices, batch))
                if partial is not None:
                    partial.append([(i, r) for i, r in zip(indices, batch) if r.error is None])
                bar.update(len(indices))
                if errors.exhausted:
                    break
    finally:
        llm.close()
    if errors.exhausted:
        saved = f"; {sum(1 for r in results.values() if r.error is None)} of {len(examples)} rows are saved in {partial.path}, rerun the same command to finish" if partial is not None else ""
        raise TooManyErrorsError(f"stopped: {errors.reason()}{saved}")
    ordered = [results[i] for i in range(len(examples))]

    # 3. output: JSON lines for files, plain rewrites for command-line queries
    lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in ordered)
    if output_path is not None:
        atomic_write_text(output_path, lines)
        if not errors.count:
            partial.complete(lines)
    elif input_path is not None:
        click.echo(lines, nl=False)
    else:
        for index, result in enumerate(ordered, 1):
            click.echo(result.output)
            if result.error is not None:
                click.echo(f"warning: rewrite {index} failed: {result.error}", err=True)
            elif result.passed is False:
                click.echo(f"warning: rewrite {index} fails the check after {result.retries} retries: {result.problem}", err=True)
    failed = sum(1 for r in ordered if r.passed is False)
    retried = sum(r.retries for r in ordered)
    click.echo(f"{len(ordered)} rewritten, {failed} failing the check, {retried} retries (up to {verify_retries or 0} per row); {usage.summary()}", err=True)
    if errors.count:
        again = " (marked \"error\"; rerun the same command to retry only them)" if partial is not None else ""
        click.echo(f"warning: {errors.reason()}{again}", err=True)
    if verify_retries is not None and failed and not allow_failures:
        raise RewritesFailed(f"{failed} of {len(ordered)} rewrites fail the check (--allow-failures to exit 0)")


def _chunk_size(llm) -> int:
    """Rows per chunk: one round of calls (eight times the concurrency of a remote API, or
    a few engine batches of a local model); without the cache a kill re-pays at most one chunk"""
    from ..llm.backend import BatchBackend

    if isinstance(llm.backend, BatchBackend):
        return 4 * max(1, int(llm.backend.max_batch_size))
    return 8 * llm.concurrency


class _Partial:
    """``OUTPUT.partial.jsonl``: the finished rows of an unfinished ``rewrite --output``.

    Its first line is a header with a fingerprint of everything that decides a row's rewrite
    (instruction, task, LLM, templates, flags); each further line is one finished row
    ``{"index": i, "row": {...}}``. A rerun with the same fingerprint keeps the rows whose
    inputs still match; any other partial file is replaced. Lines are appended and fsynced per
    chunk; a line torn by a kill is dropped. Once OUTPUT is written with no failed row, the file
    keeps only its header, marked complete with OUTPUT's SHA-256: a rerun of the same rewrite
    then takes its rows from OUTPUT (the same input checks) and pays for nothing; an OUTPUT
    edited since, or another rewrite, starts afresh."""

    def __init__(self, output: Path):
        self.path = output.with_name(f"{output.name}.partial.jsonl")
        self._digest: str | None = None
        self.finished = False  # rows taken from a finished OUTPUT

    def load(self, fingerprint: dict, examples: list) -> dict:
        import hashlib

        from ..files import read_jsonl
        from ..rewriter import RewriteResult

        self._digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
        done: dict = {}
        if self.path.is_file():
            try:
                records = read_jsonl(self.path)
            except Exception:  # a damaged file: start again (it only ever saves money)
                records = []
            if records and isinstance(records[0], dict) and records[0].get("fingerprint") == self._digest:
                fields = list(examples[0].inputs) if examples else []
                if records[0].get("output_sha256"):  # a finished rewrite: its rows are OUTPUT's lines
                    records = records[:1] + self._finished_rows(records[0]["output_sha256"])
                    self.finished = len(records) > 1
                for record in records[1:]:
                    try:
                        index = int(record["index"])
                        result = RewriteResult.from_json(record["row"], fields)
                    except (KeyError, TypeError, ValueError):
                        continue
                    if 0 <= index < len(examples) and result.id == examples[index].id and dict(result.inputs) == dict(examples[index].inputs):
                        done[index] = result
            elif records:
                click.echo(f"note: {self.path} is from another rewrite (instruction, LLM, templates or flags differ); starting afresh", err=True)
        self._start(done)
        return done

    def _start(self, done: dict) -> None:
        """Rewrite the file with the header and the rows kept (drops torn or stale lines)."""
        from ..files import atomic_write_text

        lines = [json.dumps({"kind": "promptlearn.rewrite.partial", "fingerprint": self._digest})]
        lines += [json.dumps({"index": i, "row": r.to_json()}, ensure_ascii=False) for i, r in sorted(done.items())]
        atomic_write_text(self.path, "\n".join(lines) + "\n")

    def append(self, rows: list) -> None:
        import os

        if not rows:
            return
        text = "".join(json.dumps({"index": i, "row": r.to_json()}, ensure_ascii=False) + "\n" for i, r in rows)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    def _finished_rows(self, sha256: str) -> list:
        """OUTPUT's rows as partial records, when OUTPUT is still the file this rewrite wrote."""
        import hashlib

        output = self.path.with_name(self.path.name[: -len(".partial.jsonl")])
        try:
            data = output.read_bytes()
        except OSError:
            return []
        if hashlib.sha256(data).hexdigest() != sha256:
            return []
        try:
            return [{"index": i, "row": json.loads(line)} for i, line in enumerate(data.decode("utf-8").splitlines())]
        except ValueError:
            return []

    def complete(self, output_text: str) -> None:
        """OUTPUT is written with every row: keep only the header, marked with OUTPUT's hash."""
        import hashlib

        from ..files import atomic_write_text

        header = {"kind": "promptlearn.rewrite.partial", "fingerprint": self._digest,
                  "output_sha256": hashlib.sha256(output_text.encode("utf-8")).hexdigest()}
        atomic_write_text(self.path, json.dumps(header) + "\n")
