"""``promptlearn fit``: bad inputs are one line on stderr, found before any LLM call."""

from __future__ import annotations

from promptlearn.cli.main import main


def test_out_below_a_file_is_refused_before_any_llm_call(tmp_path, capsys, openai_server):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = main([
        "fit", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet",
        "--task", "antonyms", "--out", str(blocker / "run"),
    ])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --out") and err.count("\n") == 1, err
    assert openai_server.requests == [] and blocker.read_text() == "x"
