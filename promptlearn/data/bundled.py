"""The datasets that ship with promptlearn (package ``promptlearn.datasets``, the top-level
``datasets/`` folder), addressed by name: ``ores_train.jsonl`` is ``ores-train``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

DATA_SUFFIXES = (".jsonl", ".csv", ".tsv", ".txt")


def _datasets_dir() -> Path:
    from .. import datasets  # the package mapped to the top-level datasets/ folder

    return Path(datasets.__file__).resolve().parent


def dataset_name(path: Path) -> str:
    """The name a bundled file is known by: its stem with ``_`` written as ``-``."""
    return path.stem.replace("_", "-")


def bundled_datasets() -> dict[str, Path]:
    """Every bundled dataset, name -> file, sorted by name."""
    files = [p for p in _datasets_dir().iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES]
    return {dataset_name(p): p for p in sorted(files, key=dataset_name)}


def resolve_dataset(source: str | Path) -> Path:
    """The file behind ``source``: a bundled dataset name (``ores-train``) or a path."""
    if isinstance(source, str):
        bundled = bundled_datasets()
        if source in bundled:
            return bundled[source]
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise InputError(f"dataset {source} is a folder, not a file")
    known = ", ".join(bundled_datasets())
    raise InputError(f"dataset not found: {source} (not a file, nor a bundled dataset: {known})")
