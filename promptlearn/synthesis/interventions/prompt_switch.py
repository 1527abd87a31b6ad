"""TIN's second stage: condition the first S sampler steps on the user's query, the rest on the rewrite.

The early steps lay out the composition the user asked for; switching to the rewritten query (the
LLM's safe version) for the remaining steps removes the unwanted concept while keeping that layout.
S = num_steps is a plain run on the query, S = 0 a plain run on the rewrite, bit for bit.
"""

from __future__ import annotations

from typing import Sequence

from ...errors import InputError
from ..switch_step import resolve_switch_step
from .base import Intervention, RunSettings, StepInfo


class PromptSwitch(Intervention):
    """Steps ``0..S-1`` on the query, steps ``S..T-1`` on ``rewrite`` (one rewrite, or one per prompt)."""

    name = "tin"

    def __init__(self, rewrite: str | Sequence[str], *, switch_step: int | float = 2):
        self.rewrites = [rewrite] if isinstance(rewrite, str) else list(rewrite)
        if not self.rewrites or any(not isinstance(r, str) or not r.strip() for r in self.rewrites):
            raise InputError("the rewritten query is empty; TIN needs a non-empty rewrite for every prompt")
        if not isinstance(switch_step, (int, float)) or isinstance(switch_step, bool):
            raise InputError(f"switch_step must be an int (steps) or a float in [0, 1] (a fraction of the steps), got {switch_step!r}")
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
