"""The concept as negative conditioning: classifier-free guidance steers away from it."""

from __future__ import annotations

from typing import Sequence

from ...errors import InputError
from .base import Intervention, RunSettings


class NegativePrompt(Intervention):
    """Put the concepts in the unconditional branch (joined with ", ", after any user negative prompt)."""

    name = "negative"

    def __init__(self, concepts: str | Sequence[str]):
        self.concepts = [c.strip() for c in ([concepts] if isinstance(concepts, str) else concepts) if c.strip()]
        if not self.concepts:
            raise InputError("the negative prompt needs at least one non-empty concept")

    def check(self, settings: RunSettings) -> None:
        if not settings.uses_guidance:
            raise InputError(f"a negative prompt needs classifier-free guidance (guidance scale > 1), got {settings.guidance_scale}")

    def edit_negative_prompts(self, negatives: list[str]) -> list[str]:
        concepts = ", ".join(self.concepts)
        return [f"{negative}, {concepts}" if negative else concepts for negative in negatives]
