"""Model spec strings: which backend serves ``local``, ``transformers/...``, ``vllm/...`` or a
litellm model string, and how to build a ready :class:`LLM` from one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import InputError
from .cache import CompletionCache
from .client import DEFAULT_CONCURRENCY, LLM
from .errors import UnknownModelSpecError
from .retry import RetryPolicy

BackendKind = Literal["local", "transformers", "vllm", "litellm"]

VALID_FORMS = (
    "'local' (the embedded SmolLM2-135M-Instruct), 'transformers/<local path or hub id>', "
    "'vllm/<local path or hub id>', or a litellm model such as 'openai/gpt-4o-mini' "
    "('hosted_vllm/<model>' or 'openai/<name>' with --api-base for your own server)"
)


@dataclass(frozen=True)
class ModelSpec:
    kind: BackendKind
    target: str  # model path, hub id or litellm model string; "" for local

    def __str__(self) -> str:
        return self.kind if self.kind == "local" else f"{self.kind}/{self.target}" if self.kind != "litellm" else self.target


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec into backend kind and target, or raise :class:`UnknownModelSpecError`."""
    text = (spec or "").strip()
    if text == "local":
        return ModelSpec("local", "")
    prefix, sep, rest = text.partition("/")
    if not sep or not prefix or not rest.strip():
        raise UnknownModelSpecError(f"unknown model spec {spec!r}; valid forms: {VALID_FORMS}")
    if prefix in ("transformers", "vllm"):
        return ModelSpec(prefix, rest)  # type: ignore[arg-type]
    return ModelSpec("litellm", text)


def check_spec(
    spec: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    build: bool = True,
) -> ModelSpec:
    """Every check of a spec that loads no model and creates no cache: its form, --api-base
    only with a remote model, and (``build``) for a remote model the provider, its key and
    the URL (building a litellm backend sends nothing)."""
    parsed = parse_spec(spec)
    if parsed.kind != "litellm" and (api_base or api_key):
        what = "--api-base" if api_base else "an API key"
        raise InputError(
            f"{what} goes with a remote model; {str(parsed)!r} runs in this process "
            "(for your own OpenAI-compatible server use --llm openai/<served name> or hosted_vllm/<served name>)"
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
) -> LLM:
    """Build an :class:`LLM` from a spec string.

    ``api_key`` overrides the provider's environment variable (OPENAI_API_KEY, ...); it is
    used for requests only and never stored, logged or cached. ``max_batch_size`` applies to
    local engines, ``concurrency`` to remote APIs.
    """
    parsed = check_spec(spec, api_base=api_base, api_key=api_key, timeout=timeout, build=False)
    # the cheap checks first: provider, key and --api-base of a remote model before the cache
    # is created (a failed check leaves no empty cache); a bad cache folder before a model load
    backend = None
    if parsed.kind == "litellm":
        from ..backends.litellm_backend import LiteLLMBackend

        backend = LiteLLMBackend(parsed.target, api_base=api_base, api_key=api_key, timeout=timeout)
    completion_cache = CompletionCache(Path(cache_dir) if cache_dir else None) if cache else None
    if parsed.kind == "transformers":
        from ..backends.transformers_backend import TransformersBackend

        backend = TransformersBackend(parsed.target, device=device, max_batch_size=max_batch_size)
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
