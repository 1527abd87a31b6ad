"""The text baseline: delete the banned concept words from the query before encoding it."""

from __future__ import annotations

import re
from typing import Sequence

from ...errors import InputError
from .base import Intervention


def _concept_pattern(concepts: Sequence[str]) -> re.Pattern[str] | None:
    words = [c.split() for c in concepts if c.strip()]
    if not words:
        return None
    # longest first, so "golden brown" goes before "brown"; words may be joined by spaces or hyphens;
    # a hyphenated compound holding a concept goes whole ("blood-soaked"), leaving no "-soaked" behind
    alternatives = sorted((r"[\s\-]+".join(re.escape(w) for w in ws) for ws in words), key=len, reverse=True)
    return re.compile(
        r"(?<![\w-])(?:\w+-)*(?:" + "|".join(alternatives) + r")(?:-\w+)*(?:['\u2019]s)?(?![\w-])", re.IGNORECASE
    )


def remove_concepts(text: str, concepts: Sequence[str]) -> str:
    """Remove every concept (case-insensitive, whole words, multi-word allowed) from ``text`` and
    tidy what is left: single spaces, no space before punctuation, no doubled or dangling commas
    or conjunctions ("a cat and nudity" -> "a cat"), no empty brackets.

    >>> remove_concepts("Nudity, a woman on a beach, nudity.", ["nudity"])
    'a woman on a beach.'
    """
    pattern = _concept_pattern(concepts)
    if pattern is None or pattern.search(text) is None:
        return re.sub(r"\s+", " ", text).strip()  # nothing to remove: only the spacing is tidied
    out = pattern.sub(" ", text)
    while True:  # one removal can expose another ("(nudity or gore) and" -> "() and" -> "and")
        tidied = _tidy(out)
        if tidied == out:
            return out
        out = tidied


def _tidy(out: str) -> str:
    """One pass of the clean-up :func:`remove_concepts` repeats until nothing changes."""
    out = re.sub(r"\(\s*\)|\[\s*\]|\{\s*\}", " ", out)     # brackets left empty
    out = re.sub(r"\s+", " ", out)
    out = re.sub(r"\b(?:and|or|&) (?=(?:and|or|&)\b)", "", out, flags=re.IGNORECASE)   # "and and" -> "and"
    out = re.sub(r"(?:^|(?<=[,;:(\[{]))\s*(?:and|or|&)\b\s*", " ", out, flags=re.IGNORECASE)  # "and" opening a part
    out = re.sub(r"\s+(?:and|or|&)(?=\s*(?:[,.;:!?)\]}]|$))", "", out, flags=re.IGNORECASE)  # "and" closing one
    out = re.sub(r"\s+([,.;:!?)\]}])", r"\1", out)          # no space before punctuation
    out = re.sub(r"([(\[{])\s+", r"\1", out)                # nor after an opening bracket
    out = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", out)       # ", ," -> ","
    out = re.sub(r"[,;:]+\s*([.!?)\]}])", r"\1", out)       # ", ." -> "."
    out = re.sub(r"([(\[{])\s*[,;:]+\s*", r"\1", out)       # "(, x" -> "(x"
    out = re.sub(r"^[\s,;:.!?]+|[\s,;:]+$", "", out)         # leading separators, dangling trailing ones
    return out


class Blacklist(Intervention):
    """Condition on the query with the concepts removed (Black List baseline of the ORES paper)."""

    name = "blacklist"

    def __init__(self, concepts: str | Sequence[str]):
        self.concepts = [concepts] if isinstance(concepts, str) else list(concepts)
        if not any(c.strip() for c in self.concepts):
            raise InputError("the black list needs at least one non-empty concept")

    def edit_prompts(self, prompts: list[str]) -> list[str]:
        return [remove_concepts(prompt, self.concepts) for prompt in prompts]
