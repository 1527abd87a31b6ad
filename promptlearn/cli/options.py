"""Options shared by several commands (the LLM to use, its cache and concurrency)."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from ..llm.client import DEFAULT_CONCURRENCY

#: Library argument names (as declared in a :class:`~promptlearn.errors.PromptlearnError`'s
#: ``arguments``) whose command-line flag is not ``--`` plus the name with ``-`` for ``_``.
#: Keys may name a setting (``"cache=False"``) when the flag sets an argument to one value.
ARGUMENT_FLAGS: dict[str, str] = {
    "out_dir": "--out",
    "run_dir": "--out",
    "resume=True": "--resume",
    "overwrite=True": "--overwrite",
    "spec": "--llm",
    "llm": "--llm",
    "max_batch_size": "--batch-size-llm",
    "cache=False": "--no-cache",
    "task": "--task",
    "trainset": "--train",
    "valset": "--val",
    "prompts": "--templates",
    "select='best'": "--select best",
    "history=False": "--no-history",
    "concepts": "--concept",
    "rewriter": "--llm",
    "instructions": "--instruction",
    "bench": "--bench",
}


def flag_for(argument: str) -> str:
    """The command-line flag that carries a library argument (see :data:`ARGUMENT_FLAGS`)."""
    if argument in ARGUMENT_FLAGS:
        return ARGUMENT_FLAGS[argument]
    if argument.isupper():  # a positional argument, named by its metavar (OUT_DIR)
        return argument
    name, _, value = argument.partition("=")
    flag = "--" + name.strip().replace("_", "-")
    return flag if not value else f"{flag} {value.strip(chr(39) + chr(34))}"


def llm_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --llm, --api-base, --concurrency, --no-cache and --cache-dir to a command."""

    @click.option(
        "--llm",
        "llm_spec",
        default="local",
        show_default=True,
        help="Model spec: 'local', 'transformers/<path>', 'vllm/<path>' or a litellm model such as 'openai/gpt-4o-mini'.",
    )
    @click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (e.g. `vllm serve`).")
    @click.option("--concurrency", default=DEFAULT_CONCURRENCY, show_default=True, type=click.IntRange(min=1), help="Requests in flight for remote APIs.")
    @click.option("--batch-size-llm", "llm_batch_size", default=8, show_default=True, type=click.IntRange(min=1), help="Prompts per forward pass for local engines.")
    @click.option("--no-cache", is_flag=True, help="Do not read or write the LLM disk cache.")
    @click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Folder of the LLM disk cache [default: ~/.cache/promptlearn].")
    @click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds before a remote LLM call times out.")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def max_errors_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --max-errors: rows or steps that may still fail after their retries before the run
    stops (cleanly, with what was done saved)."""
    from ..error_budget import DEFAULT_MAX_ERRORS

    return click.option(
        "--max-errors",
        default=DEFAULT_MAX_ERRORS,
        show_default=True,
        type=click.IntRange(min=0),
        help="Rows/steps whose LLM calls may still fail after their retries (each recorded and skipped) before the run stops; 0 stops at the first.",
    )(func)


def build_llm(llm_spec: str, api_base: str | None, concurrency: int, llm_batch_size: int, no_cache: bool, cache_dir: str | None, timeout: float):
    """Turn the values of :func:`llm_options` into an :class:`~promptlearn.llm.LLM`."""
    return llm_settings(llm_spec, api_base, concurrency, llm_batch_size, no_cache, cache_dir, timeout).load()


def check_llm(llm_spec: str, api_base: str | None, concurrency: int, llm_batch_size: int, no_cache: bool, cache_dir: str | None, timeout: float) -> None:
    """The checks of :func:`build_llm` that load nothing: the spec, --api-base, the provider and
    its key (a remote backend is cheap to build and sends nothing until called)."""
    from ..llm.spec import check_spec

    check_spec(llm_spec, api_base=api_base, timeout=timeout)


LLM_OPTION_NAMES = ("llm_spec", "api_base", "concurrency", "llm_batch_size", "no_cache", "cache_dir", "timeout")


def pop_llm_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the :func:`llm_options` values from a command's kwargs and return them."""
    return {name: kwargs.pop(name) for name in LLM_OPTION_NAMES}


def executor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --executor, --workers, --gpus-per-worker and --ray-address to a command."""

    @click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                  help="Where the work runs: here (local) or on Ray actors (ray; pip install 'promptlearn[ray]'). Same cells, same results, same resumable store.")
    @click.option("--workers", default=None, type=click.IntRange(min=1), help="--executor ray: Ray actors, each loading the models once [default: 2].")
    @click.option("--gpus-per-worker", default=None, type=click.FloatRange(min=0), help="--executor ray: GPUs per actor (a fraction shares a GPU) [default: 0].")
    @click.option("--ray-address", default=None, help="--executor ray: a running Ray cluster (e.g. ray://head:10001) [default: $RAY_ADDRESS, else a local Ray on this machine].")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


EXECUTOR_OPTION_NAMES = ("executor", "workers", "gpus_per_worker", "ray_address")


def pop_executor(kwargs: dict[str, Any]):
    """Remove the :func:`executor_options` values from a command's kwargs; the executor they name."""
    from ..executors import make_executor

    values = {name: kwargs.pop(name) for name in EXECUTOR_OPTION_NAMES}
    return make_executor(values["executor"], workers=values["workers"], gpus_per_worker=values["gpus_per_worker"],
                         address=values["ray_address"])


def llm_settings(llm_spec: str, api_base: str | None, concurrency: int, llm_batch_size: int, no_cache: bool, cache_dir: str | None, timeout: float):
    """The values of :func:`llm_options` as :class:`~promptlearn.workers.LLMSettings` (what a worker loads)."""
    from ..llm.cache import default_cache_dir
    from ..workers import LLMSettings

    if cache_dir is None and not no_cache:  # resolved here: every worker uses this process's cache folder
        cache_dir = str(default_cache_dir())
    return LLMSettings(spec=llm_spec, api_base=api_base, cache=not no_cache, cache_dir=cache_dir, concurrency=concurrency,
                       max_batch_size=llm_batch_size, timeout=timeout)


def task_source(name: str) -> str:
    """The task as a worker process finds it: a task file by its absolute path, else the name."""
    from pathlib import Path

    path = Path(name).expanduser()
    return str(path.resolve()) if path.suffix in (".py", ".yaml", ".yml") and path.is_file() else name
