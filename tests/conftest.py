"""Shared test set-up: no network, no API key, no user cache.

Fixtures here are for every test module; keep each one small and general.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from promptlearn.llm.retry import RetryPolicy
    from promptlearn.testing.openai_server import OpenAIServer

# litellm must read its price map from the package, never fetch it (set before any import of it).
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own LLM cache folder and XDG cache home (never ``~/.cache``), and no
    provider API key from the developer's shell, so no test can reach a paid API by accident."""
    cache_home = tmp_path_factory.mktemp("cache-home")
    monkeypatch.setenv("PROMPTLEARN_CACHE_DIR", str(cache_home / "promptlearn"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    for name in list(os.environ):
        if name.endswith("_API_KEY"):
            monkeypatch.delenv(name)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running OpenAI-compatible test server (no latency, echo replies, no faults).
    Set ``.latency`` / ``.reply`` or call ``.inject(...)`` in the test; ``.url`` is the api_base."""
    from promptlearn.testing.openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """A retry policy with tiny, seeded back-off delays (Retry-After is still honoured)."""
    from promptlearn.llm.retry import RetryPolicy

    return RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=2.0, rng=random.Random(0))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Iterator[Path]:
    """A PROMPTLEARN_CACHE_DIR holding the embedded SmolLM2 converted once for the whole session
    (the GGUF -> safetensors conversion takes 20-60 s; every test's own empty cache dir would
    convert it again). Skips where the embedded model is not installed."""
    from promptlearn.backends.local_model import local_model_path
    from promptlearn.llm import BackendUnavailableError

    folder = tmp_path_factory.getbasetemp() / "promptlearn-model-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMPTLEARN_CACHE_DIR", str(folder))
        started = time.perf_counter()
        try:
            local_model_path()
        except BackendUnavailableError as exc:
            pytest.skip(f"the embedded model is not available: {exc}")
        print(f"\nembedded model ready in {time.perf_counter() - started:.1f} s (conversion on first use)")
    yield folder


@pytest.fixture
def use_model_cache(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point this test at the session's converted embedded model (see ``model_cache``); its LLM
    completion cache stays wherever the test puts it."""
    monkeypatch.setenv("PROMPTLEARN_CACHE_DIR", str(model_cache))
    return model_cache
