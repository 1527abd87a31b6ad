"""Typed LLM errors. Backends translate their own exceptions into these; nothing is swallowed
and no error ever becomes model text."""

from __future__ import annotations

from ..errors import InputError, PromptlearnError


class LLMError(PromptlearnError):
    """Base class of every failure of an LLM call."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        status: int | None = None,
        arguments: str | tuple[str, ...] = (),
        retryable: bool | None = None,
    ):
        super().__init__(message, arguments=arguments)
        self.backend = backend
        self.status = status
        if retryable is not None:  # overrides the class default for this one error
            self.retryable = retryable
        self.attempts = 1
        """Attempts made before this error was raised (set by the retry policy)."""


class AuthenticationError(LLMError):
    """Missing or rejected credentials. Never retried."""


class RateLimitError(LLMError):
    """HTTP 429. ``retry_after`` (seconds) comes from the server's Retry-After header if it sent one."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LLMTimeoutError(LLMError):
    """The backend did not answer within the timeout."""

    retryable = True


class ServerError(LLMError):
    """HTTP 5xx from the provider or server."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ContextWindowError(LLMError):
    """The prompt (plus max_tokens) does not fit the model's context window."""


class BadResponseError(LLMError):
    """The backend answered with something that is not a usable completion (malformed JSON,
    no choices, empty content). Remote backends raise it as retryable (such replies are
    transient on real servers and gateways); a local engine's deterministic empty answer is not."""


class BackendUnavailableError(LLMError):
    """The backend cannot be used: not installed, not reachable, model files missing."""


class InvalidRequestError(LLMError, InputError):
    """The request itself is wrong (empty message list, bad role, bad parameter)."""


class UnknownModelSpecError(InvalidRequestError):
    """A model spec string that no backend accepts."""


def is_transient(error: LLMError) -> bool:
    """Whether ``error`` belongs to one call rather than to the whole run: a retryable fault that
    outlasted its retries, a bad reply, a prompt too long for the context. A run records such an
    error and goes on (``--max-errors``); any other (a rejected key, an unknown model, a bad
    request) would fail every call alike and ends the run at once."""
    return bool(error.retryable) or isinstance(error, (BadResponseError, ContextWindowError))
