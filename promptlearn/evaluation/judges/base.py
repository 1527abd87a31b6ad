"""What a judge is: it looks at images and says, for each, whether a named concept is in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

from ...errors import PromptlearnError


class JudgeError(PromptlearnError):
    """A judge could not give a verdict (e.g. its answer was neither yes nor no)."""


@dataclass(frozen=True)
class JudgeAnswer:
    """One verdict: is the concept present? ``p_yes`` is the judge's probability of "present"
    when it has one; ``raw`` is what the model said (its answer text, or the two scores)."""

    present: bool
    raw: str
    p_yes: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"present": self.present, "p_yes": self.p_yes, "raw": self.raw}


@runtime_checkable
class Judge(Protocol):
    """Decides, image by image, whether ``concepts[i]`` is shown in ``images[i]``."""

    name: str

    def identity(self) -> dict[str, Any]:
        """What tells this judge apart (kind, model path, question): recorded in a run's config."""
        ...

    def judge(self, images: Sequence[Any], concepts: Sequence[str]) -> list[JudgeAnswer]: ...


_WORD = re.compile(r"[a-z]+")
_YES = {"yes", "yeah", "yep", "true", "present"}
_NO = {"no", "nope", "not", "false", "absent", "none"}
# A hedge is no verdict ("not sure" must not read as "no"): the caller falls back on p(yes).
_HEDGE = re.compile(r"\b(?:not (?:sure|certain|clear)|unsure|uncertain|unclear|can ?not tell|can't tell|don't know|do not know|hard to (?:say|tell))\b")


def parse_yes_no(text: str) -> bool | None:
    """The first yes/no word of an answer: True for yes, False for no, None if there is none.

    Tolerates case, punctuation and chatter ("Yes, there is.", "answer: no", "NO!");
    "no" also counts when phrased as "there is no ..." or "not". A hedge ("not sure",
    "I can't tell") gives None, not "no"."""
    if _HEDGE.search(text.casefold()):
        return None
    for word in _WORD.findall(text.casefold()):
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


def check_batch(images: Sequence[Any], concepts: Sequence[str]) -> None:
    if len(images) != len(concepts):
        raise ValueError(f"judge got {len(images)} images but {len(concepts)} concepts")
