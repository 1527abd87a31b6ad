"""The benchmark's cell store: ``results.jsonl``, one line per (row, method, seed), append-only.

A rerun reads it back and skips cells that finished; a failed cell is tried again, and its
newer line supersedes the older one (the last line of a key wins). Rewrites, computed once
per (row, instruction) and shared by every method and seed that uses them, live beside it in
``rewrites.jsonl`` under the same rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import one_line
from ..files import append_jsonl, atomic_write_text, read_jsonl
from ..tasks.base import Example
from .rows import concept_of, query_of

CELL_SCHEMA = 1
RESULTS_FILE = "results.jsonl"
REWRITES_FILE = "rewrites.jsonl"

CellKey = tuple[str, str, "int | None"]


def _read_records(path: Path) -> list[Any]:
    """The records of an append-only file; a torn last line (a write cut off by a kill) is
    dropped from the file too, so the next append starts on a line of its own."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        atomic_write_text(path, text[: text.rfind("\n") + 1])
    return read_jsonl(path)


def error_text(exc: BaseException) -> str:
    """The one line a failed cell or rewrite records: ``Type: first line of the message``."""
    text = one_line(exc, limit=None)
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def text_sha(text: str) -> str:
    """A short content hash, used to tell instructions apart in keys and configs."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class CellStore:
    """Finished and failed cells of one run directory, keyed by (row id, method, seed)."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / RESULTS_FILE
        self._cells: dict[CellKey, dict[str, Any]] = {}
        for record in _read_records(self.path):
            self._cells[(str(record["row_id"]), str(record["method"]), record.get("seed"))] = record

    def get(self, row_id: str, method: str, seed: int | None) -> dict[str, Any] | None:
        return self._cells.get((row_id, method, seed))

    def is_finished(self, row_id: str, method: str, seed: int | None) -> bool:
        record = self.get(row_id, method, seed)
        return record is not None and record.get("status") == "ok"

    def is_current(self, row: Example, method: str, seed: int | None, instruction_sha: str | None) -> bool:
        """Finished, from this row's concept and query and this instruction (``None``: none):
        a cell whose dataset row or instruction changed under it is redone."""
        record = self.get(row.id, method, seed)
        return (
            record is not None
            and record.get("status") == "ok"
            and record.get("concept") == concept_of(row)
            and record.get("query") == query_of(row)
            and record.get("instruction_sha") == instruction_sha
        )

    def add(self, record: dict[str, Any]) -> None:
        """Append one cell (``row_id``, ``method``, ``seed``, ``status`` and its results)."""
        record = {"schema": CELL_SCHEMA, **record}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_jsonl(self.path, record)
        self._cells[(str(record["row_id"]), str(record["method"]), record.get("seed"))] = record

    def records(self) -> Iterator[dict[str, Any]]:
        """The current record of every cell (the latest line of each key)."""
        return iter(list(self._cells.values()))


@dataclass(frozen=True)
class Rewrite:
    """One rewrite of a row's query with one instruction; ``error`` is set when it failed."""

    text: str | None
    error: str | None = None
    raw: str | None = None


class RewriteStore:
    """Rewrites keyed by (row id, instruction hash, seed): computed once; ``seed`` is None for a
    rewrite shared across seeds, the image seed for one drawn per image."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / REWRITES_FILE
        self._items: dict[tuple[str, str, int | None], Rewrite] = {}
        for record in _read_records(self.path):
            key = (str(record["row_id"]), record["instruction_sha"], record.get("seed"))
            self._items[key] = Rewrite(record.get("text"), record.get("error"), record.get("raw"))

    def get(self, row_id: str, instruction: str, seed: int | None = None) -> Rewrite | None:
        return self._items.get((row_id, text_sha(instruction), seed))

    def add(self, row_id: str, instruction_name: str, instruction: str, rewrite: Rewrite, seed: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_jsonl(
            self.path,
            {
                "schema": CELL_SCHEMA,
                "row_id": row_id,
                "instruction": instruction_name,
                "instruction_sha": text_sha(instruction),
                "text": rewrite.text,
                "error": rewrite.error,
                "raw": rewrite.raw,
                **({} if seed is None else {"seed": seed}),
            },
        )
        self._items[(row_id, text_sha(instruction), seed)] = rewrite
