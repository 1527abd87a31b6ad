"""Where a local-engine model comes from (a local folder or a Hugging Face hub id) and a cheap
fingerprint of its files, shared by the transformers and vLLM backends.

The fingerprint goes into a backend's ``identity()`` and so into the completion cache key: a
model folder whose weights were replaced (same path, new files) must not hit answers cached for
the old weights. Hashing gigabytes on every start would be slow, so it hashes the config and the
name, size and modification time of every weight file instead.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..llm.errors import BackendUnavailableError, InvalidRequestError

# A hub id is "name" or "owner/name" made of letters, digits, '-', '_' and '.'.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_INDEX_SUFFIX = ".index.json"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference: an absolute folder path, or a hub id to be downloaded."""

    kind: Literal["folder", "hub"]
    location: str

    @property
    def is_folder(self) -> bool:
        return self.kind == "folder"


def resolve_model_source(model: str, *, backend: str) -> ModelSource:
    """Decide whether ``model`` names a local folder or a hub id, and check a folder up front.

    Raises :class:`BackendUnavailableError` for a path that does not exist and
    :class:`InvalidRequestError` for something that is not a model folder, each with one line.
    """
    text = (model or "").strip()
    if not text:
        raise InvalidRequestError(f"{backend}: the model path is empty", backend=backend)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InvalidRequestError(
                f"{backend}: {path} is a file; pass the model folder (the one holding config.json)",
                backend=backend,
            )
        if not (path / "config.json").is_file():
            raise InvalidRequestError(
                f"{backend}: {path} is not a Hugging Face model folder (it has no config.json)",
                backend=backend,
            )
        return ModelSource("folder", str(path.resolve()))
    if _looks_like_path(text) or not _HUB_ID.match(text):
        raise BackendUnavailableError(f"{backend}: model folder not found: {path}", backend=backend)
    return ModelSource("hub", text)


def _looks_like_path(text: str) -> bool:
    return (
        os.path.isabs(text)
        or text.startswith((".", "~"))
        or text.endswith(("/", os.sep))
        or "\\" in text
        or text.count("/") > 1
    )


def weights_fingerprint(folder: str | os.PathLike[str]) -> str:
    """A short hash of config.json's bytes and the name, size and mtime of each weight file."""
    root = Path(folder)
    digest = hashlib.sha256()
    config = root / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for file in sorted(root.iterdir()):
        if file.is_file() and (file.name.endswith(_WEIGHT_SUFFIXES) or file.name.endswith(_INDEX_SUFFIX)):
            stat = file.stat()
            digest.update(f"\0{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
