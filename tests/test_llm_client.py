"""The LLM client (cache, retries, concurrency, order, accounting, input checks) on an
in-memory chat backend; no litellm, no network."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import Callable

import pytest

from promptlearn.errors import InputError
from promptlearn.llm import (
    LLM,
    AuthenticationError,
    BackendUnavailableError,
    Completion,
    CompletionCache,
    InvalidRequestError,
    LLMError,
    RateLimitError,
    Request,
    RetryPolicy,
    ServerError,
    UnknownModelSpecError,
    make_request,
    parse_spec,
)
from promptlearn.llm.spec import VALID_FORMS, load_llm


class FakeChatBackend:
    """A ChatBackend answering ``<model>|<last message>|t=<temperature>|seed=<seed>``.

    ``fail(request)`` may return an error to raise; ``errors`` are raised first, one per call;
    ``latency(request)`` seconds are slept per call. Records calls and peak concurrency."""

    name = "fake"

    def __init__(
        self,
        model: str = "m1",
        *,
        cost: float | None = 0.001,
        errors: list[LLMError] | None = None,
        fail: Callable[[Request], LLMError | None] | None = None,
        latency: Callable[[Request], float] | None = None,
    ):
        self.model = model
        self.cost = cost
        self.errors = deque(errors or [])
        self.fail = fail
        self.latency = latency
        self.calls: list[Request] = []
        self.cancelled = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def identity(self) -> dict:
        return {"backend": self.name, "model": self.model, "api_base": None}

    async def acomplete(self, request: Request) -> Completion:
        self.calls.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency is not None:
                await asyncio.sleep(self.latency(request))
            if self.errors:
                raise self.errors.popleft()
            error = self.fail(request) if self.fail is not None else None
            if error is not None:
                raise error
            params = request.params
            text = f"{self.model}|{request.messages[-1].content}|t={params.temperature}|seed={params.effective_seed}"
            return Completion(text, "stop", 3, 2, self.cost, 0.01)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


def make_llm(backend=None, *, cache: CompletionCache | None = None, concurrency: int = 8, retry=None) -> LLM:
    backend = backend if backend is not None else FakeChatBackend()
    return LLM(backend, cache=cache, concurrency=concurrency, retry=retry or RetryPolicy(base_delay=0.001))


# ---- cache keys -------------------------------------------------------------------------------
def test_identical_request_is_a_hit_with_zero_cost(tmp_path):
    backend = FakeChatBackend()
    llm = make_llm(backend, cache=CompletionCache(tmp_path))
    first = llm.complete("hello", temperature=0.5, seed=3)
    second = llm.complete("hello", temperature=0.5, seed=3)
    assert len(backend.calls) == 1
    assert first.cached is False and first.cost_usd == pytest.approx(0.001)
    assert second.cached is True and second.cost_usd == 0.0 and second.latency_s == 0.0
    assert second.text == first.text
    assert (llm.usage.calls, llm.usage.cache_hits, llm.usage.cost_usd) == (2, 1, pytest.approx(0.001))


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.7},
        {"seed": 1},
        {"seed": 0},  # 0 is a seed, not "no seed"
        {"sample_index": 1},
        {"max_tokens": 7},
        {"stop": ["\n"]},
        {"top_p": 0.5},
    ],
    ids=lambda c: next(iter(c)) + "=" + repr(next(iter(c.values()))),
)
def test_every_sampling_parameter_is_in_the_key(tmp_path, change):
    backend = FakeChatBackend()
    llm = make_llm(backend, cache=CompletionCache(tmp_path))
    llm.complete("hello")
    changed = llm.complete("hello", **change)
    assert changed.cached is False
    assert len(backend.calls) == 2
    assert llm.complete("hello", **change).cached is True


def test_messages_and_model_are_in_the_key(tmp_path):
    cache = CompletionCache(tmp_path)
    m1 = FakeChatBackend("m1")
    llm1 = make_llm(m1, cache=cache)
    llm1.complete([{"role": "user", "content": "hello"}])
    assert llm1.complete([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]).cached is False
    assert llm1.complete("hello ").cached is False
    m2 = FakeChatBackend("m2")
    assert make_llm(m2, cache=cache).complete("hello").text.startswith("m2|")
    assert len(m1.calls) == 3 and len(m2.calls) == 1


def test_cache_survives_a_new_client(tmp_path):
    make_llm(cache=CompletionCache(tmp_path)).complete("persist me")
    backend = FakeChatBackend()
    again = make_llm(backend, cache=CompletionCache(tmp_path)).complete("persist me")
    assert again.cached is True and backend.calls == []


def test_sample_index_changes_the_seed_sent():
    backend = FakeChatBackend()
    texts = make_llm(backend).complete_many(["x", "x", "x"], params={"seed": 10, "temperature": 1.0})
    assert len(backend.calls) == 1  # identical requests in one batch are sent once
    samples = [make_request("x", seed=10, temperature=1.0, sample_index=i) for i in range(3)]
    outs = make_llm(backend).complete_many(samples)
    assert [o.text.rsplit("=", 1)[1] for o in outs] == ["10", "11", "12"]
    assert texts[0] == texts[2]


# ---- retries ----------------------------------------------------------------------------------
def _run_policy(policy: RetryPolicy, errors: list[BaseException]):
    """Run ``policy`` on a call that raises ``errors`` in turn, then returns "ok"."""
    queue, calls, sleeps = deque(errors), [], []

    async def call():
        calls.append(1)
        if queue:
            raise queue.popleft()
        return "ok"

    async def sleep(seconds):
        sleeps.append(seconds)

    try:
        result = asyncio.run(policy.run(call, sleep=sleep))
    except BaseException as exc:  # noqa: BLE001 - returned for the assertions
        result = exc
    return result, len(calls), sleeps


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(base_delay=0.01, max_delay=5.0, rng=random.Random(1))
    result, calls, sleeps = _run_policy(policy, [RateLimitError("429", retry_after=1.5), ServerError("500", retry_after=60)])
    assert result == "ok" and calls == 3
    assert sleeps[0] == pytest.approx(1.5)  # longer than any jitter: the server's wish
    assert sleeps[1] == pytest.approx(5.0)  # capped at max_delay


def test_backoff_jitter_stays_within_bounds():
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5, rng=random.Random(7))
    error = ServerError("500")
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        delays = [policy.delay(attempt, error) for _ in range(300)]
        assert 0.0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # full jitter, not a constant


def test_jitter_uses_its_own_random_state():
    state = random.getstate()
    a = [RetryPolicy(rng=random.Random(3)).delay(2, ServerError("x")) for _ in range(3)]
    b = [RetryPolicy(rng=random.Random(3)).delay(2, ServerError("x")) for _ in range(3)]
    assert a == b
    assert random.getstate() == state


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("401"), InvalidRequestError("bad"), BackendUnavailableError("not installed")],
    ids=lambda e: type(e).__name__,
)
def test_non_retryable_errors_are_raised_at_once(error):
    result, calls, sleeps = _run_policy(RetryPolicy(base_delay=0.01), [error])
    assert result is error and calls == 1 and sleeps == []


def test_retries_stop_after_max_attempts():
    errors = [ServerError(f"500 #{i}") for i in range(10)]
    result, calls, sleeps = _run_policy(RetryPolicy(max_attempts=3, base_delay=0.01), errors)
    assert isinstance(result, ServerError) and str(result) == "500 #2 (after 3 attempts)" and result.attempts == 3
    assert calls == 3 and len(sleeps) == 2


def test_programming_errors_are_not_retried():
    result, calls, _ = _run_policy(RetryPolicy(base_delay=0.01), [KeyError("bug")])
    assert isinstance(result, KeyError) and calls == 1


def test_client_waits_retry_after_then_succeeds():
    backend = FakeChatBackend(errors=[RateLimitError("slow down", retry_after=0.2)])
    llm = make_llm(backend)
    started = time.perf_counter()
    completion = llm.complete("hi")
    assert time.perf_counter() - started >= 0.2
    assert completion.text.startswith("m1|hi") and len(backend.calls) == 2
    assert llm.usage.errors == 0


# ---- concurrency and order -------------------------------------------------------------------
def test_order_is_kept_under_concurrency():
    rng = random.Random(0)
    delays = {f"q{i}": rng.uniform(0.0, 0.03) for i in range(40)}
    backend = FakeChatBackend(latency=lambda r: delays[r.messages[-1].content])
    prompts = list(delays)
    out = make_llm(backend).complete_many(prompts, concurrency=8)
    assert [c.text.split("|")[1] for c in out] == prompts
    assert backend.max_in_flight == 8
    finish_order = [r.messages[-1].content for r in backend.calls]
    assert sorted(finish_order) == sorted(prompts)


def test_concurrency_one_is_sequential():
    backend = FakeChatBackend(latency=lambda r: 0.001)
    make_llm(backend, concurrency=1).complete_many([f"q{i}" for i in range(6)])
    assert backend.max_in_flight == 1


def test_concurrency_must_be_positive():
    with pytest.raises(InvalidRequestError, match="concurrency"):
        LLM(FakeChatBackend(), concurrency=0)


def test_return_exceptions_keeps_failures_in_their_slots():
    backend = FakeChatBackend(fail=lambda r: AuthenticationError("nope") if "bad" in r.messages[-1].content else None)
    llm = make_llm(backend)
    out = llm.complete_many(["a", "bad", "c"], return_exceptions=True)
    assert isinstance(out[0], Completion) and isinstance(out[2], Completion)
    assert isinstance(out[1], AuthenticationError)
    assert (llm.usage.calls, llm.usage.errors) == (2, 1)


def test_first_error_is_raised_and_the_rest_cancelled():
    def latency(request: Request) -> float:
        return 0.0 if request.messages[-1].content == "bad" else 5.0

    backend = FakeChatBackend(latency=latency, fail=lambda r: AuthenticationError("nope") if r.messages[-1].content == "bad" else None)
    started = time.perf_counter()
    with pytest.raises(AuthenticationError):
        make_llm(backend).complete_many(["slow1", "bad", "slow2"])
    assert time.perf_counter() - started < 2.0
    assert backend.cancelled == 2


def test_complete_many_inside_a_running_event_loop():
    backend = FakeChatBackend()
    llm = make_llm(backend)

    async def notebook_cell():
        sync = llm.complete_many(["a", "b"])  # the sync API while a loop is running here
        native = await llm.acomplete_many(["c"])
        single = await llm.acomplete("d", temperature=0.3)
        return sync + native + [single]

    out = asyncio.run(notebook_cell())
    assert [c.text.split("|")[1] for c in out] == ["a", "b", "c", "d"]
    assert out[-1].text.endswith("t=0.3|seed=None")


# ---- accounting -------------------------------------------------------------------------------
def test_unknown_cost_is_reported_as_unknown(tmp_path):
    llm = make_llm(FakeChatBackend(cost=None), cache=CompletionCache(tmp_path))
    llm.complete_many(["a", "b"])
    llm.complete("a")  # a hit: free, and it does not make the price known
    usage = llm.usage
    assert (usage.calls, usage.cache_hits, usage.unpriced_calls) == (3, 1, 2)
    assert usage.cost_known is False and usage.cost_text() == "unknown"
    assert usage.to_json()["cost_usd"] is None
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 4)


def test_mixed_known_and_unknown_costs():
    priced = make_llm(FakeChatBackend(cost=0.25))
    priced.complete("a")
    unpriced = LLM(FakeChatBackend("m2", cost=None), usage=priced.usage)
    unpriced.complete("b")
    assert priced.usage.cost_usd == pytest.approx(0.25)
    assert priced.usage.cost_text() == "$0.2500 + 1 unpriced call(s)"


def test_duplicates_in_a_batch_are_paid_once():
    backend = FakeChatBackend(cost=0.5)
    llm = make_llm(backend)
    out = llm.complete_many(["a", "b", "a"])
    assert len(backend.calls) == 2 and out[0] == out[2]
    assert llm.usage.cost_usd == pytest.approx(1.0)
    assert (llm.usage.calls, llm.usage.cache_hits, llm.usage.prompt_tokens) == (3, 1, 6)


def test_calls_paid_before_a_failure_are_counted():
    def latency(request: Request) -> float:
        return 0.2 if request.messages[-1].content == "bad" else 0.0

    backend = FakeChatBackend(cost=0.5, latency=latency, fail=lambda r: AuthenticationError("no") if r.messages[-1].content == "bad" else None)
    llm = make_llm(backend)
    with pytest.raises(AuthenticationError):
        llm.complete_many(["a", "b", "bad"])
    assert llm.usage.cost_usd == pytest.approx(1.0) and llm.usage.errors == 1


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "messages, fragment",
    [
        ([], "messages is empty"),
        ([{"role": "user"}], "message 0: content"),
        ([{"role": "robot", "content": "x"}], "message 0: role"),
        ([{"role": "user", "content": "x", "name": "bob"}], "message 0: name"),
        (["hi"], "message 0 must be a dict"),
        ({"role": "user", "content": "x"}, "must be a list"),
        (42, "must be a list"),
        (b"bytes", "must be a list"),
    ],
)
def test_bad_messages_are_one_line_input_errors(messages, fragment):
    backend = FakeChatBackend()
    with pytest.raises(InvalidRequestError) as info:
        make_llm(backend).complete(messages)
    assert fragment in str(info.value)
    assert isinstance(info.value, InputError) and "\n" not in str(info.value)
    assert backend.calls == []


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"temperature": 3}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_p": 0}, "top_p"),
        ({"sample_index": -1}, "sample_index"),
        ({"seed": "abc"}, "seed"),
        ({"temprature": 0.2}, "temprature"),
    ],
)
def test_bad_sampling_params_are_one_line_input_errors(params, fragment):
    backend = FakeChatBackend()
    with pytest.raises(InvalidRequestError) as info:
        make_llm(backend).complete("hi", **params)
    assert f"sampling parameter {fragment}" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InvalidRequestError):
        make_llm(backend).complete_many(["hi"], params=params)
    assert backend.calls == []


@pytest.mark.parametrize("spec", ["", "  ", "nonsense", "transformers/", "vllm/ ", "/model"])
def test_unknown_spec_lists_the_valid_forms(spec):
    with pytest.raises(UnknownModelSpecError) as info:
        parse_spec(spec)
    assert VALID_FORMS.format(api_base="api_base") in str(info.value) and isinstance(info.value, InputError)


def test_spec_kinds():
    assert parse_spec("local").kind == "local"
    assert (parse_spec("transformers/some/path").kind, parse_spec("transformers/some/path").target) == ("transformers", "some/path")
    assert parse_spec("vllm/org/model").kind == "vllm"
    assert (parse_spec("openai/gpt-4o-mini").kind, str(parse_spec("openai/gpt-4o-mini"))) == ("litellm", "openai/gpt-4o-mini")


@pytest.mark.parametrize("make_bad", [
    lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file",            # folder is a file
    lambda tmp: (tmp / "a-file").write_text("x") and tmp / "a-file" / "sub",    # parent is a file
    lambda tmp: (tmp / "llm-cache.sqlite").write_text("garbage") and tmp,       # not a database
])
def test_unusable_cache_folder_is_one_input_error(tmp_path, make_bad):
    with pytest.raises(InputError, match="LLM cache") as info:
        CompletionCache(make_bad(tmp_path))
    assert "\n" not in str(info.value)


def test_load_llm_checks_the_cache_before_loading_a_model(tmp_path, monkeypatch):
    (tmp_path / "llm-cache.sqlite").write_text("garbage")
    with pytest.raises(InputError, match="cannot open the LLM cache"):
        load_llm("transformers/no/such/model", cache_dir=tmp_path)  # no model load to get this far


def test_load_llm_checks_the_key_before_creating_the_cache(tmp_path, monkeypatch):
    from promptlearn.llm import AuthenticationError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="missing API key"):
        load_llm("openai/gpt-4o-mini", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # a failed check leaves nothing behind


@pytest.mark.parametrize("spec", ["local", "transformers/some/model", "vllm/some-model"])
def test_api_base_with_an_in_process_model_is_refused(spec):
    with pytest.raises(InputError, match="api_base goes with a remote model"):
        load_llm(spec, api_base="http://127.0.0.1:8000/v1", cache=False)


def test_a_cache_that_fails_mid_run_is_one_typed_error(tmp_path):
    from promptlearn.errors import PromptlearnError
    from promptlearn.llm.cache import CacheError

    cache = CompletionCache(tmp_path)
    cache.close()  # stands in for a database gone bad under a running fit
    with pytest.raises(CacheError, match=r"llm-cache.sqlite failed: .*cache=False"):
        cache.get("k")
    with pytest.raises(PromptlearnError, match="failed"):
        cache.put("k", Completion(text="x", finish_reason="stop", prompt_tokens=1, completion_tokens=1, cost_usd=None, latency_s=0.0))
