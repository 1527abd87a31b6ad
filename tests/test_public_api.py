"""The names `from promptlearn import ...` offers, and that importing them stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import promptlearn


def test_every_public_name_resolves():
    for name in promptlearn.__all__:
        assert getattr(promptlearn, name) is not None
    from promptlearn import InstructionLearner, Rewriter, get_task, load_examples, load_llm  # noqa: F401 - the README's line

    assert set(promptlearn.__all__) <= set(dir(promptlearn))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        promptlearn.nope  # noqa: B018


def test_importing_the_public_api_loads_no_torch_or_litellm():
    code = (
        "import sys, promptlearn; light = [n for n in promptlearn.__all__ if n not in promptlearn.HEAVY]; "
        "[getattr(promptlearn, n) for n in light]; "
        "heavy = [m for m in ('torch', 'transformers', 'litellm', 'sentence_transformers', 'diffusers') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == ""


def test_the_synthesis_half_is_offered_too():
    from promptlearn import MethodSpec, Synthesizer, get_method, load_components, register_method  # noqa: F401
    from promptlearn.synthesis.sampler import Synthesizer as Defined

    assert Synthesizer is Defined and get_method("tin").instruction == "learned"
    assert set(promptlearn.HEAVY) < set(promptlearn.__all__)
