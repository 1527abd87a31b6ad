"""Rewriting with a learned instruction, verified (beyond the paper).

A :class:`Rewriter` answers many inputs (for ORES: (concept, query) pairs) in concurrent batches
through the same :class:`~promptlearn.optimizer.Predictor` the learner uses, then checks each
answer: with the task scorer's avoidance part (``details["avoided"]``, e.g. ORES: no concept left
in the rewrite) *and* the similarity part (``details["similarity"]`` at least ``min_similarity``,
so an answer that echoes the instruction or drifts off the query fails), or, given a
``threshold``, the whole score. A failed answer is asked for again
with the failure shown (template ``rewriter/retry.j2``), up to ``verify_retries`` times; every
result records its retries and whether it finally passed. A rewrite that never passes is kept
and marked ``passed=False``, never replaced by made-up text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .error_budget import ErrorBudget
from .errors import InputError
from .llm import LLM, LLMError, SamplingParams, make_request
from .llm.errors import is_transient
from .optimizer.predictor import DEFAULT_PREDICT_PARAMS, Prediction, Predictor, with_defaults
from .optimizer.recipes import Recipe, get_recipe
from .prompts import PromptLibrary
from .tasks.base import Example, Task

RETRY_TEMPLATE = "rewriter/retry.j2"
TEMPLATE_VARIABLES = {RETRY_TEMPLATE: ["output", "problem"]}

DEFAULT_MIN_SIMILARITY = 0.25
"""The least similarity to the query (the task scorer's ``details["similarity"]``; for ORES the
MiniLM cosine of query and rewrite) a verified rewrite needs. Measured on the 36 bundled ORES rows
(``ores-train`` + ``ores-val``): their 108 human reference rewrites score 0.256 .. 0.99 (5th
percentile 0.35, median 0.80), an echo of the task's human-written instruction at most 0.14
(median 0.04). 0.25 passes every reference rewrite and rejects every echo."""


@dataclass(frozen=True)
class RewriteResult:
    """One input's rewrite. ``passed`` is ``None`` when no check applies (the scorer has no
    avoidance part and no threshold was given); ``problem`` says why the final rewrite fails."""

    id: str
    inputs: Mapping[str, str]
    output: str
    passed: bool | None
    retries: int
    score: float | None
    problem: str | None
    attempts: tuple[str, ...]
    error: str | None = None  # the LLM call failed after its retries: no rewrite (output "")

    def to_json(self) -> dict[str, Any]:
        extra = {"error": self.error} if self.error is not None else {}
        return {
            "id": self.id,
            **dict(self.inputs),
            "rewrite": self.output,
            "passed": self.passed,
            "retries": self.retries,
            "score": self.score,
            "problem": self.problem,
            "attempts": list(self.attempts),
            **extra,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], input_fields: Sequence[str]) -> "RewriteResult":
        """Inverse of :meth:`to_json` (for a resumed batch)."""
        return cls(
            id=str(data["id"]),
            inputs={name: data[name] for name in input_fields},
            output=data["rewrite"],
            passed=data["passed"],
            retries=int(data["retries"]),
            score=data["score"],
            problem=data["problem"],
            attempts=tuple(data["attempts"]),
            error=data.get("error"),
        )


class Rewriter:
    """Rewrites inputs of ``task`` with ``instruction``, verifying each rewrite.

    >>> rewriter = Rewriter(llm, task, instruction, verify_retries=2)          # doctest: +SKIP
    >>> rewriter.rewrite(concept="golden brown", query="Indulge in this caramelized dessert")  # doctest: +SKIP

    ``recipe="paper"`` asks with the ORES demo's prompt (``ui.py``: the instruction, "Happy
    generating!", input caption, concept, output caption, at temperature 1.0); the default
    ``promptlearn`` recipe with the task's predict template and the instruction as system message.
    """

    def __init__(
        self,
        llm: LLM,
        task: Task,
        instruction: str,
        *,
        verify_retries: int = 0,
        threshold: float | None = None,
        min_similarity: float | None = DEFAULT_MIN_SIMILARITY,
        prompts: PromptLibrary | None = None,  # default: the task's library
        params: SamplingParams | Mapping[str, Any] | None = None,
        recipe: str | Recipe | None = None,
    ):
        if not isinstance(verify_retries, int) or verify_retries < 0:
            raise InputError(f"verify retries must be an integer >= 0, got {verify_retries!r}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {threshold}")
        if min_similarity is not None and not 0.0 <= min_similarity <= 1.0:
            raise InputError(f"min_similarity must be in [0, 1], got {min_similarity}")
        # the recipe's inference prompt (``paper``: the ORES demo's, instruction inside one user
        # message) or, without one, the task's predict template with the instruction as system message
        chosen = get_recipe(recipe)
        template = chosen.template("inference")
        self.recipe = chosen.name
        self.predictor = Predictor(
            llm, task, instruction, prompts=prompts,
            params=with_defaults(chosen.sampling("inference", DEFAULT_PREDICT_PARAMS), params),
            template=template, instruction_in=chosen.instruction_in if template else "system", exact=chosen.exact_prompts,
        )
        self.task = task
        self.verify_retries = verify_retries
        self.threshold = threshold
        self.min_similarity = min_similarity

    def with_instruction(self, instruction: str) -> "Rewriter":
        """The same rewriter (LLM, task, templates, sampling, checks) with another instruction."""
        clone = object.__new__(Rewriter)
        clone.__dict__.update(self.__dict__)
        clone.predictor = self.predictor.with_instruction(instruction)
        return clone

    @property
    def instruction(self) -> str:
        return self.predictor.instruction

    def rewrite(self, **inputs: str) -> RewriteResult:
        """Rewrite one input given as keyword fields (``concept=..., query=...``)."""
        return self.rewrite_many([inputs])[0]

    def rewrite_many(
        self,
        items: Sequence[Example | Mapping[str, str]],
        *,
        progress: bool = False,
        errors: ErrorBudget | None = None,
    ) -> list[RewriteResult]:
        """Rewrite many inputs; each round (the first answers, then each retry round) is one
        concurrent batch call. Results come back in input order.

        An LLM call that fails after the client's retries raises, unless ``errors`` is given:
        then it is recorded there and the row's result carries ``error`` (no rewrite; a failed
        verification retry keeps the row's last rewrite and says so in ``problem``)."""
        examples = [self._as_example(item, index) for index, item in enumerate(items)]
        for example in examples:
            self.task.check_example(example)
        if not examples:
            return []
        conversations = [self.predictor.messages(e) for e in examples]
        attempts: list[list[str]] = [[] for _ in examples]
        final: list[Prediction | None] = [None] * len(examples)
        problems: list[str | None] = [None] * len(examples)
        failures: list[str | None] = [None] * len(examples)
        todo = list(range(len(examples)))
        for round_index in range(self.verify_retries + 1):
            label = "rewrite" if round_index == 0 else f"retry {round_index}"
            requests = [make_request(conversations[i], self.predictor.params) for i in todo]
            completions = self.predictor.llm.complete_many(
                requests, progress=label if progress else False, return_exceptions=errors is not None
            )
            fatal = next((c for c in completions if isinstance(c, LLMError) and not is_transient(c)), None)
            if fatal is not None:  # a rejected key or an unknown model fails every row alike
                raise fatal
            answered = []
            for i, completion in zip(todo, completions):
                if isinstance(completion, LLMError):
                    assert errors is not None
                    errors.record(f"row {examples[i].id}", completion)
                    failures[i] = str(completion)
                    if final[i] is not None:
                        problems[i] = f"{problems[i]}; the verification retry failed: {completion}"
                else:
                    answered.append((i, completion))
            predictions = self.predictor.finish([examples[i] for i, _ in answered], [c for _, c in answered])
            failed = []
            for i, prediction in zip((i for i, _ in answered), predictions):
                final[i] = prediction
                attempts[i].append(prediction.output)
                problems[i] = self._problem(prediction)
                if problems[i] is not None:
                    failed.append(i)
                    conversations[i] = conversations[i] + [
                        {"role": "assistant", "content": prediction.text},
                        {"role": "user", "content": self.predictor.prompts.render(RETRY_TEMPLATE, output=prediction.output, problem=problems[i])},
                    ]
            todo = failed
            if not todo:
                break
        return [
            self._failed(e, f) if p is None else self._result(e, p, a, q)
            for e, p, a, q, f in zip(examples, final, attempts, problems, failures)
        ]

    def _failed(self, example: Example, error: str | None) -> RewriteResult:
        return RewriteResult(
            id=example.id, inputs=dict(example.inputs), output="", passed=None, retries=0,
            score=None, problem=None, attempts=(), error=error,
        )

    # ---- checking ------------------------------------------------------------------------------
    def _problem(self, prediction: Prediction) -> str | None:
        """Why a rewrite fails the check, or ``None`` when it passes (or no check applies)."""
        if not prediction.output.strip():
            return "the answer is empty"
        score = prediction.score
        if score is None:
            return None
        if self.threshold is not None:
            if score.value < self.threshold:
                return f"its score {score.value:.2f} is below {self.threshold:.2f}"
            return None
        avoided = score.details.get("avoided")
        if avoided is False:
            return self._shown(score)
        similarity = score.details.get("similarity")
        if self.min_similarity is not None and isinstance(similarity, (int, float)) and similarity < self.min_similarity:
            return f"it is not close to the query (similarity {similarity:.2f} < {self.min_similarity:.2f}); keep the query's words except those showing the concept"
        return None

    @staticmethod
    def _shown(score) -> str:
        concept = score.details.get("matched_concept")
        phrase = score.details.get("matched_phrase")
        if concept and phrase and str(phrase).casefold() != str(concept).casefold():
            return f"it still shows the concept {concept!r} (as {phrase!r})"
        return f"it still shows the concept {concept!r}" if concept else "it still shows a concept it must avoid"

    def _checks(self, prediction: Prediction) -> bool:
        score = prediction.score
        return score is not None and (
            self.threshold is not None or "avoided" in score.details or (self.min_similarity is not None and "similarity" in score.details)
        )

    def _result(self, example: Example, prediction: Prediction | None, attempts: list[str], problem: str | None) -> RewriteResult:
        assert prediction is not None
        passed = (problem is None) if (self._checks(prediction) or problem is not None) else None
        return RewriteResult(
            id=example.id,
            inputs=dict(example.inputs),
            output=prediction.output,
            passed=passed,
            retries=len(attempts) - 1,
            score=None if prediction.score is None else prediction.score.value,
            problem=problem,
            attempts=tuple(attempts),
        )

    def _as_example(self, item: Example | Mapping[str, str], index: int) -> Example:
        if isinstance(item, Example):
            return item
        if not isinstance(item, Mapping):
            raise InputError(f"input {index}: expected a mapping of {', '.join(self.task.input_fields)}, got {type(item).__name__}")
        unknown = sorted(set(item) - set(self.task.input_fields) - {"id"})
        if unknown:
            raise InputError(f"input {index}: unknown field(s) {', '.join(unknown)} for task {self.task.name!r}")
        inputs = {name: str(item.get(name, "")) for name in self.task.input_fields}
        return Example(id=str(item.get("id", index)), inputs=inputs)
