"""The Predictor: instruction + task + example -> chat messages -> parsed prediction + score.

This is the one place where a task's examples are turned into LLM requests and answers into
scored predictions; the learner, the rewriter and the benchmark harness all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any, Literal, Mapping, Sequence

from ..errors import InputError
from ..llm import LLM, Completion, Request, SamplingParams, make_request, to_params
from ..prompts import PromptLibrary
from ..tasks.base import Example, Score, Task
from .demos import split_demos

# Greedy, and one paragraph: task outputs (a rewritten query, an antonym) are short, and a small
# model that rambles on after its answer would otherwise cost a whole max_tokens per batch.
DEFAULT_PREDICT_PARAMS = SamplingParams(temperature=0.0, max_tokens=64, stop=("\n\n",))


def with_defaults(defaults: SamplingParams, params: SamplingParams | Mapping[str, Any] | None) -> SamplingParams:
    """``params`` as given when it is a :class:`SamplingParams`; a mapping only overrides the
    fields it names, so ``{"max_tokens": 10}`` keeps the default stop strings."""
    if params is None:
        return defaults
    if isinstance(params, SamplingParams):
        return params
    return to_params(defaults, **dict(params))


@dataclass(frozen=True)
class Prediction:
    """One example's answer: the raw completion text, the task-parsed output and its score
    (``None`` when scoring was not asked for)."""

    example: Example
    text: str
    output: str
    score: Score | None
    completion: Completion

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.example.id,
            "output": self.output,
            "raw": self.text,
            "score": None if self.score is None else self.score.value,
            "details": None if self.score is None else _jsonable(self.score.details),
            "cached": self.completion.cached,
        }


@dataclass(frozen=True)
class Evaluation:
    """Predictions on a set of examples and their mean score."""

    score: float
    predictions: list[Prediction]


class Predictor:
    """Answers a task's examples with one instruction.

    By default the instruction is the system message and the task's ``predict_template``,
    rendered with the example's input fields (each template puts them inside delimited fields),
    is the user message; an instruction's demonstrations (see :mod:`.demos`) come between them
    as user/assistant turns. A recipe may instead give its own ``template`` with
    ``instruction_in="prompt"``: then one user message, rendered with the instruction and the
    ``task_description`` too, exactly as written (``exact=True`` keeps its whitespace).
    ``params`` are the sampling parameters of every prediction.
    """

    def __init__(
        self,
        llm: LLM,
        task: Task,
        instruction: str,
        *,
        prompts: PromptLibrary | None = None,
        params: SamplingParams | Mapping[str, Any] | None = None,
        template: str | None = None,
        instruction_in: Literal["system", "prompt"] = "system",
        task_description: str | None = None,
        exact: bool = False,
    ):
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("the instruction is empty")
        if instruction_in not in ("system", "prompt"):
            raise InputError(f"instruction_in must be 'system' or 'prompt', got {instruction_in!r}")
        self.llm = llm
        self.task = task
        self.instruction = instruction.strip()
        self.prompts = prompts if prompts is not None else task.prompt_library()
        self.params = with_defaults(DEFAULT_PREDICT_PARAMS, params)
        self.template = template
        self.instruction_in = instruction_in
        self.task_description = task_description
        self.exact = exact

    def __repr__(self) -> str:
        return f"Predictor(task={self.task.name!r}, instruction={self.instruction[:40]!r}...)"

    def with_instruction(self, instruction: str) -> "Predictor":
        """The same predictor with another instruction."""
        return Predictor(
            self.llm, self.task, instruction, prompts=self.prompts, params=self.params, template=self.template,
            instruction_in=self.instruction_in, task_description=self.task_description, exact=self.exact,
        )

    def user_message(self, example: Example) -> str:
        self.task.check_example(example)
        if self.instruction_in == "system":
            return self.task.render_predict(self.prompts, example, template=self.template, strip=not self.exact)
        return self.task.render_predict(
            self.prompts, example, template=self.template, strip=not self.exact,
            instruction=self.instruction, task_description=self.task_description or "",
        )

    def messages(self, example: Example) -> list[dict[str, str]]:
        if self.instruction_in == "prompt":
            return [{"role": "user", "content": self.user_message(example)}]
        text, demos = split_demos(self.instruction)
        turns: list[dict[str, str]] = []
        for i, demo in enumerate(demos):  # earlier turns: the task's prompt for the inputs, then the answer
            turns += [{"role": "user", "content": self.user_message(demo.example(i))}, {"role": "assistant", "content": demo.output}]
        return [
            {"role": "system", "content": text},
            *turns,
            {"role": "user", "content": self.user_message(example)},
        ]

    def request(self, example: Example) -> Request:
        return make_request(self.messages(example), self.params)

    def predict(
        self, examples: Sequence[Example], *, score: bool = True, progress: bool | str = False
    ) -> list[Prediction]:
        """Answer every example through one concurrent ``complete_many`` call; parse each answer
        with the task's parser and, with ``score=True``, score them in one scorer call.
        An LLM error propagates: a failed prediction is never replaced by made-up output."""
        return self.finish(examples, self.llm.complete_many([self.request(e) for e in examples], progress=progress), score=score)

    def finish(self, examples: Sequence[Example], completions: Sequence[Completion], *, score: bool = True) -> list[Prediction]:
        """Turn completions of :meth:`request` s (possibly sent in a larger batch by the caller)
        into scored predictions."""
        outputs = [self.task.parse(c.text) for c in completions]
        scores: list[Score | None] = [None] * len(examples)
        if score and examples:
            scores = list(self.task.scorer.score(list(examples), outputs))
            if len(scores) != len(examples):
                raise InputError(f"task {self.task.name!r}: scorer returned {len(scores)} scores for {len(examples)} examples")
        return [
            Prediction(example=e, text=c.text, output=o, score=s, completion=c)
            for e, c, o, s in zip(examples, completions, outputs, scores)
        ]

    def evaluate(self, examples: Sequence[Example], *, progress: bool | str = False) -> Evaluation:
        """Mean score of the instruction on ``examples``."""
        if not examples:
            raise InputError("cannot evaluate on an empty set of examples")
        predictions = self.predict(examples, progress=progress)
        return Evaluation(score=mean_score(predictions), predictions=predictions)


def mean_score(predictions: Sequence[Prediction]) -> float:
    """The mean score of scored predictions (0.0 for none)."""
    values = [p.score.value for p in predictions if p.score is not None]
    return fmean(values) if values else 0.0


def _jsonable(value: Any) -> Any:
    """Score details as JSON: numbers, strings, bools, lists and dicts pass, the rest is str()."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if callable(getattr(value, "item", None)) and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _jsonable(value.item())
    return str(value)


__all__ = ["DEFAULT_PREDICT_PARAMS", "Evaluation", "Prediction", "Predictor", "mean_score"]
