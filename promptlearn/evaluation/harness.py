"""The image-stage benchmark: for every row, seed and method, make an image, ask the judge
whether the concept is in it and measure how far it is from the unconstrained image.

:func:`run_image_bench` reads as numbered steps: check inputs → open the run folder → rewrite
the queries (once per row and instruction) → plan the cells still to do → make, judge and
record them. Cells already finished in ``results.jsonl`` are skipped; a cell that fails is
recorded with its error and does not stop the run.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import InputError, PromptlearnError
from ..files import atomic_write_bytes
from ..progress import progress_bar
from ..synthesis.methods import REFERENCE_METHOD, MethodSpec, get_method
from ..synthesis.switch_step import SwitchStep, resolve_switch_step
from ..tasks.base import Example
from .cells import CellStore, Rewrite, RewriteStore, error_text, text_sha
from .judges.base import Judge, JudgeAnswer
from .metrics import mse
from .protocols import GenerationRequest, ImageGenerator, QueryRewriter, check_rewrite_methods, rewrite_rows
from .rows import check_rows, concept_of, query_of, safe_name
from .rundir import open_run_dir

logger = logging.getLogger(__name__)

IMAGES_DIR = "images"


@dataclass
class BenchRun:
    """What a call did: cells made now, failed now, and skipped because they were done."""

    folder: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def run_image_bench(
    *,
    rows: Sequence[Example],
    out: str | Path,
    generator: ImageGenerator,
    judge: Judge,
    methods: Sequence[str],
    seeds: Sequence[int],
    switch_step: SwitchStep,
    rewriter: QueryRewriter | None = None,
    instructions: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    rewrites_per_seed: bool = False,
) -> BenchRun:
    """Run (or resume) the image stage into ``out``.

    ``methods`` are names of the method registry (:mod:`promptlearn.synthesis.methods`);
    ``instructions`` maps the instruction sources they rewrite with (``"learned"``,
    ``"initial"``) to instruction texts. ``switch_step`` is S as steps or a fraction of the
    generator's steps (resolved once, by :func:`resolve_switch_step`). With
    ``rewrites_per_seed`` every (row, instruction, seed) gets its own rewrite (the paper calls the
    LLM once per image; the rewriter samples with the seed in the request); otherwise one rewrite
    per (row, instruction) is shared by all seeds. The unconstrained image (method ``original``) of every (row, seed) is made
    even when ``original`` is not among ``methods``: it is the similarity reference."""
    # 1. check inputs
    check_rows(rows)
    chosen = [get_method(m) for m in methods]
    if REFERENCE_METHOD not in [m.name for m in chosen]:
        chosen.insert(0, get_method(REFERENCE_METHOD))
    instructions = dict(instructions or {})
    check_rewrite_methods(((m.name, m.instruction) for m in chosen if m.instruction is not None), instructions, rewriter)
    if not seeds:
        raise InputError("no seeds given ({seeds})", arguments="seeds")
    steps = generator.identity().get("steps")
    resolved_switch = resolve_switch_step(switch_step, int(steps) if steps else 10**9)  # without steps: its form only

    # 2. open the run folder (refuses a folder made with another generator, judge or rewriter)
    folder = open_run_dir(
        out,
        fingerprint={
            "stage": "image",
            "generator": generator.identity(),
            "judge": judge.identity(),
            "rewriter": rewriter.identity() if rewriter is not None else None,
            "switch_step": resolved_switch,
            **({"rewrites": "per-seed"} if rewrites_per_seed else {}),
        },
        options={**(options or {}), "methods": [m.name for m in chosen], "seeds": list(seeds), "row_ids": [row.id for row in rows]},
    )
    cells = CellStore(folder)
    run = BenchRun(folder)

    # 3. rewrites: once per (row, instruction), shared by every method and seed that uses them,
    #    or once per (row, instruction, seed) when drawn per image
    needed = sorted({m.instruction for m in chosen if m.instruction is not None})
    rewrites = _ensure_rewrites(folder, rows, rewriter, {n: instructions[n] for n in needed}, progress,
                                seeds=list(seeds) if rewrites_per_seed else [None])

    # 4. plan the cells still to do
    pending: list[tuple[Example, int, list[MethodSpec]]] = []
    for row in rows:
        for seed in seeds:
            todo = [m for m in chosen if not _finished(cells, row, m, seed, instructions)]
            reference_lost = not _image_path(folder, row, REFERENCE_METHOD, seed).is_file()
            if todo and reference_lost and all(m.name != REFERENCE_METHOD for m in todo):
                todo.insert(0, get_method(REFERENCE_METHOD))  # its image is needed again
            run.skipped += len(chosen) - len(todo)
            if todo:
                pending.append((row, seed, todo))

    # 5. make, judge and record them
    total = sum(len(todo) for _, _, todo in pending)
    with progress_bar(total, "bench images", enabled=progress, unit="cell") as bar:
        for row, seed, todo in pending:
            _run_group(folder, cells, run, row, seed, todo, generator, judge, rewrites, instructions, resolved_switch,
                       rewrite_seed=seed if rewrites_per_seed else None)
            bar.update(len(todo))
    return run


def _finished(cells: CellStore, row: Example, method: MethodSpec, seed: int, instructions: Mapping[str, str]) -> bool:
    sha = text_sha(instructions[method.instruction]) if method.instruction is not None else None
    return cells.is_current(row, method.name, seed, sha)


def _ensure_rewrites(
    folder: Path,
    rows: Sequence[Example],
    rewriter: QueryRewriter | None,
    instructions: Mapping[str, str],
    progress: bool,
    *,
    seeds: Sequence[int | None] = (None,),
) -> dict[tuple[str, str, int | None], Rewrite]:
    """Rewrite every row with every needed instruction (per seed, or once with seed None),
    reusing stored rewrites."""
    store = RewriteStore(folder)
    out: dict[tuple[str, str, int | None], Rewrite] = {}
    for name, instruction in instructions.items():
        for seed in seeds:
            missing = []
            for row in rows:
                stored = store.get(row.id, instruction, seed)
                if stored is not None and stored.error is None:
                    out[(row.id, name, seed)] = stored
                else:
                    missing.append(row)
            if not missing:
                continue
            assert rewriter is not None  # checked in step 1
            if progress:
                logger.info("rewriting %d queries with the %s instruction%s", len(missing), name,
                            "" if seed is None else f" (seed {seed})")
            results = rewrite_rows(rewriter, missing, instruction, seed=seed)
            for row, rewrite in zip(missing, results):
                store.add(row.id, name, instruction, rewrite, seed=seed)
                out[(row.id, name, seed)] = rewrite
    return out


def _image_path(folder: Path, row: Example, method: str, seed: int) -> Path:
    return folder / IMAGES_DIR / safe_name(row.id) / f"{method}-seed{seed}.png"


def _save_png(path: Path, image: Any) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _run_group(
    folder: Path,
    cells: CellStore,
    run: BenchRun,
    row: Example,
    seed: int,
    todo: Sequence[MethodSpec],
    generator: ImageGenerator,
    judge: Judge,
    rewrites: Mapping[tuple[str, str], Rewrite],
    instructions: Mapping[str, str],
    switch_step: int,
    *,
    rewrite_seed: int | None = None,
) -> None:
    """Make, judge and record the pending cells of one (row, seed)."""
    from PIL import Image

    concept, query = concept_of(row), query_of(row)
    base = {"row_id": row.id, "seed": seed, "concept": concept, "query": query}

    def fail(method: MethodSpec, error: str, extra: Mapping[str, Any] | None = None) -> None:
        cells.add({**base, **(extra or {}), "method": method.name, "status": "failed", "error": error})
        run.failed += 1
        run.errors.append(f"{row.id} / {method.name} / seed {seed}: {error}")
        logger.warning("cell failed: %s / %s / seed %s: %s", row.id, method.name, seed, error)

    # the reference: this seed's unconstrained image, made now or read back
    reference = None
    reference_path = _image_path(folder, row, REFERENCE_METHOD, seed)
    if any(m.name != REFERENCE_METHOD for m in todo) and cells.is_finished(row.id, REFERENCE_METHOD, seed) and reference_path.is_file():
        with Image.open(reference_path) as stored:
            reference = stored.convert("RGB")

    made: list[tuple[MethodSpec, dict[str, Any], Any]] = []
    ordered = sorted(todo, key=lambda m: m.name != REFERENCE_METHOD)  # the reference first
    for method in ordered:
        extra: dict[str, Any] = {"prompt": query}
        rewrite_text = None
        if method.instruction is not None:
            rewrite = rewrites[(row.id, method.instruction, rewrite_seed)]
            extra.update(instruction=method.instruction, instruction_sha=text_sha(instructions[method.instruction]))
            if rewrite.text is None or not rewrite.text.strip():
                fail(method, f"rewrite failed: {rewrite.error or 'empty rewrite'}", extra)
                continue
            rewrite_text = rewrite.text.strip()
            extra.update(rewrite=rewrite_text, prompt=rewrite_text)
        switch = method.switch_step_for(switch_step)
        if switch is not None:
            extra["switch_step"] = switch
        if method.name != REFERENCE_METHOD and reference is None:
            fail(method, "no unconstrained reference image for this row and seed", extra)
            continue
        request = GenerationRequest(method.name, query, concept, seed, rewrite=rewrite_text, switch_step=switch)
        started = time.perf_counter()
        try:
            image = generator.generate(request).convert("RGB")
            path = _image_path(folder, row, method.name, seed)
            _save_png(path, image)
            distance = 0.0 if method.name == REFERENCE_METHOD else mse(image, reference)
        except Exception as exc:  # one cell's failure is recorded and reported, not fatal
            fail(method, error_text(exc), extra)
            continue
        extra.update(image=path.relative_to(folder).as_posix(), mse=distance, seconds=round(time.perf_counter() - started, 3))
        if method.name == REFERENCE_METHOD:
            reference = image
        made.append((method, extra, image))

    for (method, extra, _), answer in zip(made, _judge_all(judge, [im for _, _, im in made], concept)):
        if isinstance(answer, str):
            fail(method, answer, extra)
            continue
        cells.add({**base, **extra, "method": method.name, "status": "ok", "judge": answer.to_json(), "avoided": not answer.present})
        run.done += 1


def _judge_all(judge: Judge, images: Sequence[Any], concept: str) -> list[JudgeAnswer | str]:
    """Judge a group in one call; if that fails, image by image, so one bad answer fails one cell."""
    if not images:
        return []
    try:
        answers = judge.judge(list(images), [concept] * len(images))
        if len(answers) != len(images):
            raise PromptlearnError(f"judge returned {len(answers)} answers for {len(images)} images")
        return list(answers)
    except Exception as exc:  # isolate the failing image below
        logger.info("judging a group failed (%s); judging image by image", error_text(exc))
    out: list[JudgeAnswer | str] = []
    for image in images:
        try:
            out.append(judge.judge([image], [concept])[0])
        except Exception as exc:  # recorded as this cell's failure
            out.append(f"judge failed: {error_text(exc)}")
    return out
