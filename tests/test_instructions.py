"""The one instruction resolver: files, fit run folders (learned, initial, best), named sources."""

from __future__ import annotations

import json

import pytest

from promptlearn import get_task
from promptlearn.errors import InputError
from promptlearn.instructions import Instruction, instruction_sources, method_instruction_source, register_instruction_source, resolve_instruction


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "instruction.txt").write_text("the learned one\n")
    (folder / "history.jsonl").write_text(json.dumps({"kind": "init", "instruction": "the initial one", "answer": "the initial one"}) + "\n")
    (folder / "state.json").write_text(json.dumps({"best": {"version": 3, "instruction": "the best one", "score": 0.7}}))
    return folder


def test_files_and_fit_runs(tmp_path, run):
    (tmp_path / "i.txt").write_text("  from a file \n")
    assert resolve_instruction(tmp_path / "i.txt").text == "from a file"
    assert resolve_instruction(f"file:{tmp_path / 'i.txt'}").text == "from a file"
    assert resolve_instruction(run).text == "the learned one"
    assert resolve_instruction(f"run:{run}", role="initial").text == "the initial one"
    best = resolve_instruction(run, role="best")
    assert best.text == "the best one" and "best, version 3" in best.origin


def test_named_sources(monkeypatch):
    task = get_task("ores")
    assert resolve_instruction("human", task=task).text == task.human_instruction.strip()
    shown = resolve_instruction("in-context", task=task)
    assert "in-context" in shown.origin and "ores-train" in shown.origin and len(shown.text) > 200
    from promptlearn import instructions

    monkeypatch.setattr(instructions, "_SOURCES", dict(instructions._SOURCES))
    register_instruction_source("upper", lambda arg, ctx: Instruction(arg.upper(), "upper"), takes_argument=True, summary="test")
    assert resolve_instruction("upper:be safe").text == "BE SAFE"
    assert ("upper:ARG", "test") in instruction_sources()


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (lambda tmp: tmp / "none.txt", {}, "instruction not found: "),
        (lambda tmp: (tmp / "e.txt").write_text(" ") and tmp / "e.txt", {}, "is empty"),
        (lambda tmp: (tmp / "r").mkdir() or tmp / "r", {}, "has no instruction.txt"),
        (lambda tmp: (tmp / "r").mkdir() or tmp / "r", {"role": "initial"}, "no history.jsonl"),
        (lambda tmp: (tmp / "r").mkdir() or tmp / "r", {"role": "best"}, "records no best instruction"),
        (lambda tmp: "human", {}, "needs a task"),
        (lambda tmp: tmp, {"role": "worst"}, "role must be one of learned, initial, best"),
    ],
)
def test_errors_are_one_line(tmp_path, make, kwargs, message):
    with pytest.raises(InputError, match=message) as info:
        resolve_instruction(make(tmp_path), **kwargs)
    assert "\n" not in str(info.value)


def test_paper_checkpoint_source(tmp_path):
    """The ORES authors' checkpoint.txt, read from a path the user gives (the project ships none)."""
    (tmp_path / "checkpoint.txt").write_text("Replace the concept with its opposite.\n")
    got = resolve_instruction(f"paper-checkpoint:{tmp_path / 'checkpoint.txt'}")
    assert "Replace the concept with its opposite." in got.text
    assert "paper checkpoint" in got.origin
    assert any(name.startswith("paper-checkpoint") for name, _ in instruction_sources())
    with pytest.raises(InputError, match="file not found"):
        resolve_instruction(f"paper-checkpoint:{tmp_path / 'missing.txt'}")


def test_method_instruction_source_is_the_one_role_mapping(tmp_path):
    """generate, bench and the UI map a method's instruction role to a source through this one function."""
    run = tmp_path / "run"
    run.mkdir()
    assert method_instruction_source("learned", instruction="human") == ("human", "learned")
    assert method_instruction_source("learned", instruction=run, run_role="best") == (str(run), "best")
    assert method_instruction_source("learned", instruction=None) is None
    # initial: the explicit source first, else the fit run folder's initial instruction, else nothing
    assert method_instruction_source("initial", instruction=run, initial_instruction="p0.txt") == ("p0.txt", "initial")
    assert method_instruction_source("initial", instruction=run) == (str(run), "initial")
    assert method_instruction_source("initial", instruction="human") is None
    # a named source without an argument is its own source, whatever the administrator chose
    assert method_instruction_source("human", instruction=run) == ("human", "learned")
    assert method_instruction_source("in-context", instruction=None) == ("in-context", "learned")
    with pytest.raises(InputError, match="no instruction source gives the 'file' instruction"):
        method_instruction_source("file", instruction="human")  # takes an argument: not a role
    with pytest.raises(InputError, match="'nope'"):
        method_instruction_source("nope", instruction="human")
