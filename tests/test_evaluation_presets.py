"""Bench presets: Eq. 7 on images with known answers, the preset table, per-seed rewrites (a
scripted server: they differ across seeds and hit the cache on rerun), and `bench --preset paper`
end to end on the tiny checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptlearn.cli.main import main
from promptlearn.evaluation.metrics import SIMILARITY_METRICS, get_similarity_metric, similarity_eq7, visual_similarity
from promptlearn.evaluation.presets import DEMO_ADDED_PROMPT, DEMO_NEGATIVE_PROMPT, PRESETS, get_preset
from promptlearn.evaluation.report import ReportOptions
from promptlearn.errors import InputError
from _torch_threads import one_torch_thread  # noqa: F401

ROWS_TSV = "large\tGargantuan\tA large beast in the jungle\n"


# ---- Eq. 7 ---------------------------------------------------------------------------------

def test_eq7_on_images_with_known_answers():
    black = np.zeros((4, 6, 3), dtype=np.uint8)
    white = np.full((4, 6, 3), 255, dtype=np.uint8)
    assert similarity_eq7(black, black) == 1.0
    assert similarity_eq7(white, black) == 0.0  # every pixel differs by 1: ||.||^2 = W*H*C
    grey = np.full((4, 6, 3), 0.5)
    assert similarity_eq7(grey, np.zeros((4, 6, 3))) == pytest.approx(0.75)  # 1 - 0.25
    half = np.zeros((4, 6, 3))
    half[:2] = 1.0  # half of the pixels differ by 1
    assert similarity_eq7(half, np.zeros((4, 6, 3))) == pytest.approx(0.5)
    # by hand: 1 - sum of squares / (W*H*C)
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 7, 3)), rng.random((5, 7, 3))
    assert similarity_eq7(a, b) == pytest.approx(1 - ((a - b) ** 2).sum() / (5 * 7 * 3))
    # the named metric gives the same number through the report's path
    assert visual_similarity(a, b, normaliser=get_similarity_metric("eq7").normaliser) == pytest.approx(similarity_eq7(a, b))


def test_the_two_metrics_are_named_and_differ_sixfold():
    grey, black = np.full((2, 2, 3), 0.2), np.zeros((2, 2, 3))  # MSE 0.04
    eq7 = visual_similarity(grey, black, normaliser=SIMILARITY_METRICS["eq7"].normaliser)
    ours = visual_similarity(grey, black, normaliser=SIMILARITY_METRICS["noise-normalised"].normaliser)
    assert eq7 == pytest.approx(0.96) and ours == pytest.approx(1 - 0.24)
    assert ReportOptions(mse_normaliser=1.0).similarity == "eq7"
    assert ReportOptions().similarity == "noise-normalised"
    assert ReportOptions(mse_normaliser=0.5).similarity.startswith("custom")
    with pytest.raises(InputError, match="unknown similarity metric 'l2'"):
        get_similarity_metric("l2")


def test_presets_are_one_table():
    paper, ours = get_preset("paper"), get_preset("promptlearn")
    assert set(PRESETS) == {"paper", "promptlearn"}
    assert (paper.steps, paper.switch_step, paper.guidance, paper.similarity, paper.rewrites) == (20, 2, 9.0, "eq7", "per-seed")
    assert paper.rewrite_temperature == 1.0 and paper.question == "Is there {concept} in the image?"
    assert paper.added_prompt == "best quality, extremely detailed" and paper.negative_prompt.startswith("longbody, lowres")
    assert (ours.similarity, ours.rewrites, ours.added_prompt) == ("noise-normalised", "per-row", None)
    with pytest.raises(InputError, match="unknown bench preset"):
        get_preset("demo")


# ---- per-seed rewrites ------------------------------------------------------------------------

def seeded_reply(messages, params):
    """A rewrite that names the request's seed and temperature: differs across seeds."""
    query = messages[-1]["content"].split("<query>\n")[1].split("\n</query>")[0]
    return f"{query.replace('large', 'small')} (seed {params.get('seed')}, t {params.get('temperature')})"


