"""What a worker loads, as settings that pickle: the ``load`` callables the executors
(:mod:`promptlearn.executors`) call once per worker, in this process or in a Ray actor.

* :class:`ImageWorker`: a diffusion model and a judge, for the benchmark's image stage;
* :class:`TextWorker`: a task and an LLM rewriter, for the benchmark's text stage;
* :class:`RewriteWorker`: a :class:`~promptlearn.rewriter.Rewriter`, for ``rewrite --input``
  (its units: :func:`rewrite_chunk`).

A worker builds its own LLM client from :class:`LLMSettings` (the same cache folder and retry
rules as this process: on a cluster, put the cache on shared storage). API keys are read from the
worker's environment, never carried in the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .llm.client import DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class LLMSettings:
    """The arguments of :func:`~promptlearn.llm.load_llm` (no key: keys come from the environment)."""

    spec: str = "local"
    api_base: str | None = None
    cache: bool = True
    cache_dir: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    max_batch_size: int = 8
    timeout: float = 60.0

    def load(self, *, ray_data: Mapping[str, Any] | None = None) -> Any:
        from .llm import load_llm

        return load_llm(self.spec, api_base=self.api_base, cache=self.cache, cache_dir=self.cache_dir,
                        concurrency=self.concurrency, max_batch_size=self.max_batch_size, timeout=self.timeout,
                        ray_data=ray_data)


def ray_data_vllm(executor: Any, spec: str) -> dict[str, Any] | None:
    """Where LLM rewriting on Ray goes: ``ray.data.llm``'s vLLM processor (the settings of
    :class:`~promptlearn.backends.ray_data_vllm.RayDataVLLMBackend`: ``--workers`` engines on
    ``--gpus-per-worker`` GPUs each) for the ray executor with a ``vllm/...`` spec when vLLM is
    importable; else ``None``: promptlearn's LLM client inside each actor."""
    from .backends.ray_data_vllm import vllm_importable
    from .llm.forms import parse_spec

    if getattr(executor, "name", None) != "ray" or parse_spec(spec).kind != "vllm" or not vllm_importable():
        return None
    return {"engines": executor.workers, "gpus_per_engine": executor.gpus_per_worker, "address": executor.address}


def _device(device: str | None) -> str:
    """``device``, or cuda when the worker sees a GPU (Ray gives a GPU actor its own)."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class ImageWorker:
    """Loads ``(generator, judge)``: the diffusion model in ``model_folder`` as a
    :class:`~promptlearn.evaluation.adapters.SynthesizerGenerator` (``generator`` holds its keyword
    arguments, ``model`` the name recorded in the run) and the judge of ``judge`` (a
    :class:`~promptlearn.evaluation.judges.JudgeSpec` or its text, e.g. ``toy``, ``clip:FOLDER``;
    ``None``: no judge, for ``generate --prompts``).
    ``threads`` sets torch's CPU thread count in the worker: CPU results depend on it (the order of
    float reductions), so the CLI passes its own count and a Ray actor (1 thread by default) makes
    the same images bit for bit as the local executor."""

    model_folder: str
    model: str
    judge: Any = None
    device: str | None = None
    dtype: str | None = None
    scheduler: str | None = None
    generator: Mapping[str, Any] = field(default_factory=dict)
    threads: int | None = None

    def __call__(self) -> tuple[Any, Any]:
        from .evaluation.adapters import SynthesizerGenerator
        from .evaluation.judges import parse_judge_spec
        from .synthesis.components import load_components
        from .synthesis.sampler import Synthesizer

        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)
        device = _device(self.device)
        components = load_components(self.model_folder, device=device, dtype=self.dtype, scheduler=self.scheduler)
        generator = SynthesizerGenerator(Synthesizer(components), model=self.model, **dict(self.generator))
        if self.judge is None:  # generate --prompts: images only
            return generator, None
        judge = parse_judge_spec(self.judge) if isinstance(self.judge, str) else self.judge
        return generator, judge.load(device=device)


@dataclass(frozen=True)
class TextWorker:
    """Loads ``(task, rewriter)`` for the text stage: the task named ``task`` and, when ``llm`` is
    set, a :class:`~promptlearn.evaluation.adapters.PredictorRewriter` on that LLM (the one rewrite
    path: the Rewriter's Predictor)."""

    task: str
    llm: LLMSettings | None = None

    def __call__(self) -> tuple[Any, Any]:
        from .evaluation.adapters import PredictorRewriter
        from .rewriter import Rewriter
        from .tasks.registry import get_task

        task = get_task(self.task)
        if self.llm is None:
            return task, None
        return task, PredictorRewriter(Rewriter(self.llm.load(), task, "(set per method)"), progress=False)


@dataclass(frozen=True)
class RewriteWorker:
    """Loads a :class:`~promptlearn.rewriter.Rewriter` as ``promptlearn rewrite`` builds it."""

    llm: LLMSettings
    task: str
    instruction: str
    verify_retries: int = 0
    threshold: float | None = None
    min_similarity: float | None = None
    templates: str | None = None
    max_tokens: int = 64

    def __call__(self) -> Any:
        from .rewriter import Rewriter
        from .tasks.registry import get_task

        task = get_task(self.task)
        return Rewriter(self.llm.load(), task, self.instruction, verify_retries=self.verify_retries, threshold=self.threshold,
                        min_similarity=self.min_similarity, prompts=task.prompt_library(self.templates),
                        params={"max_tokens": self.max_tokens})


@dataclass(frozen=True)
class RewriteChunk:
    """What :func:`rewrite_chunk` returns: the results in input order, the rows whose LLM calls
    failed (``(where, why)``, for the caller's error budget) and the LLM usage they cost
    (:meth:`~promptlearn.llm.usage.Usage.counters`)."""

    results: list[Any]
    failures: list[tuple[str, str]]
    usage: dict[str, float]


def rewrite_chunk(rewriter: Any, examples: Sequence[Any]) -> RewriteChunk:
    """Rewrite one chunk with a worker's Rewriter; a failed LLM call fails its row (recorded in
    ``failures``), a fatal one (a rejected key) raises."""
    from .error_budget import ErrorBudget

    budget = ErrorBudget(None, unit="row")
    usage = rewriter.predictor.llm.usage
    before = usage.snapshot()
    results = rewriter.rewrite_many(list(examples), errors=budget)
    return RewriteChunk(results, list(budget.failures), usage.since(before).counters())


@dataclass(frozen=True)
class Loaded:
    """``load`` for something already built in this process (the local executor's worker)."""

    worker: Any

    def __call__(self) -> Any:
        return self.worker
