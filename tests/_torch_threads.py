"""A pytest fixture for tests that run tiny torch models on a shared CPU.

Tiny convolutions gain nothing from intra-op threads, and on a busy machine two threads run such
models several times slower than one. Import the fixture into a test module to apply it there:
``from _torch_threads import one_torch_thread  # noqa: F401`` (autouse, module scope).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run the module's tests with one torch thread; the caller's setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