def test_per_seed_rewrites_differ_across_seeds_and_hit_the_cache(tmp_path):
    from promptlearn.evaluation.adapters import PredictorRewriter
    from promptlearn.cli.options import build_llm
    from promptlearn.rewriter import Rewriter
    from promptlearn.tasks.base import Example
    from promptlearn.tasks.registry import get_task
    from promptlearn.testing.openai_server import OpenAIServer

    task = get_task("ores")
    row = Example(id="r0", inputs={"concept": "large", "query": "A large beast in the jungle"})
    with OpenAIServer(reply=seeded_reply) as server:
        for attempt in range(2):
            llm = build_llm("openai/test", server.url, 4, 1, False, str(tmp_path / "cache"), 30.0)
            rewriter = PredictorRewriter(Rewriter(llm, task, "swap it"), progress=False, per_image_temperature=1.0)
            texts = [rewriter.rewrite([row], "swap it", seed=seed)[0].text for seed in (0, 1, 2)]
            llm.close()
            assert len(set(texts)) == 3 and all("t 1.0" in t for t in texts), texts
            assert len(server.requests) == 3  # the rerun is served from the cache
        assert [r.params.get("seed") for r in server.requests] == [0, 1, 2]


# ---- the CLI, end to end ---------------------------------------------------------------------

