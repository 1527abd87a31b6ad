"""The Predictor: instruction + task + example -> chat messages -> parsed prediction + score.

This is the one place where a task's examples are turned into LLM requests and answers into
scored predictions; the learner, the rewriter and the benchmark harness all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Any, Mapping, Sequence

from ..errors import InputError
from ..llm import LLM, Completion, Request, SamplingParams, make_request, to_params
from ..prompts import PromptLibrary
from ..tasks.base import Example, Score, Task

DEFAULT_PREDICT_PARAMS = SamplingParams(temperature=0.0, max_tokens=64)


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

    The instruction is the system message; the task's ``predict_template``, rendered with the
    example's input fields (each template puts them inside delimited fields), is the user
    message. ``params`` are the sampling parameters of every prediction.
    """

    def __init__(
        self,
        llm: LLM,
        task: Task,
        instruction: str,
        *,
        prompts: PromptLibrary | None = None,
        params: SamplingParams | Mapping[str, Any] | None = None,
    ):
        if not isinstance(instruction, str) or not instruction.strip():
            raise InputError("the instruction is empty")
        self.llm = llm
        self.task = task
        self.instruction = instruction.strip()
        self.prompts = prompts if prompts is not None else task.prompt_library()
        self.params = DEFAULT_PREDICT_PARAMS if params is None else to_params(params)

    def __repr__(self) -> str:
        return f"Predictor(task={self.task.name!r}, instruction={self.instruction[:40]!r}...)"

    def with_instruction(self, instruction: str) -> "Predictor":
        """The same predictor with another instruction."""
        return Predictor(self.llm, self.task, instruction, prompts=self.prompts, params=self.params)

    def user_message(self, example: Example) -> str:
        self.task.check_example(example)
        return self.task.render_predict(self.prompts, example)

    def messages(self, example: Example) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.instruction},
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
