"""The transformers backend on the real embedded SmolLM2-135M-Instruct (CPU, offline).

The GGUF -> safetensors conversion (~25 s) happens once per test session, in a cache dir under
pytest's session temp folder; every test here reuses that one conversion and one loaded model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from promptlearn.backends import local_model
from promptlearn.backends.local_model import load_local_backend, local_model_path
from promptlearn.backends.transformers_backend import TransformersBackend
from promptlearn.llm import (
    BackendUnavailableError,
    ContextWindowError,
    InvalidRequestError,
    load_llm,
    make_request,
)
from _torch_threads import one_torch_thread  # noqa: F401  (autouse: ~6x faster on a busy CPU)

pytestmark = pytest.mark.slow

PROMPTS = [  # four different prompt lengths, so a batch of them is really padded
    "Hi",
    "What is 2+2?",
    "Name three colours of the rainbow, please.",
    "In one sentence, explain why the sky looks blue during the day but red at sunset.",
]


@pytest.fixture(scope="module")
def backend(model_cache) -> TransformersBackend:
    return load_local_backend(device="cpu", max_batch_size=8)


def complete(backend: TransformersBackend, prompt: str, **params):
    return backend.complete_batch([make_request(prompt, **params)])[0]


# ---- greedy -----------------------------------------------------------------------------------
def test_greedy_batch_is_deterministic_and_matches_one_by_one(backend):
    requests = [make_request(p, max_tokens=16) for p in PROMPTS]
    batched = backend.complete_batch(requests)
    again = backend.complete_batch(requests)
    single = [backend.complete_batch([r])[0] for r in requests]
    assert len({c.prompt_tokens for c in batched}) == len(PROMPTS)
    assert [c.text for c in again] == [c.text for c in batched]
    assert [c.text for c in single] == [c.text for c in batched]
    assert [c.completion_tokens for c in single] == [c.completion_tokens for c in batched]
    assert [c.prompt_tokens for c in single] == [c.prompt_tokens for c in batched]
    assert "4" in batched[1].text
    assert all(c.cost_usd == 0.0 and c.latency_s > 0 and not c.cached for c in batched)


def test_mixed_parameters_come_back_in_request_order(backend):
    requests = [
        make_request(PROMPTS[1], max_tokens=16),
        make_request(PROMPTS[1], max_tokens=2),
        make_request(PROMPTS[1], max_tokens=16, temperature=0.8, seed=1),
        make_request(PROMPTS[0], max_tokens=16),
    ]
    out = backend.complete_batch(requests)
    assert out[0].text == complete(backend, PROMPTS[1], max_tokens=16).text
    assert out[1].finish_reason == "length" and out[1].completion_tokens == 2
    assert out[2].text == complete(backend, PROMPTS[1], max_tokens=16, temperature=0.8, seed=1).text
    assert out[0].text.startswith(out[1].text)


# ---- sampling ---------------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible_and_seeds_differ(backend):
    prompt = "Invent a name for a new fruit and describe its taste."
    a = complete(backend, prompt, temperature=1.0, seed=7, max_tokens=12)
    again = complete(backend, prompt, temperature=1.0, seed=7, max_tokens=12)
    other_seed = complete(backend, prompt, temperature=1.0, seed=8, max_tokens=12)
    second_sample = complete(backend, prompt, temperature=1.0, seed=7, sample_index=1, max_tokens=12)
    assert a.text == again.text
    assert other_seed.text != a.text
    assert second_sample.text != a.text
    assert second_sample.text == other_seed.text  # effective seed 7 + 1 == 8


def test_sampling_leaves_global_rng_state_untouched(backend):
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    complete(backend, "Tell me a short joke.", temperature=0.9, seed=3, max_tokens=4)
    complete(backend, "Tell me a short joke.", temperature=0.9, max_tokens=4)  # unseeded
    assert torch.equal(torch.rand(3), expected)


def test_sampled_answer_does_not_depend_on_its_batch(backend):
    sampled = make_request("Write a word.", temperature=1.0, seed=5, max_tokens=8)
    alone = backend.complete_batch([sampled])[0]
    crowded = backend.complete_batch([make_request(PROMPTS[0], max_tokens=4), sampled])[1]
    assert crowded.text == alone.text


# ---- stop strings, token counts, finish reasons -------------------------------------------------
def test_stop_string_cuts_text_and_counts_tokens(backend):
    prompt = "Count from 1 to 10, one number per line."
    full = complete(backend, prompt, max_tokens=24)
    stopped = complete(backend, prompt, max_tokens=24, stop=["5"])
    assert "5" in full.text and "5" not in stopped.text
    assert full.text.startswith(stopped.text)
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < full.completion_tokens
    # the counted tokens are exactly those up to the one that completed the stop string
    cut = complete(backend, prompt, max_tokens=stopped.completion_tokens)
    assert "5" in cut.text
    shorter = complete(backend, prompt, max_tokens=stopped.completion_tokens - 1)
    assert "5" not in shorter.text


def test_token_counts_and_finish_reasons(backend):
    prompt = "What is 2+2?"
    done = complete(backend, prompt, max_tokens=20)
    assert done.finish_reason == "stop"
    ids = backend.tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    assert done.prompt_tokens == len(ids)
    # the count includes the end-of-sequence token: one token fewer and the answer is cut
    truncated = complete(backend, prompt, max_tokens=done.completion_tokens - 1)
    assert truncated.finish_reason == "length"
    assert truncated.completion_tokens == done.completion_tokens - 1
    assert truncated.text == done.text  # only the eos token was missing
    three = complete(backend, prompt, max_tokens=3)
    assert three.finish_reason == "length" and three.completion_tokens == 3
    assert done.text.startswith(three.text)


def test_prompt_beyond_the_context_window(backend):
    assert backend.context_length == 8192
    with pytest.raises(ContextWindowError, match="context window of 8192"):
        complete(backend, "Hi", max_tokens=8190)


# ---- the embedded model and its one-time conversion ---------------------------------------------
def test_conversion_is_reused(use_model_cache, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted the GGUF again")

    monkeypatch.setattr(local_model, "_convert", no_conversion)
    started = time.perf_counter()
    path = local_model_path()
    again = load_local_backend(device="cpu")
    elapsed = time.perf_counter() - started
    print(f"\ncached load of the embedded model: {elapsed:.2f} s")
    assert path.parent == use_model_cache / "models"
    assert elapsed < 15  # ~1 s on an idle laptop; the GGUF path takes ~25 s
    assert again.identity() == {
        "backend": "transformers",
        "model": path.name,
        "dtype": "float32",
    }
    assert path.name.startswith("smollm2-135m-instruct-")
    info = json.loads((path / local_model.MARKER).read_text())
    assert info["gguf_sha256"].startswith(path.name.rsplit("-", 1)[1])
    assert (path / "model.safetensors").is_file()


def test_converted_tokenizer_keeps_chat_template_and_pad_token(backend):
    assert "<|im_start|>" in backend.tokenizer.chat_template
    assert backend.tokenizer.pad_token_id is not None
    assert backend.tokenizer.padding_side == "left"


# ---- end to end through the client ------------------------------------------------------------------
def test_load_llm_local_end_to_end(use_model_cache, tmp_path):
    llm = load_llm("local", cache_dir=tmp_path / "llm-cache", max_batch_size=4)
    try:
        requests = [make_request(p, max_tokens=8) for p in PROMPTS[:3]]
        first = llm.complete_many(requests)
        second = llm.complete_many(requests)
    finally:
        llm.close()
    assert [c.text for c in first] == [c.text for c in second]
    assert all(not c.cached for c in first) and all(c.cached for c in second)
    assert all(c.text and c.finish_reason in ("stop", "length") for c in first)
    assert llm.spec == "local"


def test_transformers_spec_on_a_local_folder(backend, use_model_cache):
    """``transformers/<folder>``: the same weights as ``local``, so the same greedy answers; the
    identity names the folder and fingerprints its files instead of the GGUF hash."""
    folder = local_model_path()
    request = make_request(PROMPTS[1], max_tokens=12)
    llm = load_llm(f"transformers/{folder}", cache=False, device="cpu")
    try:
        answer = llm.complete_many([request])[0]
    finally:
        llm.close()
    assert llm.spec == f"transformers/{folder}"
    assert llm.backend.identity()["model"] == str(folder)
    assert len(llm.backend.identity()["fingerprint"]) == 16
    assert answer.text == backend.complete_batch([request])[0].text


# ---- load errors (no model needed) ----------------------------------------------------------------
def test_missing_path_is_one_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendUnavailableError, match=f"model folder not found: {missing}$"):
        load_llm(f"transformers/{missing}", cache=False)


def test_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidRequestError, match="no config.json"):
        TransformersBackend(str(tmp_path))


def test_non_causal_model_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))  # a seq2seq model
    with pytest.raises(InvalidRequestError, match="not a causal language model"):
        TransformersBackend(str(tmp_path))


def test_a_file_is_not_a_model_folder(tmp_path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF")
    with pytest.raises(InvalidRequestError, match="is a file"):
        TransformersBackend(str(weights))


def test_hub_id_offline_says_so(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BackendUnavailableError, match="could not be fetched from the Hugging Face hub"):
        TransformersBackend("promptlearn-tests/no-such-model")


def test_bad_settings_are_refused_before_loading(tmp_path):
    with pytest.raises(InvalidRequestError, match="dtype must be one of"):
        TransformersBackend(str(tmp_path), dtype="float8", device="cpu")
    with pytest.raises(InvalidRequestError, match="max_batch_size"):
        TransformersBackend(str(tmp_path), max_batch_size=0)
    with pytest.raises(InvalidRequestError, match="engine must be one of rows, hf"):
        TransformersBackend(str(tmp_path), engine="onnx")


# ---- the rows engine (default) against transformers' generate() ---------------------------------
def test_rows_engine_gives_the_answers_of_generate(backend):
    """Greedy and sampled requests, shared prompts (the k proposals of a step), stop strings,
    rows that finish early: one call of the rows engine answers as generate() does."""
    requests = [make_request(p, max_tokens=16) for p in PROMPTS]
    requests += [make_request(PROMPTS[2], max_tokens=12, temperature=0.7, seed=0, sample_index=i) for i in range(3)]
    requests += [make_request("Count from 1 to 10, one number per line.", max_tokens=24, stop=["5"])]
    requests += [make_request(PROMPTS[1], max_tokens=3), make_request(PROMPTS[1], max_tokens=12, temperature=0.9, top_p=0.8, seed=4)]
    assert backend.engine == "rows"
    rows = backend.complete_batch(requests)
    backend.engine = "hf"
    try:
        generate = backend.complete_batch(requests)
    finally:
        backend.engine = "rows"
    assert [c.text for c in rows] == [c.text for c in generate]
    assert [(c.finish_reason, c.completion_tokens, c.prompt_tokens) for c in rows] == [
        (c.finish_reason, c.completion_tokens, c.prompt_tokens) for c in generate
    ]
    assert len({c.text for c in rows[4:7]}) == 3  # the k samples of one prompt differ
