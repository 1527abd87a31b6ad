"""Library errors name arguments (``concepts``, ``switch_step``); a command maps them to its flags.

>>> with flags_for_arguments({"switch_step": "--switch-step"}):            # doctest: +SKIP
...     resolve_switch_step(5, 2)   # error: --switch-step S=5 exceeds the 2 sampler steps
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator, Mapping

from ..errors import InputError


def to_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with every whole-word argument name in ``flags`` replaced by its flag."""
    for argument, flag in sorted(flags.items(), key=lambda item: -len(item[0])):
        message = re.sub(rf"(?<![\w-]){re.escape(argument)}(?![\w-])", flag, message)
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
