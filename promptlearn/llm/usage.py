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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, completion: Completion) -> None:
        with self._lock:
            self.calls += 1
            if completion.cached:
                self.cache_hits += 1
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

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        return self.unpriced_calls == 0

    def cost_text(self) -> str:
        if self.unpriced_calls and self.cost_usd == 0.0:
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
        }

    def summary(self) -> str:
        return (
            f"{self.calls} LLM calls ({self.cache_hits} from cache), "
            f"{self.total_tokens} tokens, cost {self.cost_text()}"
        )
