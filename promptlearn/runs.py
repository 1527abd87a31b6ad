"""Run folders: the one implementation behind ``fit --out`` and ``bench --out``.

A run folder holds what determines a run (``config.json``), what happened (append-only JSONL
files) and, for a fit, where it stands (``state.json``). One class reads and writes them all:

- **Checked before any work**: :meth:`RunFolder.check` (no writes) refuses a file, a folder of
  someone else's files, a folder in use, or, without ``resume``/``overwrite``, a run that would
  be clobbered, naming what exists and the choices (resume it, start over, another folder).
- **Schema versioned**: ``config.json`` and ``state.json`` carry ``schema_version``; a file from
  another version is refused with one line instead of being misread.
- **Config differences per key**: resuming compares the stored config with the new one and names
  each difference (``hyper.epochs (2 -> 3)``); sections named in ``not_compared`` (``info``,
  a benchmark's ``options``) may change.
- **Atomic writes** through :mod:`promptlearn.files`: a kill never leaves half a file.
- **One run per folder**: an exclusive ``flock`` on ``<folder>/.lock`` (which holds the PID),
  taken before anything is read or written and held until :meth:`RunFolder.release` or the end
  of the process; the kernel drops it when the process dies, however it dies. A second process
  gets one line naming the holder's PID.
- **A run that never took a step is not a run**: a folder holding only its ``config.json``
  (a run that died in its checks or before its first step) counts as empty and is started anew.

Errors name the library argument that chose the folder (``run_dir``, ``out``); the CLI shows
the flag (``--out``); see :mod:`promptlearn.errors`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

from .errors import InputError
from .files import append_jsonl, atomic_write_json, atomic_write_text, check_output_folder, read_jsonl

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
CONFIG = "config.json"
STATE = "state.json"
LOCK = ".lock"
NOT_COMPARED = ("info",)

class RunFolderBusy(InputError):
    """Another live process holds the run folder's lock."""

    def __init__(self, message: str, *, pid: int | None = None, arguments: str | Sequence[str] = ()):
        super().__init__(message, arguments=arguments)
        self.pid = pid


@dataclass(frozen=True)
class RunStatus:
    """What a run folder holds, read without writing anything.

    ``state`` is ``"absent"`` (no folder), ``"empty"`` (nothing of a run: no files, only a lock,
    or a ``config.json`` whose run never took a step), ``"run"`` or ``"foreign"`` (files that
    are not a promptlearn run)."""

    path: Path
    state: Literal["absent", "empty", "run", "foreign"]
    config: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None  # the saved state of a fit (``state.json``)
    files: tuple[str, ...] = field(default=())

    @property
    def finished(self) -> bool:
        return bool(self.progress and self.progress.get("finished"))

    def describe(self) -> str:
        """``a finished run (8 steps)``, ``an unfinished run (3 steps done)``, ``a benchmark run (12 records)``."""
        if self.progress is not None:
            steps = self.progress.get("steps")
            counted = f"{steps} step{'' if steps == 1 else 's'}"
            if self.finished:
                return f"a finished run ({counted})" if steps is not None else "a finished run"
            return f"an unfinished run ({counted} done)" if steps is not None else "an unfinished run"
        kind = (self.config or {}).get("kind", "")
        return "a benchmark run" if "bench" in str(kind) or "fingerprint" in (self.config or {}) else "a run"


