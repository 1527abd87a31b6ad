"""``promptlearn show RUN``: the starting and learned instruction on held-out examples."""

from __future__ import annotations

from promptlearn.cli.main import main
from promptlearn.data import load_examples
from promptlearn.tasks.registry import get_task

ANTONYMS = " ".join(e.references[0] for e in load_examples("antonyms-train", get_task("antonyms")))


def _scripted_antonyms(server, tmp_path, update: str) -> list[str]:
    """A scripted LLM for an antonyms fit: ``update`` is every proposed instruction, p_0 is "Say
    something about the word.", and an instruction saying "opposite" answers with every training
    antonym (graded 0.5), any other 'The word is "hot".'. Returns the LLM flags."""
    def reply(messages, params):
        last = messages[-1]["content"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        if "<batch>" in last:
            return update
        if "<word>" not in last:
            return "Say something about the word."
        return ANTONYMS if "opposite" in system else 'The word is "hot".'

    server.reply = reply
    return ["--llm", "openai/test", "--api-base", server.url, "--cache-dir", str(tmp_path / "cache")]


def test_show_prints_both_instructions_with_held_out_scores_and_examples(capsys, openai_server, tmp_path):
    llm = _scripted_antonyms(openai_server, tmp_path, "Answer with the opposite word only, one word, lowercase.")
    run = tmp_path / "run"
    # --start p0: this test follows p_0 (its answers are not the antonyms); start best is below
    assert main(["fit", "--task", "antonyms", "--epochs", "1", "--max-steps", "1", "--start", "p0", "--quiet", "--out", str(run), *llm]) == 0
    capsys.readouterr()
    assert main(["show", str(run), "--limit", "4", *llm]) == 0
    out = capsys.readouterr().out
    assert "starting instruction (held-out score 0.000" in out and "Say something about the word." in out
    assert "learned instruction (held-out score" in out and "Answer with the opposite word only" in out
    assert "antonyms-test (4)" in out and out.count(" -> ") == 6


def test_show_says_which_start_won_with_start_best(capsys, openai_server, tmp_path):
    # the human-written instruction ("... the opposite meaning ...") gets every antonym in its answers
    llm = _scripted_antonyms(openai_server, tmp_path, "Say one more thing about the word.")
    run = tmp_path / "run"
    assert main(["fit", "--task", "antonyms", "--epochs", "1", "--max-steps", "1", "--demos", "0", "--start", "best", "--out", str(run), *llm]) == 0
    assert "note: start (best): human won on validation (p0 0.000, human 0.500; scorer graded" in capsys.readouterr().err
    assert main(["show", str(run), "--limit", "2", *llm]) == 0
    out = capsys.readouterr().out
    assert "start (best): human won on validation" in out and "Write the antonym of the given word" in out


def test_show_refuses_a_folder_that_is_no_finished_fit(capsys, tmp_path):
    assert main(["show", str(tmp_path)]) == 2
    assert "is not a promptlearn fit run folder" in capsys.readouterr().err


def test_a_multi_line_instruction_is_indented_on_every_line():
    from promptlearn.optimizer.show import Comparison, Shown

    text = Comparison("ores", "promptlearn", "ores", None, "ores-test", [Shown("learned", "Rewrite the query.\n\nExample:\nq -> r", 0.5, None)]).text()
    block = text.split("learned instruction (held-out score 0.500):\n", 1)[1].split("\n  example rewrites:", 1)[0]
    assert block.splitlines() == ["  Rewrite the query.", "", "  Example:", "  q -> r"]
