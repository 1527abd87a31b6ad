"""Pictures of toy-world results: captioned image grids and the S-sweep trade-off curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def caption_grid(images: Sequence[Any], captions: Sequence[str], path: str | Path, *, columns: int = 8) -> Path:
    """Images (PIL) in a grid, each titled with its caption (small font, wrapped)."""
    import textwrap

    plt = _plt()
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.5, rows * 1.85), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, captions):
        ax.imshow(image, interpolation="nearest")
        ax.set_title("\n".join(textwrap.wrap(text, 20)), fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def method_grid(images: Sequence[Sequence[Any]], row_titles: Sequence[str], column_titles: Sequence[str],
                path: str | Path) -> Path:
    """A Figure-3-like grid: one row per query (titled), one column per method."""
    import textwrap

    plt = _plt()
    n_rows, n_cols = len(images), len(column_titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 1.3 + 1.8, n_rows * 1.3 + 0.4), squeeze=False)
    for r, row in enumerate(images):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel("\n".join(textwrap.wrap(row_titles[r], 22)), fontsize=6, rotation=0, ha="right", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def sweep_plot(points: Sequence[dict[str, float]], path: str | Path, *, total_steps: int) -> Path:
    """Avoidance and similarity (mean ± std over seeds) against the switch step S."""
    plt = _plt()
    s = [p["S"] for p in points]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key, label in (("avoidance", "avoidance"), ("similarity", "similarity")):
        mean = [p[key] for p in points]
        std = [p.get(key + "_std", 0.0) for p in points]
        ax.errorbar(s, mean, yerr=std, marker="o", ms=3, capsize=2, label=label)
    ax.set_xlabel(f"S (steps on the user's query, of T = {total_steps})")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("TIN on the toy world: the S trade-off", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
