"""Shared test set-up: no network, no API key, no user cache.

Fixtures here are for every test module; keep each one small and general.
"""

from __future__ import annotations

import os
import random
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
