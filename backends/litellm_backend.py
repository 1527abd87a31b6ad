"""Remote chat models through litellm: OpenAI, Anthropic, ... and any OpenAI-compatible server
(``vllm serve``, a local test server) given with ``api_base``.

Everything provider-specific stays in this module: the model string is checked with litellm's
provider resolution, a missing API key is reported before the first call, and every exception
litellm, openai, httpx or aiohttp raise is translated by :func:`translate_error` into the typed
errors of :mod:`promptlearn.llm.errors`. Retries are not done here (``num_retries=0``); the
:class:`~promptlearn.llm.LLM` client retries what is retryable.

litellm's calls all run on one private event loop in a daemon thread (:func:`_litellm_loop`).
litellm keeps loop-bound state (HTTP sessions, its background logging worker) between calls,
while the client starts a fresh loop for each synchronous ``complete_many``; on one long-lived
loop that state stays valid, connections are reused across batches and litellm's logging tasks
actually run instead of piling up (with a warning each time) when a caller's loop ends.
"""

from __future__ import annotations

import asyncio
import atexit
import email.utils
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from typing import Any, Coroutine, Iterator, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from promptlearn.errors import InputError, one_line
from promptlearn.llm.errors import (
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
from promptlearn.llm.forms import VALID_FORMS
from promptlearn.llm.secrets import known_secrets, register_environment_secrets, register_secret
from promptlearn.llm.types import Completion, Request

log = logging.getLogger(__name__)

PLACEHOLDER_API_KEY = "EMPTY"
"""Sent to an ``api_base`` server when no key is given or set: OpenAI-compatible servers without
authentication (``vllm serve`` without ``--api-key``) accept any key, but the SDK insists on one."""

_MAX_MESSAGE = 300


def _import_litellm() -> Any:
    """Import litellm with its price map read from the package (never fetched from the
    network) and without its "Provider List" banner on stdout."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMBackend:
    """A :class:`~promptlearn.llm.backend.ChatBackend` for any litellm model string.

    ``api_base`` points at an OpenAI-compatible server (use ``openai/<served name>`` or
    ``hosted_vllm/<served name>``); ``api_key`` overrides the provider's environment variable and
    is only ever sent with requests, never stored in the identity, logged or cached.
    ``timeout`` is seconds per HTTP call.

    Raises :class:`UnknownModelSpecError` for a model litellm cannot route and
    :class:`AuthenticationError` when the provider's API key is missing.
    """

    name = "litellm"

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ):
        self._litellm = _import_litellm()
        self.model = (model or "").strip()
        if not timeout or timeout <= 0:
            raise InputError(f"timeout must be > 0 seconds, got {timeout}")
        self.timeout = float(timeout)
        self.api_base = _check_api_base(api_base) if api_base else None
        self.provider = self._resolve_provider()
        self._api_key = api_key if api_key else self._default_key()
        # scrubbed from every error, warning and log line from now on: the key passed, every
        # key-like environment variable litellm may read for this provider
        register_secret(api_key)
        register_environment_secrets()

    # ---- set-up checks ---------------------------------------------------------------------
    def _resolve_provider(self) -> str:
        try:
            _, provider, _, _ = self._litellm.get_llm_provider(self.model, api_base=self.api_base)
        except Exception:  # litellm raises its BadRequestError (or worse) for an unknown provider
            prefix = self.model.partition("/")[0]
            raise UnknownModelSpecError(
                f"unknown model spec {self.model!r}: litellm knows no provider {prefix!r}; valid forms: {VALID_FORMS}",
                arguments="api_base",
            ) from None
        return provider

    def _default_key(self) -> str | None:
        """None (litellm reads the environment), the placeholder for a key-less ``api_base``
        server, or :class:`AuthenticationError` when the provider's key variable is unset."""
        report = self._litellm.validate_environment(model=self.model)
        missing = [name for name in report.get("missing_keys", []) if name.endswith("_API_KEY")]
        if not missing:
            return None  # set, or a provider authenticated otherwise (cloud credentials, none at all)
        if self.api_base is not None:
            return PLACEHOLDER_API_KEY
        raise AuthenticationError(
            f"missing API key for {self.model}: set {' or '.join(missing)} "
            "(or use {api_base} for an OpenAI-compatible server of your own)",
            backend=self.name,
            arguments="api_base",
        )

    # ---- ChatBackend -----------------------------------------------------------------------
    def identity(self) -> Mapping[str, Any]:
        """Backend, model and a secret-free API base: what the cache key needs, no key."""
        return {"backend": self.name, "model": self.model, "api_base": public_api_base(self.api_base)}

    async def acomplete(self, request: Request) -> Completion:
        kwargs = self._call_kwargs(request)
        started = time.perf_counter()
        try:
            response = await _run_on_litellm_loop(self._litellm.acompletion(**kwargs))
        except Exception as exc:  # every provider failure becomes a typed LLMError
            raise translate_error(
                exc, model=self.model, secrets=self._secrets(), api_base=public_api_base(self.api_base)
            ) from exc
        latency = time.perf_counter() - started
        return self._to_completion(response, latency)

    def close(self) -> None:
        """Nothing to release per backend: litellm's loop and HTTP sessions are shared by the
        process and closed by :func:`shutdown` (the CLI calls it; an ``atexit`` hook too)."""

    def __repr__(self) -> str:
        return f"LiteLLMBackend({self.model!r}, api_base={public_api_base(self.api_base)!r})"

    # ---- translation -----------------------------------------------------------------------
    def _call_kwargs(self, request: Request) -> dict[str, Any]:
        params = request.params
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
            "top_p": params.top_p,
            "timeout": self.timeout,
            "num_retries": 0,  # the client retries (promptlearn.llm.retry)
            "max_retries": 0,  # nor may the OpenAI SDK underneath
        }
        seed = params.effective_seed
        if seed is not None:
            kwargs["seed"] = seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if self.api_base is not None:
            kwargs["api_base"] = self.api_base
        if self._api_key is not None:
            kwargs["api_key"] = self._api_key
        return kwargs

    def _to_completion(self, response: Any, latency: float) -> Completion:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise BadResponseError(f"{self.model}: the response holds no choices", backend=self.name, retryable=True)
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = getattr(message, "content", None)
        if not isinstance(text, str) or text == "":
            refusal = getattr(message, "refusal", None)
            why = f"the model refused: {_one_line(str(refusal))}" if refusal else f"its content is {text!r}"
            raise BadResponseError(f"{self.model}: empty completion ({why})", backend=self.name, retryable=True)
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            finish_reason=str(getattr(choice, "finish_reason", None) or "unknown"),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=self._cost(response),
            latency_s=latency,
        )

    def _cost(self, response: Any) -> float | None:
        """Dollars from litellm's price map, or None when the model is not in it (never 0).
        litellm already prices each response it returns (``response_cost``); only when that
        is absent is :func:`litellm.completion_cost` called here."""
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, Mapping) and "response_cost" in hidden:
            cost = hidden["response_cost"]
        else:
            try:
                cost = self._litellm.completion_cost(completion_response=response)
            except Exception as exc:  # litellm raises for a model missing from its price map
                log.debug("no price for %s: %s", self.model, _short(exc))
                return None
        return float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None

    def _secrets(self) -> tuple[str, ...]:
        own = tuple(s for s in (self._api_key,) if s and s != PLACEHOLDER_API_KEY)
        return own + known_secrets()


