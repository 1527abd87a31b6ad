"""The run directory of a fit: what determines it, what happened, where it stands.

- ``config.json``: everything that determines the run (task, LLM spec, template hashes,
  hyper-parameters, seed, dataset hashes) plus an ``info`` section that does not (template
  sources, backend identity, stop conditions, version). Never an API key.
- ``history.jsonl``: append-only, one record per step (and one for the initial instruction).
- ``state.json``: rewritten atomically after every step; a killed run resumes from it.
- ``instruction.txt``: the final instruction, written when the run finishes.

Resuming compares the new config with the stored one (``info`` excluded) and refuses with one
line naming what differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import InputError
from ..files import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl

SCHEMA_VERSION = 1
CONFIG = "config.json"
HISTORY = "history.jsonl"
STATE = "state.json"
INSTRUCTION = "instruction.txt"
NOT_COMPARED = ("info",)


class RunDir:
    """Reads and writes one run directory; see the module docstring for its files."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    @property
    def instruction_path(self) -> Path:
        return self.path / INSTRUCTION

    # ---- opening -----------------------------------------------------------------------------
    def open(self, config: Mapping[str, Any], *, resume: bool) -> dict[str, Any] | None:
        """Check the folder against ``config`` and prepare it; returns the stored state to resume
        from (``None`` for a fresh run). Raises :class:`InputError` with one line when the
        folder is a file, holds something else, or holds a run that cannot be continued."""
        config = json.loads(json.dumps(config))  # compare in JSON form (tuples become lists)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"run directory {self.path} is a file; choose a folder for --out")
        if self.config_path.is_file():
            stored = self._read_json(self.config_path)
            state = self._read_json(self.state_path) if self.state_path.is_file() else None
            differences = config_differences(stored, config)
            if not resume:
                what = "a finished run" if state and state.get("finished") else "an unfinished run"
                if differences:
                    what = "a different run"
                raise InputError(f"{self.path} already holds {what}; pass --resume to continue it or choose another --out")
            if differences:
                raise InputError(f"cannot resume {self.path}: the config differs in {'; '.join(differences)}")
            if state is not None and state.get("schema_version") != SCHEMA_VERSION:
                raise InputError(
                    f"{self.state_path} has schema version {state.get('schema_version')!r}; this promptlearn reads {SCHEMA_VERSION}"
                )
            atomic_write_json(self.config_path, config)  # refresh ``info`` (e.g. new stop conditions)
            return state
        if self.path.is_dir() and any(self.path.iterdir()):
            raise InputError(f"{self.path} is not empty and holds no promptlearn run; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config_path, config)
        return None

    # ---- writing ------------------------------------------------------------------------------
    def append(self, record: Mapping[str, Any]) -> None:
        append_jsonl(self.history_path, dict(record))

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.history_path) if self.history_path.is_file() else []

    def keep_records(self, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Drop history records written after the last saved state (a run killed between the
        two writes redoes that step, so its record would otherwise appear twice)."""
        if not self.history_path.is_file():
            return
        records = self.records()
        kept = [r for r in records if keep(r)]
        lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in kept)
        if len(kept) != len(records) or self.history_path.read_text(encoding="utf-8") != lines:
            atomic_write_text(self.history_path, lines)

    def save_state(self, state: Mapping[str, Any]) -> None:
        atomic_write_json(self.state_path, {**state, "schema_version": SCHEMA_VERSION})

    def write_instruction(self, instruction: str) -> None:
        atomic_write_text(self.instruction_path, instruction.rstrip("\n") + "\n")

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read run file ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object")
        return data


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``["epochs (2 -> 3)", "templates.optimizer/update.j2 (changed)"]`` for what differs
    between two configs, ``info`` sections excluded."""
    before, after = _flatten(old), _flatten(new)
    out = []
    for key in sorted(set(before) | set(after)):
        if key.split(".", 1)[0] in NOT_COMPARED or before.get(key) == after.get(key):
            continue
        if key.startswith("templates.") or key.endswith("sha256"):
            out.append(f"{key} (changed)")
        else:
            out.append(f"{key} ({_short(before.get(key, '<absent>'))} -> {_short(after.get(key, '<absent>'))})")
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."