class RunFolder:
    """One run folder: its checks, lock, config, state and append-only records.

    ``kind`` is stored in ``config.json`` (``promptlearn.fit``, ``promptlearn.bench``) and a
    folder of another kind is refused. ``progress_files`` are the files whose presence means the
    run took a step (beside ``state.json``); ``run_files`` are the files :meth:`open` deletes
    with ``overwrite=True`` (nothing else in the folder is touched). ``argument`` names the
    argument that chose the folder, ``label`` what its runs are called, for error messages."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str = "promptlearn.fit",
        progress_files: Sequence[str] = ("history.jsonl",),
        run_files: Sequence[str] = ("history.jsonl", "instruction.txt", "STOP"),
        argument: str = "run_dir",
        label: str = "promptlearn",
    ):
        self.path = Path(path).expanduser()
        self.kind = kind
        self.progress_files = tuple(progress_files)
        self.run_files = tuple(dict.fromkeys((CONFIG, STATE, *run_files)))
        self.argument = argument
        self.label = label
        self._pending_config: dict[str, Any] | None = None
        self._created = False

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, kind={self.kind!r})"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    # ---- reading without writing -----------------------------------------------------------------
    def inspect(self) -> RunStatus:
        """What the folder holds (see :class:`RunStatus`); raises only for unreadable run files."""
        if not self.path.exists():
            return RunStatus(self.path, "absent")
        if not self.path.is_dir():
            raise InputError(f"{{{self.argument}}} {self.path} is a file, not a folder", arguments=self.argument)
        files = tuple(sorted(name for name in os.listdir(self.path) if not _ignored(name)))
        if CONFIG not in files:
            return RunStatus(self.path, "foreign" if files else "empty", files=files)
        config = _read_json(self.config_path)
        _check_schema(self.config_path, config, legacy_key="schema")
        progress = _read_json(self.state_path) if STATE in files else None
        if progress is not None:
            _check_schema(self.state_path, progress)
        # a run that never took a step left its config.json alone (or beside empty progress files)
        stepped = any(name != CONFIG and (name not in self.progress_files or _has_content(self.path / name)) for name in files)
        return RunStatus(self.path, "run" if stepped else "empty", config=config, progress=progress, files=files)

    def check(self, *, resume: bool | Literal["auto"] = False, overwrite: bool = False) -> RunStatus:
        """Everything about the folder that can be checked before a model loads, writing
        nothing: it can be created or written; it is not in use by another process; it holds
        nothing foreign; it holds a run of this kind; and without ``resume`` or ``overwrite``
        it holds no run that would be lost. Returns what it holds."""
        if resume is True and overwrite:
            raise InputError("pass either {resume=True} or {overwrite=True}, not both", arguments=("resume=True", "overwrite=True"))
        check_output_folder(self.path, self.argument)
        self._check_not_busy()
        status = self.inspect()
        where = f"{{{self.argument}}} {self.path}"
        if status.state == "foreign":
            raise InputError(
                f"{where} is not empty and holds no {self.label} run ({_listing(status.files)}); choose another {{{self.argument}}}",
                arguments=self.argument,
            )
        if status.state == "run":
            stored_kind = _kind_of(status.config or {})
            if stored_kind != self.kind:
                raise InputError(
                    f"{where} holds a {_kind_name(stored_kind)} run, not a {_kind_name(self.kind)} run; "
                    f"choose another {{{self.argument}}}",
                    arguments=self.argument,
                )
            if resume is False and not overwrite:
                raise InputError(
                    f"{where} already holds {status.describe()}; pass {{resume=True}} to "
                    f"{'load it without new LLM calls' if status.finished else 'continue it'}, "
                    f"{{overwrite=True}} to start over, or choose another {{{self.argument}}} (e.g. {free_name(self.path)})",
                    arguments=(self.argument, "resume=True", "overwrite=True"),
                )
        return status

    # ---- opening -----------------------------------------------------------------------------------
    def open(
        self,
        config: Mapping[str, Any],
        *,
        resume: bool | Literal["auto"] = False,
        overwrite: bool = False,
        not_compared: Sequence[str] = NOT_COMPARED,
        defer_config: bool = False,
    ) -> RunStatus:
        """Check the folder (:meth:`check`), lock it, and prepare it for ``config``.

        - A fresh or empty folder (or ``overwrite``, which deletes :attr:`run_files` first) gets
          ``config.json``; with ``defer_config`` it is written with the first
          :meth:`save_state` instead, so a run that fails before its first step leaves nothing.
        - A run with ``resume`` (or ``"auto"``, a benchmark's rule: continue when the config
          matches) must have the same config, ``not_compared`` sections excepted, which are
          refreshed. A different config is refused naming each differing key.

        Returns the folder's status before opening (``status.progress`` is the saved state to
        resume from, ``None`` for a fresh run)."""
        config = {**json.loads(json.dumps(dict(config), default=str)), "kind": self.kind, "schema_version": SCHEMA_VERSION}
        compared = (*not_compared, "schema_version", "schema", "kind")
        if resume is False and not overwrite and self.path.is_dir():
            status = self.inspect()
            if status.state == "run" and _kind_of(status.config or {}) == self.kind:
                differences = config_differences(status.config or {}, config, not_compared=compared)
                if differences:
                    raise InputError(
                        f"{{{self.argument}}} {self.path} already holds a different run (it differs in {'; '.join(differences)}); "
                        f"pass {{overwrite=True}} to start over, or choose another {{{self.argument}}} (e.g. {free_name(self.path)})",
                        arguments=(self.argument, "overwrite=True"),
                    )
        status = self.check(resume=resume, overwrite=overwrite)
        self.lock()
        try:
            status = self.inspect()  # again, now that no other process can change it
            if status.state == "run" and not overwrite:
                differences = config_differences(status.config or {}, config, not_compared=compared)
                if differences:
                    if resume == "auto":
                        raise InputError(
                            f"{self.path} holds a run made with a different {', '.join(_top_keys(differences))} "
                            f"({'; '.join(differences)}); rerun with the same settings to resume it, pass {{overwrite=True}} "
                            f"to start over, or use a new {{{self.argument}}} (e.g. {free_name(self.path)})",
                            arguments=(self.argument, "overwrite=True"),
                        )
                    raise InputError(
                        f"cannot resume {self.path}: the config differs in {'; '.join(differences)}; "
                        f"pass {{overwrite=True}} to start over or choose another {{{self.argument}}}",
                        arguments=(self.argument, "overwrite=True"),
                    )
                atomic_write_json(self.config_path, config)  # refresh what is not compared
                return status
            if status.state == "run" and overwrite:
                for name in self.run_files:
                    target = self.path / name
                    if target.is_dir():
                        shutil.rmtree(target)
                    else:
                        target.unlink(missing_ok=True)
            elif status.state == "empty" and status.config is not None:
                self.config_path.unlink()  # the config of a run that never took a step
            if defer_config:
                self._pending_config = config
            else:
                atomic_write_json(self.config_path, config)
            return RunStatus(self.path, "empty")
        except BaseException:
            self.release()
            raise

    # ---- the lock ----------------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the folder's exclusive lock (creating the folder), or raise :class:`RunFolderBusy`
        naming the PID that holds it. Re-entrant within a process."""
        key = _key(self.path)
        if key in _HELD:
            if _same_file(_HELD[key], self.path / LOCK):
                return
            os.close(_HELD.pop(key))  # the folder was removed and made again since: lock the new one
        if not self.path.exists():
            self._created = True
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            for attempt in range(5):  # another process's check (a shared lock) lasts microseconds
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if attempt == 4:
                        pid = _read_pid(fd)
                        os.close(fd)
                        raise self._busy(pid) from None
                    time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[key] = fd

    def release(self) -> None:
        """Drop the lock (the process's exit does it too). A folder this object created that
        holds nothing but the lock goes with it, so failed checks leave nothing behind."""
        fd = _HELD.pop(_key(self.path), None)
        if fd is None:
            return
        leftovers = [name for name in os.listdir(self.path) if name != LOCK] if self.path.is_dir() else [None]
        if not leftovers:  # nothing was written: take the lock file (and a folder made for it) away
            (self.path / LOCK).unlink(missing_ok=True)
            if self._created:
                try:
                    self.path.rmdir()
                except OSError:
                    pass
        os.close(fd)  # closing the last descriptor releases the flock
        self._created = False

    @property
    def locked(self) -> bool:
        fd = _HELD.get(_key(self.path))
        return fd is not None and _same_file(fd, self.path / LOCK)

    def _check_not_busy(self) -> None:
        lock_path = self.path / LOCK
        if fcntl is None or self.locked or not lock_path.is_file():
            return
        try:
            fd = os.open(lock_path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise self._busy(_read_pid(fd)) from None
        finally:
            os.close(fd)

    def _busy(self, pid: int | None) -> RunFolderBusy:
        holder = f"PID {pid}" if pid is not None else "an unknown PID"
        return RunFolderBusy(
            f"{self.path} is in use by another promptlearn process ({holder}); wait for it to end or choose another {{{self.argument}}}",
            pid=pid,
            arguments=self.argument,
        )

    # ---- writing -----------------------------------------------------------------------------------
    def save_state(self, state: Mapping[str, Any]) -> None:
        """Rewrite ``state.json`` atomically (with the deferred ``config.json`` first, if any)."""
        self._write_pending_config()
        atomic_write_json(self.state_path, {**state, "schema_version": SCHEMA_VERSION})

    def read_config(self) -> dict[str, Any] | None:
        """The run's ``config.json`` (``None`` when there is none)."""
        if not self.config_path.is_file():
            return None
        config = _read_json(self.config_path)
        _check_schema(self.config_path, config)
        return config

    def read_state(self) -> dict[str, Any] | None:
        if not self.state_path.is_file():
            return None
        state = _read_json(self.state_path)
        _check_schema(self.state_path, state)
        return state

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one record to the JSONL file ``name`` (fsynced)."""
        self._write_pending_config()
        append_jsonl(self.path / name, dict(record))

    def records(self, name: str) -> list[dict[str, Any]]:
        path = self.path / name
        return read_jsonl(path) if path.is_file() else []

    def keep_records(self, name: str, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Rewrite the JSONL file ``name`` with the records ``keep`` accepts (a run killed between
        appending a record and saving its state redoes that step, so its record would otherwise
        appear twice)."""
        path = self.path / name
        if not path.is_file():
            return
        records = self.records(name)
        kept = [r for r in records if keep(r)]
        lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in kept)
        if len(kept) != len(records) or path.read_text(encoding="utf-8") != lines:
            atomic_write_text(path, lines)

    def write_text(self, name: str, text: str) -> Path:
        self._write_pending_config()
        return atomic_write_text(self.path / name, text)

    def _write_pending_config(self) -> None:
        if self._pending_config is not None:
            atomic_write_json(self.config_path, self._pending_config)
            self._pending_config = None
            self._created = False  # the folder holds a run now: keep it


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], *, not_compared: Sequence[str] = NOT_COMPARED) -> list[str]:
    """``["hyper.epochs (2 -> 3)", "templates.optimizer/update.j2 (changed)"]`` for what differs
    between two configs, the top-level sections in ``not_compared`` excepted."""
    before, after = _flatten(old), _flatten(new)
    out = []
    for key in sorted(set(before) | set(after)):
        if key.split(".", 1)[0] in not_compared or before.get(key) == after.get(key):
            continue
        if key.startswith("templates.") or key.endswith("sha256"):
            out.append(f"{key} (changed)")
        else:
            out.append(f"{key} ({_short(before.get(key, '<absent>'))} -> {_short(after.get(key, '<absent>'))})")
    return out


