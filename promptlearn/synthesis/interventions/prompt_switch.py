"""TIN's second stage: condition the first S sampler steps on the user's query, the rest on the rewrite.

The early steps lay out the composition the user asked for; switching to the rewritten query (the
LLM's safe version) for the remaining steps removes the unwanted concept while keeping that layout.
S = num_steps is a plain run on the query, S = 0 a plain run on the rewrite, bit for bit.
"""

from __future__ import annotations

import math
from typing import Sequence

from ...errors import InputError
from .base import Intervention, RunSettings, StepInfo


def resolve_switch_step(switch_step: int | float, num_steps: int) -> int:
    """Steps conditioned on the query: an int in [0, num_steps], or a float in (0, 1) as a fraction
    of ``num_steps`` (rounded half up)."""
    if isinstance(switch_step, bool):
        raise InputError(f"switch step must be a number, got {switch_step!r}")
    if isinstance(switch_step, int):
        if switch_step < 0:
            raise InputError(f"switch step must be >= 0, got {switch_step}")
        if switch_step > num_steps:
            raise InputError(f"switch step S={switch_step} exceeds the {num_steps} sampler steps")
        return switch_step
    if isinstance(switch_step, float):
        if not 0.0 < switch_step < 1.0:
            raise InputError(f"a fractional switch step must lie in (0, 1), got {switch_step}; use an int to count steps")
        return int(math.floor(switch_step * num_steps + 0.5))
    raise InputError(f"switch step must be an int (steps) or a float in (0, 1) (fraction), got {switch_step!r}")


class PromptSwitch(Intervention):
    """Steps ``0..S-1`` on the query, steps ``S..T-1`` on ``rewrite`` (one rewrite, or one per prompt)."""

    name = "tin"

    def __init__(self, rewrite: str | Sequence[str], *, switch_step: int | float = 2):
        self.rewrites = [rewrite] if isinstance(rewrite, str) else list(rewrite)
        if not self.rewrites or any(not isinstance(r, str) or not r.strip() for r in self.rewrites):
            raise InputError("the rewritten query is empty; TIN needs a non-empty rewrite for every prompt")
        if not isinstance(switch_step, (int, float)) or isinstance(switch_step, bool):
            raise InputError(f"switch step must be an int (steps) or a float in (0, 1) (fraction), got {switch_step!r}")
        self.switch_step = switch_step

    def check(self, settings: RunSettings) -> None:
        resolve_switch_step(self.switch_step, settings.num_steps)
        if len(self.rewrites) not in (1, settings.num_prompts):
            raise InputError(f"got {len(self.rewrites)} rewrites for {settings.num_prompts} prompts; give one, or one per prompt")

    def step_prompts(self, prompts: list[str], step: StepInfo) -> list[str]:
        if step.step < resolve_switch_step(self.switch_step, step.num_steps):
            return prompts
        return self.rewrites * len(prompts) if len(self.rewrites) == 1 else list(self.rewrites)

    def describe(self) -> str:
        return f"tin (S={self.switch_step})"
