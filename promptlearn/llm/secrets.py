"""Secrets never printed: API keys (passed or read from the environment) and credentials of an
API base URL are registered here and replaced by ``***`` in every error, warning and log line.

Backends call :func:`register_secret` for what they send; :func:`redact` scrubs a text;
:func:`install_redaction` puts a filter on the logging handlers (promptlearn's and litellm's)
and on :mod:`warnings`, so that debug logging of a library cannot print a key either.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from typing import Iterable, Mapping

MASK = "***"

# names of environment variables that hold credentials, whatever the provider: OPENAI_API_KEY,
# ANTHROPIC_API_KEY, AZURE_API_KEY, HUGGINGFACE_API_KEY, AWS_SECRET_ACCESS_KEY, AZURE_AD_TOKEN, ...
_SECRET_NAME = re.compile(r"(API_?KEY|_KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
_MIN_LENGTH = 6  # shorter values ("EMPTY", "1") would scrub ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(*values: str | None) -> None:
    """Scrub these values from everything printed from now on (short or empty ones are ignored)."""
    with _lock:
        for value in values:
            if value and len(value) >= _MIN_LENGTH and value != "EMPTY":
                _secrets.add(value)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables named like credentials (``*_API_KEY``, ``*_TOKEN``,
    ``*_SECRET``, ...): whatever litellm may read for a provider."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if _SECRET_NAME.search(name) and value]


def register_environment_secrets() -> None:
    register_secret(*environment_secrets())


def known_secrets() -> tuple[str, ...]:
    with _lock:
        return tuple(sorted(_secrets, key=len, reverse=True))  # longest first: no partial leftovers


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered secret (and ``extra``) replaced by ``***``."""
    if not text:
        return text
    for secret in (*known_secrets(), *(s for s in extra if s)):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that renders the record and scrubs secrets from the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: leave it to logging
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()
_LIBRARY_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore")
_original_showwarning = None


def install_redaction() -> None:
    """Scrub secrets from the handlers of the root logger and of litellm/openai/httpx loggers,
    and from :mod:`warnings` output. Safe to call more than once."""
    global _original_showwarning
    register_environment_secrets()
    for name in ("", *_LIBRARY_LOGGERS):
        for handler in logging.getLogger(name).handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    if _original_showwarning is None:
        _original_showwarning = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            _original_showwarning(redact(str(message)), category, filename, lineno, file, line)

        warnings.showwarning = showwarning
