"""Library errors name arguments (``concepts``, ``switch_step``); a command maps them to its flags.

>>> with flags_for_arguments({"switch_step": "--switch-step"}):            # doctest: +SKIP
...     resolve_switch_step(5, 2)   # error: --switch-step S=5 exceeds the 2 sampler steps
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator, Mapping

import click

from ..errors import InputError


def to_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with the argument names in ``flags`` replaced by their flags. The library
    writes an argument as its snake_case name (``switch_step``: replaced wherever it stands as
    a word) or, for one-word names that are also plain English, right after an opening
    parenthesis (``needs a concept (concepts)``): prose is left alone."""
    for argument, flag in sorted(flags.items(), key=lambda item: -len(item[0])):
        before = r"(?<![\w-])" if "_" in argument else r"(?<=\()"
        message = re.sub(rf"{before}{re.escape(argument)}(?![\w-])", flag, message)
    return message


@contextlib.contextmanager
def flags_for_arguments(flags: Mapping[str, str]) -> Iterator[None]:
    """Re-raise an :class:`InputError` from the library with its argument names as flags."""
    try:
        yield
    except InputError as exc:
        text = to_flags(str(exc), flags)
        if text == str(exc):
            raise
        raise InputError(text) from None


class SwitchStepType(click.ParamType):
    """S as the library reads it (:func:`~promptlearn.synthesis.switch_step.parse_switch_step`):
    an int number of sampler steps, or a float fraction of them; used by generate and bench."""

    name = "S"

    def convert(self, value, param, ctx):
        from ..synthesis.switch_step import parse_switch_step

        try:
            return parse_switch_step(value)
        except InputError as exc:
            self.fail(str(exc), param, ctx)
