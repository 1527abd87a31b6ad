"""Library errors name arguments; the CLI names flags; one helper makes one-line error text."""

from __future__ import annotations

import pytest

from promptlearn.cli.options import flag_for
from promptlearn.errors import DataFileError, InputError, PromptlearnError, one_line
from promptlearn.llm.errors import ServerError


def test_an_error_names_the_argument_in_the_library_and_the_flag_in_the_cli():
    error = InputError("{out_dir} runs/x is a file; pass {resume=True} or another {out_dir}", arguments=("out_dir", "resume=True"))
    assert str(error) == "out_dir runs/x is a file; pass resume=True or another out_dir"
    assert error.render(flag_for) == "--out runs/x is a file; pass --resume or another --out"


def test_undeclared_braces_stay_as_they_are():
    error = InputError("bad value {'a': 1} for {epochs}", arguments="epochs")
    assert str(error) == "bad value {'a': 1} for epochs"
    assert error.render(flag_for) == "bad value {'a': 1} for --epochs"


@pytest.mark.parametrize(
    "argument, flag",
    [("epochs", "--epochs"), ("batch_size", "--batch-size"), ("cache=False", "--no-cache"), ("select='best'", "--select best"),
     ("max_batch_size", "--batch-size-llm"), ("run_dir", "--out"), ("api_base", "--api-base")],
)
def test_flag_for(argument, flag):
    assert flag_for(argument) == flag


def test_typed_errors_accept_arguments_too():
    assert str(ServerError("{api_base} failed", backend="x", arguments="api_base")) == "api_base failed"
    assert str(DataFileError("a.jsonl", 3, "bad")) == "a.jsonl:3: bad"
    assert isinstance(InputError("x"), (PromptlearnError, ValueError))


def test_one_line():
    assert one_line(ValueError("\n  first   line \nsecond")) == "first line"
    assert one_line(ValueError("")) == "ValueError"
    assert one_line("a\nb", whole=True) == "a b"
    assert one_line("key sk-123 leaked", secrets=["sk-123"]) == "key *** leaked"
    assert one_line("x" * 50, limit=10) == "x" * 7 + "..."
    assert one_line("") == ""


def test_the_cli_prints_flags(capsys):
    from promptlearn.cli.main import main

    assert main(["complete", "--llm", "openai/test", "--api-base", "localhost:8000", "--no-cache", "hi"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: --api-base must be an http(s) URL") and err.count("\n") == 1
