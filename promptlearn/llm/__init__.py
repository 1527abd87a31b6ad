"""The LLM layer: one small interface (messages in, :class:`Completion` out) in front of every
backend, with a disk cache, retries, bounded concurrency and accounting."""

from .backend import BatchBackend, ChatBackend
from .cache import CompletionCache, cache_key, default_cache_dir
from .client import LLM
from .errors import (
    AuthenticationError,
    BackendUnavailableError,
    BadResponseError,
    ContextWindowError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    RateLimitError,
    ServerError,
    UnknownModelSpecError,
)
from .forms import ModelSpec, parse_spec
from .retry import RetryPolicy
from .types import Completion, Message, Request, SamplingParams, make_request, to_messages, to_params
from .usage import Usage

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "BadResponseError",
    "BatchBackend",
    "ChatBackend",
    "Completion",
    "CompletionCache",
    "ContextWindowError",
    "InvalidRequestError",
    "LLM",
    "LLMError",
    "LLMTimeoutError",
    "Message",
    "ModelSpec",
    "RateLimitError",
    "Request",
    "RetryPolicy",
    "SamplingParams",
    "ServerError",
    "UnknownModelSpecError",
    "Usage",
    "cache_key",
    "default_cache_dir",
    "load_llm",
    "make_request",
    "parse_spec",
    "to_messages",
    "to_params",
]


def __getattr__(name: str):
    # the factory imports the backends, which import this package's lower modules: load it on
    # first use, so that importing a backend never imports the factory
    if name == "load_llm":
        from .spec import load_llm

        return load_llm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
