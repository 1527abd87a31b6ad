"""The methods the benchmark compares, and what each one asks of the rewriter and the sampler.

Image stage (``--stage image``):

=====================  ===========================================================================
original               the user's query, unconstrained (also the reference image of every row)
blacklist              the query with the concept's words deleted
negative               the query, with the concept as negative prompt
sld                    the query, with Safe Latent Diffusion guidance away from the concept
tin                    two-stage intervention: the query for the first S steps, then the rewrite made
                       with the *learned* instruction
tin-no-instruction     the same prompt switch, with the rewrite made by the *initial* instruction, the
                       one learning starts from (the ablation isolates what learning adds)
tin-no-intervention    the learned rewrite for all steps (S = 0): no first stage on the user's query
=====================  ===========================================================================

Text stage (``--stage text``) compares instructions on the ORES text task: ``learned``,
``initial``, ``human`` (the task's human-written instruction), ``in-context`` (the training
examples shown instead of an instruction), any ``NAME`` given with ``--compare NAME=FILE``, and
``blacklist`` (the query with the concept deleted, no LLM).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..errors import InputError

LEARNED = "learned"
INITIAL = "initial"
HUMAN = "human"
IN_CONTEXT = "in-context"
BLACKLIST = "blacklist"


@dataclass(frozen=True)
class ImageMethod:
    """One image-stage method: the sampler intervention, the instruction its rewrite uses
    (``None``: no rewrite) and whether its prompt switch happens at S or at step 0."""

    name: str
    synthesis: str  # original | blacklist | negative | sld | tin
    instruction: str | None = None  # LEARNED | INITIAL
    switch_at_zero: bool = False
    summary: str = ""


IMAGE_METHODS: dict[str, ImageMethod] = {
    m.name: m
    for m in (
        ImageMethod("original", "original", summary="unconstrained query"),
        ImageMethod("blacklist", "blacklist", summary="concept words deleted from the query"),
        ImageMethod("negative", "negative", summary="concept as negative prompt"),
        ImageMethod("sld", "sld", summary="Safe Latent Diffusion away from the concept"),
        ImageMethod("tin", "tin", LEARNED, summary="learned rewrite, prompt switch at step S"),
        ImageMethod("tin-no-instruction", "tin", INITIAL, summary="initial-instruction rewrite, switch at S"),
        ImageMethod("tin-no-intervention", "tin", LEARNED, switch_at_zero=True, summary="learned rewrite for all steps (S=0)"),
    )
}
REFERENCE_METHOD = "original"

TEXT_BUILTIN_METHODS = (LEARNED, INITIAL, HUMAN, IN_CONTEXT, BLACKLIST)


def parse_method_list(text: str | Sequence[str], *, known: Sequence[str], what: str = "method") -> list[str]:
    """Split ``a,b,c`` into known names (order kept, duplicates dropped), or raise one
    :class:`InputError` line naming the unknown one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in items:
        name = item.strip()
        if not name:
            continue
        if name not in known:
            raise InputError(f"unknown {what} {name!r}; choose from {', '.join(known)}")
        if name not in names:
            names.append(name)
    if not names:
        raise InputError(f"no {what} given; choose from {', '.join(known)}")
    return names


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` or ``0-4`` into distinct non-negative ints (order kept)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if re.fullmatch(r"\d+\s*-\s*\d+", part):
            low, high = (int(x) for x in part.split("-", 1))
            if low > high:
                raise InputError(f"bad seed range {part!r} in --seeds {text!r}: it runs backwards; use e.g. {high}-{low}")
            values = list(range(low, high + 1))
        else:
            try:
                values = [int(part)]
            except ValueError:
                raise InputError(f"bad seed {part!r} in --seeds {text!r}; use e.g. 0,1,2 or 0-4") from None
        for value in values:
            if value < 0:
                raise InputError(f"seeds must be >= 0, got {value}")
            if value not in seeds:
                seeds.append(value)
    if not seeds:
        raise InputError(f"no seed in --seeds {text!r}")
    return seeds
