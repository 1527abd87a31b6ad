"""Fixtures of the UI tests: one toy bench run and one live page per test session (see _ui_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _ui_server import LiveUI, live_ui


@pytest.fixture(scope="session")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-row, 1-seed toy bench run (reference rewrites: no LLM) of original, tin and negative."""
    from promptlearn.cli.main import main

    out = tmp_path_factory.mktemp("ui-bench") / "bench"
    code = main(["bench", "--model", "toy", "--judge", "toy", "--dataset", "toy", "--limit", "2", "--seeds", "0",
                 "--rewrites", "reference", "--steps", "4", "--methods", "original,tin,negative", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def ui_server(bench_run: Path) -> Iterator[LiveUI]:
    with live_ui(bench_run) as live:
        yield live
