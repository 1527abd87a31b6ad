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
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError, PromptlearnError
from ..files import atomic_write_bytes
from ..executors import Executor, LocalExecutor, Preloaded, iter_outcomes
from ..progress import progress_bar
from ..synthesis.methods import REFERENCE_METHOD, MethodSpec, ensure_method, get_method
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
    """What a call did: cells made now, failed now, and skipped because they were done;
    ``start_seconds``: starting the workers (loading their models), ``cells_seconds``: making,
    judging and recording the cells (the image stage)."""

    folder: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    start_seconds: float = 0.0
    cells_seconds: float = 0.0

    def count(self, record: Mapping[str, Any], where: str) -> bool:
        """Count one recorded cell: done when its status is ok, else failed, with ``where: error``
        kept in ``errors``; True when it was ok."""
        if record["status"] == "ok":
            self.done += 1
            return True
        self.failed += 1
        self.errors.append(f"{where}: {record['error']}")
        return False


def run_image_bench(
    *,
    rows: Sequence[Example],
    out: str | Path,
    generator: ImageGenerator | None = None,
    judge: Judge | None = None,
    methods: Sequence[str],
    seeds: Sequence[int],
    switch_step: SwitchStep,
    rewriter: QueryRewriter | None = None,
    instructions: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    rewrites_per_seed: bool = False,
    executor: Executor | None = None,
    load: Callable[[], tuple[ImageGenerator, Judge]] | None = None,
) -> BenchRun:
    """Run (or resume) the image stage into ``out``.

    ``methods`` are names of the method registry (:mod:`promptlearn.synthesis.methods`);
    ``instructions`` maps the instruction sources they rewrite with (``"learned"``,
    ``"initial"``) to instruction texts. ``switch_step`` is S as steps or a fraction of the
    generator's steps (resolved once, by :func:`resolve_switch_step`). With
    ``rewrites_per_seed`` every (row, instruction, seed) gets its own rewrite (the paper calls the
    LLM once per image; the rewriter samples with the seed in the request); otherwise one rewrite
    per (row, instruction) is shared by all seeds. The unconstrained image (method ``original``) of every (row, seed) is made
    even when ``original`` is not among ``methods``: it is the similarity reference.

    The images are made and judged by ``executor`` (:mod:`promptlearn.executors`; default: here,
    one after another) a (row, seed) group of cells at a time, with ``generator`` and ``judge``,
    or with what ``load()`` returns (``(generator, judge)``, built once per worker: what a Ray
    actor runs). Every cell is recorded here, as its group finishes."""
    # 1. check inputs
    check_rows(rows)
    chosen = [get_method(m) for m in methods]
    if REFERENCE_METHOD not in [m.name for m in chosen]:
        chosen.insert(0, get_method(REFERENCE_METHOD))
    instructions = dict(instructions or {})
    check_rewrite_methods(((m.name, m.instruction) for m in chosen if m.instruction is not None), instructions, rewriter)
    if not seeds:
        raise InputError("no seeds given ({seeds})", arguments="seeds")
    if load is None:
        if generator is None or judge is None:
            raise InputError("give a generator and a judge, or load ({generator}, {judge})", arguments=("generator", "judge"))
        load = Preloaded((generator, judge))
    executor = executor or LocalExecutor()

    started = time.perf_counter()
    with executor.start(load) as pool:
        start_seconds = time.perf_counter() - started
        generator_identity, judge_identity = pool.call(_identities)
        steps = generator_identity.get("steps")
        resolved_switch = resolve_switch_step(switch_step, int(steps) if steps else 10**9)  # without steps: its form only

        # 2. open the run folder (refuses a folder made with another generator, judge or rewriter)
        folder = open_run_dir(
            out,
            fingerprint={
                "stage": "image",
                "generator": generator_identity,
                "judge": judge_identity,
                "rewriter": rewriter.identity() if rewriter is not None else None,
                "switch_step": resolved_switch,
                **({"rewrites": "per-seed"} if rewrites_per_seed else {}),
            },
            options={**(options or {}), "methods": [m.name for m in chosen], "seeds": list(seeds), "row_ids": [row.id for row in rows]},
        )
        cells = CellStore(folder)
        run = BenchRun(folder, start_seconds=start_seconds)

        # 3. rewrites: once per (row, instruction), shared by every method and seed that uses them,
        #    or once per (row, instruction, seed) when drawn per image
        needed = sorted({m.instruction for m in chosen if m.instruction is not None})
        rewrites = _ensure_rewrites(folder, rows, rewriter, {n: instructions[n] for n in needed}, progress,
                                    seeds=list(seeds) if rewrites_per_seed else [None])

        # 4. plan the cells still to do, a group per (row, seed)
        shas = {name: text_sha(instructions[name]) for name in needed}
        units: list[ImageUnit] = []
        for row in rows:
            for seed in seeds:
                todo = [m for m in chosen if not _finished(cells, row, m, seed, instructions)]
                reference_lost = not _image_path(folder, row, REFERENCE_METHOD, seed).is_file()
                if todo and reference_lost and all(m.name != REFERENCE_METHOD for m in todo):
                    todo.insert(0, get_method(REFERENCE_METHOD))  # its image is needed again
                run.skipped += len(chosen) - len(todo)
                if todo:
                    rewrite_seed = seed if rewrites_per_seed else None
                    units.append(ImageUnit(
                        row=row, seed=seed, methods=tuple(todo), switch_step=resolved_switch, instruction_shas=shas,
                        rewrites={name: rewrites[(row.id, name, rewrite_seed)] for name in needed},
                        reference_png=_stored_reference(folder, cells, row, seed, todo),
                    ))

        # 5. make and judge them (on the executor's workers), record each group as it finishes
        total = sum(len(unit.methods) for unit in units)
        started = time.perf_counter()
        with progress_bar(total, "bench images", enabled=progress, unit="cell") as bar:
            for unit, outcome in iter_outcomes(pool, make_image_cells, units):
                results = outcome.value if outcome.ok else _unit_failed(unit, outcome.error)
                _record(folder, cells, run, unit, results)
                bar.update(len(unit.methods))
        run.cells_seconds = time.perf_counter() - started
    return run



