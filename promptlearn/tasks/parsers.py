"""Output parsers: what part of a model's answer the task scores. Named so that a YAML task can
pick one (``parser: strip | raw | first_line``)."""

from __future__ import annotations

from typing import Callable

from .base import strip_output


def raw_output(text: str) -> str:
    """The whole answer, without surrounding whitespace."""
    return text.strip()


def first_line(text: str) -> str:
    """The first non-empty line, without surrounding whitespace (no label or quote removal)."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


PARSERS: dict[str, Callable[[str], str]] = {"strip": strip_output, "raw": raw_output, "first_line": first_line}