# ---- exceptions -------------------------------------------------------------------------------
def translate_error(
    exc: BaseException, *, model: str, secrets: Sequence[str] = (), api_base: str | None = None
) -> LLMError:
    """Map an exception from litellm (or the openai/httpx/aiohttp layers below it) to a typed
    :class:`LLMError` with a one-line message that contains none of ``secrets``; ``api_base``
    (secret-free) is named in connection errors.

    ============================================  =========================================
    401 / 403                                     AuthenticationError
    429                                           RateLimitError (retry_after from headers)
    timeout (any layer), 408                      LLMTimeoutError
    connection refused / reset, unreachable       BackendUnavailableError, retryable (a
                                                  server that is starting or restarting);
                                                  not retryable when the host name does not
                                                  resolve (a typo does not heal)
    5xx                                           ServerError (retry_after from headers)
    context window exceeded                       ContextWindowError
    malformed JSON, unusable body (HTTP 200)      BadResponseError, retryable (transient on
                                                  real servers and gateways)
    other 4xx                                     InvalidRequestError
    anything else                                 LLMError (not retried)
    ============================================  =========================================
    """
    if isinstance(exc, LLMError):
        return exc
    chain = list(_cause_chain(exc))
    secrets = (*secrets, *known_secrets())
    detail = _one_line(_provider_message(exc), secrets)
    status = _status_of(exc)

    def make(cls: type[LLMError], what: str, **extra: Any) -> LLMError:
        return cls(f"{model}: {what}: {detail}" if detail else f"{model}: {what}", backend="litellm", status=status, **extra)

    if any(_is_timeout(e) for e in chain) or status == 408:
        return make(LLMTimeoutError, "timed out")
    if any(_is_connection_error(e) for e in chain):
        error = make(BackendUnavailableError, f"cannot connect to {api_base or 'the provider'}")
        error.retryable = not any(isinstance(e, socket.gaierror) for e in chain)
        return error
    if any(isinstance(e, json.JSONDecodeError) for e in chain) or "invalid response from LLM endpoint" in detail:
        return make(BadResponseError, "malformed response", retryable=True)
    if _has_type(chain, "ContextWindowExceededError"):
        return make(ContextWindowError, "prompt too long for the context window")
    if _has_type(chain, "APIResponseValidationError"):
        return make(BadResponseError, "malformed response", retryable=True)
    if status in (401, 403):
        return make(AuthenticationError, f"authentication failed (HTTP {status})")
    if status == 429:
        return make(RateLimitError, "rate limited (HTTP 429)", retry_after=retry_after_from(chain))
    if status is not None and 500 <= status <= 599:
        return make(ServerError, f"server error (HTTP {status})", retry_after=retry_after_from(chain))
    if status is not None and 400 <= status <= 499 and status != 402:
        return make(InvalidRequestError, f"request rejected (HTTP {status})")
    if isinstance(exc, (LookupError, ValueError)):  # raised while parsing a response
        return make(BadResponseError, f"unusable response ({type(exc).__name__})", retryable=True)
    what = f"HTTP {status}" if status is not None else f"unexpected {type(exc).__name__}"
    return make(LLMError, what)


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes, as a traceback would show them (``__cause__``, else an
    unsuppressed ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _has_type(chain: Sequence[BaseException], name: str) -> bool:
    return any(cls.__name__ == name for e in chain for cls in type(e).__mro__)


def _is_timeout(exc: BaseException) -> bool:
    """Timeouts of every layer: builtins/asyncio (``TimeoutError``), openai's
    ``APITimeoutError`` (litellm's ``Timeout`` too), httpx's ``TimeoutException``."""
    return isinstance(exc, TimeoutError) or _has_type([exc], "APITimeoutError") or _has_type([exc], "TimeoutException")


def _is_connection_error(exc: BaseException) -> bool:
    """A failure to reach the server. litellm's own ``APIConnectionError`` is not one by
    itself: litellm wraps unrelated failures in it; the openai SDK's one is."""
    if isinstance(exc, (ConnectionError, socket.gaierror)):
        return True
    module = type(exc).__module__
    if module.startswith("openai") and _has_type([exc], "APIConnectionError"):
        return True
    if module.startswith("httpx") and _has_type([exc], "TransportError"):
        return True
    return module.startswith("aiohttp") and _has_type([exc], "ClientConnectionError")


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def retry_after_from(chain: Sequence[BaseException], *, now: float | None = None) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date), from the first exception in ``chain`` that carries response headers."""
    for exc in chain:
        for headers in (
            getattr(exc, "litellm_response_headers", None),
            getattr(exc, "headers", None),
            getattr(getattr(exc, "response", None), "headers", None),
        ):
            seconds = parse_retry_after(headers, now=now)
            if seconds is not None:
                return seconds
    return None


def parse_retry_after(headers: Any, *, now: float | None = None) -> float | None:
    """Parse ``retry-after-ms`` / ``Retry-After`` from a header mapping (case-insensitive);
    None when absent or unreadable. A date in the past gives 0."""
    if not headers:
        return None
    try:
        items = {str(k).lower(): str(v).strip() for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return None
    millis = items.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = items.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


_PREFIX = re.compile(r"^(?:(?:litellm\.)?[A-Za-z]*(?:Error|Exception|Timeout)\s*(?::|-)\s*)+")


def _provider_message(exc: BaseException) -> str:
    """The provider's own words, without litellm's stacked class-name prefixes."""
    text = str(getattr(exc, "message", None) or exc)
    return _PREFIX.sub("", text.strip())


def _one_line(text: str, secrets: Sequence[str] = ()) -> str:
    return one_line(text, secrets=secrets, limit=_MAX_MESSAGE, whole=True)


def _short(exc: BaseException) -> str:
    return _one_line(_provider_message(exc), known_secrets()) or type(exc).__name__


# ---- configuration ----------------------------------------------------------------------------
_CREDENTIAL_PARAM = re.compile(r"key|token|secret|sig|pass|auth|cred", re.IGNORECASE)


def _check_api_base(api_base: str) -> str:
    """An http(s) URL with a host and a valid port, carrying no credentials: user info
    (``https://user:key@host``) or a key-like query parameter (``?api-key=...``) is refused,
    since a URL is printed, logged and cached where a key must never go."""
    parts = urlsplit(api_base.strip())
    if parts.username is not None or parts.password is not None:
        register_secret(parts.password, parts.username)
        raise InputError(
            f"{{api_base}} must not carry credentials (user info in {public_api_base(api_base)!r}); "
            "set the provider's key variable instead (e.g. OPENAI_API_KEY)",
            arguments="api_base",
        )
    if parts.query:
        from urllib.parse import parse_qsl

        pairs = parse_qsl(parts.query, keep_blank_values=True)
        register_secret(*(value for _, value in pairs))
        if any(_CREDENTIAL_PARAM.search(name) for name, _ in pairs) or not pairs:
            raise InputError(
                f"{{api_base}} must not carry credentials (a query string in {public_api_base(api_base)!r}); "
                "set the provider's key variable instead (e.g. OPENAI_API_KEY)",
                arguments="api_base",
            )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"{{api_base}} must be an http(s) URL such as http://127.0.0.1:8000/v1, got {public_api_base(api_base)!r}",
            arguments="api_base",
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InputError(f"{{api_base}} has an invalid port: {public_api_base(api_base)!r}", arguments="api_base") from None
    return api_base.strip()


def public_api_base(api_base: str | None) -> str | None:
    """``api_base`` without user info, query string or fragment (where keys may hide)."""
    if not api_base:
        return None
    parts = urlsplit(api_base.strip())
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# ---- litellm's event loop ---------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


_thread: threading.Thread | None = None
_atexit_registered = False


def _litellm_loop() -> asyncio.AbstractEventLoop:
    """The process-wide event loop (in a daemon thread) that runs every litellm call."""
    global _loop, _thread, _atexit_registered
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="promptlearn-litellm", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
            if not _atexit_registered:  # runs before litellm's own atexit hook (registered earlier)
                atexit.register(shutdown)
                _atexit_registered = True
        return _loop


def shutdown(timeout: float = 5.0) -> None:
    """Close litellm's async HTTP clients and stop the loop thread, deterministically, before
    the interpreter shuts down: left to ``__del__`` at interpreter exit, a client's finalizer
    can wait forever on a lock held by the daemon loop thread (a hang after the last line).
    Idempotent; a later call makes a fresh loop."""
    global _loop, _thread
    with _loop_lock:
        loop, thread = _loop, _thread
        _loop, _thread = None, None
    if loop is None or loop.is_closed():
        return
    litellm = sys.modules.get("litellm")

    async def close_all() -> None:
        if litellm is not None:
            try:
                from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

                await asyncio.wait_for(close_litellm_async_clients(), timeout)
            except Exception as exc:  # best effort: a failed close must not fail the exit
                log.debug("closing litellm clients: %s", _short(exc))
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current]
        for task in others:  # litellm's logging worker and anything left in flight
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=timeout)

    if thread is not None and thread.is_alive() and loop.is_running():
        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout + 1.0)
        except Exception as exc:
            log.debug("closing the litellm loop: %s", _short(exc))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
    if litellm is not None:  # drop the cached (now closed) clients while the loop thread is gone
        cache = getattr(litellm, "in_memory_llm_clients_cache", None)
        flush = getattr(cache, "flush_cache", None)
        if callable(flush):
            try:
                flush()
            except Exception:
                pass
    if not loop.is_running():
        loop.close()


async def _run_on_litellm_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await ``coro`` on :func:`_litellm_loop` from any loop; cancelling the caller cancels it."""
    future = asyncio.run_coroutine_threadsafe(coro, _litellm_loop())
    return await asyncio.wrap_future(future)
