"""The named methods of the ORES comparison, as intervention lists for the sampler."""

from __future__ import annotations

from typing import Sequence

from ..errors import InputError
from .interventions.base import Intervention
from .interventions.blacklist import Blacklist
from .interventions.negative_prompt import NegativePrompt
from .interventions.prompt_switch import PromptSwitch
from .interventions.sld import SafeLatentDiffusion

METHODS = ("original", "blacklist", "negative", "sld", "tin")


def parse_methods(text: str) -> list[str]:
    """``"original,tin"`` -> ``["original", "tin"]``, rejecting unknown or repeated names."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise InputError(f"no method named; choose from {', '.join(METHODS)}")
    for name in names:
        if name not in METHODS:
            raise InputError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise InputError(f"a method is listed twice in {text!r}")
    return names


def method_interventions(
    method: str,
    *,
    concepts: Sequence[str],
    rewrite: str | None = None,
    switch_step: int | float = 2,
    sld_preset: str = "medium",
) -> list[Intervention]:
    """The interventions that make ``method``: original (none), blacklist (concept words removed),
    negative (concepts as negative prompt), sld (safe latent diffusion against the concepts) or
    tin (query for ``switch_step`` steps, then ``rewrite``)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    concepts = [c.strip() for c in concepts if c and c.strip()]
    if method in ("blacklist", "negative", "sld") and not concepts:
        raise InputError(f"method {method} needs a concept (--concept)")
    if method == "original":
        return []
    if method == "blacklist":
        return [Blacklist(concepts)]
    if method == "negative":
        return [NegativePrompt(concepts)]
    if method == "sld":
        return [SafeLatentDiffusion(", ".join(concepts), sld_preset)]
    if rewrite is None or not rewrite.strip():
        raise InputError("method tin needs a rewritten query (--rewrite, or --instruction with --llm)")
    return [PromptSwitch(rewrite, switch_step=switch_step)]
