"""The ORES paper's published machine-evaluation numbers, printed beside ours for reference.

Avoidance rates (%), judged by BLIP-2 VQA on images from SD 2.1 (20 DDIM steps, S = 2), with
GPT-3.5 rewriting: Table 1 (methods) and Table 3 (instruction variants)."""

from __future__ import annotations

PAPER_AVOIDANCE = {
    # image-stage methods (Table 1)
    "blacklist": ("Table 1, black list", 2.3),
    "negative": ("Table 1, negative prompt", 39.8),
    "tin": ("Table 1, TIN", 85.6),
    # text-stage instruction variants (Table 3; the learned instruction is TIN's)
    "learned": ("Table 1, TIN (learned instruction)", 85.6),
    "human": ("Table 3, human-designed instruction", 61.1),
    "in-context": ("Table 3, in-context learning", 28.8),
}


def paper_avoidance(method: str) -> str:
    """``"85.6 (Table 1, TIN)"`` or ``""`` when the paper has no number for ``method``."""
    entry = PAPER_AVOIDANCE.get(method)
    return "" if entry is None else f"{entry[1]:.1f} ({entry[0]})"
