"""Pictures for the reports (matplotlib's Agg canvas; no pyplot, no global state)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Sequence

from ..files import atomic_write_bytes
from .metrics import MethodSummary


def _save(figure: Any, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def fit_history_points(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Scores per step of a ``promptlearn fit`` run: ``batch`` (the mini-batch score of the
    instruction each step starts from, at that step) and ``validation`` (the validation score
    of the instruction after each step; the initial one at step 0)."""
    from ..optimizer.records import StepRecord, read_history

    batch: list[tuple[int, float]] = []
    validation: list[tuple[int, float]] = []
    for record in read_history(run_dir, argument="fit_run"):
        if not isinstance(record, StepRecord):
            if record.val_score is not None:
                validation.append((0, float(record.val_score)))
            continue
        batch.append((record.step, float(record.batch_score)))
        if record.val_score is not None:
            validation.append((record.step + 1, float(record.val_score)))
    return {"batch": batch, "validation": validation}


def plot_fit_history(run_dir: str | Path, path: str | Path) -> Path | None:
    """A line plot of a fit's score per step; ``None`` when the run has no scores yet."""
    from matplotlib.figure import Figure

    points = fit_history_points(run_dir)
    if not any(points.values()):
        return None
    figure = Figure(figsize=(6.4, 3.6))
    axes = figure.add_subplot()
    for label, series, style in (("mini-batch score", points["batch"], "o-"), ("validation score", points["validation"], "s--")):
        if series:
            axes.plot([x for x, _ in series], [y for _, y in series], style, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("score (avoided × similarity)")
    axes.set_ylim(0, 1.02)
    axes.set_title(f"fit history: {Path(run_dir).name}")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, Path(path))


def plot_methods(summaries: Sequence[MethodSummary], path: str | Path, *, score_label: str) -> Path | None:
    """Bars of avoidance (%) and score per method, with ± std over seeds as error bars."""
    from matplotlib.figure import Figure

    shown = [s for s in summaries if s.cells]
    if not shown:
        return None
    names = [s.method for s in shown]
    figure = Figure(figsize=(max(6.0, 1.1 * len(names) + 2), 3.6))
    for index, (title, values, errors, scale) in enumerate(
        (
            ("avoidance %", [s.avoidance.mean for s in shown], [s.avoidance.std for s in shown], 100.0),
            (score_label, [s.score.mean for s in shown], [s.score.std for s in shown], 1.0),
        )
    ):
        axes = figure.add_subplot(1, 2, index + 1)
        axes.bar(range(len(names)), [v * scale for v in values], yerr=[0 if math.isnan(e) else e * scale for e in errors], capsize=3, color="#4c72b0")
        axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
        axes.set_ylim(0, 1.05 * scale)
        axes.set_title(title)
        axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _save(figure, Path(path))
