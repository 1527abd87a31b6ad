"""``promptlearn fit --track mlflow``: the one-line hint without mlflow, and what is logged
(a fake ``mlflow`` module records the calls; the real package is an optional extra)."""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager

import pytest

from promptlearn.cli.main import main


def _fit(server, *args):
    return main(["fit", "--llm", "openai/test", "--api-base", server.url, "--no-cache", "--quiet", "--task", "antonyms", "--start", "p0", *args])


def _script(server):
    def reply(messages, params):
        last = messages[-1]["content"]
        if "<batch>" in last:
            return f"Give the opposite word only, number {params.get('sample_index')}."
        if "instruction" in last.lower() and len(messages) == 1:
            return "Answer with the opposite of the word."
        return "cold"

    server.reply = reply


def test_track_mlflow_without_the_package_is_one_line_before_any_call(capsys, openai_server, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "mlflow" else object())
    code = _fit(openai_server, "--epochs", "1", "--track", "mlflow")
    err = capsys.readouterr().err
    assert code != 0 and openai_server.requests == []
    assert "--track mlflow needs the optional package mlflow: pip install 'promptlearn[mlflow]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_tracker_is_refused(capsys, openai_server):
    code = _fit(openai_server, "--track", "wandb")
    assert code != 0 and "--track: unknown tracker 'wandb' (known: mlflow)" in capsys.readouterr().err


def test_track_mlflow_logs_config_steps_instructions_and_result(capsys, openai_server, monkeypatch, tmp_path):
    logged: dict = {"params": {}, "metrics": [], "texts": {}, "tags": {}}
    fake = types.ModuleType("mlflow")
    fake.__spec__ = types.SimpleNamespace(name="mlflow")
    fake.set_experiment = lambda name: logged.setdefault("experiment", name)

    @contextmanager
    def start_run(run_name=None):
        logged["run_name"] = run_name
        yield types.SimpleNamespace(info=types.SimpleNamespace(run_id="run-123"))

    fake.start_run = start_run
    fake.log_params = lambda params: logged["params"].update(params)
    fake.log_metrics = lambda metrics, step=None: logged["metrics"].append((step, metrics))
    fake.log_text = lambda text, name: logged["texts"].__setitem__(name, text)
    fake.set_tags = lambda tags: logged["tags"].update(tags)
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    _script(openai_server)
    code = _fit(openai_server, "--epochs", "1", "--batch-size", "4", "--candidates", "2", "--max-calls", "30", "--track", "mlflow")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "tracked: mlflow run run-123" in err
    assert logged["params"]["task"] == "antonyms" and logged["params"]["recipe"] == "promptlearn"
    assert logged["params"]["hyper.candidates"] == "2" and logged["params"]["hyper.seed"] == "0"
    per_step = [m for step, m in logged["metrics"] if step is not None and step >= 1]
    assert per_step and all("batch_score" in m and "accepted" in m for m in per_step)
    final = [m for step, m in logged["metrics"] if step is None][-1]
    assert final["calls"] >= 30 and "final_val_score" in final
    assert logged["texts"]["instruction.txt"].strip() and "steps.json" in logged["texts"] and "config.json" in logged["texts"]
    everything = repr(logged)
    assert "sk-secret-123" not in everything
