"""The datasets that ship with promptlearn (package ``promptlearn.datasets``, the top-level
``datasets/`` folder), addressed by name: ``ores_train.jsonl`` is ``ores-train``; the red-teaming
sample sets of ``datasets/redteam/`` (a few project-written rows in each published layout, see
:mod:`promptlearn.data.prompt_sets`) are ``redteam-<name>``: ``redteam/i2p_sample.csv`` is
``redteam-i2p-sample``."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

DATA_SUFFIXES = (".jsonl", ".csv", ".tsv", ".txt")
REDTEAM_FOLDER = "redteam"


def _datasets_dir() -> Path:
    from .. import datasets  # the package mapped to the top-level datasets/ folder

    return Path(datasets.__file__).resolve().parent


def dataset_name(path: Path) -> str:
    """The name a bundled file is known by: its stem with ``_`` written as ``-``."""
    return path.stem.replace("_", "-")


def bundled_datasets() -> dict[str, Path]:
    """Every bundled dataset, name -> file, sorted by name."""
    root = _datasets_dir()
    named = {dataset_name(p): p for p in root.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES}
    redteam = root / REDTEAM_FOLDER
    if redteam.is_dir():
        named.update({f"{REDTEAM_FOLDER}-{dataset_name(p)}": p for p in redteam.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES})
    return dict(sorted(named.items()))


def resolve_dataset(source: str | Path) -> Path:
    """The file behind ``source``: a bundled dataset name (``ores-train``) or a path (a file, or
    a Hugging Face dataset folder holding data files)."""
    if isinstance(source, str):
        bundled = bundled_datasets()
        if source in bundled:
            return bundled[source]
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        from .prompt_sets import dataset_folder_files

        dataset_folder_files(path)  # a folder without data files is one line
        return path
    known = ", ".join(bundled_datasets())
    raise InputError(f"dataset not found: {source} (not a file, nor a bundled dataset: {known})")
