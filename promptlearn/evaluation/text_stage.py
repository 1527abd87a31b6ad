"""The text stage: rewrite every row's query with each instruction (and the methods of the
registry that have a text form, such as the black list) and score the rewrites with the ORES
task's text-level scorer (avoided × similarity).
Runs on a CPU with the embedded LLM; no diffusion model, no judge.

:func:`run_text_bench` reads as numbered steps: check inputs → open the run folder → per
method, rewrite the rows still to do, a chunk at a time → score and record them. Resumable like
the image stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..executors import Executor, LocalExecutor, Preloaded, chunks, iter_outcomes
from ..progress import progress_bar
from ..tasks.base import Example, Task
from .cells import CellStore, Rewrite, text_sha
from .harness import BenchRun
from .protocols import QueryRewriter, check_rewrite_methods, rewrite_rows
from .rows import check_rows, concept_of, query_of
from .rundir import open_run_dir

TEXT_CHUNK_ROWS = 16
"""Rows rewritten per LLM call batch (two local batches of 8)."""


def text_methods() -> list[str]:
    """The registry's methods that have a text form (no LLM): e.g. original, blacklist."""
    from ..synthesis.methods import list_methods

    return [spec.name for spec in list_methods() if spec.text_edit is not None]


def text_edit(method: str, row: Example) -> str:
    """A registry method's text form applied to a row, e.g. the black list: the query with the
    concept's words deleted (the synthesis black list's own text edit)."""
    from ..synthesis.methods import get_method
    from ..tasks.concept_match import split_concepts

    spec = get_method(method)
    if spec.text_edit is None:
        raise InputError(f"method {method!r} has no text form; the text stage compares instructions and {', '.join(text_methods())}")
    return spec.text_edit(query_of(row), split_concepts(concept_of(row)))


def blacklist_rewrite(row: Example) -> str:
    """The black-list baseline at text level (see :func:`text_edit`)."""
    return text_edit("blacklist", row)


def run_text_bench(
    *,
    rows: Sequence[Example],
    out: str | Path,
    task: Task,
    methods: Sequence[str],
    instructions: Mapping[str, str],
    rewriter: QueryRewriter | None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    chunk_size: int = TEXT_CHUNK_ROWS,
    executor: Executor | None = None,
    load: Callable[[], tuple[Task, QueryRewriter | None]] | None = None,
) -> BenchRun:
    """Run (or resume) the text stage into ``out``. A method named in ``instructions`` rewrites
    with that instruction through ``rewriter``; any other must be a registry method with a text
    form (:func:`text_methods`, e.g. ``blacklist``). Rows are rewritten and recorded
    ``chunk_size`` at a time, by ``executor`` (default: here) with ``task`` and ``rewriter``, or with
    what ``load()`` returns (``(task, rewriter)``, built once per worker: what a Ray actor runs)."""
    # 1. check inputs
    check_rows(rows)
    for row in rows:
        task.check_example(row)
    if not methods:
        raise InputError("no method given ({methods})", arguments="methods")
    for method in methods:
        if method not in instructions:
            if method not in text_methods():
                raise InputError(f"method {method!r} needs the {method} instruction ({{instructions}}); methods without one: {', '.join(text_methods())}", arguments="instructions")
    check_rewrite_methods(((m, m) for m in methods if m in instructions), instructions, rewriter)
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")

    # 2. open the run folder
    folder = open_run_dir(
        out,
        fingerprint={"stage": "text", "task": task.name, "rewriter": rewriter.identity() if rewriter is not None else None},
        options={**(options or {}), "methods": list(methods), "row_ids": [row.id for row in rows]},
    )
    cells = CellStore(folder)
    run = BenchRun(folder)

    # 3. plan: per method, the rows still to do, a chunk at a time (the bar moves and an
    #    interrupted run keeps what it recorded)
    units: list[TextUnit] = []
    for method in methods:
        instruction = instructions.get(method, "")
        sha = text_sha(instruction) if method in instructions else None
        todo = [row for row in rows if not cells.is_current(row, method, None, sha)]
        run.skipped += len(rows) - len(todo)
        units += [TextUnit(method, sha, instruction, tuple(chunk)) for chunk in chunks(todo, chunk_size)]

    # 4. rewrite and score them (on the executor's workers), record each chunk as it finishes
    load = load or Preloaded((task, rewriter))
    with progress_bar(len(methods) * len(rows), "bench text", enabled=progress, unit="row") as bar, \
            (executor or LocalExecutor()).start(load) as pool:
        bar.update(run.skipped)
        for unit, outcome in iter_outcomes(pool, score_text_unit, units):
            records = outcome.value if outcome.ok else [
                {**_base(unit, row), "status": "failed", "error": f"worker failed: {outcome.error}"} for row in unit.rows]
            for record in records:
                cells.add(record)
                run.count(record, f"{record['row_id']} / {unit.method}")
            bar.update(len(unit.rows))
    return run



@dataclass(frozen=True)
class TextUnit:
    """One unit of the text stage: a chunk of rows to rewrite with one method."""

    method: str
    sha: str | None  # the instruction's hash; None: a registry method's text form
    instruction: str
    rows: tuple[Example, ...]


def _base(unit: TextUnit, row: Example) -> dict[str, Any]:
    return {"row_id": row.id, "method": unit.method, "seed": None, "concept": concept_of(row), "query": query_of(row), "instruction_sha": unit.sha}


def score_text_unit(worker: tuple[Task, QueryRewriter | None], unit: TextUnit) -> list[dict[str, Any]]:
    """Rewrite a chunk with one method and score the rewrites: one cell record per row (runs in
    a worker: writes nothing)."""
    task, rewriter = worker
    rows, method = unit.rows, unit.method
    if unit.sha is None:  # a registry method's text form, no LLM
        rewrites = [Rewrite(text_edit(method, row)) for row in rows]
    else:
        assert rewriter is not None  # checked in step 1
        rewrites = rewrite_rows(rewriter, rows, unit.instruction)
    scored = [(row, rw) for row, rw in zip(rows, rewrites) if rw.text is not None]
    scores = task.scorer.score([row for row, _ in scored], [rw.text for _, rw in scored]) if scored else []
    by_id = {row.id: score for (row, _), score in zip(scored, scores)}
    records: list[dict[str, Any]] = []
    for row, rw in zip(rows, rewrites):
        base = _base(unit, row)
        if rw.text is None:
            records.append({**base, "status": "failed", "error": rw.error or "no rewrite", "raw": rw.raw})
            continue
        score = by_id[row.id]
        details = dict(score.details)
        records.append(
            {
                **base,
                "status": "ok",
                "rewrite": rw.text,
                "raw": rw.raw,
                "avoided": bool(details.get("avoided", score.value > 0)),
                "similarity": details.get("similarity"),
                "score": score.value,
                "details": {k: v for k, v in details.items() if k not in ("avoided", "similarity")},
            }
        )
    return records
