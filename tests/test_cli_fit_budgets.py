"""``promptlearn fit`` budgets, --estimate and --max-errors against the scripted OpenAI server."""

from __future__ import annotations

from promptlearn.cli.main import main


def _fit(server, *args):
    return main(["fit", "--llm", "openai/test", "--api-base", server.url, "--no-cache", "--quiet", "--task", "antonyms", *args])


def test_estimate_makes_no_call(capsys, openai_server):
    code = _fit(openai_server, "--estimate", "--epochs", "1", "--candidates", "2")
    out = capsys.readouterr().out
    assert code == 0 and openai_server.requests == []
    assert "estimate (no LLM call made): recipe promptlearn" in out and "calls: at most" in out
    assert "12 validation (held out)" in out


def _script(server, answer):
    def reply(messages, params):
        last = messages[-1]["content"]
        if "<batch>" in last:
            return f"Give the opposite word only, number {params.get('sample_index')}."
        if "Write one short instruction" in last or "instruction" in last.lower() and len(messages) == 1:
            return "Answer with the opposite of the word."
        return answer

    server.reply = reply


def test_max_calls_stops_the_run_with_the_usage_reached(capsys, openai_server, tmp_path):
    _script(openai_server, "cold")
    code = _fit(openai_server, "--epochs", "1", "--batch-size", "4", "--max-calls", "30", "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert code == 0, err
    assert "stopped: reached max calls (" in err
    used = int(err.split("reached max calls (")[1].split(" >=")[0])
    assert used >= 30 and len(openai_server.requests) == used
    assert "scorers: learning graded" in err and "reported strict (exact_match)" in err


def test_unparseable_answers_count_against_max_errors(capsys, openai_server, tmp_path):
    _script(openai_server, "  ")  # the parser finds nothing in a blank answer
    code = _fit(openai_server, "--epochs", "1", "--max-errors", "3", "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert code != 0 and "unparseable answer" in err and "more than --max-errors 3" in err
    assert err.strip().splitlines()[-1].startswith("error: stopped:")
    assert (tmp_path / "run" / "history.jsonl").exists()
