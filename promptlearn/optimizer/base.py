"""The optimizer seam: a tiny base class (DSPy style) and the result every fit returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import PromptlearnError
from ..llm import Usage
from ..tasks.base import Example
from .predictor import Predictor
from .records import FitRecord, StepRecord


class OptimizerError(PromptlearnError):
    """The optimization itself failed (e.g. the LLM gave no usable initial instruction)."""

    exit_code = 1


@dataclass
class FitResult:
    """What a fit produced.

    ``recipe`` names the recipe that produced it (``"promptlearn"`` or ``"paper"``).
    ``method`` is ``"learned"`` (epochs > 0), ``"initial"`` (epochs 0: the LLM's first
    instruction), ``"human"`` or ``"in-context"`` (baselines). ``selected_version`` is the number
    of update steps behind the chosen instruction (0 = the initial one). ``usage`` and
    ``wall_time_s`` cover this call of ``fit`` (a resumed run reports its cache hits there);
    ``total_usage`` and ``total_seconds`` the whole run across resumes.
    """

    instruction: str
    initial_instruction: str | None
    method: str
    select: str
    selected_version: int | None
    val_score: float | None
    steps: list[FitRecord]  # in order: InitRecord or BaselineRecord, then StepRecords
    stop_reason: str | None
    usage: Usage
    wall_time_s: float
    total_usage: Usage
    total_seconds: float
    warnings: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    recipe: str = "promptlearn"
    scorers: dict[str, str] = field(default_factory=dict)  # {"learning", "reported"}: scorer names
    notes: list[str] = field(default_factory=list)  # what the fit decided by itself (e.g. a held-out split)

    @property
    def selection(self) -> str:
        """How the instruction was chosen, in words."""
        if self.method in ("human", "in-context"):
            return f"{self.method} baseline"
        if self.select == "best":
            return f"best by validation score (version {self.selected_version})"
        return f"last (version {self.selected_version})"

    def summary(self) -> str:
        val = "n/a" if self.val_score is None else f"{self.val_score:.3f}"
        lines = [
            f"recipe: {self.recipe}; method: {self.method}; selected: {self.selection}",
            f"steps: {len([s for s in self.steps if isinstance(s, StepRecord)])}"
            + (f" (stopped: {self.stop_reason})" if self.stop_reason else ""),
            f"LLM: {self.usage.summary()}",
            f"wall time: {self.wall_time_s:.1f}s",
            f"validation score: {val}" + (f" (scorer: {self.scorers['learning']})" if self.scorers else ""),
        ]
        if self.scorers:
            lines.insert(1, f"scorers: learning {self.scorers['learning']}; reported {self.scorers['reported']}")
        lines.extend(f"note: {note}" for note in self.notes)
        if self.warnings:
            lines.append(f"warnings: {len(self.warnings)} (see history.jsonl)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction,
            "initial_instruction": self.initial_instruction,
            "method": self.method,
            "recipe": self.recipe,
            "scorers": dict(self.scorers),
            "notes": list(self.notes),
            "select": self.select,
            "selected_version": self.selected_version,
            "val_score": self.val_score,
            "stop_reason": self.stop_reason,
            "usage": self.usage.to_json(),
            "wall_time_s": self.wall_time_s,
            "total_usage": self.total_usage.to_json(),
            "total_seconds": self.total_seconds,
            "warnings": list(self.warnings),
            "run_dir": None if self.run_dir is None else str(self.run_dir),
        }


class Optimizer(ABC):
    """Learns an instruction from examples. Subclasses implement :meth:`fit`; :meth:`compile`
    is the DSPy-style entry point that returns an improved copy of a predictor."""

    @abstractmethod
    def fit(self, trainset: Sequence[Example], *, valset: Sequence[Example] | None = None) -> FitResult: ...

    def compile(
        self, student: Predictor, *, trainset: Sequence[Example], valset: Sequence[Example] | None = None
    ) -> Predictor:
        """``student`` with the learned instruction (its own instruction is not used)."""
        return student.with_instruction(self.fit(trainset, valset=valset).instruction)
