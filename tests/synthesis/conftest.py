"""Tiny random-weight Stable Diffusion checkpoints (16x16 images, 8x8 latents) shared by the synthesis tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptlearn.synthesis.components import DiffusionComponents, load_components
from promptlearn.synthesis.sampler import Synthesizer
from promptlearn.synthesis.tiny import write_tiny_sd
from synth_helpers import UNetCalls


@pytest.fixture(scope="session")
def sd_dir(tmp_path_factory) -> Path:
    return write_tiny_sd(tmp_path_factory.mktemp("models") / "sd", sample_size=8)


@pytest.fixture(scope="session")
def sd_v_dir(tmp_path_factory) -> Path:
    return write_tiny_sd(tmp_path_factory.mktemp("models") / "sd_v", sample_size=8, prediction_type="v_prediction", seed=1)


@pytest.fixture(scope="session")
def components(sd_dir) -> DiffusionComponents:
    return load_components(sd_dir)


@pytest.fixture(scope="session")
def synth(components) -> Synthesizer:
    return Synthesizer(components)


@pytest.fixture
def unet_calls(components):
    calls = UNetCalls(components.unet)
    yield calls
    calls.close()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and far faster than two threads on a busy shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
