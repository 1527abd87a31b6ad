"""A scripted LLM for the optimizer tests: fixed replies per prompt (promptlearn.testing.toy)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from promptlearn.llm import LLM, CompletionCache
from promptlearn.testing.toy import ScriptedBackend, ToyReply


@contextmanager
def toy_llm(reply: Callable[..., str] | None = None, *, cache_dir=None, latency_s: float = 0.0, cost_per_call: float | None = None) -> Iterator[tuple[LLM, list]]:
    """An LLM answering with ``reply`` and the log of the messages of every request it served."""
    backend = ScriptedBackend(reply or ToyReply(), latency_s=latency_s, cost_per_call=cost_per_call)
    llm = LLM(backend, cache=CompletionCache(cache_dir) if cache_dir is not None else None)
    try:
        yield llm, backend.log
    finally:
        llm.close()
