"""A second instruction-induction task in the style of the Instruction Induction benchmark
(Honovich et al., 2022, "singular to plural"): given a singular English noun, answer its plural.
Exact match against the accepted plurals is the strict scorer; the graded one gives partial
credit when the plural is quoted, last, or somewhere in a longer answer."""

from __future__ import annotations

from .base import Task
from .scorers import ExactMatchScorer, GradedWordScorer

HUMAN_INSTRUCTION = "Write the plural form of the given English noun. Answer with that one word only."


def make_plurals_task() -> Task:
    """The plurals task (input ``word``; output its plural); data: ``plurals-train/val/test``."""
    return Task(
        name="plurals",
        input_fields=("word",),
        scorer=ExactMatchScorer(),
        graded_scorer=GradedWordScorer(),
        description_template="tasks/plurals/task.j2",
        predict_template="tasks/plurals/predict.j2",
        human_instruction=HUMAN_INSTRUCTION,
        default_trainset="plurals-train",
        default_valset="plurals-val",
        default_testset="plurals-test",
        summary="instruction induction: answer the plural of a singular noun (exact match; graded: word found)",
        requires_references=True,
    )
