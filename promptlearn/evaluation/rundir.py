"""A benchmark run folder: :class:`promptlearn.runs.RunFolder` with a benchmark's files.

``config.json`` records what the cells were made with (``fingerprint``, compared on a rerun)
and how the run was asked for (``options``, refreshed on every rerun); a rerun into the same
folder resumes when the fingerprint has not changed. The folder is locked against other
processes for the life of the process (see :mod:`promptlearn.runs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..runs import SCHEMA_VERSION, RunFolder

CONFIG_FILE = "config.json"
CONFIG_SCHEMA = SCHEMA_VERSION
BENCH_KIND = "promptlearn.bench"
# what a benchmark writes; ``overwrite`` deletes these (and nothing else in the folder)
BENCH_PROGRESS_FILES = ("results.jsonl", "rewrites.jsonl")
BENCH_RUN_FILES = (*BENCH_PROGRESS_FILES, "images", "plots", "summary.json", "report.md", "index.html")


def bench_run_folder(out: str | Path) -> RunFolder:
    return RunFolder(out, kind=BENCH_KIND, progress_files=BENCH_PROGRESS_FILES, run_files=BENCH_RUN_FILES, argument="out", label="benchmark")


def check_out_folder(out: str | Path, *, overwrite: bool = False) -> Path:
    """``out`` as a path, refused at once (so the CLI can say so before loading any model) when
    it is a file, cannot be created, is in use by another process, or holds something other
    than a benchmark run."""
    folder = bench_run_folder(out)
    folder.check(resume="auto", overwrite=overwrite)
    return folder.path


def open_run_dir(out: str | Path, *, fingerprint: Mapping[str, Any], options: Mapping[str, Any], overwrite: bool = False) -> Path:
    """Lock ``out``, create it or check that its run was made with the same ``fingerprint`` (the
    components whose change would make old cells wrong); then record the current options.

    Raises one :class:`~promptlearn.errors.InputError` line naming each key that differs."""
    folder = bench_run_folder(out)
    folder.open({"fingerprint": dict(fingerprint), "options": dict(options)}, resume="auto", overwrite=overwrite, not_compared=("options",))
    return folder.path