def free_name(path: Path) -> Path:
    """``runs/demo-2`` (the first of ``-2``, ``-3``, ... that does not exist) for ``runs/demo``."""
    for number in range(2, 10_000):
        candidate = path.with_name(f"{path.name}-{number}")
        if not candidate.exists():
            return candidate
    return path.with_name(f"{path.name}-new")


# ---- helpers -----------------------------------------------------------------------------------------
_HELD: dict[str, int] = {}  # folder -> descriptor of its locked ``.lock``, for this process


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _same_file(fd: int, path: Path) -> bool:
    try:
        held, current = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _ignored(name: str) -> bool:
    """Files that are not content: the lock and the temporary files of atomic writes."""
    return name == LOCK or (name.startswith(".") and name.endswith(".tmp"))


def _has_content(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0 or path.is_dir() and any(path.iterdir())


def _listing(files: Sequence[str]) -> str:
    shown = ", ".join(files[:3])
    return shown + (f" and {len(files) - 3} more" if len(files) > 3 else "")


def _kind_of(config: Mapping[str, Any]) -> str:
    if "kind" in config:
        return str(config["kind"])
    return "promptlearn.bench" if "fingerprint" in config else "promptlearn.fit"


def _kind_name(kind: str) -> str:
    return {"promptlearn.fit": "fit", "promptlearn.bench": "benchmark"}.get(kind, kind)


def _top_keys(differences: Sequence[str]) -> list[str]:
    keys = []
    for difference in differences:
        parts = difference.split(" ", 1)[0].split(".")
        key = parts[1] if parts[0] == "fingerprint" and len(parts) > 1 else parts[0]
        if key not in keys:
            keys.append(key)
    return keys


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read run file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _check_schema(path: Path, data: Mapping[str, Any], legacy_key: str | None = None) -> None:
    """Files written before versioning (no key) read as version 1."""
    version = data.get("schema_version", data.get(legacy_key, 1) if legacy_key else 1)
    if version != SCHEMA_VERSION:
        raise InputError(
            f"{path} has schema version {version!r}; this promptlearn reads version {SCHEMA_VERSION} "
            "(use the promptlearn that wrote it, or start a new run)"
        )


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
