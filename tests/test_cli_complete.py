"""``promptlearn complete`` against the local test server, and its bad-input paths: one line
on stderr, no traceback, a non-zero exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from promptlearn.cli.main import main
from promptlearn.testing.openai_server import Fault


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code != 0
    assert err.startswith("error: ") and fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_complete_against_an_openai_compatible_server(capsys, openai_server, tmp_path):
    args = ["complete", "--llm", "openai/test", "--api-base", openai_server.url, "--cache-dir", str(tmp_path), "--system", "be brief", "hi there"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert out == "echo: hi there\n"
    assert "[openai/test] finish=stop tokens=4+3" in err and "cached=False" in err and "cost=unknown" in err
    [sent] = openai_server.requests
    assert sent.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]
    assert (sent.params["temperature"], sent.params["max_tokens"]) == (0.0, 128)

    code, out, err = run_cli(capsys, *args)
    assert (code, out) == (0, "echo: hi there\n") and "cached=True" in err
    assert len(openai_server.requests) == 1


def test_unknown_provider(capsys):
    code, _, err = run_cli(capsys, "complete", "--llm", "foo/bar", "--no-cache", "hi")
    assert_one_line_error(code, err, "unknown model spec 'foo/bar'")


def test_missing_api_key(capsys):
    code, _, err = run_cli(capsys, "complete", "--llm", "openai/gpt-4o-mini", "--no-cache", "hi")
    assert_one_line_error(code, err, "missing API key for openai/gpt-4o-mini: set OPENAI_API_KEY")


def test_bad_api_base(capsys):
    code, _, err = run_cli(capsys, "complete", "--llm", "openai/test", "--api-base", "localhost:8000", "--no-cache", "hi")
    assert_one_line_error(code, err, "--api-base must be an http(s) URL")


def test_server_rejects_the_key(capsys, openai_server):
    openai_server.inject(Fault.unauthorized())
    code, out, err = run_cli(capsys, "complete", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "hi")
    assert_one_line_error(code, err, "openai/test: authentication failed (HTTP 401)")
    assert out == ""


def test_unknown_spec_in_a_real_process():
    spec = "nonsense"
    result = subprocess.run(
        [sys.executable, "-m", "promptlearn.cli.main", "complete", "--llm", spec, "--no-cache", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert_one_line_error(result.returncode, result.stderr, f"unknown model spec {spec!r}; valid forms:")


def test_a_conversation_from_a_messages_file(capsys, openai_server, tmp_path):
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "from a file"}]
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(conversation))
    code, out, err = run_cli(
        capsys, "complete", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--messages", str(path)
    )
    assert (code, out) == (0, "echo: from a file\n"), err
    assert openai_server.requests[0].messages == conversation


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("[]", "chat.json: messages is empty"),
        ('[{"role": "user"}]', "chat.json: message 0: content"),
        ('[{"role": "robot", "content": "x"}]', "chat.json: message 0: role"),
        ('["hi"]', "chat.json: message 0 must be a dict"),
        ('{"role": "user", "content": "x"}', "chat.json: messages must be a list"),
        ('[{"role": "user",\n "content": }]', "chat.json:2: not valid JSON"),
    ],
)
def test_bad_messages_file(capsys, openai_server, tmp_path, content, fragment):
    path = tmp_path / "chat.json"
    path.write_text(content)
    code, _, err = run_cli(
        capsys, "complete", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--messages", str(path)
    )
    assert_one_line_error(code, err, fragment)
    assert openai_server.requests == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([], "give either PROMPT or --messages FILE"),
        (["hi", "--messages", "MISSING"], "'MISSING' does not exist"),
        (["--messages", "{chat}", "hi"], "give either PROMPT or --messages FILE"),
        (["--messages", "{chat}", "--system", "be brief"], "--system goes with PROMPT"),
    ],
)
def test_prompt_or_messages_but_not_both(capsys, tmp_path, args, fragment):
    chat = tmp_path / "chat.json"
    chat.write_text('[{"role": "user", "content": "x"}]')
    args = [a.replace("{chat}", str(chat)) for a in args]
    code, _, err = run_cli(capsys, "complete", "--llm", "openai/test", "--api-base", "http://127.0.0.1:9/v1", "--no-cache", *args)
    assert_one_line_error(code, err, fragment)


def test_a_file_system_error_is_one_line(capsys):
    """An OSError that slips past the up-front checks (disk full, permissions) is one line too."""
    import click

    from promptlearn.cli.main import cli

    @click.command("raise-oserror")
    def raise_oserror() -> None:
        raise PermissionError(13, "Permission denied", "/runs/demo/state.json")

    cli.add_command(raise_oserror)
    try:
        assert main(["raise-oserror"]) == 1
    finally:
        cli.commands.pop("raise-oserror")
    err = capsys.readouterr().err
    assert err == "error: Permission denied: /runs/demo/state.json\n"
