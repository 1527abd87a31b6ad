"""Stop conditions for the learner: small objects that compose.

Each condition looks at a :class:`Progress` snapshot before a step and returns a reason (a short
sentence) to stop, or ``None``. ``a | b`` (or :class:`AnyOf`) stops when either does. They are
checked between steps, so a stopped run is always at a step boundary and can be resumed.

>>> stop = MaxSteps(20) | MaxCost(1.5) | MaxCalls(400) | MaxTokens(200_000) | NoImprovement(5) | StopFile("runs/demo/STOP")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import InputError


@dataclass(frozen=True)
class Progress:
    """Where a run stands: steps done, dollars spent (``None`` while the price is unknown),
    and steps since the selection score last improved."""

    steps: int
    cost_usd: float | None
    steps_since_improvement: int
    run_dir: Path | None = None
    calls: int = 0  # LLM calls made (cache hits included: they are the run's calls)
    tokens: int = 0  # prompt + completion tokens


@runtime_checkable
class StopCondition(Protocol):
    def __call__(self, progress: Progress) -> str | None: ...

    def describe(self) -> str: ...


class _Composable:
    def __or__(self, other: StopCondition) -> "AnyOf":
        return AnyOf(self, other)  # type: ignore[arg-type]


@dataclass(frozen=True)
class MaxSteps(_Composable):
    """Stop after ``steps`` update steps in all (resumed sessions included)."""

    steps: int

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise InputError(f"max steps must be >= 0, got {self.steps}")

    def __call__(self, progress: Progress) -> str | None:
        return f"reached max steps ({self.steps})" if progress.steps >= self.steps else None

    def describe(self) -> str:
        return f"max_steps={self.steps}"


@dataclass(frozen=True)
class MaxCost(_Composable):
    """Stop once the run has spent ``usd`` dollars. Never fires while the price is unknown
    (local models, unpriced APIs): unknown is not zero, and not over budget either."""

    usd: float

    def __post_init__(self) -> None:
        if self.usd < 0:
            raise InputError(f"max cost must be >= 0, got {self.usd}")

    def __call__(self, progress: Progress) -> str | None:
        if progress.cost_usd is not None and progress.cost_usd >= self.usd:
            return f"reached max cost (${progress.cost_usd:.4f} >= ${self.usd:.4f})"
        return None

    def describe(self) -> str:
        return f"max_cost={self.usd}"


@dataclass(frozen=True)
class MaxCalls(_Composable):
    """Stop once the run has made ``calls`` LLM calls (resumed sessions included)."""

    calls: int

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise InputError(f"max calls must be >= 0, got {self.calls}")

    def __call__(self, progress: Progress) -> str | None:
        if progress.calls >= self.calls:
            return f"reached max calls ({progress.calls} >= {self.calls})"
        return None

    def describe(self) -> str:
        return f"max_calls={self.calls}"


@dataclass(frozen=True)
class MaxTokens(_Composable):
    """Stop once the run has used ``tokens`` prompt + completion tokens."""

    tokens: int

    def __post_init__(self) -> None:
        if self.tokens < 0:
            raise InputError(f"max tokens must be >= 0, got {self.tokens}")

    def __call__(self, progress: Progress) -> str | None:
        if progress.tokens >= self.tokens:
            return f"reached max tokens ({progress.tokens} >= {self.tokens})"
        return None

    def describe(self) -> str:
        return f"max_tokens={self.tokens}"


@dataclass(frozen=True)
class NoImprovement(_Composable):
    """Stop when the selection score (validation score with a validation set, else the batch
    score) has not improved for ``patience`` steps."""

    patience: int

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise InputError(f"patience must be >= 1, got {self.patience}")

    def __call__(self, progress: Progress) -> str | None:
        if progress.steps_since_improvement >= self.patience:
            return f"no improvement for {progress.steps_since_improvement} steps (patience {self.patience})"
        return None

    def describe(self) -> str:
        return f"patience={self.patience}"


@dataclass(frozen=True)
class StopFile(_Composable):
    """Stop when a file exists (``touch runs/demo/STOP``). The file is removed when it fires, so
    that ``--resume`` continues the run. A relative name is taken inside the run directory."""

    path: str | os.PathLike[str] = "STOP"

    def resolve(self, run_dir: Path | None) -> Path | None:
        path = Path(self.path)
        if path.is_absolute():
            return path
        return None if run_dir is None else run_dir / path

    def __call__(self, progress: Progress) -> str | None:
        path = self.resolve(progress.run_dir)
        if path is None or not path.exists():
            return None
        path.unlink(missing_ok=True)
        return f"stop file {path} found"

    def describe(self) -> str:
        return f"stop_file={os.fspath(self.path)}"


class AnyOf(_Composable):
    """Stops when any of its conditions does; the reason is the first one's."""

    def __init__(self, *conditions: StopCondition):
        flat: list[StopCondition] = []
        for condition in conditions:
            flat.extend(condition.conditions if isinstance(condition, AnyOf) else [condition])
        self.conditions = tuple(flat)

    def __call__(self, progress: Progress) -> str | None:
        for condition in self.conditions:
            reason = condition(progress)
            if reason is not None:
                return reason
        return None

    def describe(self) -> str:
        return " | ".join(c.describe() for c in self.conditions) or "none"

    def __repr__(self) -> str:
        return f"AnyOf({', '.join(map(repr, self.conditions))})"


def stop_conditions(
    *,
    max_steps: int | None = None,
    max_cost: float | None = None,
    patience: int | None = None,
    stop_file: str | None = "STOP",
    max_calls: int | None = None,
    max_tokens: int | None = None,
) -> AnyOf:
    """The usual combination, from optional limits (``None`` leaves a limit out)."""
    conditions: list[StopCondition] = []
    if max_steps is not None:
        conditions.append(MaxSteps(max_steps))
    if max_cost is not None:
        conditions.append(MaxCost(max_cost))
    if max_calls is not None:
        conditions.append(MaxCalls(max_calls))
    if max_tokens is not None:
        conditions.append(MaxTokens(max_tokens))
    if patience is not None:
        conditions.append(NoImprovement(patience))
    if stop_file is not None:
        conditions.append(StopFile(stop_file))
    return AnyOf(*conditions)
