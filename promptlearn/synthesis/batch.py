"""Generating for many prompts: ``promptlearn generate --prompts FILE`` as a library call.

:func:`generate_batch` reads as numbered steps: check inputs → start the workers → open the run
folder → plan the prompts still to do → rewrite them (once per prompt and instruction) → make
their images on the executor's workers and record each prompt as it finishes. The prompts are
the rows of a dataset file read by :func:`~promptlearn.data.load_examples` (one query per line
with a concept, the ORES TSV, CSV or JSONL forms), the images are made by the benchmark's
:class:`~promptlearn.evaluation.adapters.SynthesizerGenerator` (one image per method and seed),
and the run folder is a :class:`~promptlearn.runs.RunFolder`::

    OUT/config.json                           what the images are made with (compared on a rerun)
    OUT/prompts/<id>/<method>-seed<k>.png     the images, each written atomically
    OUT/prompts/<id>/manifest.json            written atomically once all of a prompt's images are

A prompt is finished when its manifest is there (with the images it names): a rerun skips it. A
prompt whose rewrite or image failed gets no manifest and is tried again by a rerun. The caller
(this process) is the only writer of the folder, on both executors (:mod:`promptlearn.executors`),
so the images of a seed are the same on both (bit for bit on CPU, tested).

>>> # rows = load_examples("prompts.txt", get_task("ores"), concept="dog")
>>> # generate_batch(rows=rows, out="runs/batch", methods=["original", "tin"], seeds=[0, 1],
>>> #                load=ImageWorker(model_folder=..., model="toy", generator={"steps": 20}),
>>> #                rewriters={"learned": Rewriter(llm, task, instruction)}, executor=make_executor("ray"))
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..executors import Executor, LocalExecutor, Preloaded, iter_outcomes
from ..files import atomic_write_bytes, atomic_write_json
from ..progress import progress_bar
from ..runs import RunFolder
from ..tasks.base import Example
from .methods import DEFAULT_SWITCH_STEP, MethodSpec, ensure_method, get_method
from .switch_step import SwitchStep, resolve_switch_step

logger = logging.getLogger(__name__)

GENERATE_KIND = "promptlearn.generate"
PROMPTS_DIR = "prompts"
MANIFEST = "manifest.json"
MANIFEST_KIND = "promptlearn.generate.prompt"


def generate_run_folder(out: str | Path) -> RunFolder:
    return RunFolder(out, kind=GENERATE_KIND, progress_files=(), run_files=(PROMPTS_DIR,), argument="out", label="generate")


def check_generate_folder(out: str | Path) -> Path:
    """``out`` refused at once (before any model loads) when it is a file, cannot be created, is
    in use by another process or holds something other than a generate run."""
    folder = generate_run_folder(out)
    folder.check(resume="auto")
    return folder.path


@dataclass
class BatchRun:
    """What a call did, in prompts: finished now, failed now (no manifest: a rerun tries them
    again), skipped because finished before; ``images`` made now; the seconds of starting the
    workers and of making the images."""

    folder: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    images: int = 0
    errors: list[str] = field(default_factory=list)
    start_seconds: float = 0.0
    images_seconds: float = 0.0


@dataclass(frozen=True)
class PromptUnit:
    """One prompt's images still to make: every method and seed, with the rewrites they use."""

    row: Example
    methods: tuple[MethodSpec, ...]
    seeds: tuple[int, ...]
    switch_step: int
    rewrites: Mapping[str, str]


@dataclass(frozen=True)
class PromptImages:
    """What a worker made for one prompt: ``(method, seed, png)`` in order, or the first error."""

    images: list[tuple[str, int, bytes]]
    error: str | None = None


