"""A disk cache of completions in SQLite (standard library, WAL journal, safe across threads
and processes).

The key is the sha256 of canonical JSON of the backend's identity (backend, model, secret-free
API base), the messages and every sampling parameter, seed and sample index included. Backends
never put credentials in their identity, so none reach the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError, PromptlearnError
from .types import Completion, Request

SCHEMA_VERSION = 1


def default_cache_dir() -> Path:
    """``$PROMPTLEARN_CACHE_DIR``, else ``$XDG_CACHE_HOME/promptlearn``, else ``~/.cache/promptlearn``."""
    if os.environ.get("PROMPTLEARN_CACHE_DIR"):
        return Path(os.environ["PROMPTLEARN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "promptlearn"


def cache_key(identity: Mapping[str, Any], request: Request) -> str:
    payload = {"v": SCHEMA_VERSION, "backend": dict(identity), **request.to_json()}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class CacheError(PromptlearnError):
    """The cache's database failed during a run (disk full, file locked too long, removed)."""


class CompletionCache:
    """Completions stored by :func:`cache_key` in ``<folder>/llm-cache.sqlite``."""

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        """Open (or create) the cache. Raises :class:`InputError` with one line when the folder
        cannot be created or the file is not a usable SQLite database."""
        self.folder = Path(folder).expanduser() if folder is not None else default_cache_dir()
        self.path = self.folder / "llm-cache.sqlite"
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot use {self.folder} as the LLM cache folder: {exc.strerror or exc}") from None
        try:
            self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS completions ("
                " key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise InputError(
                f"cannot open the LLM cache {self.path} ({exc}); delete it, or pass another {{cache_dir}} or {{cache=False}}",
                arguments=("cache_dir", "cache=False"),
            ) from None

    def _failed(self, exc: sqlite3.Error) -> CacheError:
        text = str(exc)
        if "full" in text.lower():  # SQLITE_FULL: the disk, not the database, is the problem
            return CacheError(
                f"cannot write the LLM cache {self.path}: no space left on its disk; "
                "free some space, or pass {cache=False} or another {cache_dir}",
                arguments=("cache=False", "cache_dir"),
            )
        if "disk i/o" in text.lower():
            return CacheError(
                f"cannot write the LLM cache {self.path}: the disk reported an I/O error; "
                "pass {cache=False} or another {cache_dir}",
                arguments=("cache=False", "cache_dir"),
            )
        return CacheError(
            f"the LLM cache {self.path} failed: {text}; pass {{cache=False}} or another {{cache_dir}}",
            arguments=("cache=False", "cache_dir"),
        )

    def get(self, key: str) -> Completion | None:
        try:
            with self._lock:
                row = self._conn.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        if row is None:
            return None
        stored = Completion.from_json(json.loads(row[0]))
        return Completion(
            text=stored.text,
            finish_reason=stored.finish_reason,
            prompt_tokens=stored.prompt_tokens,
            completion_tokens=stored.completion_tokens,
            cost_usd=None if stored.cost_usd is None else 0.0,  # an unpriced model stays unpriced
            latency_s=0.0,
            cached=True,
        )

    def put(self, key: str, completion: Completion) -> None:
        data = json.dumps(completion.to_json(), ensure_ascii=False)
        try:
            with self._lock:
                self._conn.execute(
                    "INSERT OR REPLACE INTO completions (key, completion, created) VALUES (?, ?, ?)",
                    (key, data, time.time()),
                )
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
