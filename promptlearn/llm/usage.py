"""Accounting: calls, cache hits, tokens and dollars over a run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .types import Completion


@dataclass
class Usage:
    """Running totals. ``cost_usd`` sums the calls whose price is known; ``unpriced_calls``
    counts the rest, so an unknown price is reported as unknown, never as zero."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    errors: int = 0
    retries: int = 0
    unpriced_cache_hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, completion: Completion) -> None:
        with self._lock:
            self.calls += 1
            if completion.cached:
                self.cache_hits += 1
                if completion.cost_usd is None:
                    self.unpriced_cache_hits += 1
                return
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            if completion.cost_usd is None:
                self.unpriced_calls += 1
            else:
                self.cost_usd += completion.cost_usd

    def record_error(self) -> None:
        with self._lock:
            self.errors += 1

    def record_retry(self, error: object = None) -> None:
        """One failed attempt that is tried again (a 429, a 5xx, a timeout, a bad reply)."""
        with self._lock:
            self.retries += 1

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        return self.unpriced_calls == 0

    def cost_text(self) -> str:
        """Dollars, or "unknown" for a model missing from the price map: also when every call
        came from the cache (an unpriced model is never shown as "$0.0000")."""
        if (self.unpriced_calls or self.unpriced_cache_hits) and self.cost_usd == 0.0:
            return "unknown"
        text = f"${self.cost_usd:.4f}"
        if self.unpriced_calls:
            text += f" + {self.unpriced_calls} unpriced call(s)"
        return text

    def to_json(self) -> dict:
        return {
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd if self.cost_known else None,
            "cost_usd_known_part": self.cost_usd,
            "unpriced_calls": self.unpriced_calls,
            "errors": self.errors,
            "retries": self.retries,
        }

    def summary(self) -> str:
        text = f"{self.calls} LLM calls ({self.cache_hits} from cache), {self.total_tokens} tokens, cost {self.cost_text()}"
        if self.retries or self.errors:
            text += f", {self.retries} retried attempt(s), {self.errors} failed call(s)"
        return text

    def counters(self) -> dict[str, float]:
        """The raw totals; ``Usage(**counters)`` rebuilds the tally (e.g. from a saved state)."""
        with self._lock:
            return {name: getattr(self, name) for name in _COUNTERS}

    def snapshot(self) -> "Usage":
        """A copy of the totals now, to measure a part of a run with :meth:`since`."""
        return Usage(**self.counters())

    def since(self, earlier: "Usage") -> "Usage":
        """What was used after ``earlier`` (a :meth:`snapshot` of this object)."""
        now = self.snapshot()
        return Usage(**{name: getattr(now, name) - getattr(earlier, name) for name in _COUNTERS})

    def add(self, other: "Usage") -> None:
        """Add another tally to this one (e.g. one step's usage to a run's total)."""
        with self._lock:
            for name in _COUNTERS:
                setattr(self, name, getattr(self, name) + getattr(other, name))


_COUNTERS = (
    "calls",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "unpriced_calls",
    "errors",
    "retries",
    "unpriced_cache_hits",
)
