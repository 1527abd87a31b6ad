"""InstructionLearner: the first stage of TIN (the ORES paper's learnable instruction) as a
general optimizer for any instruction-learning task.

The loop's shape is the paper's; its settings come from a *recipe* (:mod:`.recipes`): ``paper``
reproduces the paper's loop exactly, ``promptlearn`` (the default) is our own variant. The
learner reads the recipe and never branches on its name.

1. ``p_0 = LLM(p_init(p_task))``.
2. For each epoch, order the training set (recipe ``order``: a seeded shuffle every epoch, or the
   file order first and then the previous order shuffled); for each mini-batch:
   a. predict every example with the current instruction ``p_j``: one concurrent batch call, or
      (history ``rewrites``) one call after another inside the chat history;
   b. pack the batch into one text block ``r_j`` (recipe ``pack`` template);
   c. ``p_{j+1} = LLM(p_opt(r_j, p_j, h))``, ``h`` the history: ``scored`` (the last ``size``
      earlier instructions with their batch scores, inside p_opt), ``chat`` (earlier calls as
      chat turns, cut to the first two plus the last two messages once it holds six) or none.
3. Keep the last instruction, or with a validation set the best one (recipe ``select``).

Beyond the paper's loop (recipe settings the paper recipe leaves at their defaults): step 2c
proposes ``candidates`` (k) instructions in one concurrent round, each its own sample index;
with ``accept: improve`` every proposal is scored on the same mini-batch and the best replaces
``p_j`` only when it scores higher there (a tie keeps ``p_j``); the scored history then holds
accepted and rejected proposals. ``start`` picks p_0: the LLM's (``p0``), the task's human
instruction (``human``), an instruction file, or ``best`` (promptlearn's default): the LLM's and
the task's human instruction, each with and without demonstrations, scored on validation, the
best kept (:meth:`InstructionLearner._start_with_demos`). ``holdout`` splits a seeded share of the
training set off as the validation set when none is given. ``scorer: graded`` learns with the
task's graded scorer when it declares one. ``demos`` (:mod:`.demos`) gives every
instruction that many demonstrations drawn from the training split (the first proposal of a step
keeps p_j's, the others draw anew). ``parents: pareto`` (:mod:`.pareto`) makes each step improve
on a parent drawn from the Pareto front of per-validation-example bests instead of p_j alone. Answers the task's parser cannot use score 0, are
recorded, and count against the :class:`~promptlearn.error_budget.ErrorBudget` (``--max-errors``).

Unusable answers: an empty answer to p_init (nothing left after removing preamble, fences and
quotes, or fewer than ``min_instruction_words`` words) raises :class:`OptimizerError`, since
there is no instruction to fall back on; an unusable answer to p_opt keeps ``p_j`` and records
a warning in the step's record and in ``FitResult.warnings``. Text is never invented.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from .. import __version__
from ..error_budget import ErrorBudget
from ..errors import InputError
from ..llm import LLM, Completion, LLMError, SamplingParams, Usage, make_request
from ..llm.errors import is_transient
from ..progress import progress_bar
from ..runs import RunFolder
from ..prompts import PromptLibrary
from ..tasks.base import Example, Task
from .base import FitResult, OptimizerError, Optimizer
from .demos import draw_demos, join_demos, split_demos
from .pareto import pick_parent
from .baselines import BASELINES, IN_CONTEXT_TEMPLATE, human_instruction, in_context_instruction
from .packing import PACK_TEMPLATE, pack_batch
from .history import append_turn
from .parsing import parse_instruction, unusable_reason
from .predictor import DEFAULT_PREDICT_PARAMS, Prediction, Predictor, mean_score, with_defaults
from .recipes import Recipe, get_recipe
from .records import BaselineRecord, FitRecord, InitRecord, PredictionRecord, StepFailedRecord, StepRecord, record_from_json
from .stopping import AnyOf, Progress, StopCondition, StopFile

log = logging.getLogger(__name__)

INIT_TEMPLATE = "optimizer/init.j2"
# the fit's run folder (see promptlearn.runs): config.json, state.json and these
FIT_KIND = "promptlearn.fit"
HISTORY = "history.jsonl"
INSTRUCTION = "instruction.txt"
UPDATE_TEMPLATE = "optimizer/update.j2"
# the variables each meta-prompt template is rendered with (checked before any model loads)
TEMPLATE_VARIABLES = {
    INIT_TEMPLATE: ["task_description"],
    UPDATE_TEMPLATE: ["task_description", "instruction", "score", "batch", "history"],
    PACK_TEMPLATE: ["items"],
}
BASELINE_TEMPLATE_VARIABLES = {IN_CONTEXT_TEMPLATE: ["task_description", "examples"]}


def template_variables(recipe: "Recipe | str | None" = None) -> dict[str, list[str]]:
    """:data:`TEMPLATE_VARIABLES` under the template names ``recipe`` uses for each role, so a
    recipe's own meta-prompt templates are the ones checked before any model loads."""
    chosen = get_recipe(recipe)
    roles = {INIT_TEMPLATE: "init", UPDATE_TEMPLATE: "update", PACK_TEMPLATE: "pack"}
    return {chosen.template(roles[name], name) or name: variables for name, variables in TEMPLATE_VARIABLES.items()}
# An instruction fits in ~100 words; a small model that loops is cut there instead of at 512.
DEFAULT_META_PARAMS = SamplingParams(temperature=0.0, max_tokens=160)
Select = Literal["last", "best"]


