"""The ORES paper's published machine-evaluation numbers, printed beside ours for reference.

Avoidance rates (%), judged by BLIP-2 VQA on images from SD 2.1 (20 DDIM steps, S = 2), with
GPT-3.5 rewriting: Table 1 (methods) and Table 3 (instruction variants)."""

from __future__ import annotations

from dataclasses import dataclass

PAPER_AVOIDANCE = {
    # image-stage methods (Table 1)
    "blacklist": ("Table 1, black list", 2.3),
    "negative": ("Table 1, negative prompt", 39.8),
    "tin": ("Table 1, TIN", 85.6),
    # text-stage instruction variants (Table 3; the learned instruction is TIN's)
    "learned": ("Table 1, TIN (learned instruction)", 85.6),
    "human": ("Table 3, human-designed instruction", 61.1),
    "in-context": ("Table 3, in-context learning", 28.8),
    # the same instruction variants with prompt intervention at the image stage (Table 3)
    "tin-human": ("Table 3, human-designed instruction", 61.1),
    "tin-in-context": ("Table 3, in-context learning", 28.8),
}


@dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables: its rows as (the paper's row label, our method name). The
    published number of a row is :data:`PAPER_AVOIDANCE`'s (blank where we have none we are sure of)."""

    title: str
    note: str
    rows: tuple[tuple[str, str], ...]


PAPER_TABLES: tuple[PaperTable, ...] = (
    PaperTable("Table 1: baselines", "image stage, every method against the unconstrained image",
               (("Black list", "blacklist"), ("Negative prompt", "negative"), ("TIN", "tin"))),
    PaperTable("Table 2: ablation", "TIN without its learned instruction (the initial one) and without prompt intervention (S = 0)",
               (("TIN", "tin"), ("w/o learnable instruction", "tin-no-instruction"), ("w/o prompt intervention", "tin-no-intervention"))),
    PaperTable("Table 3: instructions", "each instruction with prompt intervention at the image stage; the in-context "
               "baseline shows every training example with all its references",
               (("Human-designed instruction", "tin-human"), ("In-context learning", "tin-in-context"), ("Learnable instruction (TIN)", "tin"))),
)
"""Tables 1–3 as the paper lays them out; Tables 4 (w/o history, w/o batching) and 5 (epochs)
compare fit runs, given to ``bench`` as ``--compare NAME=RUN`` (see :data:`FIT_RUN_TABLES`)."""

FIT_RUN_TABLES = "Tables 4–5: fit runs"


def paper_avoidance(method: str) -> str:
    """``"85.6 (Table 1, TIN)"`` or ``""`` when the paper has no number for ``method``."""
    entry = PAPER_AVOIDANCE.get(method)
    return "" if entry is None else f"{entry[1]:.1f} ({entry[0]})"