def _identities(worker: tuple[ImageGenerator, Judge]) -> tuple[dict[str, Any], dict[str, Any]]:
    generator, judge = worker
    return dict(generator.identity()), dict(judge.identity())


@dataclass(frozen=True)
class ImageUnit:
    """One unit of the image stage: the cells of one (row, seed) still to do (the reference
    first when it is among them), the rewrites they use, and the stored reference image (PNG)
    when it is not remade."""

    row: Example
    seed: int
    methods: tuple[MethodSpec, ...]
    switch_step: int
    instruction_shas: Mapping[str, str]
    rewrites: Mapping[str, Rewrite]
    reference_png: bytes | None = None


@dataclass(frozen=True)
class CellResult:
    """A cell made by a worker: its record (without the schema) and its image (PNG), if made."""

    record: dict[str, Any]
    png: bytes | None = None


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


def _image_name(row: Example, method: str, seed: int) -> str:
    """A cell's image, relative to the run folder."""
    return f"{IMAGES_DIR}/{safe_name(row.id)}/{method}-seed{seed}.png"


def _image_path(folder: Path, row: Example, method: str, seed: int) -> Path:
    return folder / _image_name(row, method, seed)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _stored_reference(folder: Path, cells: CellStore, row: Example, seed: int, todo: Sequence[MethodSpec]) -> bytes | None:
    """The finished reference image of (row, seed), as PNG, when the group needs it and does not remake it."""
    if any(m.name == REFERENCE_METHOD for m in todo):  # remade first
        return None
    path = _image_path(folder, row, REFERENCE_METHOD, seed)
    if cells.is_finished(row.id, REFERENCE_METHOD, seed) and path.is_file():
        return path.read_bytes()
    return None