@dataclass
class _State:
    """Where a fit stands; saved to ``state.json`` after every step."""

    seed: int
    rng: Any = None  # random.Random state after the current epoch's shuffle
    initial_instruction: str | None = None
    instruction: str | None = None  # p_j, the current instruction
    steps: int = 0  # update steps done; also the version of ``instruction``
    epoch: int = 0
    batch: int = 0  # next mini-batch of the epoch
    order: list[str] | None = None  # the epoch's shuffled example ids
    previous_order: list[str] | None = None  # the last finished epoch's order
    history: list[dict[str, Any]] = field(default_factory=list)  # h: {"version", "instruction", "score"}
    chat: list[dict[str, Any]] = field(default_factory=list)  # a chat history policy's conversation
    calls: int = 0  # LLM calls made by a seeded recipe: the next call's sample index
    val_scores: dict[str, float] = field(default_factory=dict)  # version -> validation score
    # instruction -> {"version", "score", "scores": {validation example id: score}}: every
    # validated instruction, the Pareto front's candidates (see .pareto)
    pool: dict[str, dict[str, Any]] = field(default_factory=dict)
    best: dict[str, Any] | None = None  # {"version", "instruction", "score"} by the selection score
    steps_since_improvement: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    finished: bool = False
    stop_reason: str | None = None
    errors: list[list[str]] = field(default_factory=list)  # [where, what] counted against --max-errors
    final: dict[str, Any] | None = None
    # the start's choice among the candidates scored on validation: {"chosen", "scores", "note"}
    start: dict[str, Any] | None = None

    def random(self) -> random.Random:
        rng = random.Random(self.seed)
        if self.rng is not None:
            version, internal, gauss = self.rng
            rng.setstate((version, tuple(internal), gauss))
        return rng

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "_State":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class InstructionLearner(Optimizer):
    """Learns an instruction for ``task`` with ``llm``.

    >>> learner = InstructionLearner(llm, task, epochs=2, batch_size=4, seed=0)   # doctest: +SKIP
    >>> result = learner.fit(trainset, valset=valset)                             # doctest: +SKIP
    >>> result.instruction                                                        # doctest: +SKIP

    ``recipe`` (``"promptlearn"``, the default, or ``"paper"``; see :mod:`.recipes`) gives the
    templates and every setting; ``epochs``, ``batch_size``, ``history``, ``history_size``,
    ``select`` and the sampling parameters given here override the recipe's.

    Ablations: ``epochs=0`` (no learning: the LLM's initial instruction), ``batch_size=1`` (no
    batching), ``history=False``, ``baseline="human"`` or ``"in-context"``. ``select="best"``
    needs a validation set; with one, every instruction version is scored on it (|val| calls
    per step). ``stop`` is a stop condition (see :mod:`.stopping`); a ``STOP`` file in the run
    directory always stops the run. ``run_dir`` makes the run resumable (``resume=True``) and is
    locked against other processes while :meth:`fit` runs; ``overwrite=True`` starts it over
    (see :mod:`promptlearn.runs`).
    """

    def __init__(
        self,
        llm: LLM,
        task: Task,
        *,
        recipe: str | Recipe | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        history: bool | None = None,
        history_size: int | None = None,
        select: Select | None = None,
        seed: int = 0,
        baseline: str | None = None,
        prompts: PromptLibrary | str | Path | None = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        stop: StopCondition | None = None,
        predict_params: SamplingParams | Mapping[str, Any] | None = None,
        meta_params: SamplingParams | Mapping[str, Any] | None = None,
        min_instruction_words: int = 3,
        progress: bool = False,
        candidates: int | None = None,
        start: str | None = None,
        scorer: str | None = None,
        holdout: float | None = None,
        errors: ErrorBudget | None = None,
        demos: int | None = None,
        parents: str | None = None,
    ):
        self.recipe = get_recipe(recipe)
        self.recipe.check_task(task.name)
        epochs = self.recipe.epochs if epochs is None else epochs
        batch_size = self.recipe.batch_size if batch_size is None else batch_size
        history_size = self.recipe.history.size if history_size is None else history_size
        select = self.recipe.select if select is None else select
        if history is None:
            history = self.recipe.history.kind != "none"
        candidates = self.recipe.candidates if candidates is None else candidates
        start = self.recipe.start if start is None else start
        scorer = self.recipe.scorer if scorer is None else scorer
        holdout = self.recipe.holdout if holdout is None else holdout
        demos = self.recipe.demos if demos is None else demos
        parents = self.recipe.parents if parents is None else parents
        if parents not in ("current", "pareto"):
            raise InputError(f"parents must be 'current' or 'pareto', got {parents!r}")
        if not isinstance(demos, int) or isinstance(demos, bool) or demos < 0:
            raise InputError(f"demos must be an integer >= 0, got {demos!r}")
        if not isinstance(candidates, int) or candidates < 1:
            raise InputError(f"candidates must be an integer >= 1, got {candidates!r}")
        if not isinstance(start, str) or not start.strip():
            raise InputError(f"start must be p0, human, best or an instruction file, got {start!r}")
        if scorer not in ("strict", "graded"):
            raise InputError(f"scorer must be 'strict' or 'graded', got {scorer!r}")
        if not isinstance(holdout, (int, float)) or not 0.0 <= holdout < 1.0:
            raise InputError(f"holdout must be a share in [0, 1), got {holdout!r}")
        if not isinstance(epochs, int) or epochs < 0:
            raise InputError(f"epochs must be an integer >= 0, got {epochs!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch size must be an integer >= 1, got {batch_size!r}")
        if not isinstance(history_size, int) or history_size < 1:
            raise InputError(f"history size must be an integer >= 1, got {history_size!r}")
        if select not in ("last", "best"):
            raise InputError(f"select must be 'last' or 'best', got {select!r}")
        if baseline is not None and baseline not in BASELINES:
            raise InputError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
        if not isinstance(seed, int):
            raise InputError(f"seed must be an integer, got {seed!r}")
        if (resume or overwrite) and run_dir is None:
            flag = "resume=True" if resume else "overwrite=True"
            raise InputError(f"{{{flag}}} needs a {{run_dir}} (the run folder)", arguments=(flag, "run_dir"))
        if resume and overwrite:
            raise InputError("pass either {resume=True} or {overwrite=True}, not both", arguments=("resume=True", "overwrite=True"))
        self.llm = llm
        self.reported_task = task
        self.start = start.strip()
        self.start_instruction = _start_instruction(task, self.start)  # checked up front
        # the scorer that drives learning: the task's graded one when asked for and declared
        self.scorer = "graded" if scorer == "graded" and task.graded_scorer is not None else "strict"
        self.task = replace(task, scorer=task.graded_scorer) if self.scorer == "graded" else task
        self.candidates = candidates
        self.accept = self.recipe.accept
        self.holdout = float(holdout)
        self.demos = demos
        self.parents = parents
        self._train: list[Example] = []  # the training split demonstrations are drawn from (set by fit)
        self.errors = errors
        self.notes: list[str] = []
        self.epochs = epochs
        self.batch_size = batch_size
        self.history = history
        self.history_size = history_size
        # the history policy in force: the recipe's, or none with history=False
        self.history_kind = self.recipe.history.kind if history else "none"
        self.rewrites_in_chat = self.history_kind == "chat" and self.recipe.history.rewrites
        self.exact = self.recipe.exact_prompts
        self.init_template = self.recipe.template("init", INIT_TEMPLATE)
        self.update_template = self.recipe.template("update", UPDATE_TEMPLATE)
        self.pack_template = self.recipe.template("pack", PACK_TEMPLATE)
        self.select = select
        self.seed = seed
        self.baseline = baseline
        self.prompts = prompts if isinstance(prompts, PromptLibrary) else task.prompt_library(prompts)
        self.run_dir = RunFolder(run_dir, kind=FIT_KIND) if run_dir is not None else None
        self.resume = resume
        self.overwrite = overwrite
        self.stop = AnyOf(*([stop] if stop is not None else []), StopFile())
        self.predict_params = with_defaults(self.recipe.sampling("predict", DEFAULT_PREDICT_PARAMS), predict_params)
        self.meta_params = with_defaults(self.recipe.sampling("meta", DEFAULT_META_PARAMS), meta_params)
        self.min_instruction_words = min_instruction_words
        self.progress = progress
        # a step whose LLM calls still fail after their retries is recorded and skipped while
        # this budget lasts (None: the error ends the fit, as before)
        self.errors = errors
        self._records: list[FitRecord] = []
        # predictions of the next mini-batch made with p_{j+1} in the same round as its validation
        # (in memory only: a resumed run recomputes them, from the cache)
        self._prefetched: tuple[str, tuple[Example, ...], list[Prediction]] | None = None

    @property
    def method(self) -> str:
        if self.baseline is not None:
            return self.baseline
        return "learned" if self.epochs > 0 else "initial"

    def predictor(self, instruction: str) -> Predictor:
        """The predictor this learner scores an instruction with (the recipe's rewrite prompt)."""
        return Predictor(
            self.llm, self.task, instruction, prompts=self.prompts, params=self.predict_params,
            template=self.recipe.template("predict"), instruction_in=self.recipe.instruction_in,
            task_description=self._task_description(), exact=self.exact,
        )

    def compile(self, student: Predictor, *, trainset: Sequence[Example], valset: Sequence[Example] | None = None) -> Predictor:
        if student.task.name != self.task.name:
            raise InputError(f"the student predicts task {student.task.name!r}, this learner learns {self.task.name!r}")
        return super().compile(student, trainset=trainset, valset=valset)

    # ---- the main loop ---------------------------------------------------------------------------
    def fit(self, trainset: Sequence[Example], *, valset: Sequence[Example] | None = None) -> FitResult:
        started, usage_before = time.perf_counter(), self.llm.usage.snapshot()
        train, val = self._check_data(trainset, valset)
        train, val = self._split_holdout(train, val)
        self._train = train
        try:
            state = self._open_run(train, val)
            state.finished, state.stop_reason = False, None

            if self.baseline is not None:
                self._run_baseline(state, train, val)
            else:
                # 1. the initial instruction p_0
                if state.instruction is None:
                    self._initialize(state, val)
                elif state.start is not None:  # resumed: the start chosen before is said again
                    self.notes.append(state.start["note"])
                # 2. epochs of mini-batches, each ending in an update of the instruction
                self._learn(state, train, val)

            # 3. keep the last instruction, or the best one by validation score
            return self._finish(state, started, usage_before)
        finally:
            if self.run_dir is not None:
                self.run_dir.release()  # the run folder is another process's to use again

    def scorers(self) -> dict[str, str]:
        """The scorer that drives learning and the one results are reported with, by name."""
        reported = getattr(self.reported_task.scorer, "name", type(self.reported_task.scorer).__name__)
        learning = getattr(self.task.scorer, "name", type(self.task.scorer).__name__)
        return {"learning": f"{self.scorer} ({learning})", "reported": f"strict ({reported})"}

    def _split_holdout(self, train: list[Example], val: list[Example] | None) -> tuple[list[Example], list[Example] | None]:
        """Without a validation set (and with ``holdout`` > 0), a seeded share of the training set
        becomes it; the split is said in :attr:`notes` (and so in the fit's summary)."""
        self.notes = []
        if val is not None or self.holdout <= 0 or self.baseline is not None or self.epochs == 0 or len(train) < 2:
            return train, val
        count = min(len(train) - 1, max(1, round(len(train) * self.holdout)))
        ids = [example.id for example in train]
        random.Random(f"holdout:{self.seed}").shuffle(ids)
        held = set(ids[:count])
        self.notes.append(
            f"no validation set given: held out {count} of {len(train)} training examples (seeded, holdout {self.holdout:g}) to select the instruction by"
        )
        return [e for e in train if e.id not in held], [e for e in train if e.id in held]

    def _learn(self, state: _State, train: list[Example], val: list[Example] | None) -> None:
        by_id = {example.id: example for example in train}
        steps_per_epoch = math.ceil(len(train) / self.batch_size)
        with progress_bar(self.epochs * steps_per_epoch, f"fit {self.task.name}", enabled=self.progress, unit="step") as bar:
            bar.update(min(state.steps, bar.total or 0))
            while state.epoch < self.epochs:
                reason = self.stop(self._progress(state))
                if reason is not None:
                    state.stop_reason = reason
                    log.info("stopping: %s", reason)
                    break
                if state.order is None:  # a new epoch: its order, shuffled with the run's own RNG
                    state.order = self._epoch_order(state, train)
                ids = state.order[state.batch * self.batch_size : (state.batch + 1) * self.batch_size]
                next_ids = state.order[(state.batch + 1) * self.batch_size : (state.batch + 2) * self.batch_size]
                usage0, t0 = self.llm.usage.snapshot(), time.perf_counter()
                try:
                    record: FitRecord = self._step(state, [by_id[i] for i in ids], val, next_batch=[by_id[i] for i in next_ids])
                except LLMError as error:
                    if self.errors is None or not is_transient(error):
                        raise
                    self.errors.record(f"step {state.steps} (epoch {state.epoch}, batch {state.batch})", error)
                    self._prefetched = None
                    if self.errors.exhausted:  # stop before this step: a resumed run tries it again
                        state.stop_reason = self.errors.reason()
                        log.warning("stopping: %s", state.stop_reason)
                        break
                    record = self._failed_step(state, ids, error, usage0, t0)
                state.batch += 1
                if state.batch >= steps_per_epoch:
                    state.epoch, state.batch, state.previous_order, state.order = state.epoch + 1, 0, state.order, None
                self._save(state, record, usage0)
                bar.update(1)
                if isinstance(record, StepRecord):
                    bar.set_postfix(batch=f"{record.batch_score:.2f}", **({"val": f"{record.val_score:.2f}"} if val and record.val_score is not None else {}))
                if self.errors is not None and self.errors.exhausted:  # saved: a clean stop
                    state.stop_reason = self.errors.reason()
                    log.warning("stopping: %s", state.stop_reason)
                    break

    def _failed_step(self, state: _State, ids: Sequence[str], error: LLMError, usage0: Usage, t0: float) -> StepFailedRecord:
        """The record of a mini-batch skipped because its LLM calls failed after their retries:
        the instruction stays p_j, the run goes on with the next mini-batch."""
        warning = f"step {state.steps}: skipped the mini-batch (epoch {state.epoch}, batch {state.batch}): {error}"
        log.warning(warning)
        return StepFailedRecord(
            step=state.steps,
            epoch=state.epoch,
            batch=state.batch,
            example_ids=list(ids),
            error=str(error),
            warning=warning,
            **self._costs(usage0, t0),
        )

    def _step(self, state: _State, batch: list[Example], val: list[Example] | None, *, next_batch: Sequence[Example] = ()) -> StepRecord:
        t0, usage0 = time.perf_counter(), self.llm.usage.snapshot()
        parent = self._pick_parent(state, val)
        before = state.instruction
        assert before is not None
        # a. predict the mini-batch with p_j (one concurrent batch call; made already in the
        #    previous step's validation round when there was one)
        predictions = self._take_prefetched(before, batch)
        if predictions is None and self.rewrites_in_chat:
            predictions = self._predict_in_chat(state, before, batch)
        elif predictions is None:
            predictions = self.predictor(before).predict(batch)
        batch_score = mean_score(predictions)
        unparseable = self._count_unparseable(state, predictions, f"step {state.steps}")
        if val is None:
            self._observe(state, state.steps, before, batch_score)
        # b. pack it into r_j
        packed = pack_batch(self.prompts, predictions, template=self.pack_template, strip=not self.exact)
        # c. p_{j+1} = LLM(p_opt(r_j, p_j, h))
        shown = state.history[-self.history_size :] if self.history_kind == "scored" else []
        if self.demos:  # the proposer sees and rewrites instruction texts; demonstrations are drawn
            shown = [{**item, "instruction": split_demos(item["instruction"])[0]} for item in shown]
        prompt = self.prompts.render(
            self.update_template,
            strip=not self.exact,
            task_description=self._task_description(),
            instruction=split_demos(before)[0] if self.demos else before,
            score=batch_score,
            batch=packed,
            history=shown,
        )
        if self.candidates > 1 or self.accept == "improve":
            return self._step_candidates(state, batch, val, before, predictions, batch_score, prompt, len(shown), unparseable, t0, usage0, next_batch, parent)
        chat_before = len(state.chat)
        completion = self._call(state, prompt, self.meta_params)
        after, warning = self._parse_update(completion, before, state.steps)
        if self.demos and warning is None:  # the new text keeps p_j's demonstrations
            after = join_demos(after, split_demos(before)[1])
        state.history.append({"version": state.steps, "instruction": before, "score": batch_score})
        state.steps += 1
        state.instruction = after
        # d. score p_{j+1} on the validation set, predicting the next mini-batch in the same round
        #    (not when the rewrites depend on the chat history: those are made in the next step)
        val_score = self._validate(state, after, val, prefetch=() if self.rewrites_in_chat else next_batch)
        return StepRecord(
            step=state.steps - 1,
            epoch=state.epoch,
            batch=state.batch,
            example_ids=[e.id for e in batch],
            instruction_before=before,
            instruction_after=after,
            update_answer=completion.text,
            history_shown=len(shown) if self.history_kind == "scored" else chat_before,
            predictions=[PredictionRecord.from_json(p.to_json()) for p in predictions],
            batch_score=batch_score,
            val_score=val_score,
            warning=warning,
            unparseable=unparseable,
            parent=parent,
            **self._costs(usage0, t0),
        )

    def _step_candidates(
        self, state: _State, batch: list[Example], val: list[Example] | None, before: str, predictions: list[Prediction],
        batch_score: float, prompt: str, shown: int, unparseable: int, t0: float, usage0: Usage, next_batch: Sequence[Example],
        parent: int | None = None,
    ) -> StepRecord:
        """Step 2c beyond the paper: k proposals in one concurrent round (sample indices
        ``calls .. calls+k-1``), each scored on the mini-batch in one more round; the best replaces
        ``p_j`` only when it scores higher there (``accept: improve``; ``always`` takes the best)."""
        step = state.steps
        params = self.meta_params.model_copy(update={"seed": self.seed})
        requests = [make_request([{"role": "user", "content": prompt}], params.model_copy(update={"sample_index": state.calls + i})) for i in range(self.candidates)]
        state.calls += self.candidates
        completions = self.llm.complete_many(requests)
        proposals: list[str] = []
        problems: list[str] = []
        for i, completion in enumerate(completions):
            text, problem = self._parse(completion)
            if problem is not None:
                problems.append(problem)
                continue
            text = self._with_demos(text, before, step, i)
            if text not in proposals and text != before:
                proposals.append(text)
        predictors = [self.predictor(text) for text in proposals]
        answers = self.llm.complete_many([p.request(e) for p in predictors for e in batch]) if predictors else []
        scored: list[tuple[str, float]] = []
        for i, predictor in enumerate(predictors):
            found = predictor.finish(batch, answers[i * len(batch) : (i + 1) * len(batch)])
            unparseable += self._count_unparseable(state, found, f"step {step} proposal {i}")
            scored.append((predictor.instruction, mean_score(found)))
        best = max(scored, key=lambda item: item[1]) if scored else None
        accepted = best is not None and (self.accept == "always" or best[1] > batch_score)
        after = best[0] if accepted and best is not None else before
        candidates = [{"instruction": text, "score": score, "accepted": accepted and best is not None and text == best[0]} for text, score in scored]
        state.history.extend({"version": step, **c} for c in candidates)
        warning = None
        if problems and not scored:
            warning = f"step {step}: kept the previous instruction: no usable proposal ({problems[0]})"
            log.warning(warning)
        state.steps += 1
        state.instruction = after
        if accepted:
            val_score = self._validate(state, after, val, prefetch=next_batch)
        else:  # p_j stays: its validation score stands, no calls
            val_score = state.pool.get(before, {}).get("score", state.val_scores.get(str(step))) if val is not None else None
            if val_score is not None:
                state.val_scores[str(state.steps)] = val_score
                state.steps_since_improvement += 1
        return StepRecord(
            step=step,
            epoch=state.epoch,
            batch=state.batch,
            example_ids=[e.id for e in batch],
            instruction_before=before,
            instruction_after=after,
            update_answer="\n---\n".join(c.text for c in completions),
            history_shown=shown,
            predictions=[PredictionRecord.from_json(p.to_json()) for p in predictions],
            batch_score=batch_score,
            val_score=val_score,
            warning=warning,
            candidates=candidates,
            accepted=accepted,
            unparseable=unparseable,
            parent=parent,
            **self._costs(usage0, t0),
        )

    def _pick_parent(self, state: _State, val: list[Example] | None) -> int | None:
        """Recipe ``parents: pareto``: make p_j a parent drawn (seeded by the run's seed and the
        step) from the Pareto front of per-validation-example bests (see :mod:`.pareto`); returns
        its version, ``None`` when p_j stays the current instruction (``current``, no
        validation set, or an empty front)."""
        if self.parents != "pareto" or val is None:
            return None
        chosen = pick_parent(state.pool, [e.id for e in val], f"parent:{self.seed}:{state.steps}")
        if chosen is None:
            return None
        state.instruction = chosen
        return int(state.pool[chosen]["version"])

    def _with_demos(self, text: str, before: str, step: int, index: int) -> str:
        """Proposal ``index`` of ``step`` with its demonstrations (recipe ``demos``): the first
        keeps p_j's (none if p_j has none), the others draw a new set from the training split (seeded by the run's seed,
        the step and the index), so accept-if-better chooses between demonstration sets too."""
        if not self.demos:
            return text
        if index == 0:  # p_j's, also none when p_j started without them
            demos = split_demos(before)[1]
        else:
            demos = draw_demos(self._train, self.demos, f"demos:{self.seed}:{step}:{index}")
        return join_demos(text, demos)

    def _count_unparseable(self, state: _State, predictions: Sequence[Prediction], where: str) -> int:
        """Answers the task's parser left nothing of: scored 0 (they are), recorded in the state
        and counted against the error budget. Returns how many there were."""
        bad = [p for p in predictions if not p.output.strip()]
        for p in bad:
            what = f"unparseable answer {_clip(p.text, 60)!r} (scored 0)"
            state.errors.append([f"{where} example {p.example.id}", what])
            if self.errors is not None:
                self.errors.record(f"{where} example {p.example.id}", what)
        return len(bad)

    # ---- pieces of the loop ----------------------------------------------------------------------
    def _initialize(self, state: _State, val: list[Example] | None) -> None:
        t0, usage0 = time.perf_counter(), self.llm.usage.snapshot()
        if self.start_instruction is not None:  # start: human or a file; no p_init call
            instruction, val_score = self._start_with_demos(state, [(self.start, self.start_instruction)], val)
            state.initial_instruction = state.instruction = instruction
            self._save(state, InitRecord(instruction=state.instruction, answer=f"(start: {self.start})", val_score=val_score, **self._start_fields(state), **self._costs(usage0, t0)), usage0)
            return
        prompt = self._init_prompt()
        completion = self._call(state, prompt, self.meta_params)
        instruction, problem = self._parse(completion)
        if problem is not None:
            raise OptimizerError(
                f"the LLM gave no usable initial instruction: {problem}; its answer was {_clip(completion.text)!r} "
                "(edit optimizer/init.j2 in a {prompts} folder, or use another {llm})",
                arguments=("prompts", "llm"),
            )
        starts = [("p0", instruction)]
        if self.start == "best" and (self.task.human_instruction or "").strip():  # a task without one: p_0 alone
            starts.append(("human", human_instruction(self.task)))
        instruction, val_score = self._start_with_demos(state, starts, val)
        state.initial_instruction = state.instruction = instruction
        self._save(state, InitRecord(instruction=instruction, answer=completion.text, val_score=val_score, **self._start_fields(state), **self._costs(usage0, t0)), usage0)

    @staticmethod
    def _start_fields(state: _State) -> dict[str, Any]:
        """The start's choice for the init record: which candidate won and every candidate's score."""
        if state.start is None:
            return {}
        return {"start": state.start["chosen"], "start_scores": dict(state.start["scores"])}

    def _start_with_demos(self, state: _State, starts: Sequence[tuple[str, str]], val: list[Example] | None) -> tuple[str, float | None]:
        """p_0 and its validation score, chosen among the named ``starts`` (``p0``; with
        ``start: best`` also ``human``, the task's human-written instruction). With recipe
        ``demos``, each start is a candidate with that many demonstrations drawn from the
        training split (unless it brings its own: a warm start from a run that learned some)
        and one without them. With a validation set and more than one candidate, every candidate
        is scored and the best starts; a tie goes to the earlier candidate in this fixed order:
        each start in the order given (p0 before human), with its demonstrations before without
        them. So demonstrations that hurt (a model that copies them) are not forced on the run,
        and a human-written instruction that scores better than p_0 is not thrown away. Without a
        validation set the first candidate starts. Later proposals draw demonstration sets anew.
        The choice is kept in the state (``start``) and said in the notes and the init record."""
        candidates: list[tuple[str, str]] = []  # (label, instruction) in the tie order
        for name, instruction in starts:
            if self.demos and not split_demos(instruction)[1]:
                shown = join_demos(instruction, draw_demos(self._train, self.demos, f"demos:{self.seed}:start"))
                if shown != instruction:
                    candidates.append((f"{name} with {self.demos} demonstrations", shown))
            candidates.append((name, instruction))
        if len(candidates) > 1 and val is None:  # nothing to choose by: the first in the fixed order
            state.start = {"chosen": candidates[0][0], "scores": {},
                           "note": f"start ({self.start}): no validation set to choose by, so {candidates[0][0]} starts (the first of {', '.join(name for name, _ in candidates)})"}
            self.notes.append(state.start["note"])
        if len(candidates) == 1 or val is None:
            return candidates[0][1], self._validate(state, candidates[0][1], val)
        scores = [self._validate(state, instruction, val) for _, instruction in candidates]
        assert all(score is not None for score in scores)
        index = max(range(len(candidates)), key=lambda i: (scores[i], -i))  # the best; a tie: the earliest
        (label, chosen), score = candidates[index], scores[index]
        assert score is not None
        for _, instruction in candidates:  # the losers leave the pool: the Pareto front holds this run's versions
            if instruction != chosen:
                state.pool.pop(instruction, None)
        state.val_scores["0"] = score
        state.best = {"version": 0, "instruction": chosen, "score": score}
        state.steps_since_improvement = 0
        listed = ", ".join(f"{name} {value:.3f}" for (name, _), value in zip(candidates, scores))
        state.start = {"chosen": label, "scores": {name: value for (name, _), value in zip(candidates, scores)},
                       "note": f"start ({self.start}): {label} won on validation ({listed}; scorer {self.scorers()['learning']}; a tie goes to the earlier one)"}
        self.notes.append(state.start["note"])
        log.info(state.start["note"])
        return chosen, score

    def _init_prompt(self) -> str:
        """p_init(p_task): the prompt that asks for p_0."""
        return self.prompts.render(self.init_template, strip=not self.exact, task_description=self._task_description())

    def _run_baseline(self, state: _State, train: list[Example], val: list[Example] | None) -> None:
        if state.instruction is not None:
            return  # resumed after it was computed
        t0, usage0 = time.perf_counter(), self.llm.usage.snapshot()
        if self.baseline == "human":
            instruction = human_instruction(self.task)
        else:
            instruction = in_context_instruction(self.prompts, self.task, train)
        state.instruction = instruction
        val_score = self._validate(state, instruction, val)
        assert self.baseline is not None
        self._save(state, BaselineRecord(method=self.baseline, instruction=instruction, val_score=val_score, **self._costs(usage0, t0)), usage0)

    def _parse(self, completion: Completion) -> tuple[str, str | None]:
        """The instruction in an answer to p_init/p_opt and why it is unusable (``None``: usable).
        Recipe ``parse: raw`` takes the answer as it is (surrounding whitespace trimmed);
        ``clean`` removes preambles, fences and quotes and needs ``min_instruction_words``."""
        if self.recipe.parse == "raw":
            instruction = completion.text.strip()
            return instruction, None if instruction else "the answer is empty"
        instruction = parse_instruction(completion.text, echo_fields=self._echo_fields(), truncated=completion.finish_reason == "length")
        return instruction, unusable_reason(instruction, min_words=self.min_instruction_words)

    def _call(self, state: _State, prompt: str, params: SamplingParams) -> Completion:
        """One LLM call of the loop: the chat history's kept messages plus ``prompt``; with a
        chat policy the prompt and answer then join the history. A seeded recipe's call carries
        the run's seed and the call's index as sample index, so a rerun asks for the very same
        samples (and finds them in the cache)."""
        if self.recipe.seeded:
            params = params.model_copy(update={"seed": self.seed, "sample_index": state.calls})
            state.calls += 1
        messages = [*state.chat, {"role": "user", "content": prompt}]
        completion = self.llm.complete(messages, params)
        if self.history_kind == "chat":
            state.chat = append_turn(state.chat, prompt, completion.text, self.recipe.history)
        return completion

    def _predict_in_chat(self, state: _State, instruction: str, batch: Sequence[Example]) -> list[Prediction]:
        """The rewrites of a mini-batch, one after another, each seeing (and extending) the chat
        history, as the paper's learning loop makes them: slower than one concurrent call."""
        predictor = self.predictor(instruction)
        completions = [self._call(state, predictor.user_message(example), predictor.params) for example in batch]
        return predictor.finish(batch, completions)

    def _epoch_order(self, state: _State, train: list[Example]) -> list[str]:
        """The example ids of a new epoch. ``shuffle``: the file order shuffled every epoch;
        ``file-then-shuffle``: the first epoch in file order, each later one the previous order
        shuffled (the paper shuffles its list in place after every epoch)."""
        ids = [example.id for example in train]
        if self.recipe.order == "file-then-shuffle":
            if state.previous_order is None:
                return ids
            ids = list(state.previous_order)
        rng = state.random()
        rng.shuffle(ids)
        state.rng = list(rng.getstate())
        return ids

    def _parse_update(self, completion: Completion, previous: str, step: int) -> tuple[str, str | None]:
        instruction, problem = self._parse(completion)
        if problem is None:
            return instruction, None
        warning = f"step {step}: kept the previous instruction: {problem}"
        log.warning(warning)
        return previous, warning

    def _validate(self, state: _State, instruction: str, val: list[Example] | None, *, prefetch: Sequence[Example] = ()) -> float | None:
        """Score an instruction version on the validation set and update the selection.

        ``prefetch`` (the next mini-batch, which the next step predicts with this same
        instruction) goes into the same concurrent round, so a step with validation costs two
        rounds of LLM latency instead of three; its usage counts towards this step."""
        if val is None:
            return None
        predictions = self.predictor(instruction).predict([*val, *prefetch])
        if prefetch:
            self._prefetched = (instruction, tuple(prefetch), predictions[len(val) :])
        self._count_unparseable(state, predictions[: len(val)], f"validation of version {state.steps}")
        score = mean_score(predictions[: len(val)])
        if instruction not in state.pool:
            per_example = {p.example.id: (p.score.value if p.score is not None else 0.0) for p in predictions[: len(val)]}
            state.pool[instruction] = {"version": state.steps, "score": score, "scores": per_example}
        state.val_scores[str(state.steps)] = score
        self._observe(state, state.steps, instruction, score)
        return score

    def _take_prefetched(self, instruction: str, batch: Sequence[Example]) -> list[Prediction] | None:
        """The predictions :meth:`_validate` made for these very examples with this instruction
        in this fit, if any (examples compared whole: another set may reuse the ids)."""
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and prefetched[0] == instruction and prefetched[1] == tuple(batch):
            return prefetched[2]
        return None

    @staticmethod
    def _observe(state: _State, version: int, instruction: str, score: float) -> None:
        """Track the best instruction by the selection score and the steps since it improved."""
        if state.best is None or score > state.best["score"]:
            state.best = {"version": version, "instruction": instruction, "score": score}
            state.steps_since_improvement = 0
        else:
            state.steps_since_improvement += 1

    def _echo_fields(self) -> tuple[str, ...]:
        """The delimited fields of the meta-prompts; an answer that copies them is cut there."""
        return (*self.task.input_fields, "output", "reference", "batch", "instruction")

    def _task_description(self) -> str:
        """p_task: the recipe's description template, or the task's."""
        name = self.recipe.template("description")
        if name is None:
            return self.task.render_description(self.prompts)
        return self.prompts.render(name, task_name=self.task.name, input_fields=list(self.task.input_fields))

    def _progress(self, state: _State) -> Progress:
        usage = Usage(**state.usage)
        cost = usage.cost_usd if (usage.cost_known or usage.cost_usd > 0) and usage.calls else None
        return Progress(
            steps=state.steps,
            cost_usd=cost,
            steps_since_improvement=state.steps_since_improvement,
            run_dir=self.run_dir.path if self.run_dir else None,
            calls=usage.calls,
            tokens=usage.total_tokens,
        )

    def _costs(self, usage0: Usage, t0: float) -> dict[str, Any]:
        """What a step used since ``usage0``/``t0``: its record's cost fields."""
        used = self.llm.usage.since(usage0)
        return {
            "calls": used.calls,
            "cache_hits": used.cache_hits,
            "prompt_tokens": used.prompt_tokens,
            "completion_tokens": used.completion_tokens,
            "cost_usd": used.cost_usd if used.cost_known else None,
            "seconds": round(time.perf_counter() - t0, 4),
        }

    def _save(self, state: _State, record: FitRecord, usage0: Usage) -> None:
        """Add a step's record (and what the LLM used since ``usage0``) to the run's totals, the
        history file and the state file."""
        total = Usage(**state.usage)
        total.add(self.llm.usage.since(usage0))
        state.usage = total.counters()
        state.seconds += record.seconds
        if record.warning:
            state.warnings.append(record.warning)
        self._records.append(record)
        if self.run_dir is not None:
            self.run_dir.append(HISTORY, record.to_json())
            self.run_dir.save_state(state.to_json())

    # ---- set-up and finish -----------------------------------------------------------------------
    def _check_data(self, trainset: Sequence[Example], valset: Sequence[Example] | None) -> tuple[list[Example], list[Example] | None]:
        return check_fit_data(self.task, trainset, valset, baseline=self.baseline, epochs=self.epochs, select=self.select, holdout=self.holdout)

    def _open_run(self, train: list[Example], val: list[Example] | None) -> _State:
        self._records: list[FitRecord] = []
        self._prefetched = None  # an earlier fit's (e.g. one stopped mid-epoch) is not this one's
        if self.run_dir is None:
            return _State(seed=self.seed)
        stored = self.run_dir.open(self.config(train, val), resume=self.resume, overwrite=self.overwrite, defer_config=True).progress
        if stored is None:
            self.run_dir.keep_records(HISTORY, lambda record: False)
            return _State(seed=self.seed)
        state = _State.from_json(stored)
        if self.errors is not None:  # the failures counted before the interruption still count
            self.errors.failures.extend((where, what) for where, what in state.errors)
        kept = (InitRecord, BaselineRecord) if state.instruction is not None else ()

        def before_the_state(line: dict[str, Any]) -> bool:
            record = record_from_json(line)
            return (
                isinstance(record, kept)
                or (isinstance(record, StepRecord) and record.step < state.steps)
                or (isinstance(record, StepFailedRecord) and record.step <= state.steps)
            )

        self.run_dir.keep_records(HISTORY, before_the_state)
        self._records = [record_from_json(line) for line in self.run_dir.records(HISTORY)]
        log.info("resuming %s at step %d", self.run_dir.path, state.steps)
        return state

    def config(self, train: Sequence[Example], val: Sequence[Example] | None) -> dict[str, Any]:
        """Everything that determines this run (``info`` excepted), as stored in ``config.json``."""
        names = [self.recipe.template("description", self.task.description_template), self.recipe.template("predict", self.task.predict_template)]
        if self.baseline is None:
            names += [self.init_template, self.update_template, self.pack_template]
        elif self.baseline == "in-context":
            names.append(IN_CONTEXT_TEMPLATE)
        sources = {name: self.prompts.source(name) for name in names}
        return {
            "kind": FIT_KIND,
            "task": self.task.name,
            "llm": self.llm.spec,
            "method": self.method,
            "recipe": self.recipe.name,
            "hyper": {
                "epochs": self.epochs,
                "batch_size": self.batch_size,
                "history": self.history,
                "history_size": self.history_size,
                "select": self.select,
                "seed": self.seed,
                "baseline": self.baseline,
                "min_instruction_words": self.min_instruction_words,
                "candidates": self.candidates,
                "accept": self.accept,
                "start": self.start,
                "holdout": self.holdout,
                "demos": self.demos,
                "parents": self.parents,
            },
            "recipe_settings": self.recipe.to_json(),
            "sampling": {
                "predict": self.predict_params.model_dump(mode="json"),
                "meta": self.meta_params.model_dump(mode="json"),
            },
            "templates": {name: _sha256(source) for name, source in sources.items()},
            "data": {"train": _data_digest(train), "val": None if val is None else _data_digest(val)},
            "info": {
                "promptlearn_version": __version__,
                "llm_identity": dict(self.llm.backend.identity()),
                "templates_dir": None if self.prompts.user_dir is None else str(self.prompts.user_dir),
                "template_sources": sources,
                "stop": self.stop.describe(),
                "scorers": self.scorers(),  # which scorer drives learning, which is reported
            },
        }

    def _finish(self, state: _State, started: float, usage_before: Usage) -> FitResult:
        assert state.instruction is not None
        if self.baseline is not None:
            version, instruction = None, state.instruction
        elif self.select == "best" and state.best is not None:
            version, instruction = state.best["version"], state.best["instruction"]
        else:
            version, instruction = state.steps, state.instruction
        val_score = state.val_scores.get(str(0 if version is None else version))
        state.finished = True
        state.final = {"instruction": instruction, "select": self.select, "selected_version": version, "val_score": val_score}
        if self.run_dir is not None:
            self.run_dir.save_state(state.to_json())
            self.run_dir.write_text(INSTRUCTION, instruction.rstrip("\n") + "\n")
        return FitResult(
            instruction=instruction,
            initial_instruction=state.initial_instruction,
            method=self.method,
            select=self.select,
            selected_version=version,
            val_score=val_score,
            steps=list(self._records),
            stop_reason=state.stop_reason,
            usage=self.llm.usage.since(usage_before),
            wall_time_s=time.perf_counter() - started,
            total_usage=Usage(**state.usage),
            total_seconds=state.seconds,
            warnings=list(state.warnings),
            run_dir=self.run_dir.path if self.run_dir else None,
            recipe=self.recipe.name,
            scorers=self.scorers(),
            notes=list(self.notes),
        )


