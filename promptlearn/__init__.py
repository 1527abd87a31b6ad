"""promptlearn: learn LLM instructions and use them for responsible visual synthesis.

>>> from promptlearn import InstructionLearner, Rewriter, get_task, load_examples, load_llm
>>> task = get_task("ores")                                                        # doctest: +SKIP
>>> llm = load_llm("local")                                                        # doctest: +SKIP
>>> result = InstructionLearner(llm, task, epochs=2, batch_size=4).fit(load_examples("ores-train", task))  # doctest: +SKIP
>>> rewrite = Rewriter(llm, task, result.instruction).rewrite(concept="golden brown", query="Indulge in this caramelized dessert")  # doctest: +SKIP

The synthesis half: the method registry and a sampler with its interventions.

>>> from promptlearn import Synthesizer, get_method, load_components                 # doctest: +SKIP
>>> synthesizer = Synthesizer(load_components("path/to/stable-diffusion"))          # doctest: +SKIP
>>> tin = get_method("tin").interventions(concepts=["golden brown"], rewrite=rewrite.output, switch_step=2)  # doctest: +SKIP
>>> image = synthesizer.generate("Indulge in this caramelized dessert", interventions=tin).images[0]  # doctest: +SKIP

The names below are imported on first use, so ``import promptlearn`` stays fast (no torch,
no litellm); the text half and the method registry load no torch even when used, the sampler
and the interventions load it when first named.
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
    # instruction sources
    "resolve_instruction": "promptlearn.instructions",
    "register_instruction_source": "promptlearn.instructions",
    "Instruction": "promptlearn.instructions",
    # the method registry (no torch)
    "MethodSpec": "promptlearn.synthesis.methods",
    "register_method": "promptlearn.synthesis.methods",
    "get_method": "promptlearn.synthesis.methods",
    "list_methods": "promptlearn.synthesis.methods",
    "method_interventions": "promptlearn.synthesis.methods",
    "resolve_switch_step": "promptlearn.synthesis.switch_step",
    # the sampler and its interventions (torch, diffusers)
    "Synthesizer": "promptlearn.synthesis.sampler",
    "load_components": "promptlearn.synthesis.components",
    "Intervention": "promptlearn.synthesis.interventions",
    "PromptSwitch": "promptlearn.synthesis.interventions",
    "Blacklist": "promptlearn.synthesis.interventions",
    "NegativePrompt": "promptlearn.synthesis.interventions",
    "SafeLatentDiffusion": "promptlearn.synthesis.interventions",
    "Fabric": "promptlearn.synthesis.interventions",
}

#: the names that load torch (and diffusers) when first used
HEAVY = ("Synthesizer", "load_components", "Intervention", "PromptSwitch", "Blacklist", "NegativePrompt", "SafeLatentDiffusion", "Fabric")

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .data import load_examples
    from .errors import InputError, PromptlearnError
    from .instructions import Instruction, register_instruction_source, resolve_instruction
    from .llm import LLM, SamplingParams, load_llm
    from .optimizer import FitResult, InstructionLearner, Predictor
    from .rewriter import Rewriter, RewriteResult
    from .synthesis.components import load_components
    from .synthesis.interventions import Blacklist, Fabric, Intervention, NegativePrompt, PromptSwitch, SafeLatentDiffusion
    from .synthesis.methods import MethodSpec, get_method, list_methods, method_interventions, register_method
    from .synthesis.sampler import Synthesizer
    from .synthesis.switch_step import resolve_switch_step
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
