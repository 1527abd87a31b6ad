"""`promptlearn ui` on the command line: without gradio one line saying how to install it; bad
flags named; 127.0.0.1 unless asked (the page itself: tests/test_ui.py)."""

from __future__ import annotations

import sys

import pytest

from promptlearn.cli.main import main


def test_without_gradio_one_line_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio raises ImportError
    assert main(["ui"]) != 0
    err = capsys.readouterr().err
    assert err == "error: the web UI needs gradio, which is not installed: pip install 'promptlearn[ui]'\n"


@pytest.fixture
def launched(monkeypatch):
    pytest.importorskip("gradio", reason="the ui extra is not installed")
    import promptlearn.ui.app as app

    calls = []
    monkeypatch.setattr(app, "launch", lambda studio, **kwargs: calls.append((studio, kwargs)))
    return calls


def test_serves_on_localhost_unless_asked(launched, capsys):
    assert main(["ui", "--concept", "red", "--steps", "4"]) == 0
    studio, kwargs = launched[0]
    assert kwargs == {"host": "127.0.0.1", "port": 7860, "share": False}
    assert studio.settings.concepts == ("red",) and studio.settings.model == "toy" and studio.settings.steps == 4
    assert "serving on http://127.0.0.1:7860" in capsys.readouterr().err
    assert main(["ui", "--host", "0.0.0.0", "--port", "8000", "--share"]) == 0
    assert launched[1][1] == {"host": "0.0.0.0", "port": 8000, "share": True}


@pytest.mark.parametrize("args, message", [
    (["--model", "/no/such/model"], "error: model folder not found: /no/such/model (--model)"),
    (["--judge", "blip"], "error: bad judge spec 'blip'"),
    (["--bench", "/no/such/bench"], "error: --bench: /no/such/bench holds no benchmark run"),
    (["--llm", "nope/"], "error: "),
])
def test_bad_flags_are_one_line_before_anything_serves(launched, capsys, args, message):
    assert main(["ui", *args]) != 0
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and not launched


def test_studio_reads_each_methods_instruction_through_the_library_mapping(tmp_path):
    """The page has one instruction field: learned is that source (a run folder's chosen role),
    initial needs a fit run folder, human is the task's own; no gradio needed."""
    from promptlearn.errors import InputError
    from promptlearn.ui.studio import Settings, Studio

    studio = Studio(Settings(instruction="human"), progress=False)
    human = studio.instruction(studio.settings, "human")
    assert studio.instruction(studio.settings, "learned").text == human.text
    with pytest.raises(InputError, match="fit run folder"):
        studio.instruction(studio.settings, "initial")
    (tmp_path / "p.txt").write_text("Rewrite the query without the concept.\n")
    studio = Studio(Settings(instruction=str(tmp_path / "p.txt")), progress=False)
    assert studio.instruction(studio.settings, "learned").text == "Rewrite the query without the concept."
    assert studio.instruction(studio.settings, "human").text == human.text
