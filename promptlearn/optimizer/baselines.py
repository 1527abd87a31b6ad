"""The instructions of the two baselines the paper compares with: a human-written one (the
task's ``human_instruction``) and in-context learning (every training example shown); and the
paper authors' own learned instruction (``paper-checkpoint``), read from a path the user gives."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..prompts import PromptLibrary
from ..tasks.base import Example, Task

IN_CONTEXT_TEMPLATE = "optimizer/in_context.j2"
BASELINES = ("human", "in-context")


def human_instruction(task: Task) -> str:
    """The task's human-written instruction."""
    if not (task.human_instruction or "").strip():
        raise InputError(f"task {task.name!r} has no human-written instruction; the 'human' baseline needs one")
    return task.human_instruction.strip()  # type: ignore[union-attr]


def in_context_instruction(
    prompts: PromptLibrary, task: Task, trainset: Sequence[Example], *, template: str = IN_CONTEXT_TEMPLATE
) -> str:
    """A system message showing the task description and the training examples (inputs and
    every reference) instead of a learned instruction."""
    if not trainset:
        raise InputError("the in-context baseline needs training examples")
    description = task.render_description(prompts)
    return prompts.render(template, task_description=description, examples=list(trainset))


PAPER_CHECKPOINT = "paper-checkpoint"
PAPER_CHECKPOINT_HELP = (
    "the authors' learned instruction, checkpoint.txt of github.com/kodenii/ORES (MIT licence); "
    "promptlearn does not ship it: download it and give its path"
)


def paper_checkpoint_instruction(path: str | os.PathLike[str] | None) -> str:
    """The ORES authors' learned instruction (their ``checkpoint.txt``), read from ``path``, as
    their demo (``ui.py``) reads it: ``"\\n".join(file.readlines())``, which keeps each line's own
    newline and adds one, so the instruction the demo sends has a blank line between its lines.
    The project cannot ship the file; the user gives its path (:data:`PAPER_CHECKPOINT_HELP`)."""
    if path is None or not str(path).strip():
        raise InputError(f"{PAPER_CHECKPOINT} needs the path of {PAPER_CHECKPOINT_HELP.split(';')[0]}")
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"{PAPER_CHECKPOINT}: file not found: {file} ({PAPER_CHECKPOINT_HELP})")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{PAPER_CHECKPOINT}: cannot read {file} ({exc.__class__.__name__})") from None
    if not text.strip():
        raise InputError(f"{PAPER_CHECKPOINT}: {file} is empty")
    return "\n".join(io.StringIO(text).readlines())
