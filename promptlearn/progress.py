"""Progress bars (tqdm) with ETA, written to stderr so that stdout stays clean for results."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm.auto import tqdm


@contextmanager
def progress_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "it") -> Iterator[tqdm]:
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=True,
    )
    try:
        yield bar
    finally:
        bar.close()


def silence_library_progress() -> None:
    """Turn off the progress bars of Hugging Face libraries ("Loading weights", downloads) for
    ``--quiet``: through the variable they read when imported, and directly if already imported."""
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except Exception:  # an old or partial install: the variable above still applies
            pass
    if "transformers" in sys.modules:
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except Exception:
            pass
