"""The LLM factory: which backend serves ``local``, ``transformers/...``, ``vllm/...`` or a
litellm model string, and how to build a ready :class:`LLM` from one.

This is the one module above the backends (it imports them, lazily); the spec forms they
quote live below both, in :mod:`promptlearn.llm.forms`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from .cache import CompletionCache
from .client import DEFAULT_CONCURRENCY, LLM
from .forms import VALID_FORMS, BackendKind, ModelSpec, parse_spec

__all__ = ["VALID_FORMS", "BackendKind", "ModelSpec", "check_spec", "load_llm", "parse_spec"]
from .retry import RetryPolicy

def check_spec(
    spec: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    build: bool = True,
) -> ModelSpec:
    """Every check of a spec that loads no model and creates no cache: its form, an API base
    only with a remote model, and (``build``) for a remote model the provider, its key and
    the URL (building a litellm backend sends nothing)."""
    parsed = parse_spec(spec)
    if parsed.kind != "litellm" and (api_base or api_key):
        what = "{api_base}" if api_base else "an API key"
        raise InputError(
            f"{what} goes with a remote model; {str(parsed)!r} runs in this process "
            "(for your own OpenAI-compatible server use {spec}=openai/<served name> or hosted_vllm/<served name>)",
            arguments=("api_base", "spec"),
        )
    if build and parsed.kind == "litellm":
        from ..backends.litellm_backend import LiteLLMBackend

        LiteLLMBackend(parsed.target, api_base=api_base, api_key=api_key, timeout=timeout)
    return parsed


def load_llm(
    spec: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = 60.0,
    max_retries: int = 5,
    device: str | None = None,
    max_batch_size: int = 8,
    ray_data: Mapping[str, Any] | None = None,
) -> LLM:
    """Build an :class:`LLM` from a spec string.

    ``api_key`` overrides the provider's environment variable (OPENAI_API_KEY, ...); it is
    used for requests only and never stored, logged or cached. ``max_batch_size`` applies to
    local engines, ``concurrency`` to remote APIs. With ``ray_data`` (the keyword arguments of
    :class:`~promptlearn.backends.ray_data_vllm.RayDataVLLMBackend`: ``engines``,
    ``gpus_per_engine``, ``address``) a ``vllm/...`` spec runs on Ray Data's vLLM processor
    (``ray.data.llm``) instead of an engine in this process, with ``max_batch_size`` rows per
    engine batch.
    """
    parsed = check_spec(spec, api_base=api_base, api_key=api_key, timeout=timeout, build=False)
    # the cheap checks first: provider, key and API base of a remote model before the cache is
    # created (a failed check leaves no empty cache); a bad cache folder before a model load
    backend = None
    if parsed.kind == "litellm":
        from ..backends.litellm_backend import LiteLLMBackend

        backend = LiteLLMBackend(parsed.target, api_base=api_base, api_key=api_key, timeout=timeout)
    completion_cache = CompletionCache(Path(cache_dir) if cache_dir else None) if cache else None
    if parsed.kind == "transformers":
        from ..backends.transformers_backend import TransformersBackend

        backend = TransformersBackend(parsed.target, device=device, max_batch_size=max_batch_size)
    elif parsed.kind == "vllm" and ray_data is not None:
        from ..backends.ray_data_vllm import RayDataVLLMBackend

        backend = RayDataVLLMBackend(parsed.target, batch_size=max_batch_size, **dict(ray_data))
    elif parsed.kind == "vllm":
        from ..backends.vllm_backend import VLLMBackend

        backend = VLLMBackend(parsed.target, max_batch_size=max_batch_size)
    elif parsed.kind == "local":
        from ..backends.local_model import load_local_backend

        backend = load_local_backend(device=device, max_batch_size=max_batch_size)
    return LLM(
        backend,
        cache=completion_cache,
        retry=RetryPolicy(max_attempts=max(1, max_retries + 1)),
        concurrency=concurrency,
        spec=str(parsed),
    )
