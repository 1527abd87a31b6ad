"""What an instruction-learning task is: its examples, how a prediction is asked for and parsed,
and how it is scored. The optimizer knows tasks only through these types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from ..errors import InputError


@dataclass(frozen=True)
class Example:
    """One training or evaluation example: named input fields and zero or more reference outputs.

    ``meta`` carries anything else a dataset row had (e.g. ORES's implicit object) without
    entering the prompts."""

    id: str
    inputs: Mapping[str, str]
    references: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "inputs": dict(self.inputs), "references": list(self.references), "meta": dict(self.meta)}


@dataclass(frozen=True)
class Score:
    """A score in [0, 1] (higher is better) and the parts it was computed from."""

    value: float
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """Scores predictions against examples; takes whole batches so that model-based scorers
    (sentence embeddings) can batch their work."""

    def score(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[Score]: ...


def strip_output(text: str) -> str:
    """The default output parser: the first non-empty line, without surrounding quotes or an
    'Output:'-style label. Models often wrap their answer; the task sees only the answer."""
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        for label in ("output:", "rewritten query:", "rewrite:", "answer:", "revised query:"):
            if line.casefold().startswith(label):
                line = line[len(label) :].strip()
                break
        if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
            line = line[1:-1].strip()
        return line
    return ""


@dataclass(frozen=True)
class Task:
    """A named instruction-learning task.

    ``description_template`` (p_task) and ``predict_template`` are template names resolved by
    :class:`promptlearn.prompts.PromptLibrary`, so a user's ``--templates`` folder can override
    them. ``predict_template`` renders one example's inputs (each inside a delimited field) as
    the user message; the instruction being learned is the system message.
    """

    name: str
    input_fields: tuple[str, ...]
    scorer: Scorer
    description_template: str
    predict_template: str
    parse: Callable[[str], str] = strip_output
    human_instruction: str | None = None
    default_trainset: str | None = None  # a bundled dataset name, see promptlearn.data
    summary: str = ""

    def check_example(self, example: Example) -> None:
        missing = [f for f in self.input_fields if not str(example.inputs.get(f, "")).strip()]
        if missing:
            raise InputError(f"example {example.id!r}: task {self.name!r} needs field(s) {', '.join(missing)}")