def check_fit_data(
    task: Task,
    trainset: Sequence[Example],
    valset: Sequence[Example] | None,
    *,
    baseline: str | None = None,
    epochs: int = 2,
    select: Select = "last",
    holdout: float = 0.0,
) -> tuple[list[Example], list[Example] | None]:
    """The checks :meth:`InstructionLearner.fit` makes of its data, callable before an LLM is
    loaded (the CLI does): not empty when needed, unique ids, every example valid for ``task``."""
    train = list(trainset)
    needs_train = baseline == "in-context" or (baseline is None and epochs > 0)
    if needs_train and not train:
        raise InputError("the training set is empty")
    val = None if valset is None else list(valset)
    if val is not None and not val:
        raise InputError("the validation set is empty")
    if select == "best" and val is None and baseline is None and epochs > 0 and not holdout > 0:
        raise InputError("{select='best'} needs a validation set ({valset})", arguments=("select='best'", "valset"))
    for name, examples in (("training", train), ("validation", val or [])):
        seen: set[str] = set()
        for example in examples:
            if not isinstance(example, Example):
                raise InputError(f"the {name} set holds a {type(example).__name__}, not an Example")
            if example.id in seen:
                raise InputError(f"the {name} set has two examples with id {example.id!r}")
            seen.add(example.id)
            task.check_example(example)
    return train, val


def _start_instruction(task: Task, start: str) -> str | None:
    """The instruction a ``start`` other than ``p0`` names: the task's human-written one, a
    file's text, or an earlier run's learned ``instruction.txt`` (checked here, before any call)."""
    if start in ("p0", "best"):  # best: p_0 (and the task's human-written one) are chosen in fit
        return None
    if start == "human":
        return human_instruction(task)
    path = Path(start).expanduser()
    if path.is_dir() and (path / INSTRUCTION).is_file():  # warm start from an earlier run's folder
        path = path / INSTRUCTION
    if not path.is_file():
        raise InputError(f"{{start}} must be p0, human, best, an instruction file or a finished run's folder; {start!r} is none of them", arguments="start")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{{start}} {path}: cannot read it ({exc.__class__.__name__})", arguments="start") from None
    if not text:
        raise InputError(f"{{start}} {path} is empty", arguments="start")
    return text


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_digest(examples: Sequence[Example]) -> dict[str, Any]:
    canonical = json.dumps([e.to_json() for e in examples], sort_keys=True, ensure_ascii=False, default=str)
    return {"examples": len(examples), "sha256": _sha256(canonical)}


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
