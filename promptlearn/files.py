"""Atomic file writes: a reader never sees a half-written file, a crash never leaves one."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from .errors import DataFileError, InputError


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.

    The file gets the usual permissions (0o666 less the umask), like a plain ``open(path, "w")``;
    ``tempfile.mkstemp`` would leave every output readable by its owner only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def temporary_folder(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> Path:
    """A new uniquely named folder in ``parent`` (to build a folder and rename it into place),
    with the usual permissions (0o777 less the umask): ``tempfile.mkdtemp`` makes it 0o700,
    which the renamed result would keep."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    os.chmod(folder, 0o777 & ~current_umask())
    return folder


def current_umask() -> int:
    """The process umask (read without changing it where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_file(path: str | os.PathLike[str], argument: str = "output") -> Path:
    """Check, before any work is done, that ``path`` can be written later by the atomic writers:
    not a folder, and its nearest existing parent is a writable folder. Raises
    :class:`InputError` naming ``argument`` (the library argument, e.g. ``output``; the CLI
    shows its flag) otherwise."""
    target = Path(path).expanduser()
    argument = _argument_name(argument)
    if target.is_dir():
        raise InputError(f"{{{argument}}} {target} is a folder; give a file name", arguments=argument)
    _check_creatable_in(target.parent, target, argument)
    return target


def check_output_folder(path: str | os.PathLike[str], argument: str = "out_dir") -> Path:
    """The one check of an output folder, for every command that writes one (a run folder, a
    folder of models): an existing folder, or one that can be created. Whether its contents fit
    is for its owner to check (a run folder: :meth:`promptlearn.runs.RunFolder.check`)."""
    target = Path(path).expanduser()
    argument = _argument_name(argument)
    if target.exists() and not target.is_dir():
        raise InputError(f"{{{argument}}} {target} is a file, not a folder", arguments=argument)
    _check_creatable_in(target, target, argument)
    return target


def _argument_name(argument: str) -> str:
    """``out`` for ``out`` or for a flag written as ``--out`` (older callers passed the flag)."""
    return argument[2:].replace("-", "_") if argument.startswith("--") else argument


def _check_creatable_in(folder: Path, target: Path, argument: str) -> None:
    """The nearest existing one of ``folder`` and its parents must be a writable folder."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{{{argument}}} {target}: {folder} is not a folder", arguments=argument)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{{{argument}}} {target}: cannot write in {folder}", arguments=argument)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def append_jsonl(path: str | os.PathLike[str], record: Any) -> None:
    """Append one JSON line and fsync it. A reader of a killed run sees whole lines only,
    except possibly a truncated last line, which :func:`read_jsonl` drops."""
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """Read the records of an append-only JSONL file, ignoring a torn final line. A damaged
    line elsewhere raises :class:`~promptlearn.errors.DataFileError` naming file and line."""
    records = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if index == len(lines) - 1:
                break  # a write interrupted by a kill; the step it described is redone
            raise DataFileError(path, index + 1, f"a damaged line ({exc.msg}); delete that line or start a new run") from None
    return records


def folder_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a folder's files (relative paths and bytes, in sorted order): which checkpoint ran."""
    import hashlib

    root = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()
