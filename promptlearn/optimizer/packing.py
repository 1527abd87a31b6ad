"""Packing a scored mini-batch into the text block r_j that the update meta-prompt shows.

The format is the template ``optimizer/pack.j2`` (overridable like every template); this module
only gathers what it shows for each example: its inputs (for ORES the concept AND the query),
the model's output (parsed, and ``raw`` as returned), the references and the score.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..prompts import PromptLibrary
from .predictor import Prediction

PACK_TEMPLATE = "optimizer/pack.j2"


def pack_items(predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """What the packing template sees for each prediction."""
    return [
        {
            "id": p.example.id,
            "inputs": dict(p.example.inputs),
            "output": p.output,
            "raw": p.text,  # the answer as the LLM returned it (the paper's pack shows this)
            "references": list(p.example.references),
            "score": 0.0 if p.score is None else float(p.score.value),
        }
        for p in predictions
    ]


def pack_batch(prompts: PromptLibrary, predictions: Sequence[Prediction], *, template: str = PACK_TEMPLATE, strip: bool = True) -> str:
    """r_j: the mini-batch rendered as one text block (``strip=False``: exactly as rendered)."""
    return prompts.render(template, strip=strip, items=pack_items(predictions))
