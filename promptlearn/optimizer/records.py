"""The records of a fit, one per line of ``history.jsonl`` and one per entry of
:attr:`FitResult.steps <promptlearn.optimizer.FitResult.steps>`: typed, so that nothing reads
them back by string keys.

- :class:`InitRecord`: the LLM's initial instruction ``p_0`` (and its validation score).
- :class:`StepRecord`: one update step ``p_j -> p_{j+1}`` with its mini-batch predictions.
- :class:`BaselineRecord`: a baseline's instruction (human-written or in-context).
- :class:`StepFailedRecord`: a mini-batch skipped because its LLM calls failed (``--max-errors``).

Each carries what it cost (:class:`FitRecord`'s fields). :meth:`FitRecord.to_json` writes the
``history.jsonl`` line (with its ``kind``), :func:`record_from_json` reads one back, and
:func:`read_history` is the one reader of a run folder's history.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping

from ..errors import InputError
from ..files import read_jsonl

HISTORY_FILE = "history.jsonl"


@dataclass(frozen=True, kw_only=True)
class FitRecord:
    """What every record holds: the LLM calls it made and what they cost (``cost_usd`` is
    ``None`` when the model has no known price) and its wall time."""

    kind: ClassVar[str] = ""
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0
    val_score: float | None = None
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self, StepRecord):
            out["predictions"] = [prediction.to_json() for prediction in self.predictions]
        return {"kind": self.kind, **out}


@dataclass(frozen=True, kw_only=True)
class PredictionRecord:
    """One example's prediction in a step (see :class:`~promptlearn.optimizer.Prediction`)."""

    id: str
    output: str
    raw: str
    score: float | None
    details: Any = None
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PredictionRecord":
        return cls(**_known(cls, data))


@dataclass(frozen=True, kw_only=True)
class InitRecord(FitRecord):
    kind: ClassVar[str] = "init"
    instruction: str
    answer: str  # the LLM's raw answer the instruction was parsed from
    start: str | None = None  # the start that won on validation (e.g. "human with 3 demonstrations")
    start_scores: dict[str, float] | None = None  # every start candidate's validation score


@dataclass(frozen=True, kw_only=True)
class BaselineRecord(FitRecord):
    kind: ClassVar[str] = "baseline"
    method: str
    instruction: str


@dataclass(frozen=True, kw_only=True)
class StepRecord(FitRecord):
    kind: ClassVar[str] = "step"
    step: int  # 0-based: the step that turned version ``step`` into version ``step + 1``
    epoch: int
    batch: int
    example_ids: list[str] = field(default_factory=list)
    instruction_before: str
    instruction_after: str
    update_answer: str
    history_shown: int
    predictions: list[PredictionRecord] = field(default_factory=list)
    batch_score: float
    # a recipe with candidates/accept: every proposal {"instruction", "score", "accepted"} and
    # whether the best one replaced the current instruction (None: the paper's always-replace loop)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    accepted: bool | None = None
    unparseable: int = 0  # answers the task's parser could not use (scored 0)
    parent: int | None = None  # recipe parents: pareto: the version drawn from the front to improve on (None: no draw, p_j as before)


@dataclass(frozen=True, kw_only=True)
class StepFailedRecord(FitRecord):
    """A mini-batch skipped because its LLM calls still failed after their retries (counted
    against ``--max-errors``): the instruction stays ``p_step``, the run goes on."""

    kind: ClassVar[str] = "step_failed"
    step: int  # the version the instruction stays at
    epoch: int
    batch: int
    example_ids: list[str] = field(default_factory=list)
    error: str


RECORD_TYPES: dict[str, type[FitRecord]] = {cls.kind: cls for cls in (InitRecord, BaselineRecord, StepRecord, StepFailedRecord)}


def record_from_json(data: Mapping[str, Any]) -> FitRecord:
    """The typed record of one ``history.jsonl`` line (unknown keys are ignored)."""
    kind = data.get("kind")
    if kind not in RECORD_TYPES:
        raise InputError(f"not a fit record (kind {kind!r}); expected one of {', '.join(RECORD_TYPES)}")
    cls = RECORD_TYPES[kind]
    values = _known(cls, data)
    if cls is StepRecord:
        values["predictions"] = [PredictionRecord.from_json(p) for p in values.get("predictions", [])]
    try:
        return cls(**values)
    except TypeError as exc:  # a field missing
        raise InputError(f"a {kind} record is incomplete ({exc})") from None


def read_history(run_dir: str | os.PathLike[str], *, argument: str = "run_dir") -> list[FitRecord]:
    """The records of a fit run folder's ``history.jsonl``, in order."""
    folder = Path(run_dir).expanduser()
    path = folder / HISTORY_FILE
    if not path.is_file():
        raise InputError(f"{{{argument}}} {folder}: no {HISTORY_FILE} (is it a promptlearn fit run folder?)", arguments=argument)
    return [record_from_json(line) for line in read_jsonl(path)]


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}
