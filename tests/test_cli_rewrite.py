"""``promptlearn rewrite``: bad inputs are one line on stderr, found before any LLM call."""

from __future__ import annotations

from promptlearn.cli.main import main


def test_unwritable_output_is_refused_before_any_llm_call(tmp_path, capsys, openai_server):
    instruction = tmp_path / "instruction.txt"
    instruction.write_text("Rewrite the query.")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = main([
        "rewrite", "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet",
        "--instruction", str(instruction), "--concept", "cat", "--output", str(blocker / "out.jsonl"), "a cat",
    ])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --output") and err.count("\n") == 1, err
    assert openai_server.requests == []
