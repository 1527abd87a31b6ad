"""The instructions of the two baselines the paper compares with: a human-written one (the
task's ``human_instruction``) and in-context learning (every training example shown)."""

from __future__ import annotations

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
