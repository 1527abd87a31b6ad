"""Datasets: the bundled ones and loaders for JSONL, CSV and ORES TSV files."""

from .bundled import bundled_datasets, resolve_dataset
from .loaders import load_examples

__all__ = ["bundled_datasets", "load_examples", "resolve_dataset"]
