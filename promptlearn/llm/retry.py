"""Retries with exponential backoff and full jitter, honouring Retry-After."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

from .errors import LLMError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class RetryPolicy:
    """Retry retryable :class:`LLMError` s (rate limits, 5xx, timeouts) up to ``max_attempts``
    attempts in all. The delay before attempt ``n`` (n >= 1) is uniform in
    ``[0, min(max_delay, base_delay * 2**(n-1))]``, or the server's Retry-After if it is longer
    (capped at ``max_delay``). Jitter comes from a private ``random.Random``, never global state."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, error: LLMError) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = self.rng.uniform(0.0, ceiling)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), self.max_delay))
        return wait

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        sleep=asyncio.sleep,
        on_retry: Callable[[LLMError], None] | None = None,
    ) -> T:
        """Await ``call()`` until it succeeds, a non-retryable error comes or the attempts run
        out. Each retry is logged at INFO level only (``-v``); the error finally raised says
        how many attempts were made (``error.attempts`` and its message), so a failing server
        gives one line, not one warning per attempt. ``on_retry(error)`` is called before each
        retry (for counting)."""
        attempt = 1
        while True:
            try:
                return await call()
            except LLMError as error:
                if not error.retryable or attempt >= self.max_attempts:
                    if attempt > 1:
                        suffix = f" (after {attempt} attempts)"
                        error.attempts = attempt
                        error.template += suffix  # what the CLI renders
                        error.args = (f"{error.args[0] if error.args else error}{suffix}",) + error.args[1:]
                    raise
                wait = self.delay(attempt, error)
                log.info("%s (attempt %d/%d); retrying in %.2fs", error, attempt, self.max_attempts, wait)
                if on_retry is not None:
                    on_retry(error)
                await sleep(wait)
                attempt += 1

