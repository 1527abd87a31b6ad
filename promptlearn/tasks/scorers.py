"""Reference-based scorers for instruction-induction tasks (the ORES scorer lives in ``ores.py``)."""

from __future__ import annotations

import re
from typing import Sequence

from .base import Example, Score
from .concept_match import find_sequence, words


def normalize_answer(text: str) -> str:
    """An answer as compared by the scorers: Unicode-normalised, casefolded, accents and
    look-alike letters folded, punctuation dropped, words separated by single spaces."""
    return " ".join(words(text))


def _check_lengths(examples: Sequence[Example], predictions: Sequence[str]) -> None:
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")


class ExactMatchScorer:
    """1.0 when the normalised prediction equals one of the normalised references, else 0.0."""

    name = "exact_match"

    def score(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[Score]:
        _check_lengths(examples, predictions)
        scores = []
        for example, prediction in zip(examples, predictions):
            answer = normalize_answer(prediction)
            matched = next((r for r in example.references if answer and normalize_answer(r) == answer), None)
            scores.append(Score(1.0 if matched is not None else 0.0, {"matched_reference": matched}))
        return scores


class ContainsScorer:
    """1.0 when the prediction contains one of the references as whole words (after
    normalisation: ``"The answer is Paris."`` contains ``"paris"``), else 0.0."""

    name = "contains"

    def score(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[Score]:
        _check_lengths(examples, predictions)
        scores = []
        for example, prediction in zip(examples, predictions):
            found = words(prediction)
            matched = next((r for r in example.references if find_sequence(words(r), found) is not None), None)
            scores.append(Score(1.0 if matched is not None else 0.0, {"matched_reference": matched}))
        return scores


_QUOTED = re.compile(r"[\"“”«»*]([^\"“”«»*]{1,60})[\"“”«»*]")


class GradedWordScorer:
    """Partial credit for a weak model's near misses (the *graded* scorer of word tasks):

    * 1.0: the answer is a reference (as :class:`ExactMatchScorer`);
    * 0.75: a reference is the answer's quoted word(s) or its last word(s)
      (``The opposite of "hot" is "cold".``);
    * 0.5: a reference occurs as whole words anywhere in the answer;
    * 0.0 otherwise.

    ``details`` say which rule matched (``match``: exact, quoted/last, contains or none)."""

    name = "graded_word"

    def score(self, examples: Sequence[Example], predictions: Sequence[str]) -> list[Score]:
        _check_lengths(examples, predictions)
        scores = []
        for example, prediction in zip(examples, predictions):
            found = words(prediction)
            refs = [words(r) for r in example.references]
            quoted = [words(q) for q in _QUOTED.findall(prediction)]
            if found and any(found == r for r in refs):
                value, match = 1.0, "exact"
            elif any(r and (r in quoted or found[-len(r):] == r) for r in refs):
                value, match = 0.75, "quoted/last"
            elif any(find_sequence(r, found) is not None for r in refs):
                value, match = 0.5, "contains"
            else:
                value, match = 0.0, "none"
            scores.append(Score(value, {"match": match}))
        return scores
