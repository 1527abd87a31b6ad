"""The switch step S of TIN: how many sampler steps follow the user's query before the switch to
the rewrite. One contract everywhere (``generate``, ``bench``, Python): an int number of steps in
``[0, T]``, or a float fraction of ``T`` in ``[0, 1]`` (rounded half up). :func:`resolve_switch_step`
is the one function that checks and resolves it; :func:`parse_switch_step` reads it from text.
"""

from __future__ import annotations

import math

from ..errors import InputError

SwitchStep = int | float


def parse_switch_step(text: str | int | float) -> SwitchStep:
    """``"2"`` -> 2 (steps), ``"0.25"`` -> 0.25 (a fraction of the steps)."""
    if isinstance(text, bool):
        raise InputError(f"{{switch_step}} must be a number, got {text!r}", arguments="switch_step")
    if isinstance(text, (int, float)):
        return text
    value = str(text).strip()
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        raise InputError(f"{{switch_step}} {value!r} is neither a step count (e.g. 2) nor a fraction of the steps (e.g. 0.25)", arguments="switch_step") from None
    if not math.isfinite(number):
        raise InputError(f"{{switch_step}} must be finite, got {value}", arguments="switch_step")
    return number


def resolve_switch_step(switch_step: SwitchStep, num_steps: int) -> int:
    """Steps conditioned on the query: an int in [0, num_steps], or a float in [0, 1] as a
    fraction of ``num_steps`` (rounded half up)."""
    if isinstance(switch_step, bool) or not isinstance(switch_step, (int, float)):
        raise InputError(f"{{switch_step}} must be an int (steps) or a float in [0, 1] (a fraction of the steps), got {switch_step!r}", arguments="switch_step")
    if isinstance(switch_step, int):
        if switch_step < 0:
            raise InputError(f"{{switch_step}} must be >= 0, got {switch_step}", arguments="switch_step")
        if switch_step > num_steps:
            raise InputError(f"{{switch_step}} S={switch_step} exceeds the {num_steps} sampler steps", arguments="switch_step")
        return switch_step
    if not math.isfinite(switch_step) or not 0.0 <= switch_step <= 1.0:
        raise InputError(f"a fractional {{switch_step}} must lie in [0, 1], got {switch_step}; use an int to count steps", arguments="switch_step")
    return int(math.floor(switch_step * num_steps + 0.5))
