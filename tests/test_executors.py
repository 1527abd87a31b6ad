"""The executor seam without Ray: the local executor's retry rule, the settings checked, and the
one line a missing Ray gives (the ray executor itself: test_ray_executor.py)."""

from __future__ import annotations

import sys

import pytest

from promptlearn.cli.main import main
from promptlearn.errors import InputError
from promptlearn.executors import LocalExecutor, chunks, make_executor


def _flaky(worker, item):
    worker["calls"] = worker.get("calls", 0) + 1
    if item == "boom":
        raise RuntimeError("always fails")
    if item == "fatal":
        raise InputError("explained")
    return item * 2


def test_the_local_executor_retries_a_unit_then_reports_it_failed():
    worker: dict = {}
    with LocalExecutor(retries=2).start(lambda: worker) as pool:
        outcomes = list(pool.map(_flaky, [1, "boom", 3]))
        assert pool.call(lambda w: w is worker)
    assert [(o.index, o.value, o.error, o.attempts) for o in outcomes] == [
        (0, 2, None, 1), (1, None, "RuntimeError: always fails", 3), (2, 6, None, 1)]
    with LocalExecutor().start(lambda: {}) as pool, pytest.raises(InputError, match="explained"):
        list(pool.map(_flaky, [1, "fatal"]))  # an explained error stops the run


def test_settings_are_checked():
    with pytest.raises(InputError, match="workers is a setting of the ray executor"):
        make_executor("local", workers=2)
    with pytest.raises(InputError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(InputError, match="retries must be >= 0"):
        LocalExecutor(retries=-1)
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_without_ray_the_ray_executor_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as when the extra is not installed
    with pytest.raises(InputError, match=r"executor ray needs Ray, which is not installed: pip install 'promptlearn\[ray\]'"):
        make_executor("ray")
    (tmp_path / "i.txt").write_text("Rewrite it.")
    code = main(["rewrite", "--instruction", str(tmp_path / "i.txt"), "--concept", "dog", "a dog", "--executor", "ray",
                 "--llm", "openai/test", "--api-base", "http://127.0.0.1:9", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "error: --executor ray needs Ray, which is not installed: pip install 'promptlearn[ray]'" in err
    assert "Traceback" not in err