def _record(folder: Path, cells: CellStore, run: BenchRun, unit: ImageUnit, results: Sequence[CellResult]) -> None:
    """Write a group's images and record its cells (here, the one writer of the run folder)."""
    for result in results:
        record = result.record
        if result.png is not None:
            atomic_write_bytes(folder / record["image"], result.png)
        cells.add(record)
        if not run.count(record, f"{unit.row.id} / {record['method']} / seed {unit.seed}"):
            logger.warning("cell failed: %s", run.errors[-1])


def _unit_failed(unit: ImageUnit, error: str | None) -> list[CellResult]:
    """Every cell of a group whose worker kept failing, recorded failed with its error."""
    base = {"row_id": unit.row.id, "seed": unit.seed, "concept": concept_of(unit.row), "query": query_of(unit.row)}
    return [CellResult({**base, "method": m.name, "status": "failed", "error": f"worker failed: {error}"}) for m in unit.methods]


def make_image_cells(worker: tuple[ImageGenerator, Judge], unit: ImageUnit) -> list[CellResult]:
    """Make and judge the cells of one (row, seed) group with a worker's generator and judge;
    a cell's failure is its own result, never an exception (runs in a worker: writes nothing)."""
    from PIL import Image

    generator, judge = worker
    for method in unit.methods:
        ensure_method(method)  # a method defined at run time (bench --compare) in a worker process
    row, seed = unit.row, unit.seed
    concept, query = concept_of(row), query_of(row)
    base = {"row_id": row.id, "seed": seed, "concept": concept, "query": query}
    results: list[CellResult] = []

    def fail(method: MethodSpec, error: str, extra: Mapping[str, Any] | None = None) -> None:
        results.append(CellResult({**base, **(extra or {}), "method": method.name, "status": "failed", "error": error}))

    # the reference: this seed's unconstrained image, made now or read back
    reference = None
    if unit.reference_png is not None:
        with Image.open(io.BytesIO(unit.reference_png)) as stored:
            reference = stored.convert("RGB")

    made: list[tuple[MethodSpec, dict[str, Any], Any, bytes]] = []
    ordered = sorted(unit.methods, key=lambda m: m.name != REFERENCE_METHOD)  # the reference first
    for method in ordered:
        extra: dict[str, Any] = {"prompt": query}
        rewrite_text = None
        if method.instruction is not None:
            rewrite = unit.rewrites[method.instruction]
            extra.update(instruction=method.instruction, instruction_sha=unit.instruction_shas[method.instruction])
            if rewrite.text is None or not rewrite.text.strip():
                fail(method, f"rewrite failed: {rewrite.error or 'empty rewrite'}", extra)
                continue
            rewrite_text = rewrite.text.strip()
            extra.update(rewrite=rewrite_text, prompt=rewrite_text)
        switch = method.switch_step_for(unit.switch_step)
        if switch is not None:
            extra["switch_step"] = switch
        if method.name != REFERENCE_METHOD and reference is None:
            fail(method, "no unconstrained reference image for this row and seed", extra)
            continue
        request = GenerationRequest(method.name, query, concept, seed, rewrite=rewrite_text, switch_step=switch)
        started = time.perf_counter()
        try:
            image = generator.generate(request).convert("RGB")
            png = _png(image)
            distance = 0.0 if method.name == REFERENCE_METHOD else mse(image, reference)
        except Exception as exc:  # one cell's failure is recorded and reported, not fatal
            fail(method, error_text(exc), extra)
            continue
        extra.update(image=_image_name(row, method.name, seed), mse=distance, seconds=round(time.perf_counter() - started, 3))
        if method.name == REFERENCE_METHOD:
            reference = image
        made.append((method, extra, image, png))

    for (method, extra, _, png), answer in zip(made, _judge_all(judge, [im for _, _, im, _ in made], concept)):
        if isinstance(answer, str):
            fail(method, answer, extra)
            continue
        results.append(CellResult({**base, **extra, "method": method.name, "status": "ok", "judge": answer.to_json(),
                                   "avoided": not answer.present}, png))
    return results


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
