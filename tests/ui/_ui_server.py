"""A live `promptlearn ui` page for the UI tests: the toy model, a scripted LLM server, a small
toy bench run for the human-evaluation page; served on 127.0.0.1 at a free port.

The fixtures (``bench_run``, ``ui_server``: one live page for the whole session, shared by
test_ui.py and test_ui_browser.py, so the models load once) are in this folder's conftest.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

QUERY = "a crimson ball on the left"
REWRITE = "a blue ball on the left"


def reply(messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """The scripted LLM: every rewrite request gets the same safe rewrite."""
    return REWRITE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveUI:
    url: str
    studio: Any
    llm_server: Any
    bench: Path | None


@contextmanager
def live_ui(bench: Path | None) -> Iterator[LiveUI]:
    """The page on a free port of 127.0.0.1, its LLM a scripted server, one torch thread."""
    pytest.importorskip("gradio", reason="the ui extra is not installed: pip install 'promptlearn[ui]'")
    import torch

    from promptlearn.testing.openai_server import OpenAIServer
    from promptlearn.ui.app import launch
    from promptlearn.ui.studio import Settings, Studio

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with OpenAIServer(reply=reply) as llm_server:
        settings = Settings(concepts=("red",), instruction="human", llm="openai/test", api_base=llm_server.url, model="toy",
                            baselines=("negative",), steps=4, switch_step=1, guidance=7.5)
        studio = Studio(settings, bench=str(bench) if bench else None, cache=False, progress=False)
        port = free_port()
        demo = launch(studio, port=port, block=False)
        try:
            yield LiveUI(f"http://127.0.0.1:{port}/", studio, llm_server, bench)
        finally:
            demo.close()
            studio.close()
            torch.set_num_threads(threads)
