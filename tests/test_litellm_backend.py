"""The litellm backend against the local OpenAI-compatible test server (no network, no key):
round trip, retries, typed errors, order under concurrency, cache, cost; plus unit tests of
the exception translation and the header/URL helpers."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from email.utils import formatdate

import httpx
import litellm  # conftest has set LITELLM_LOCAL_MODEL_COST_MAP
import pytest

from promptlearn.backends.litellm_backend import (
    PLACEHOLDER_API_KEY,
    LiteLLMBackend,
    parse_retry_after,
    public_api_base,
    translate_error,
)
from promptlearn.errors import InputError
from promptlearn.llm import (
    LLM,
    AuthenticationError,
    BackendUnavailableError,
    BadResponseError,
    CompletionCache,
    ContextWindowError,
    InvalidRequestError,
    LLMError,
    LLMTimeoutError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnknownModelSpecError,
    load_llm,
)
from promptlearn.llm.spec import VALID_FORMS
from promptlearn.testing.openai_server import Fault, OpenAIServer

NO_RETRY = RetryPolicy(max_attempts=1)


def remote_llm(server, *, retry: RetryPolicy, cache_dir=None, concurrency: int = 8, timeout: float = 5.0, api_key=None) -> LLM:
    backend = LiteLLMBackend("openai/test", api_base=server.url, api_key=api_key, timeout=timeout)
    cache = CompletionCache(cache_dir) if cache_dir is not None else None
    return LLM(backend, cache=cache, retry=retry, concurrency=concurrency)


# ---- against the test server ------------------------------------------------------------------
def test_round_trip_sends_the_defaults_and_reads_usage(openai_server):
    llm = remote_llm(openai_server, retry=NO_RETRY)
    completion = llm.complete("hello there")
    assert completion.text == "echo: hello there"
    assert (completion.finish_reason, completion.prompt_tokens, completion.completion_tokens) == ("stop", 2, 3)
    assert completion.cached is False and completion.latency_s > 0
    assert completion.cost_usd is None  # "test" is in no price list: unknown, never 0
    assert llm.usage.cost_text() == "unknown"
    [sent] = openai_server.requests
    assert sent.messages == [{"role": "user", "content": "hello there"}]
    assert sent.params["model"] == "test"
    assert (sent.params["temperature"], sent.params["max_tokens"], sent.params["top_p"]) == (0.0, 512, 1.0)
    assert "seed" not in sent.params and "stop" not in sent.params
    assert sent.api_key == PLACEHOLDER_API_KEY  # a key-less server still gets a key


def test_sampling_parameters_reach_the_server(openai_server):
    llm = remote_llm(openai_server, retry=NO_RETRY, api_key="sk-given")
    llm.complete(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0.7,
        top_p=0.9,
        max_tokens=9,
        seed=5,
        sample_index=2,
        stop=["\n", "END"],
    )
    [sent] = openai_server.requests
    assert [m["role"] for m in sent.messages] == ["system", "user"]
    assert (sent.params["temperature"], sent.params["top_p"], sent.params["max_tokens"]) == (0.7, 0.9, 9)
    assert sent.params["seed"] == 7  # seed + sample_index
    assert sent.params["stop"] == ["\n", "END"]
    assert sent.api_key == "sk-given"


def test_retries_after_429_and_5xx_then_succeeds(openai_server, fast_retry):
    openai_server.inject(Fault.rate_limit(), Fault.server_error(500), Fault.unavailable())
    completion = remote_llm(openai_server, retry=fast_retry).complete("again")
    assert completion.text == "echo: again"
    log = openai_server.requests
    assert [r.fault.status if r.fault else 200 for r in log] == [429, 500, 503, 200]
    assert all(r.messages == log[0].messages and r.params == log[0].params for r in log)


def test_retry_after_seconds_are_honoured(openai_server, fast_retry):
    openai_server.inject(Fault.rate_limit(retry_after=0.4))
    remote_llm(openai_server, retry=fast_retry).complete("wait for it")
    first, second = openai_server.requests
    assert second.received_at - first.received_at >= 0.4


def test_retry_after_http_date_is_parsed(openai_server):
    openai_server.inject(Fault.rate_limit(retry_after=2.0, http_date=True))
    with pytest.raises(RateLimitError) as info:
        remote_llm(openai_server, retry=NO_RETRY).complete("x")
    assert info.value.retryable and 0.5 <= info.value.retry_after <= 2.0  # whole seconds on the wire


@pytest.mark.parametrize(
    "fault, error_type",
    [
        (Fault.slow(3.0), LLMTimeoutError),
        (Fault.malformed_json(), BadResponseError),
        (Fault.empty_content(), BadResponseError),
        (Fault.null_content(), BadResponseError),
        (Fault.no_choices(), BadResponseError),
        (Fault.unauthorized(), AuthenticationError),
        (Fault.unauthorized(403), AuthenticationError),
        (Fault.context_window(), ContextWindowError),
        (Fault.server_error(502), ServerError),
    ],
    ids=lambda v: v.kind + str(v.status) if isinstance(v, Fault) else "",
)
def test_faults_become_typed_one_line_errors(openai_server, tmp_path, fault, error_type):
    openai_server.inject(fault)
    llm = remote_llm(openai_server, retry=NO_RETRY, cache_dir=tmp_path, timeout=0.3)
    with pytest.raises(error_type) as info:
        llm.complete("trouble")
    message = str(info.value)
    assert message.startswith("openai/test: ") and "\n" not in message
    assert llm.usage.errors == 1
    # nothing was cached: the next call asks the server again and gets a real answer
    assert llm.complete("trouble").text == "echo: trouble"
    assert len(openai_server.requests) == 2


def test_auth_errors_are_not_retried(openai_server, fast_retry):
    openai_server.inject(Fault.unauthorized())
    with pytest.raises(AuthenticationError):
        remote_llm(openai_server, retry=fast_retry).complete("let me in")
    assert len(openai_server.requests) == 1


def test_timeouts_are_retried(openai_server, fast_retry):
    openai_server.inject(Fault.slow(2.0))
    llm = remote_llm(openai_server, retry=fast_retry, timeout=0.3)
    assert llm.complete("late").text == "echo: late"
    assert len(openai_server.requests) == 2


def test_order_of_32_requests_at_concurrency_8(openai_server):
    def latency(messages, params):  # 20-80 ms, fixed per prompt, so replies finish out of order
        return random.Random(messages[-1]["content"]).uniform(0.02, 0.08)

    openai_server.latency = latency
    prompts = [f"prompt {i}" for i in range(32)]
    out = remote_llm(openai_server, retry=NO_RETRY, concurrency=8).complete_many(prompts)
    assert [c.text for c in out] == [f"echo: {p}" for p in prompts]
    assert 2 <= openai_server.max_in_flight <= 8
    assert sorted(r.messages[-1]["content"] for r in openai_server.requests) == sorted(prompts)


def test_cache_hits_and_misses(openai_server, tmp_path):
    llm = remote_llm(openai_server, retry=NO_RETRY, cache_dir=tmp_path)
    prompts = [f"p{i}" for i in range(5)]
    cold = llm.complete_many(prompts)
    warm = llm.complete_many(prompts)
    assert len(openai_server.requests) == 5
    assert [c.text for c in warm] == [c.text for c in cold]
    assert all(c.cached and not c.cost_usd for c in warm) and not any(c.cached for c in cold)  # 0, or None: unpriced
    llm.complete_many(prompts, params={"temperature": 0.5})  # another temperature: all misses
    assert len(openai_server.requests) == 10
    llm.complete_many(prompts, params={"seed": 7})  # another seed: all misses
    assert len(openai_server.requests) == 15
    assert all(c.cached for c in llm.complete_many(prompts, params={"seed": 7}))
    assert len(openai_server.requests) == 15
    # another server (another api_base) is another identity: no hit
    with OpenAIServer() as other_server:
        assert remote_llm(other_server, retry=NO_RETRY, cache_dir=tmp_path).complete("p0").cached is False
        assert len(other_server.requests) == 1


def test_api_key_stays_out_of_identity_cache_and_errors(openai_server, tmp_path):
    secret = "sk-test-SECRET-0123456789"
    llm = remote_llm(openai_server, retry=NO_RETRY, cache_dir=tmp_path, api_key=secret)
    llm.complete("remember me")
    openai_server.inject(Fault.unauthorized())
    with pytest.raises(AuthenticationError) as info:
        llm.complete("again")
    llm.close()
    assert openai_server.requests[0].api_key == secret
    assert secret not in json.dumps(dict(llm.backend.identity()))
    assert secret not in repr(llm.backend) and secret not in str(info.value)
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path


def test_sync_calls_from_fresh_and_running_loops(openai_server, capfd, caplog):
    """The client runs a new event loop per synchronous call; litellm's loop-bound state
    (its logging worker, HTTP sessions) must not notice (no "event loop changed" warning)."""
    llm = remote_llm(openai_server, retry=NO_RETRY)
    first = [llm.complete(f"call {i}").text for i in range(3)]  # one event loop per call

    async def notebook_cell():
        return llm.complete("inside").text, (await llm.acomplete("native")).text

    assert first == ["echo: call 0", "echo: call 1", "echo: call 2"]
    assert asyncio.run(notebook_cell()) == ("echo: inside", "echo: native")
    llm.complete("last")
    assert "event loop" not in capfd.readouterr().err + caplog.text


def test_priced_model_has_a_cost(openai_server):
    backend = LiteLLMBackend("openai/gpt-4o-mini", api_base=openai_server.url)
    completion = LLM(backend, retry=NO_RETRY).complete("price me")
    prompt_cost, completion_cost = litellm.cost_per_token(
        model="gpt-4o-mini", prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens
    )
    assert completion.cost_usd == pytest.approx(prompt_cost + completion_cost) and completion.cost_usd > 0


def test_connection_refused_is_a_retryable_unavailable_error(fast_retry):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = LiteLLMBackend("openai/test", api_base=f"http://127.0.0.1:{port}/v1", timeout=2.0)
    with pytest.raises(BackendUnavailableError) as info:
        LLM(backend, retry=RetryPolicy(max_attempts=2, base_delay=0.01)).complete("anyone?")
    assert info.value.retryable
    assert f"cannot connect to http://127.0.0.1:{port}/v1" in str(info.value)


# ---- set-up checks ----------------------------------------------------------------------------
def test_missing_api_key_is_reported_up_front():
    with pytest.raises(AuthenticationError, match="missing API key for openai/gpt-4o-mini: set OPENAI_API_KEY"):
        LiteLLMBackend("openai/gpt-4o-mini")
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        load_llm("anthropic/claude-3-5-haiku-latest", cache=False)


def test_a_key_from_argument_or_environment_is_enough(monkeypatch):
    assert LiteLLMBackend("openai/gpt-4o-mini", api_key="sk-x").identity()["model"] == "openai/gpt-4o-mini"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    backend = LiteLLMBackend("openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1")
    assert "api_key" not in backend._call_kwargs(_request())  # litellm reads the environment itself


@pytest.mark.parametrize("spec", ["foo/bar", "notaprovider/model-x"])
def test_unknown_provider(spec):
    with pytest.raises(UnknownModelSpecError) as info:
        load_llm(spec, cache=False)
    assert f"unknown model spec {spec!r}" in str(info.value) and VALID_FORMS.format(api_base="api_base") in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("api_base", ["localhost:8000", "ftp://host/v1", "http:///v1", "http://host:port/v1"])
def test_bad_api_base(api_base):
    with pytest.raises(InputError, match="api_base"):
        LiteLLMBackend("openai/test", api_base=api_base)


def test_identity_strips_credentials_from_api_base():
    backend = LiteLLMBackend("openai/test", api_base="http://127.0.0.1:8000/v1?tenant=blue#frag", api_key="k")
    assert backend.identity() == {"backend": "litellm", "model": "openai/test", "api_base": "http://127.0.0.1:8000/v1"}
    assert public_api_base("http://user:pw@127.0.0.1:8000/v1?api-key=abc#frag") == "http://127.0.0.1:8000/v1"
    assert public_api_base("https://[::1]:8443/v1/") == "https://[::1]:8443/v1/"
    assert public_api_base(None) is None
    assert LiteLLMBackend("openai/x", api_key="k").identity()["api_base"] is None


# ---- exception translation ----------------------------------------------------------------------
def _request():
    from promptlearn.llm import make_request

    return make_request("hi")


def _response(status: int, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    "make_exc, error_type, retryable",
    [
        (lambda: litellm.AuthenticationError("bad key", "openai", "m"), AuthenticationError, False),
        (lambda: litellm.PermissionDeniedError("no", "openai", "m", _response(403)), AuthenticationError, False),
        (lambda: litellm.RateLimitError("slow down", "openai", "m"), RateLimitError, True),
        (lambda: litellm.Timeout("too slow", "m", "openai"), LLMTimeoutError, True),
        (lambda: litellm.InternalServerError("boom", "openai", "m"), ServerError, True),
        (lambda: litellm.ServiceUnavailableError("down", "openai", "m"), ServerError, True),
        (lambda: litellm.BadGatewayError("gw", "openai", "m"), ServerError, True),
        (lambda: litellm.ContextWindowExceededError("too long", "m", "openai"), ContextWindowError, False),
        (lambda: litellm.BadRequestError("bad param", "m", "openai"), InvalidRequestError, False),
        (lambda: litellm.NotFoundError("no such model", "m", "openai"), InvalidRequestError, False),
        (lambda: httpx.ReadTimeout("read timed out"), LLMTimeoutError, True),
        (lambda: asyncio.TimeoutError(), LLMTimeoutError, True),
        (lambda: httpx.ConnectError("refused"), BackendUnavailableError, True),
        (lambda: ConnectionRefusedError(111, "refused"), BackendUnavailableError, True),
        (lambda: _chained(httpx.ConnectError("dns"), socket.gaierror(-2, "Name or service not known")), BackendUnavailableError, False),
        (lambda: _chained(litellm.InternalServerError("x", "openai", "m"), json.JSONDecodeError("Expecting value", "{", 1)), BadResponseError, True),
        (lambda: KeyError("choices"), BadResponseError, True),
        (lambda: RuntimeError("something odd"), LLMError, False),
    ],
    ids=lambda v: getattr(v, "__name__", "") if isinstance(v, type) else "",
)
def test_translate_error(make_exc, error_type, retryable):
    error = translate_error(make_exc(), model="openai/m")
    assert type(error) is error_type
    assert error.retryable is retryable
    assert str(error).startswith("openai/m: ") and "\n" not in str(error)


def test_translate_error_reads_retry_after_and_hides_secrets():
    exc = litellm.RateLimitError(
        "Rate limit for key sk-SECRET-1\nplease wait", "openai", "m", response=_response(429, {"Retry-After": "3"})
    )
    error = translate_error(exc, model="openai/m", secrets=["sk-SECRET-1"])
    assert isinstance(error, RateLimitError) and error.retry_after == 3.0
    assert "sk-SECRET-1" not in str(error) and "\n" not in str(error)
    assert str(error) == "openai/m: rate limited (HTTP 429): Rate limit for key *** please wait"


def test_translate_error_keeps_llm_errors():
    original = ServerError("already typed")
    assert translate_error(original, model="m") is original


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({"Retry-After": formatdate(now + 30, usegmt=True)}, now=now) == pytest.approx(30.0)
    assert parse_retry_after({"Retry-After": formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


def test_the_latency_is_measured(openai_server):
    openai_server.latency = 0.1
    started = time.perf_counter()
    completion = remote_llm(openai_server, retry=NO_RETRY).complete("slowish")
    assert 0.1 <= completion.latency_s <= time.perf_counter() - started
