"""A live `promptlearn ui` page for the UI tests: the toy model, a scripted LLM server, a small
toy bench run for the human-evaluation page; served on 127.0.0.1 at a free port.

Import the fixtures into a test module: ``from _ui_server import bench_run, ui_server  # noqa: F401``.
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


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-row, 1-seed toy bench run (reference rewrites: no LLM) of original, tin and negative."""
    from promptlearn.cli.main import main

    out = tmp_path_factory.mktemp("ui-bench") / "bench"
    code = main(["bench", "--model", "toy", "--judge", "toy", "--dataset", "toy", "--limit", "2", "--seeds", "0",
                 "--rewrites", "reference", "--steps", "4", "--methods", "original,tin,negative", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


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


@pytest.fixture(scope="module")
def ui_server(bench_run: Path) -> Iterator[LiveUI]:
    with live_ui(bench_run) as live:
        yield live
