"""promptlearn: learn LLM instructions and use them for responsible visual synthesis.

>>> from promptlearn import InstructionLearner, Rewriter, get_task, load_examples, load_llm
>>> task = get_task("ores")                                                        # doctest: +SKIP
>>> llm = load_llm("local")                                                        # doctest: +SKIP
>>> result = InstructionLearner(llm, task, epochs=2, batch_size=4).fit(load_examples("ores-train", task))  # doctest: +SKIP
>>> Rewriter(llm, task, result.instruction).rewrite(concept="golden brown", query="Indulge in this caramelized dessert")  # doctest: +SKIP

The names below are imported on first use, so ``import promptlearn`` stays fast (no torch,
no litellm).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "InstructionLearner": "promptlearn.optimizer",
    "FitResult": "promptlearn.optimizer",
    "Predictor": "promptlearn.optimizer",
    "Rewriter": "promptlearn.rewriter",
    "RewriteResult": "promptlearn.rewriter",
    "get_task": "promptlearn.tasks",
    "list_tasks": "promptlearn.tasks",
    "register_task": "promptlearn.tasks",
    "Task": "promptlearn.tasks",
    "Example": "promptlearn.tasks",
    "Score": "promptlearn.tasks",
    "load_examples": "promptlearn.data",
    "load_llm": "promptlearn.llm",
    "LLM": "promptlearn.llm",
    "SamplingParams": "promptlearn.llm",
    "PromptlearnError": "promptlearn.errors",
    "InputError": "promptlearn.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .data import load_examples
    from .errors import InputError, PromptlearnError
    from .llm import LLM, SamplingParams, load_llm
    from .optimizer import FitResult, InstructionLearner, Predictor
    from .rewriter import Rewriter, RewriteResult
    from .tasks import Example, Score, Task, get_task, list_tasks, register_task


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptlearn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
