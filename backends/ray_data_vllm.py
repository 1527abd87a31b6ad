"""vLLM through Ray Data (``ray.data.llm``) as a :class:`~promptlearn.llm.backend.BatchBackend`:
offline batched generation on a Ray cluster's GPUs, for ``rewrite --input --executor ray`` with
a ``vllm/<model>`` spec when vLLM is importable.

Each :meth:`complete_batch` call turns its requests into a Ray Dataset of rows (``messages`` in
OpenAI form, ``sampling_params`` as :func:`~promptlearn.backends.vllm_backend.sampling_kwargs`
gives them to the in-process vLLM backend) and runs it through the processor that
``ray.data.llm.build_processor`` makes from a ``vLLMEngineProcessorConfig`` (``concurrency``
engines, each on ``tensor_parallel_size`` GPUs, ``batch_size`` rows per engine batch). The rest is
promptlearn's client as on every backend: its cache, its retries, the Rewriter's parser and
verification, and ``rewrite``'s resumable partial file, all in the driver.

**Untested against a real vLLM**: this project's machines have no GPU and no vLLM. The config and
the row/answer translation are tested with a fake ``ray.data.llm`` module
(tests/test_ray_data_vllm.py); when pyarrow is importable, the config is also built with Ray's
own ``vLLMEngineProcessorConfig`` class (its field names and validation).
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError, one_line
from ..llm.control_tokens import neutralise_messages
from ..llm.errors import BackendUnavailableError, BadResponseError
from ..llm.types import Completion, Request
from .model_files import resolve_model_source, weights_fingerprint
from .vllm_backend import conversation, engine_identity, sampling_kwargs, translate_error

ROWS_PER_ENGINE_BATCH = 64
"""Rows in one batch of one engine (``vLLMEngineProcessorConfig.batch_size``), by default."""

BATCHES_PER_CALL = 4
"""A :meth:`complete_batch` call hands each engine this many batches (the client's batch size)."""

INSTALL_HINT = "pip install 'ray[data,llm]' (it installs vLLM) on the GPU nodes and the driver"


def vllm_importable() -> bool:
    """Whether vLLM can be imported here (the condition for the ``ray.data.llm`` path)."""
    return importlib.util.find_spec("vllm") is not None


def import_ray_data_llm() -> Any:
    """``ray.data.llm``, or one line saying what to install."""
    try:
        from ray.data import llm
    except ImportError as exc:
        raise BackendUnavailableError(f"ray.data.llm is not importable ({one_line(exc)}): {INSTALL_HINT}", backend="vllm") from None
    return llm


def processor_config(
    model: str,
    *,
    engines: int = 1,
    gpus_per_engine: float = 1.0,
    batch_size: int = ROWS_PER_ENGINE_BATCH,
    engine_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``ray.data.llm.vLLMEngineProcessorConfig``: ``engines`` vLLM
    engines (Ray Data's ``concurrency``: ``--workers``), each on ``gpus_per_engine`` whole GPUs
    (vLLM's ``tensor_parallel_size``: ``--gpus-per-worker``; 0 means 1, vLLM needs a GPU)."""
    if engines < 1:
        raise InputError(f"{{workers}} must be >= 1 for the vLLM engines, got {engines}", arguments="workers")
    gpus = 1.0 if not gpus_per_engine else float(gpus_per_engine)
    if gpus < 1 or gpus != int(gpus):
        raise InputError(f"vLLM on ray.data.llm runs each engine on whole GPUs: {{gpus_per_worker}} 1, 2, ... (got {gpus_per_engine:g})",
                         arguments="gpus_per_worker")
    if batch_size < 1:
        raise InputError(f"{{llm_batch_size}} must be >= 1, got {batch_size}", arguments="llm_batch_size")
    engine = {"tensor_parallel_size": int(gpus), **dict(engine_kwargs or {})}
    return {"model_source": model, "engine_kwargs": engine, "concurrency": int(engines), "batch_size": int(batch_size)}


def request_row(index: int, request: Request, control_tokens: Sequence[str] = ()) -> dict[str, Any]:
    """One request as a Ray Data row for the vLLM processor (its chat-template stage reads
    ``messages``, its engine stage ``sampling_params``); ``index`` keeps the order."""
    params = {key: value for key, value in sampling_kwargs(request.params).items() if value is not None}
    return {"index": index, "messages": neutralise_messages(conversation(request), control_tokens), "sampling_params": params}


def answer_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The processor's postprocess: the columns promptlearn reads (``row`` holds every column)."""
    return {"index": row["index"], "generated_text": row.get("generated_text", ""),
            "num_input_tokens": row.get("num_input_tokens", 0), "num_generated_tokens": row.get("num_generated_tokens", 0),
            "max_tokens": (row.get("sampling_params") or {}).get("max_tokens")}


def completion_of(row: Mapping[str, Any], latency_s: float) -> Completion:
    """An answer row as a :class:`Completion`; Ray's output has no finish reason, so a completion
    that used all of ``max_tokens`` is ``length``, else ``stop``."""
    generated = int(row.get("num_generated_tokens") or 0)
    limit = row.get("max_tokens")
    return Completion(text=str(row.get("generated_text") or ""), finish_reason="length" if limit and generated >= int(limit) else "stop",
                      prompt_tokens=int(row.get("num_input_tokens") or 0), completion_tokens=generated, cost_usd=0.0, latency_s=latency_s)


class RayDataVLLMBackend:
    """Batched generation on ``engines`` vLLM engines through ``ray.data.llm``.

    ``model`` is a model folder (the same path on every node) or a hub id. ``address`` joins a
    running Ray cluster (else Ray Data starts or joins the local one). ``llm_module`` and
    ``from_items`` stand in for ``ray.data.llm`` and ``ray.data.from_items`` in tests."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        engines: int = 1,
        gpus_per_engine: float = 1.0,
        batch_size: int = ROWS_PER_ENGINE_BATCH,
        address: str | None = None,
        engine_kwargs: Mapping[str, Any] | None = None,
        llm_module: Any = None,
        from_items: Callable[[list[dict[str, Any]]], Any] | None = None,
    ):
        source = resolve_model_source(model, backend=self.name)
        self.config_kwargs = processor_config(source.location, engines=engines, gpus_per_engine=gpus_per_engine,
                                              batch_size=batch_size, engine_kwargs=engine_kwargs)
        self.max_batch_size = int(batch_size) * int(engines) * BATCHES_PER_CALL
        llm = llm_module if llm_module is not None else import_ray_data_llm()
        self._from_items = from_items if from_items is not None else ray_from_items(address)
        self.config = llm.vLLMEngineProcessorConfig(**self.config_kwargs)
        self._processor = llm.build_processor(self.config, postprocess=answer_of)
        self._control_tokens = _control_tokens(source.location)
        self._identity: dict[str, Any] = {"backend": self.name, "model": source.location}
        if source.is_folder:
            self._identity["fingerprint"] = weights_fingerprint(source.location)
        engine = engine_identity(engine_kwargs or {})
        if engine:
            self._identity["engine"] = engine

    def __repr__(self) -> str:
        return f"RayDataVLLMBackend({self._identity['model']!r}, engines={self.config_kwargs['concurrency']})"

    def identity(self) -> Mapping[str, Any]:
        """The in-process vLLM backend's identity: the same model and engine settings, the same
        answers and cache entries, wherever the engine runs."""
        return dict(self._identity)

    def complete_batch(self, requests: Sequence[Request]) -> list[Completion]:
        rows = [request_row(i, r, self._control_tokens) for i, r in enumerate(requests)]
        started = time.perf_counter()
        try:
            answers = self._processor(self._from_items(rows)).take_all()
        except Exception as exc:  # translated to a typed LLMError, never swallowed
            raise translate_error(exc) from exc
        latency = time.perf_counter() - started
        by_index = {int(a["index"]): a for a in answers}
        if sorted(by_index) != list(range(len(requests))):
            raise BadResponseError(f"ray.data.llm returned {len(answers)} answers for {len(requests)} requests", backend=self.name)
        return [completion_of(by_index[i], latency) for i in range(len(requests))]


def ray_from_items(address: str | None) -> Callable[[list[dict[str, Any]]], Any]:
    """``ray.data.from_items``, after joining the cluster at ``address`` when one is given (else Ray
    Data starts or joins the local Ray)."""
    import ray

    if address and not ray.is_initialized():
        ray.init(address=address)
    import ray.data

    return ray.data.from_items


def _control_tokens(location: str) -> tuple[str, ...]:
    """The model tokenizer's special-token strings (made inert in message text, as the in-process
    backend does); none when the tokenizer cannot be read here."""
    try:
        from transformers import AutoTokenizer

        from ..llm.control_tokens import special_token_strings

        return special_token_strings(AutoTokenizer.from_pretrained(location))
    except Exception:  # no tokenizer on the driver (a hub id offline): nothing known to defuse
        return ()
