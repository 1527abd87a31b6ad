"""Benchmark rows: a task :class:`Example` seen as (id, concept, query)."""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import InputError
from ..tasks.base import Example

CONCEPT_FIELD = "concept"
QUERY_FIELD = "query"


def concept_of(row: Example) -> str:
    return str(row.inputs.get(CONCEPT_FIELD, "")).strip()


def query_of(row: Example) -> str:
    return str(row.inputs.get(QUERY_FIELD, "")).strip()


def check_rows(rows: Sequence[Example], *, source: str = "the dataset") -> None:
    """Refuse an empty dataset, a row without concept or query, and duplicate row ids (they key
    the cells)."""
    if not rows:
        raise InputError(f"{source} has no rows")
    seen: set[str] = set()
    for row in rows:
        if not concept_of(row):
            raise InputError(f"{source}: row {row.id!r} has an empty concept")
        if not query_of(row):
            raise InputError(f"{source}: row {row.id!r} has an empty query")
        if row.id in seen:
            raise InputError(f"{source}: row id {row.id!r} appears twice")
        seen.add(row.id)


def safe_name(text: str) -> str:
    """A file-name-safe form of a row id (letters, digits, ``-``, ``_``, ``.``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "row"
    return name[:80]


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
                raise InputError(f"bad seed range {part!r} in seeds {text!r}: it runs backwards; use e.g. {high}-{low}")
            values = list(range(low, high + 1))
        else:
            try:
                values = [int(part)]
            except ValueError:
                raise InputError(f"bad seed {part!r} in seeds {text!r}; use e.g. 0,1,2 or 0-4") from None
        for value in values:
            if value < 0:
                raise InputError(f"seeds must be >= 0, got {value}")
            if value not in seeds:
                seeds.append(value)
    if not seeds:
        raise InputError(f"no seed in seeds {text!r}")
    return seeds
