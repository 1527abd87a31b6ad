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
