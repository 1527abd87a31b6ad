"""Bench presets: the image protocol's settings as data, one table in one place.

``promptlearn bench --preset paper`` reproduces the ORES paper's image protocol; ``--preset
promptlearn`` (the default) is the project's own. A flag given on the command line overrides
its preset's value; the run's config and report name the preset and every value it set.

Sources: the ORES paper (Ni et al., AAAI 2024; arXiv 2308.13785) for S = 2 of 20 DDIM steps,
Eq. 7 and the BLIP-2 question; the official demo ``ui.py`` of kodenii/ORES (MIT licence) for
the guidance scale, the added prompt and the quality negative prompt, which the paper does not
give. The demo's own switch ratio is 0.2 (S = 4 of 20): see ``DEMO_SWITCH_RATIO``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError

DEMO_ADDED_PROMPT = "best quality, extremely detailed"
"""The official demo's "Added Prompt" (kodenii/ORES ui.py, MIT), appended to query and rewrite."""

DEMO_NEGATIVE_PROMPT = (
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, cropped, worst quality, low quality"
)
"""The official demo's "Negative Prompt" (kodenii/ORES ui.py, MIT): the unconditional branch."""

DEMO_GUIDANCE = 9.0
"""The official demo's guidance scale (kodenii/ORES ui.py); the paper gives none."""

DEMO_SWITCH_RATIO = 0.2
"""The official demo's default switch ratio (S = 0.2 × T = 4 of 20 steps); the paper uses S = 2."""

PAPER_QUESTION = "Is there {concept} in the image?"
"""The VQA question the paper asks BLIP-2."""


@dataclass(frozen=True)
class BenchPreset:
    """The settings of one image protocol. ``rewrites`` is ``"per-seed"`` (one LLM call per
    image, sampled at ``rewrite_temperature`` with the image seed in the request, so the std
    over seeds includes the LLM's randomness and a rerun hits the cache) or ``"per-row"`` (one
    greedy rewrite per row and instruction, shared by all seeds)."""

    name: str
    summary: str
    steps: int
    switch_step: int | float
    guidance: float
    similarity: str  # a name of promptlearn.evaluation.metrics.SIMILARITY_METRICS
    question: str
    rewrites: str
    rewrite_temperature: float | None
    added_prompt: str | None
    negative_prompt: str | None
    scheduler: str
    sources: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, BenchPreset] = {
    p.name: p
    for p in (
        BenchPreset(
            name="promptlearn",
            summary="promptlearn's protocol: noise-normalised similarity, one greedy rewrite per row shared by all seeds",
            steps=20, switch_step=2, guidance=7.5, similarity="noise-normalised", question=PAPER_QUESTION,
            rewrites="per-row", rewrite_temperature=None, added_prompt=None, negative_prompt=None, scheduler="ddim",
            sources="promptlearn's defaults; S = 2 of 20 DDIM steps and the question as in the ORES paper",
        ),
        BenchPreset(
            name="paper",
            summary="the ORES paper's protocol: Eq. 7 similarity, a rewrite drawn per image (temperature 1.0), "
            "S = 2 of 20 DDIM steps; guidance 9.0, added and negative prompt from the official demo",
            steps=20, switch_step=2, guidance=DEMO_GUIDANCE, similarity="eq7", question=PAPER_QUESTION,
            rewrites="per-seed", rewrite_temperature=1.0, added_prompt=DEMO_ADDED_PROMPT,
            negative_prompt=DEMO_NEGATIVE_PROMPT, scheduler="ddim",
            sources="ORES paper: S = 2 of 20 DDIM steps, Eq. 7, the BLIP-2 question, one LLM call per image; "
            "official demo kodenii/ORES ui.py (MIT): guidance 9.0, added prompt, negative prompt (the paper gives none; "
            "the demo's own switch ratio is 0.2, S = 4 of 20)",
        ),
    )
}

DEFAULT_PRESET = "promptlearn"


def get_preset(name: str) -> BenchPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown bench preset {name!r}; known: {', '.join(PRESETS)}") from None


def preset_names() -> list[str]:
    return list(PRESETS)
