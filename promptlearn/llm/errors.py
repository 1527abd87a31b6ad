"""Typed LLM errors. Backends translate their own exceptions into these; nothing is swallowed
and no error ever becomes model text."""

from __future__ import annotations

from ..errors import InputError, PromptlearnError


class LLMError(PromptlearnError):
    """Base class of every failure of an LLM call."""

    retryable = False

    def __init__(self, message: str, *, backend: str | None = None, status: int | None = None, arguments: str | tuple[str, ...] = ()):
        super().__init__(message, arguments=arguments)
        self.backend = backend
        self.status = status


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
    no choices, empty content)."""


class BackendUnavailableError(LLMError):
    """The backend cannot be used: not installed, not reachable, model files missing."""


class InvalidRequestError(LLMError, InputError):
    """The request itself is wrong (empty message list, bad role, bad parameter)."""


class UnknownModelSpecError(InvalidRequestError):
    """A model spec string that no backend accepts."""
