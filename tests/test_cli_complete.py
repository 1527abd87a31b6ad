"""``promptlearn complete`` against the local test server, and its bad-input paths: one line
on stderr, no traceback, a non-zero exit code."""

from __future__ import annotations

import subprocess
import sys

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
