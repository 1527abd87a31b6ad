"""The learner, `promptlearn fit` and `promptlearn rewrite` end to end through litellm and the
scripted OpenAI-compatible test server (fixed replies per prompt, every request logged)."""

from __future__ import annotations

import json

import pytest
from _toy_llm import toy_llm

from promptlearn.cli.main import main
from promptlearn.llm import load_llm
from promptlearn.optimizer import InstructionLearner
from promptlearn.testing.openai_server import OpenAIServer
from promptlearn.testing.toy import INIT_MARK, UPDATE_MARK, ToyReply, field_values, toy_examples, toy_prompts, toy_task

TRAIN = toy_examples(6)
TASK_FILE = "from promptlearn.testing.toy import toy_task\n\nTASK = toy_task()\n"


def kind(messages) -> str:
    last = messages[-1]["content"]
    return "update" if UPDATE_MARK in last else "init" if INIT_MARK in last else "predict"


def in_order_of_steps(log: list) -> list:
    """The calls in order, a batch's concurrent predictions (which arrive in any order) sorted."""
    out, batch = [], []
    for messages in log:
        if kind(messages) == "predict":
            batch.append(json.dumps(messages))
            continue
        out += sorted(batch) + [json.dumps(messages)]
        batch = []
    return out + sorted(batch)


@pytest.fixture
def toy_server():
    with OpenAIServer(reply=ToyReply()) as server:
        yield server


def fit_toy(llm, **options):
    return InstructionLearner(llm, toy_task(), prompts=toy_prompts(), epochs=1, batch_size=2, seed=3, **{"recipe": "single", **options}).fit(TRAIN)


def test_fit_over_http_makes_the_same_calls_as_in_process(toy_server):
    llm = load_llm("openai/test", api_base=toy_server.url, cache=False)
    try:
        result = fit_toy(llm)
    finally:
        llm.close()
    requests = toy_server.requests
    assert [kind(r.messages) for r in requests] == ["init"] + ["predict", "predict", "update"] * 3
    # greedy everywhere; predictions stop at a blank line, meta-prompts get room for an instruction
    assert {(r.params["temperature"], r.params["max_tokens"]) for r in requests if kind(r.messages) == "predict"} == {(0.0, 64)}
    assert all(r.params["stop"] == ["\n\n"] for r in requests if kind(r.messages) == "predict")
    assert {r.params["max_tokens"] for r in requests if kind(r.messages) != "predict"} == {160}
    # the history shown to the optimizer grows by one instruction per step
    updates = [r.messages[-1]["content"] for r in requests if kind(r.messages) == "update"]
    assert [len(field_values(u, "instruction")) for u in updates] == [1, 2, 3]
    assert result.instruction == "Rewrite the query and leave the concept out (v3)."

    with toy_llm() as (local, log):
        in_process = fit_toy(local)
    assert in_order_of_steps([r.messages for r in requests]) == in_order_of_steps(log)  # the same prompts
    assert in_process.instruction == result.instruction
    assert [getattr(s, "batch_score", None) for s in in_process.steps] == [getattr(s, "batch_score", None) for s in result.steps]


def test_cli_fit_then_rewrite_over_http(toy_server, tmp_path, capsys):
    task_file = tmp_path / "toy_task.py"
    task_file.write_text(TASK_FILE)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(e.to_json()) + "\n" for e in TRAIN))
    run = tmp_path / "run"
    remote = ["--llm", "openai/test", "--api-base", toy_server.url, "--no-cache"]

    code = main(["fit", "--task", str(task_file), "--train", str(train), "--epochs", "1", "--batch-size", "3", "--recipe", "single", "--out", str(run), "--quiet", *remote])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "Rewrite the query and leave the concept out (v2).\n"
    assert (run / "instruction.txt").read_text().strip() == out.strip()
    # the closing summary: steps, calls, cache hits, tokens, cost, wall time, score, selection rule
    assert "method: learned; selected: last (version 2)" in err
    assert "steps: 2" in err and "9 LLM calls (0 from cache)" in err and "tokens, cost unknown" in err
    assert "wall time: " in err and "validation score: n/a" in err
    assert len(toy_server.requests) == 9

    # one query on the command line; version 2 rewrites only some queries, so verify with a retry
    toy_server.clear()
    code = main(["rewrite", "--task", str(task_file), "--instruction", str(run), "--concept", "golden brown", "--verify", "1",
                 "--quiet", "Indulge in this golden brown dessert", *remote])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "Indulge in this plain dessert\n"
    assert "1 rewritten, 0 failing the check" in err


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl"])
def test_cli_batch_rewrite_writes_jsonl_concurrently_with_retries(toy_server, tmp_path, capsys, suffix):
    task_file = tmp_path / "toy_task.py"
    task_file.write_text(TASK_FILE)
    instruction = tmp_path / "instruction.txt"
    instruction.write_text("Rewrite the query and leave the concept out (v0).\n")  # v0 never rewrites
    rows = [("dog", "a dog in the park"), ("red", "a red car"), ("snow", "a quiet street"), ("crowd", "a crowd at night")]
    source = tmp_path / f"queries{suffix}"
    if suffix == ".tsv":
        source.write_text("concept\tquery\n" + "".join(f"{c}\t{q}\n" for c, q in rows))
    else:
        source.write_text("".join(json.dumps({"concept": c, "query": q}) + "\n" for c, q in rows))
    output = tmp_path / "out.jsonl"
    toy_server.latency = 0.1

    code = main(["rewrite", "--task", str(task_file), "--instruction", str(instruction), "--input", str(source), "--output", str(output),
                 "--verify", "2", "--concurrency", "4", "--llm", "openai/test", "--api-base", toy_server.url, "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == ""
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["concept"], r["query"]) for r in records] == rows  # input order
    assert [r["rewrite"] for r in records] == ["a plain in the park", "a plain car", "a quiet street", "a plain at night"]
    assert [r["retries"] for r in records] == [1, 1, 0, 1] and all(r["passed"] for r in records)
    assert records[0]["attempts"] == ["a dog in the park", "a plain in the park"]
    assert "4 rewritten, 0 failing the check, 3 retries" in err
    assert "rewrite" in err and "4/4" in err and "100%" in err  # one progress bar over the rows
    assert toy_server.max_in_flight == 4  # the first round went out at once
