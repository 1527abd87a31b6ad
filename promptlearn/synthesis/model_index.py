"""Reading a diffusers checkpoint's ``model_index.json``: the one place that turns a folder or hub
id into its component table, with one-line errors for everything that can be wrong with it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError, one_line

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def read_model_index(source: str, *, local_files_only: bool = False) -> dict[str, Any]:
    """The parsed ``model_index.json`` of a diffusers folder, or of a hub id (fetched through the
    hub cache; ``local_files_only`` never touches the network)."""
    path = Path(source)
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{source}: expected a diffusers model folder (with model_index.json), got a file; "
                             "single-file checkpoints are not supported")
        index_file = path / "model_index.json"
        if not index_file.is_file():
            raise InputError(f"{source}: not a diffusers model folder (no model_index.json)")
    elif _HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        from huggingface_hub import hf_hub_download

        from ..hub import offline_unless_reachable

        offline = offline_unless_reachable()
        try:
            index_file = Path(hf_hub_download(source, "model_index.json", local_files_only=offline or local_files_only))
        except Exception as exc:  # network, auth, missing repo: all mean "cannot get this model"
            if offline:
                raise InputError(f"model {source!r} is not in the local hub cache and the hub is offline (no network); "
                                 "download it where there is a network, or give a local folder") from None
            raise InputError(f"cannot fetch model {source!r} from the Hugging Face hub: {one_line(exc)}") from exc
    else:
        raise InputError(f"model path does not exist: {source}")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{index_file}: unreadable model_index.json: {one_line(exc)}") from exc
    if not isinstance(index, dict):
        raise InputError(f"{index_file}: model_index.json is not a JSON object")
    return index


def declares(index: Mapping[str, Any], name: str) -> bool:
    """Whether the index lists component ``name`` (``[library, class]``, not ``[null, null]``)."""
    entry = index.get(name)
    return isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] is not None


def has_component(source: str, index: Mapping[str, Any], name: str) -> bool:
    """Whether ``name`` is declared and, for a local folder, its subfolder exists."""
    return declares(index, name) and (not Path(source).is_dir() or (Path(source) / name).is_dir())
