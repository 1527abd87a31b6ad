"""The instruction-induction tasks' splits and graded scorers (bundled, project-written data)."""

from __future__ import annotations

import pytest

from promptlearn.data import load_examples
from promptlearn.tasks.base import Example
from promptlearn.tasks.registry import get_task
from promptlearn.tasks.scorers import GradedWordScorer


@pytest.mark.parametrize("name", ["ores", "antonyms", "plurals"])
def test_test_splits_are_disjoint_from_training_and_validation(name):
    task = get_task(name)
    splits = {s: load_examples(getattr(task, f"default_{s}set"), task) for s in ("train", "val", "test")}
    key = (lambda e: e.inputs["query"]) if name == "ores" else (lambda e: e.inputs["word"])
    seen = {key(e) for e in splits["train"] + splits["val"]}
    assert splits["test"] and not seen & {key(e) for e in splits["test"]}


def test_graded_word_scorer_gives_a_weak_model_partial_credit():
    example = Example(id="a", inputs={"word": "hot"}, references=("cold",))
    answers = ["Cold.", 'The opposite of "hot" is "cold".', "cold is the answer, not warm", "warm", "The opposite of hot is cold"]
    scores = GradedWordScorer().score([example] * len(answers), answers)
    assert [s.value for s in scores] == [1.0, 0.75, 0.5, 0.0, 0.75]
    assert [s.details["match"] for s in scores] == ["exact", "quoted/last", "contains", "none", "quoted/last"]


def test_word_tasks_declare_a_graded_scorer_beside_the_strict_one():
    for name in ("antonyms", "plurals"):
        task = get_task(name)
        assert task.scorer.name == "exact_match" and task.graded_scorer.name == "graded_word"
    assert get_task("ores").graded_scorer is None  # its scorer is already graded (avoided x similarity)
