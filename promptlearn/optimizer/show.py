"""What a fit learned: its starting and learned instruction side by side on held-out examples,
with their scores and a few example answers by each (``promptlearn show RUN``, ``make demo``)."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Sequence

from ..errors import InputError
from ..llm import LLM
from ..runs import RunFolder
from ..tasks.base import Example, Task
from .learner import FIT_KIND


@dataclass(frozen=True)
class Shown:
    """One instruction's held-out result: its strict (reported) and graded scores and examples."""

    label: str
    instruction: str
    score: float
    graded: float | None
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    task: str
    recipe: str
    scorer: str
    graded_scorer: str | None
    held_out: str
    rows: list[Shown]
    start_choice: str | None = None  # how the fit chose its start (recipe start: best), with the scores

    def text(self) -> str:
        lines = [f"task {self.task}, recipe {self.recipe}; held-out examples: {self.held_out}; scorer {self.scorer}" + (f" (graded: {self.graded_scorer})" if self.graded_scorer else "")]
        if self.start_choice:
            lines.append(self.start_choice)
        for row in self.rows:
            graded = f", graded {row.graded:.3f}" if row.graded is not None else ""
            lines += ["", f"{row.label} instruction (held-out score {row.score:.3f}{graded}):", textwrap.indent(row.instruction, "  "), "  example rewrites:"]
            for example in row.examples:
                inputs = ", ".join(f"{k}={v!r}" for k, v in example["inputs"].items())
                lines.append(f"    {inputs} -> {example['answer']!r} (score {example['score']:.2f})")
        return "\n".join(lines)


def run_instructions(run_dir: str | os.PathLike[str], *, argument: str = "run_dir") -> tuple[dict[str, Any], str, str, str | None]:
    """A finished fit's config, starting instruction, learned instruction and how the start was
    chosen (``None`` when there was no choice)."""
    folder = RunFolder(run_dir, kind=FIT_KIND, argument=argument)
    config, state = folder.read_config(), folder.read_state()
    if config is None or state is None or config.get("kind") != FIT_KIND:
        raise InputError(f"{{{argument}}} {folder.path} is not a promptlearn fit run folder", arguments=argument)
    if not state.get("finished") or not state.get("final"):
        raise InputError(f"{{{argument}}} {folder.path}: the fit has not finished (resume it first)", arguments=argument)
    start = state.get("initial_instruction") or state["final"]["instruction"]
    return config, start, state["final"]["instruction"], (state.get("start") or {}).get("note")


def compare_run(llm: LLM, task: Task, run_dir: str | os.PathLike[str], examples: Sequence[Example], *, held_out: str, n_examples: int = 3) -> Comparison:
    """Score a run's starting and learned instruction on ``examples`` (held out from its fit) with
    the task's strict scorer (and its graded one, where declared), through the same predictor the
    fit used; keep ``n_examples`` answers of each."""
    from .learner import InstructionLearner

    config, start, learned, start_choice = run_instructions(run_dir)
    if config.get("task") != task.name:
        raise InputError(f"the run learned task {config.get('task')!r}, not {task.name!r}")
    if not examples:
        raise InputError("no held-out examples to show the instructions on")
    learner = InstructionLearner(llm, task, recipe=config.get("recipe"), predict_params=config.get("sampling", {}).get("predict"), scorer="strict")
    rows = []
    for label, instruction in (("starting", start), ("learned", learned)):
        evaluation = learner.predictor(instruction).evaluate(list(examples))
        graded = None
        if task.graded_scorer is not None:
            graded = fmean(s.value for s in task.graded_scorer.score(list(examples), [p.output for p in evaluation.predictions]))
        shown = [{"inputs": dict(p.example.inputs), "answer": p.text.strip(), "score": p.score.value if p.score else 0.0} for p in evaluation.predictions[:n_examples]]
        rows.append(Shown(label, instruction, evaluation.score, graded, shown))
    return Comparison(task.name, str(config.get("recipe")), getattr(task.scorer, "name", "?"), getattr(task.graded_scorer, "name", None) if task.graded_scorer else None, held_out, rows, start_choice)


__all__ = ["Comparison", "Shown", "compare_run", "run_instructions"]
