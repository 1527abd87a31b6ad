"""A benchmark run directory: ``config.json`` records what the cells were made with, so that a
rerun into the same folder resumes only when that has not changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..files import atomic_write_json

CONFIG_FILE = "config.json"
CONFIG_SCHEMA = 1


def check_out_folder(out: str | Path) -> Path:
    """``out`` as a path, refused at once when it is a file or a folder that holds something
    other than a benchmark run (so the CLI can say so before loading any model)."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder} is a file, not a folder")
    if folder.is_dir() and not (folder / CONFIG_FILE).exists() and any(folder.iterdir()):
        raise InputError(f"--out {folder} is not empty and holds no benchmark run; use a new folder")
    return folder


def open_run_dir(out: str | Path, *, fingerprint: Mapping[str, Any], options: Mapping[str, Any]) -> Path:
    """Create ``out`` or check that its run was made with the same ``fingerprint`` (the
    components whose change would make old cells wrong); then record the current options.

    Raises one :class:`InputError` line naming what differs."""
    folder = check_out_folder(out)
    path = folder / CONFIG_FILE
    fingerprint = json.loads(json.dumps(dict(fingerprint), sort_keys=True, default=str))
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg}); use a new --out") from None
        previous = old.get("fingerprint", {})
        differing = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        if differing:
            raise InputError(
                f"{folder} holds a run made with a different {', '.join(differing)}; "
                "rerun with the same settings to resume, or use a new --out"
            )
    atomic_write_json(path, {"schema": CONFIG_SCHEMA, "fingerprint": fingerprint, "options": dict(options)})
    return folder
