"""``promptlearn redteam``: cases planned per attack, the verified rewrite at text level, the toy
model and judge at image level (row seeds honoured), the summary and the command's checks."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _toy_llm import toy_llm  # noqa: E402

from promptlearn.cli.main import main  # noqa: E402
from promptlearn.data import load_examples  # noqa: E402
from promptlearn.redteam.attacks import parse_attacks  # noqa: E402
from promptlearn.redteam.run import NO_ATTACK, carries_concept, plan_cases, summarise, text_stage  # noqa: E402
from promptlearn.rewriter import Rewriter  # noqa: E402
from promptlearn.tasks.ores import make_ores_task  # noqa: E402

QUERY = re.compile(r"<query>\n(.*?)\n</query>", re.S)


def lazy(messages, params):
    """An LLM that answers every rewrite with the query unchanged (and every retry the same)."""
    first = next(m["content"] for m in messages if m["role"] == "user")
    return QUERY.search(first).group(1)


def careful(messages, params):
    """An LLM that drops every word but the first two and adds a harmless scene."""
    first = next(m["content"] for m in messages if m["role"] == "user")
    return " ".join(QUERY.search(first).group(1).split()[:1]) + " calm scene with a plain shape"


def test_plan_cases_has_none_and_each_attack_per_row():
    rows = load_examples("redteam-i2p-sample", make_ores_task(), limit=2)
    cases = plan_cases(rows, parse_attacks("leetspeak,injection"))
    assert [c.attack for c in cases] == [NO_ATTACK, "leetspeak", "injection"] * 2
    leet = cases[1]
    assert leet.applied and leet.attacked != leet.query and leet.meta == {"seed": 2734971755, "guidance": 7.0, "width": 512, "height": 512}
    # the second row's concept lists two categories ("violence, shocking"): the attack finds "bloody"
    assert cases[4].applied and "bloody" not in cases[4].attacked.casefold()


def test_oracle_sees_the_concept_and_attacked_forms():
    assert carries_concept("nudity", "a n u d 3 statue")
    assert carries_concept("dog", "a xyzzy", replacements=("xyzzy",))
    assert not carries_concept("dog", "a cat on a sofa")


@pytest.mark.slow
def test_a_lazy_llm_is_blocked_by_verification_and_nothing_gets_through():
    task = make_ores_task()
    rows = load_examples("redteam-toy-sample", task, limit=3)
    cases = plan_cases(rows, parse_attacks("spacing,leetspeak,synonym"))
    with toy_llm(lazy) as (llm, _):
        text_stage(cases, Rewriter(llm, task, "Rewrite.", verify_retries=1))
    summary = {s.attack: s for s in summarise(cases)}
    for name, applicable in (("spacing", 3), ("leetspeak", 3), ("synonym", 3)):  # "blue": the toy world's navy, azure
        s = summary[name]
        assert s.rewritten == applicable and s.kept == applicable and s.blocked == applicable and s.through == 0
        assert s.through_words_only == applicable  # a words-only check would have let every one through
    assert summary[NO_ATTACK].through_words_only == 1  # "a crimson square" for red: only the lexicon sees it


@pytest.mark.slow
def test_cli_text_and_image_level_on_the_toy_sample(tmp_path, openai_server, capsys):
    openai_server.reply = careful
    out = tmp_path / "rt"
    code = main([
        "redteam", "--dataset", "redteam-toy-sample", "--limit", "2", "--attacks", "homoglyph,dilution",
        "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet",
        "--model", "toy", "--judge", "toy", "--steps", "2", "--out", str(out),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "| homoglyph | 2/2 |" in captured.out and "image shows concept: tin" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["methods"] == ["original", "tin"] and [a["attack"] for a in summary["attacks"]] == ["none", "homoglyph", "dilution"]
    cases = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(cases) == 6 and all(set(c["images"]) == {"original", "tin"} for c in cases)
    assert cases[0]["meta"]["seed"] == 1 and "report.md" in {p.name for p in out.iterdir()}
    assert sorted(p.name for p in (out / "grids").iterdir()) == ["dilution.png", "homoglyph.png", "none.png"]
    assert len(summary["config"]["model_sha256"]) == 64 and "grids/homoglyph.png" in (out / "report.md").read_text()


@pytest.mark.slow
def test_cli_dilution_against_a_safety_checker_at_image_level(tmp_path, openai_server, capsys):
    """Plumbing only: the tiny checkpoint's safety checker has random weights and thresholds of 1.0."""
    from promptlearn.synthesis.tiny import write_tiny_sd

    sd = write_tiny_sd(tmp_path / "sd", with_safety_checker=True)
    openai_server.reply = careful
    out = tmp_path / "rt"
    code = main([
        "redteam", "--dataset", "redteam-toy-sample", "--limit", "2", "--attacks", "dilution",
        "--llm", "openai/test", "--api-base", openai_server.url, "--no-cache", "--quiet",
        "--model", "toy", "--judge", "toy", "--filter", f"safety-checker:{sd}", "--methods", "original", "--steps", "2",
        "--out", str(out),
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "filter flags: original" in captured.out and "shows and not flagged: original" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    dilution = next(a for a in summary["attacks"] if a["attack"] == "dilution")
    assert dilution["filtered"]["original"] == [0, 2]  # thresholds of 1.0 flag nothing
    assert dilution["past_filter"]["original"][0] == dilution["images"]["original"][0]
    cases = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert all(c["filtered"] == {"original": False} and c["filter_margin"]["original"] < 0 for c in cases)
    assert summary["config"]["filter"] == f"safety-checker:{sd}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attacks", "rot13"], "unknown attack rot13"),
        (["--category", "gore"], "no row of category gore"),
        (["--model", "toy"], "--model needs --judge"),
        (["--judge", "toy"], "--judge goes with --model"),
        (["--filter", "safety-checker"], "--filter goes with --model"),
        (["--model", "toy", "--judge", "toy", "--filter", "safety-checker"], "this checkpoint has no safety checker"),
        (["--model", "toy", "--judge", "toy", "--methods", "fabric-x"], "fabric-x"),
    ],
)
def test_cli_bad_inputs_are_one_line_before_any_llm_call(tmp_path, openai_server, capsys, args, message):
    code = main(["redteam", "--dataset", "redteam-i2p-sample", "--llm", "openai/test", "--api-base", openai_server.url,
                 "--no-cache", "--quiet", "--out", str(tmp_path / "rt"), *args])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert openai_server.requests == [] and not (tmp_path / "rt").exists()