def generate_batch(
    *,
    rows: Sequence[Example],
    out: str | Path,
    methods: Sequence[str],
    seeds: Sequence[int],
    switch_step: SwitchStep = DEFAULT_SWITCH_STEP,
    load: Callable[[], Any] | None = None,
    generator: Any = None,
    rewriters: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> BatchRun:
    """Make the images of every row (its ``query``, avoiding its ``concept``) with every method
    of ``methods`` (names of the method registry) and every seed, into the run folder ``out``;
    resume a run there made with the same settings.

    The images are made by ``executor`` (default: here) with ``generator`` (an
    :class:`~promptlearn.evaluation.protocols.ImageGenerator`) or with what ``load()`` returns
    (a generator, or ``(generator, judge)`` as :class:`~promptlearn.workers.ImageWorker` loads it),
    built once per worker. ``rewriters`` maps each instruction source the methods rewrite with
    (``learned``, ``initial``, ...) to a :class:`~promptlearn.rewriter.Rewriter` holding that
    instruction (the one rewrite path); rewrites are made here, before the images."""
    from ..evaluation.cells import text_sha
    from ..evaluation.rows import check_rows

    # 1. check inputs
    check_rows(rows, source="the prompts")
    specs = [get_method(name) for name in dict.fromkeys(methods)]
    if not specs:
        raise InputError("no method given ({methods})", arguments="methods")
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds or any(s < 0 for s in seeds):
        raise InputError(f"{{seeds}} must be one or more integers >= 0, got {seeds}", arguments="seeds")
    rewriters = dict(rewriters or {})
    for spec in specs:
        if spec.instruction is not None and spec.instruction not in rewriters:
            raise InputError(f"method {spec.name} rewrites with the {spec.instruction} instruction: give its rewriter ({{rewriters}})",
                             arguments="rewriters")
        for row in rows:
            spec.check(concepts=_concepts(row), check_rewrite=False)
    if load is None:
        if generator is None:
            raise InputError("give a {generator} or a {load}", arguments=("generator", "load"))
        load = Preloaded(generator)
    executor = executor or LocalExecutor()
    folder_check = check_generate_folder(out)  # before any model loads

    started = time.perf_counter()
    with executor.start(load) as pool:
        run = BatchRun(folder_check, start_seconds=time.perf_counter() - started)
        identity = pool.call(_identity)
        steps = identity.get("steps")
        resolved_switch = resolve_switch_step(switch_step, int(steps) if steps else 10**9)

        # 2. open the run folder (refuses one made with another model, method set, seeds or rewriter)
        roles = sorted({spec.instruction for spec in specs if spec.instruction is not None})
        fingerprint = {
            "generator": identity,
            "methods": [spec.name for spec in specs],
            "seeds": seeds,
            "switch_step": resolved_switch,
            "rewriters": {role: _rewriter_identity(rewriters[role], text_sha) for role in roles},
        }
        folder = generate_run_folder(out)
        folder.open({"fingerprint": fingerprint, "options": {**(options or {}), "prompts": len(rows)}},
                    resume="auto", not_compared=("options",))

        # 3. plan: a prompt with its manifest (and the images it names) is finished
        todo = [row for row in rows if not _finished(folder.path, row, fingerprint)]
        run.skipped = len(rows) - len(todo)

        # 4. rewrite the prompts still to do, once per instruction (a failed rewrite fails its prompt)
        rewrites: dict[str, dict[str, str]] = {row.id: {} for row in todo}
        failed: dict[str, str] = {}
        for role in roles:
            pending = [row for row in todo if row.id not in failed]
            if pending and progress:
                logger.info("rewriting %d prompts with the %s instruction", len(pending), role)
            for row, result in zip(pending, _rewrite(rewriters[role], pending)):
                if result.error is not None or not result.output.strip():
                    failed[row.id] = f"the {role} rewrite failed: {result.error or 'the answer held no rewrite'}"
                else:
                    rewrites[row.id][role] = result.output.strip()
                    if result.passed is False:
                        logger.warning("%s: the %s rewrite fails the check: %s", row.id, role, result.problem)
        for row_id, error in failed.items():
            _fail(run, row_id, error)
        units = [PromptUnit(row, tuple(specs), tuple(seeds), resolved_switch, rewrites[row.id]) for row in todo if row.id not in failed]

        # 5. make the images (on the executor's workers); record each prompt as it finishes
        started = time.perf_counter()
        with progress_bar(len(units) * len(specs) * len(seeds), "generate", enabled=progress, unit="image") as bar:
            for unit, outcome in iter_outcomes(pool, make_prompt_images, units):
                made = outcome.value if outcome.ok else PromptImages([], f"worker failed: {outcome.error}")
                _record(folder.path, run, unit, made, fingerprint)
                bar.update(len(specs) * len(seeds))
        run.images_seconds = time.perf_counter() - started
    folder.release()
    return run


def _concepts(row: Example) -> list[str]:
    from ..evaluation.rows import concept_of
    from ..tasks.concept_match import split_concepts

    return split_concepts(concept_of(row))


def _identity(worker: Any) -> dict[str, Any]:
    return dict(_generator(worker).identity())


def _generator(worker: Any) -> Any:
    """The generator of a worker: itself, or the first of ``(generator, judge)``."""
    return worker[0] if isinstance(worker, tuple) else worker


def _rewriter_identity(rewriter: Any, sha: Callable[[str], str]) -> dict[str, Any]:
    predictor = rewriter.predictor
    return {"llm": predictor.llm.spec, "instruction_sha": sha(predictor.instruction), "task": predictor.task.name,
            "verify_retries": getattr(rewriter, "verify_retries", 0)}


def _rewrite(rewriter: Any, rows: Sequence[Example]) -> list[Any]:
    from ..error_budget import ErrorBudget

    return rewriter.rewrite_many(list(rows), errors=ErrorBudget(None, unit="prompt"))


def prompt_folder(out: Path, row: Example) -> Path:
    from ..evaluation.rows import safe_name

    return out / PROMPTS_DIR / safe_name(row.id)


def image_name(row: Example, method: str, seed: int) -> str:
    """An image's path, relative to the run folder."""
    from ..evaluation.rows import safe_name

    return f"{PROMPTS_DIR}/{safe_name(row.id)}/{method}-seed{seed}.png"


def _finished(out: Path, row: Example, fingerprint: Mapping[str, Any]) -> bool:
    from ..evaluation.rows import concept_of, query_of

    try:
        manifest = json.loads((prompt_folder(out, row) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("id") != row.id or manifest.get("query") != query_of(row) \
            or manifest.get("concept") != concept_of(row):
        return False  # another prompt under the same id (the file changed): made again
    wanted = {(m, s) for m in fingerprint["methods"] for s in fingerprint["seeds"]}
    images = manifest.get("images") or []
    have = {(i.get("method"), i.get("seed")) for i in images if isinstance(i, dict) and (out / str(i.get("image"))).is_file()}
    return wanted <= have


def make_prompt_images(worker: Any, unit: PromptUnit) -> PromptImages:
    """Make every image of one prompt with a worker's generator (runs in a worker: writes
    nothing); an image that fails ends the prompt with its error."""
    from ..evaluation.cells import error_text
    from ..evaluation.protocols import GenerationRequest
    from ..evaluation.rows import concept_of, query_of

    generator = _generator(worker)
    for spec in unit.methods:
        ensure_method(spec)  # a method defined at run time, in a worker process
    concept, query = concept_of(unit.row), query_of(unit.row)
    images: list[tuple[str, int, bytes]] = []
    for seed in unit.seeds:
        for spec in unit.methods:
            request = GenerationRequest(spec.name, query, concept, seed,
                                        rewrite=unit.rewrites.get(spec.instruction) if spec.instruction else None,
                                        switch_step=spec.switch_step_for(unit.switch_step))
            try:
                image = generator.generate(request).convert("RGB")
            except Exception as exc:  # the prompt fails; a rerun tries it again
                return PromptImages(images, f"{spec.name}, seed {seed}: {error_text(exc)}")
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            images.append((spec.name, seed, buffer.getvalue()))
    return PromptImages(images)


def _record(out: Path, run: BatchRun, unit: PromptUnit, made: PromptImages, fingerprint: Mapping[str, Any]) -> None:
    """Write a prompt's images, then its manifest (here, the one writer of the run folder)."""
    import hashlib

    from ..evaluation.rows import concept_of, query_of

    if made.error is not None:
        _fail(run, unit.row.id, made.error)
        return
    entries = []
    for method, seed, png in made.images:
        name = image_name(unit.row, method, seed)
        atomic_write_bytes(out / name, png)
        spec = get_method(method)
        rewrite = unit.rewrites.get(spec.instruction) if spec.instruction else None
        entries.append({"method": method, "seed": seed, "image": name, "sha256": hashlib.sha256(png).hexdigest(),
                        "prompt": rewrite or query_of(unit.row),
                        **({"rewrite": rewrite, "instruction": spec.instruction} if rewrite else {}),
                        **({"switch_step": s} if (s := spec.switch_step_for(unit.switch_step)) is not None else {})})
    atomic_write_json(prompt_folder(out, unit.row) / MANIFEST, {
        "kind": MANIFEST_KIND, "id": unit.row.id, "query": query_of(unit.row), "concept": concept_of(unit.row),
        "rewrites": dict(unit.rewrites), "generator": fingerprint["generator"], "images": entries,
    })
    run.done += 1
    run.images += len(entries)


def _fail(run: BatchRun, row_id: str, error: str) -> None:
    run.failed += 1
    run.errors.append(f"{row_id}: {error}")
    logger.warning("prompt %s failed: %s", row_id, error)
