"""bench/learning_quality.py end to end on one task with a tiny budget (scripted OpenAI server)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "learning_quality.py"


@pytest.mark.slow
def test_learning_quality_bench_writes_table_plot_and_results(tmp_path, openai_server):
    spec = importlib.util.spec_from_file_location("learning_quality", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def reply(messages, params):
        last = messages[-1]["content"]
        if "<word>" not in last:
            return f"Answer with the plural of the noun, variant {params.get('seed')}."
        return "cats" if "variant" in messages[0]["content"] else "The plural is cats"

    openai_server.reply = reply
    out = tmp_path / "out"
    code = bench.main(["--tasks", "plurals", "--seeds", "0", "--calls", "12", "--llm", "openai/test", "--api-base", openai_server.url,
                       "--cache-dir", str(tmp_path / "cache"), "--val-limit", "3", "--test-limit", "4", "--batch-size", "2", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    arms = {row["arm"]: row for row in results["rows"]}
    assert set(arms) == {"p0", "human", "promptlearn-start", "paper-loop", "promptlearn"}
    assert "Demonstrations" in arms["promptlearn-start"]["instruction"] and "Demonstrations" not in arms["p0"]["instruction"]
    # the promptlearn arm's start is the recipe's (best): which won and every candidate's score are kept
    assert arms["promptlearn-start"]["start"] and set(arms["promptlearn-start"]["start_scores"]) == {"p0 with 3 demonstrations", "p0", "human with 3 demonstrations", "human"}
    for arm in ("paper-loop", "promptlearn"):
        assert "max calls" in arms[arm]["stop"] and arms[arm]["val_curve"]
    table = (out / "table.md").read_text()
    assert "| plurals | promptlearn | promptlearn | 1 |" in table and "bench/learning_quality.py" in table
    assert (out / "val_per_step.png").stat().st_size > 1000
