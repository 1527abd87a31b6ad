"""A plain instruction-induction task, unrelated to ORES, that shows the optimizer is generic:
given a word, answer its antonym (exact match after normalisation against the accepted antonyms)."""

from __future__ import annotations

from .base import Task
from .scorers import ExactMatchScorer, GradedWordScorer

HUMAN_INSTRUCTION = "Write the antonym of the given word: one common word with the opposite meaning. Answer with that word only."


def make_antonyms_task() -> Task:
    """The antonyms task (input ``word``; output one antonym)."""
    return Task(
        name="antonyms",
        input_fields=("word",),
        scorer=ExactMatchScorer(),
        graded_scorer=GradedWordScorer(),  # "The opposite of "hot" is "cold"" earns 0.75, not 0
        description_template="tasks/antonyms/task.j2",
        predict_template="tasks/antonyms/predict.j2",
        human_instruction=HUMAN_INSTRUCTION,
        default_trainset="antonyms-train",
        default_valset="antonyms-val",
        default_testset="antonyms-test",
        summary="instruction induction: answer the antonym of a word (exact match)",
        requires_references=True,
    )