def test_bench_preset_paper_end_to_end_on_tiny_models(tmp_path, capsys):
    from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd
    from promptlearn.testing.openai_server import OpenAIServer

    dataset = tmp_path / "rows.tsv"
    dataset.write_text(ROWS_TSV)
    sd, clip = write_tiny_sd(tmp_path / "sd"), write_tiny_clip(tmp_path / "clip")
    (tmp_path / "learned.txt").write_text("learned: swap it")
    out = tmp_path / "bench"
    with OpenAIServer(reply=seeded_reply) as server:
        args = ["bench", "--preset", "paper", "--dataset", str(dataset), "--seeds", "0,1", "--steps", "3",
                "--methods", "original,negative,tin", "--model", str(sd), "--judge", f"clip:{clip}",
                "--llm", "openai/test", "--api-base", server.url, "--cache-dir", str(tmp_path / "cache"),
                "--instruction", str(tmp_path / "learned.txt"), "--device", "cpu", "--out", str(out), "--no-progress"]
        assert main(args) == 0
        assert len(server.requests) == 2  # one rewrite per (row, seed)
        assert main(args) == 0  # rerun: every cell and rewrite is kept
        assert len(server.requests) == 2
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    tin = {r["seed"]: r["rewrite"] for r in records if r["method"] == "tin"}
    assert tin[0] != tin[1] and "seed 0" in tin[0] and "seed 1" in tin[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["similarity"] == "eq7" and summary["mse_normaliser"] == 1.0
    assert summary["options"]["preset"] == "paper" and summary["options"]["guidance"] == 9.0
    generator = summary["fingerprint"]["generator"]
    assert generator["added_prompt"] == DEMO_ADDED_PROMPT and generator["negative_prompt"] == DEMO_NEGATIVE_PROMPT
    assert summary["fingerprint"]["rewrites"] == "per-seed"
    report = (out / "report.md").read_text()
    assert "metric `eq7`" in report and "ORES Eq. 7" in report and "per image" in report
    tables = report.split("## The paper's tables")[1].split("\n## ")[0]
    assert "### Table 1: baselines" in tables and "### Table 3" not in tables
    assert "| Negative prompt | negative |" in tables and tables.split("| Negative prompt | negative |")[1].split("\n")[0].endswith("| 39.8 |")
    assert tables.count("| 85.6 |") == 1  # TIN alone makes no Table 2 or 3
    assert "| Black list |" not in tables  # not run: left out, not invented


def test_tables_3_to_5_instructions_and_fit_runs_from_the_cli(tmp_path):
    """Table 3's methods (human-designed, in-context with all references) and a fit run given
    as --compare NAME=FILE (Tables 4-5), each rewritten once and sampled like TIN."""
    from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd
    from promptlearn.testing.openai_server import OpenAIServer

    dataset = tmp_path / "rows.tsv"
    dataset.write_text(ROWS_TSV)
    sd, clip = write_tiny_sd(tmp_path / "sd"), write_tiny_clip(tmp_path / "clip")
    (tmp_path / "learned.txt").write_text("learned: swap it")
    (tmp_path / "epoch1.txt").write_text("epoch one: swap it")
    out = tmp_path / "bench"
    with OpenAIServer(reply=seeded_reply) as server:
        args = ["bench", "--dataset", str(dataset), "--seeds", "0", "--steps", "2", "--methods", "tin,tin-human,tin-in-context,epoch1",
                "--compare", f"epoch1={tmp_path / 'epoch1.txt'}", "--model", str(sd), "--judge", f"clip:{clip}",
                "--llm", "openai/test", "--api-base", server.url, "--no-cache",
                "--instruction", str(tmp_path / "learned.txt"), "--device", "cpu", "--out", str(out), "--no-progress"]
        assert main(args) == 0
        systems = [r.messages[0]["content"] for r in server.requests]
    assert len(systems) == 4 and "epoch one: swap it" in systems
    in_context = next(s for s in systems if "Solved examples" in s)
    assert in_context.count("<output>") >= 3 or in_context.count("output") >= 3
    records = {r["method"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert all(records[m]["status"] == "ok" and records[m]["switch_step"] == 2 for m in ("tin-human", "tin-in-context", "epoch1"))
    report = (out / "report.md").read_text()
    assert "### Table 3: instructions" in report and "| Human-designed instruction | tin-human |" in report
    assert "### Tables 4–5: fit runs" in report and "| epoch1 (" in report
    # the compared name lives for its run only: the registry forgets it, a second run may reuse it
    from promptlearn.synthesis.methods import method_names

    assert "epoch1" not in method_names()
    with OpenAIServer(reply=seeded_reply) as server:
        again = [*args[:-3], "--out", str(tmp_path / "bench2"), "--no-progress"]
        again[again.index("--methods") + 1] = "epoch1"
        again[again.index("--api-base") + 1] = server.url
        assert main(again) == 0
    assert "epoch1" not in method_names()


def test_bench_preset_promptlearn_says_one_rewrite_per_row(tmp_path):
    from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd
    from promptlearn.testing.openai_server import OpenAIServer

    dataset = tmp_path / "rows.tsv"
    dataset.write_text(ROWS_TSV)
    sd, clip = write_tiny_sd(tmp_path / "sd"), write_tiny_clip(tmp_path / "clip")
    (tmp_path / "learned.txt").write_text("learned: swap it")
    out = tmp_path / "bench"
    with OpenAIServer(reply=seeded_reply) as server:
        args = ["bench", "--dataset", str(dataset), "--seeds", "0,1", "--steps", "2", "--methods", "tin",
                "--model", str(sd), "--judge", f"clip:{clip}", "--llm", "openai/test", "--api-base", server.url, "--no-cache",
                "--instruction", str(tmp_path / "learned.txt"), "--device", "cpu", "--out", str(out), "--no-progress"]
        assert main(args) == 0
        assert len(server.requests) == 1  # one greedy rewrite shared by both seeds
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["preset"] == "promptlearn" and summary["similarity"] == "noise-normalised"
    assert "per row" in summary["options"]["rewrites"] and "rewrites" not in summary["fingerprint"]


@pytest.mark.parametrize("extra, message", [
    (["--preset", "demo"], "error: --preset: unknown bench preset 'demo'; known: promptlearn, paper"),
    (["--similarity", "l2"], "error: --similarity: unknown similarity metric 'l2'; known: eq7, noise-normalised"),
])
def test_bad_preset_or_metric_is_one_line(tmp_path, capsys, extra, message):
    assert main(["bench", "--dataset", "rows.tsv", "--out", str(tmp_path / "out"), *extra]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
