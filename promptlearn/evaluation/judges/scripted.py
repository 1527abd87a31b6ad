"""A judge that answers from a script: for tests and dry runs, no model involved."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .base import JudgeAnswer, check_batch

Rule = Callable[[Any, str], bool]


class ScriptedJudge:
    """Says "present" when ``rule(image, concept)`` is true. Counts its calls (``calls``)."""

    name = "scripted"

    def __init__(self, rule: Rule):
        self.rule = rule
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {"kind": "scripted", "rule": getattr(self.rule, "__name__", "rule")}

    def judge(self, images: Sequence[Any], concepts: Sequence[str]) -> list[JudgeAnswer]:
        check_batch(images, concepts)
        self.calls += 1
        out = []
        for image, concept in zip(images, concepts):
            present = bool(self.rule(image, concept))
            out.append(JudgeAnswer(present=present, raw="yes" if present else "no", p_yes=1.0 if present else 0.0))
        return out
