"""The run directory: its files, resuming a killed run, and refusing what cannot be resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest
from _toy_llm import toy_llm

from promptlearn.errors import InputError
from promptlearn.files import read_jsonl
from promptlearn.optimizer import InstructionLearner, MaxSteps, StepRecord
from promptlearn.runs import SCHEMA_VERSION, config_differences
from promptlearn.testing.toy import ToyScorer, toy_examples, toy_prompts, toy_task

TASK = toy_task()
TRAIN = toy_examples(10)
VAL = toy_examples(4, prefix="v", start=100)
OPTIONS = dict(epochs=2, batch_size=3, seed=7, select="best", recipe="single")


class Crash(Exception):
    """Stands for a kill in the middle of a run."""


class CrashAfter:
    """A stop condition that raises once ``steps`` steps are done (a kill between steps)."""

    def __init__(self, steps: int):
        self.steps = steps

    def __call__(self, progress):
        if progress.steps >= self.steps:
            raise Crash(f"killed after step {progress.steps}")
        return None

    def describe(self) -> str:
        return f"crash_after={self.steps}"


def fit(llm, run_dir=None, task=TASK, **options):
    return InstructionLearner(llm, task, prompts=toy_prompts(), run_dir=run_dir, **{**OPTIONS, **options}).fit(TRAIN, valset=VAL)


def trajectory(records) -> list[tuple]:
    """The path of a run, from ``history.jsonl`` lines or from typed ``FitResult.steps``."""
    records = [r if isinstance(r, dict) else r.to_json() for r in records]
    return [
        (r["kind"], r.get("step"), tuple(r.get("example_ids", ())), r.get("instruction_before"), r.get("instruction_after"), r.get("batch_score"), r.get("val_score"))
        for r in records
    ]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    with toy_llm() as (llm, _):
        result = fit(llm, run)
    return result, read_jsonl(run / "history.jsonl")


def test_run_files(tmp_path, uninterrupted):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        result = fit(llm, run)
    assert sorted(os.listdir(run)) == [".lock", "config.json", "history.jsonl", "instruction.txt", "state.json"]  # .lock: see test_run_lock.py
    assert (run / "instruction.txt").read_text() == result.instruction + "\n"
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "toy" and config["llm"] == llm.spec
    assert config["hyper"] == {"epochs": 2, "batch_size": 3, "history": True, "history_size": 3, "select": "best", "seed": 7, "baseline": None, "min_instruction_words": 3,
                               "candidates": 1, "accept": "always", "start": "p0", "holdout": 0.0, "demos": 0, "parents": "current"}
    assert config["recipe"] == "single"
    assert set(config["templates"]) == {"toy/task.j2", "toy/predict.j2", "optimizer/init.j2", "optimizer/update.j2", "optimizer/pack.j2"}
    assert config["data"]["train"]["examples"] == 10 and len(config["data"]["val"]["sha256"]) == 64
    assert "Write one short instruction" in config["info"]["template_sources"]["optimizer/init.j2"]
    records = read_jsonl(run / "history.jsonl")
    assert [r["kind"] for r in records] == ["init"] + ["step"] * 8
    step = records[1]
    for key in ("epoch", "step", "example_ids", "instruction_before", "instruction_after", "predictions", "batch_score", "val_score", "prompt_tokens", "completion_tokens", "cost_usd", "seconds", "calls"):
        assert key in step
    assert step["predictions"][0].keys() >= {"id", "output", "score"}
    state = json.loads((run / "state.json").read_text())
    assert state["schema_version"] == SCHEMA_VERSION and state["finished"] and state["steps"] == 8
    assert state["final"]["select"] == "best" and state["final"]["instruction"] == result.instruction
    assert len(state["history"]) == 8 and isinstance(state["rng"], list) and state["epoch"] == 2 and state["order"] is None
    assert trajectory(records) == trajectory(uninterrupted[1])


@pytest.mark.parametrize("crash_after", [0, 3, 4, 7])  # 4: at the epoch boundary
def test_resume_after_a_crash_between_steps_equals_an_uninterrupted_run(tmp_path, uninterrupted, crash_after):
    run, cache = tmp_path / "run", tmp_path / "cache"
    with toy_llm(cache_dir=cache) as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, stop=CrashAfter(crash_after))
    assert not (run / "instruction.txt").exists()
    with toy_llm(cache_dir=cache) as (llm, log):
        result = fit(llm, run, resume=True)
    expected, records = uninterrupted
    assert result.instruction == expected.instruction and result.selected_version == expected.selected_version
    assert trajectory(read_jsonl(run / "history.jsonl")) == trajectory(records)
    assert trajectory(result.steps) == trajectory(records)
    assert len([r for r in result.steps if isinstance(r, StepRecord)]) == 8


class FlakyScorer(ToyScorer):
    """Raises on its n-th call: a crash in the middle of a step, after its predictions."""

    def __init__(self, fail_on: int):
        self.calls, self.fail_on = 0, fail_on

    def score(self, examples, predictions):
        self.calls += 1
        if self.calls == self.fail_on:
            raise Crash("scorer died")
        return super().score(examples, predictions)


def test_resume_after_a_crash_inside_a_step_takes_finished_calls_from_the_cache(tmp_path, uninterrupted):
    run, cache = tmp_path / "run", tmp_path / "cache"
    with toy_llm(cache_dir=cache) as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, task=replace(TASK, scorer=FlakyScorer(fail_on=6)))  # init val, then 2 calls a step
    with toy_llm(cache_dir=cache) as (llm, log):
        result = fit(llm, run, resume=True)
    assert trajectory(result.steps) == trajectory(uninterrupted[1])
    assert result.usage.cache_hits >= 3  # the crashed step's predictions were not asked again
    assert len(log) == result.usage.calls - result.usage.cache_hits


def test_resume_after_killing_a_subprocess(tmp_path, uninterrupted):
    run, cache = tmp_path / "run", tmp_path / "cache"
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(f"""
        from promptlearn.llm import LLM, CompletionCache
        from promptlearn.optimizer import InstructionLearner
        from promptlearn.testing.toy import ScriptedBackend, ToyReply, toy_examples, toy_prompts, toy_task
        llm = LLM(ScriptedBackend(ToyReply(), latency_s=0.05), cache=CompletionCache({str(cache)!r}))
        learner = InstructionLearner(llm, toy_task(), prompts=toy_prompts(), run_dir={str(run)!r}, **{OPTIONS!r})
        learner.fit(toy_examples(10), valset=toy_examples(4, prefix="v", start=100))
    """))
    process = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            state = run / "state.json"
            if state.exists() and json.loads(state.read_text()).get("steps", 0) >= 3:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the subprocess made no progress")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert json.loads((run / "state.json").read_text())["finished"] is False
    with toy_llm(cache_dir=cache) as (llm, _):
        result = fit(llm, run, resume=True)
    assert result.instruction == uninterrupted[0].instruction
    assert trajectory(read_jsonl(run / "history.jsonl")) == trajectory(uninterrupted[1])


def test_resuming_a_finished_run_makes_no_calls(tmp_path):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        first = fit(llm, run)
    with toy_llm() as (llm, log):
        again = fit(llm, run, resume=True)
    assert log == [] and again.instruction == first.instruction and again.val_score == first.val_score


def test_resume_continues_a_run_stopped_by_a_condition(tmp_path, uninterrupted):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        stopped = fit(llm, run, stop=MaxSteps(2))
        assert stopped.stop_reason == "reached max steps (2)"
        with pytest.raises(InputError, match=r"already holds a finished run \(2 steps\); pass resume=True to load it without new LLM calls, overwrite=True to start over"):
            fit(llm, run)
        result = fit(llm, run, resume=True)
    assert result.stop_reason is None and trajectory(result.steps) == trajectory(uninterrupted[1])


def test_resume_on_an_empty_folder_starts_a_new_run(tmp_path):
    with toy_llm() as (llm, _):
        result = fit(llm, tmp_path / "new", resume=True)
    assert (tmp_path / "new" / "instruction.txt").read_text().strip() == result.instruction


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 3}, "hyper.epochs (2 -> 3)"),
        ({"seed": 8}, "hyper.seed (7 -> 8)"),
        ({"history": False}, "hyper.history (true -> false)"),
        ({"predict_params": {"max_tokens": 10}}, "sampling.predict.max_tokens (64 -> 10)"),
    ],
)
def test_resume_with_a_changed_config_is_refused(tmp_path, change, message):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, stop=CrashAfter(1))
        with pytest.raises(InputError) as error:
            fit(llm, run, resume=True, **change)
    assert str(error.value) == f"cannot resume {run}: the config differs in {message}; pass overwrite=True to start over or choose another run_dir"


def test_resume_with_changed_data_or_template_is_refused(tmp_path):
    run = tmp_path / "run"
    templates = tmp_path / "templates" / "optimizer"
    templates.mkdir(parents=True)
    with toy_llm() as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, stop=CrashAfter(1))
        learner = InstructionLearner(llm, TASK, prompts=toy_prompts(), run_dir=run, resume=True, **OPTIONS)
        with pytest.raises(InputError, match=r"differs in data\.train\.examples \(10 -> 9\); data\.train\.sha256 \(changed\); pass overwrite"):
            learner.fit(TRAIN[:9], valset=VAL)
        (templates / "update.j2").write_text("{{ batch }} {{ instruction }} Reply with a better instruction.")
        learner = InstructionLearner(llm, TASK, prompts=toy_prompts(tmp_path / "templates"), run_dir=run, resume=True, **OPTIONS)
        with pytest.raises(InputError, match=r"differs in templates\.optimizer/update\.j2 \(changed\); pass overwrite"):
            learner.fit(TRAIN, valset=VAL)


def test_a_stop_condition_change_does_not_block_resuming(tmp_path):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        fit(llm, run, stop=MaxSteps(1))
        result = fit(llm, run, resume=True, stop=MaxSteps(4))
    assert len([s for s in result.steps if isinstance(s, StepRecord)]) == 4


def test_run_dir_that_is_a_file_or_holds_other_things(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("mine")
    with toy_llm() as (llm, log):
        with pytest.raises(InputError, match="is a file, not a folder"):
            fit(llm, afile)
        with pytest.raises(InputError, match=r"is not empty and holds no promptlearn run \(notes.md\); choose another run_dir"):
            fit(llm, other)
    assert log == [] and afile.read_text() == "x" and os.listdir(other) == ["notes.md"]


def test_unfinished_or_different_run_without_resume(tmp_path):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, stop=CrashAfter(1))
        with pytest.raises(InputError, match=r"already holds an unfinished run \(1 step done\); pass resume=True to continue it, "
                           r"overwrite=True to start over, or choose another run_dir \(e.g. .*run-2\)"):
            fit(llm, run)
        with pytest.raises(InputError, match=r"already holds a different run \(it differs in hyper.epochs \(2 -> 5\)\); pass overwrite=True to start over"):
            fit(llm, run, epochs=5)


def test_a_torn_history_line_and_records_past_the_state_are_dropped_on_resume(tmp_path, uninterrupted):
    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        with pytest.raises(Crash):
            fit(llm, run, stop=CrashAfter(2))
        last = read_jsonl(run / "history.jsonl")[-1]
        with open(run / "history.jsonl", "a") as handle:  # a step record written just before a kill
            handle.write(json.dumps({**last, "step": 2}) + "\n" + '{"kind": "st')
        result = fit(llm, run, resume=True)
    assert trajectory(result.steps) == trajectory(uninterrupted[1])


def test_config_differences_names_what_differs():
    old = {"a": 1, "t": {"x.j2": "h1"}, "info": {"stop": "a"}, "d": {"sha256": "1"}}
    new = {"a": 2, "t": {"x.j2": "h1"}, "info": {"stop": "b"}, "d": {"sha256": "2"}, "e": True}
    assert config_differences(old, new) == ["a (1 -> 2)", "d.sha256 (changed)", "e (<absent> -> true)"]


def test_history_lines_read_back_as_typed_records(tmp_path):
    from promptlearn.optimizer import InitRecord, PredictionRecord, read_history, record_from_json

    run = tmp_path / "run"
    with toy_llm() as (llm, _):
        result = fit(llm, run)
    history = read_history(run)
    assert history == result.steps and isinstance(history[0], InitRecord)
    step = history[1]
    assert isinstance(step, StepRecord) and isinstance(step.predictions[0], PredictionRecord)
    assert record_from_json(step.to_json()) == step
    with pytest.raises(InputError, match="not a fit record"):
        record_from_json({"kind": "nonsense"})
    with pytest.raises(InputError, match="no history.jsonl"):
        read_history(tmp_path)
