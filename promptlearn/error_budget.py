"""How many failures a long run tolerates before it stops (``--max-errors``).

A run never dies on one odd reply: a row or step that still fails after the LLM client's own
retries is recorded in an :class:`ErrorBudget` and the run goes on; once more than ``limit``
failures are recorded the budget is *exhausted* and the run stops cleanly, with what was done
saved and :meth:`ErrorBudget.reason` as its one-line reason. Any kind of failure can be counted
(an LLM call that failed, an answer that cannot be parsed): ``record(where, what)``.

>>> budget = ErrorBudget(2, unit="row")
>>> budget.record("row 3", "openai/test: server error (HTTP 500)")
>>> budget.exhausted
False
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .errors import PromptlearnError

DEFAULT_MAX_ERRORS = 10


class TooManyErrorsError(PromptlearnError):
    """A run stopped because its error budget was exhausted (the message says where and why)."""

    exit_code = 1


@dataclass
class ErrorBudget:
    """Counts failures; ``exhausted`` once more than ``limit`` were recorded (``limit=0``: the
    first failure stops the run; ``None``: never). ``option`` names the flag in messages."""

    limit: int | None = DEFAULT_MAX_ERRORS
    unit: str = "item"
    option: str = "--max-errors"
    failures: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ValueError(f"the error limit must be an integer >= 0 or None, got {self.limit!r}")

    def record(self, where: str, what: BaseException | str) -> None:
        """Count one failure at ``where`` (e.g. "row 17", "step 4") with its one-line reason."""
        text = " ".join(str(what).split()) or type(what).__name__
        with self._lock:
            self.failures.append((where, text))

    @property
    def count(self) -> int:
        return len(self.failures)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.count > self.limit

    def reason(self) -> str:
        """One line: how many failed, the limit, and the last failure."""
        if not self.failures:
            return f"no failed {self.unit}s"
        where, text = self.failures[-1]
        plural = "s" if self.count != 1 else ""
        limit = f" (more than {self.option} {self.limit})" if self.exhausted else ""
        return f"{self.count} failed {self.unit}{plural}{limit}; last: {where}: {text}"

    def check(self) -> None:
        """Raise :class:`TooManyErrorsError` with :meth:`reason` once exhausted."""
        if self.exhausted:
            raise TooManyErrorsError(f"stopped: {self.reason()}")
