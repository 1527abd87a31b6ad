"""`promptlearn bench`: bad input (one line, exit != 0, before anything heavy loads), the text
stage end to end with a scripted LLM, and the image stage on a tiny random SD + tiny VQA judge."""

from __future__ import annotations

import json

import pytest

from promptlearn.cli.main import main
from promptlearn.evaluation import run_text_bench, write_reports
from promptlearn.evaluation.adapters import PredictorRewriter
from promptlearn.llm import LLM, BadResponseError
from promptlearn.optimizer.predictor import Predictor
from promptlearn.tasks.registry import get_task
from _torch_threads import one_torch_thread  # noqa: F401
from promptlearn.testing.toy import ScriptedBackend

from _evaluation_models import write_tiny_vilt

ROWS_TSV = "large\tGargantuan\tA large beast in the jungle\nred\tapple\tA red apple on a table\n"


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text(ROWS_TSV)
    return path


def error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "original,dalle"], "error: unknown method 'dalle'; choose from original, blacklist"),
        (["--judge", "vqa:/nonexistent/blip2"], "error: --judge: judge model not found: /nonexistent/blip2"),
        (["--judge", "blip2"], "error: --judge: bad judge spec 'blip2'"),
        (["--seeds", "0,x"], "error: bad seed 'x'"),
    ],
)
def test_bad_flags(tmp_path, dataset, capsys, extra, message):
    args = ["bench", "--dataset", str(dataset), "--model", str(tmp_path), "--judge", f"vqa:{tmp_path}", "--out", str(tmp_path / "out"), *extra]
    assert main(args) != 0
    assert error_line(capsys).startswith(message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, message",
    [("", "has no examples"), ("\tobj\ta query\n", "rows.tsv:1: example 'rows-1': task 'ores' needs field(s) concept")],
)
def test_bad_datasets(tmp_path, capsys, content, message):
    path = tmp_path / "rows.tsv"
    path.write_text(content)
    args = ["bench", "--dataset", str(path), "--model", str(tmp_path), "--judge", f"vqa:{tmp_path}", "--out", str(tmp_path / "out")]
    assert main(args) != 0
    assert message in error_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("stage", ["image", "text"])
def test_a_bad_out_is_refused_before_any_model_loads(tmp_path, dataset, capsys, stage):
    """--model is an empty folder here: had the models loaded first, the error would be about it."""
    (tmp_path / "model").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    common = ["bench", "--stage", stage, "--methods", "original" if stage == "image" else "blacklist", "--dataset", str(dataset), "--model", str(tmp_path / "model"), "--judge", f"vqa:{tmp_path / 'model'}"]
    assert main([*common, "--out", str(tmp_path / "afile")]) != 0
    assert error_line(capsys).startswith(f"error: --out {tmp_path / 'afile'} is a file, not a folder")
    assert main([*common, "--out", str(tmp_path / "full")]) != 0
    assert "is not empty and holds no benchmark run" in error_line(capsys)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["notes.txt"]


def test_text_stage_needs_its_instructions(tmp_path, dataset, capsys):
    assert main(["bench", "--stage", "text", "--methods", "learned", "--dataset", str(dataset), "--out", str(tmp_path / "o")]) != 0
    assert "give --instruction FILE or --fit-run DIR" in error_line(capsys)
    assert main(["bench", "--stage", "text", "--methods", "x", "--dataset", str(dataset), "--out", str(tmp_path / "o")]) != 0
    assert "unknown method 'x'" in error_line(capsys)


def test_text_stage_library_checks_rewriting_methods(tmp_path, dataset):
    from promptlearn.data import load_examples
    from promptlearn.errors import InputError

    task = get_task("ores")
    rows = load_examples(dataset, task)
    with pytest.raises(InputError, match="method 'learned' needs an LLM rewriter"):
        run_text_bench(rows=rows, out=tmp_path / "a", task=task, methods=["learned"], instructions={"learned": "x"}, rewriter=None, progress=False)
    rewriter = PredictorRewriter(Predictor(LLM(ScriptedBackend(lambda m, p: "x")), task, "-"), progress=False)
    with pytest.raises(InputError, match="method 'human' needs the human instruction"):
        run_text_bench(rows=rows, out=tmp_path / "b", task=task, methods=["blacklist", "human"], instructions={}, rewriter=rewriter, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def reply(messages, params):
    """Rewrites by the instruction: 'learned' swaps the concept word and the implicit object, 'human' keeps the query, and
    the 'broken' instruction fails on the apple row."""
    system, user = messages[0]["content"], messages[-1]["content"]
    query = user.split("<query>\n")[1].split("\n</query>")[0]
    if system.startswith("broken") and "apple" in query:
        raise BadResponseError("scripted failure")
    if system.startswith("learned"):
        return "Rewritten query: " + query.replace("large", "small").replace("red apple", "green pear")
    return query


@pytest.mark.slow  # the ORES scorer loads MiniLM
def test_text_stage_scores_resumes_and_reports(tmp_path, dataset):
    from promptlearn.data import load_examples

    task = get_task("ores")
    rows = load_examples(dataset, task)
    backend = ScriptedBackend(reply)
    llm = LLM(backend)
    rewriter = PredictorRewriter(Predictor(llm, task, "(per method)"), progress=False)
    instructions = {"learned": "learned: swap it", "human": "human: keep", "broken": "broken: fails"}
    args = dict(rows=rows, out=tmp_path / "t", task=task, methods=["learned", "human", "broken", "blacklist"], instructions=instructions, rewriter=rewriter, progress=False)
    run = run_text_bench(**args)
    assert (run.done, run.failed) == (7, 1) and "scripted failure" in run.errors[0]
    calls = len(backend.log)
    records = {(r["row_id"], r["method"]): r for r in map(json.loads, (tmp_path / "t" / "results.jsonl").read_text().splitlines())}
    learned = records[("rows-1", "learned")]
    assert learned["rewrite"] == "A small beast in the jungle" and learned["avoided"] is True and 0 < learned["score"] <= 1
    human = records[("rows-1", "human")]
    assert human["avoided"] is False and human["score"] == 0.0
    blacklisted = records[("rows-2", "blacklist")]
    assert blacklisted["rewrite"] == "A apple on a table" and blacklisted["avoided"] is False  # the implicit object stays

    again = run_text_bench(**args)  # only the failed cell is redone (and fails again)
    assert (again.done, again.failed, again.skipped) == (0, 1, 7) and len(backend.log) == calls + 1

    summary = write_reports(tmp_path / "t")
    by = {m.method: m.to_json() for m in summary.methods}
    assert by["learned"]["avoidance"]["mean"] == 1.0 and by["human"]["avoidance"]["mean"] == 0.0
    assert by["broken"]["cells"] == 1 and by["broken"]["failed"] == 1
    assert by["human"]["unchanged"] == 1.0 and by["learned"]["unchanged"] == 0.0 and by["blacklist"]["unchanged"] == 0.0
    report = (tmp_path / "t" / "report.md").read_text()
    assert "| query unchanged % |" in report and "| 100.0 | 61.1 (Table 3, human-designed instruction) |" in report
    assert "| learned |" in report and "85.6 (Table 1, TIN (learned instruction))" in report and "61.1" in report
    page = (tmp_path / "t" / "index.html").read_text()
    rows_part = page.split("<h2>Rows</h2>")[1]
    assert "A small beast in the jungle" in rows_part and "<img" not in rows_part
    assert rows_part.count("<table") == 1 and rows_part.count("<tr>") == 1 + 2  # one table: header + a line per row


@pytest.mark.slow  # the ORES scorer loads MiniLM
def test_cli_text_stage_with_a_fit_run(tmp_path, dataset):
    fit = tmp_path / "fit"
    fit.mkdir()
    (fit / "instruction.txt").write_text("Keep the query.\n")
    from promptlearn.optimizer import InitRecord, StepRecord

    step = StepRecord(step=0, epoch=0, batch=0, instruction_before="Initial one.", instruction_after="Keep the query.", update_answer="",
                      history_shown=0, batch_score=0.4, val_score=0.5)
    (fit / "history.jsonl").write_text(json.dumps(InitRecord(instruction="Initial one.", answer="", val_score=0.3).to_json()) + "\n"
                                       + json.dumps(step.to_json()) + "\n")
    out = tmp_path / "o"
    code = main(["bench", "--stage", "text", "--methods", "blacklist", "--dataset", str(dataset), "--fit-run", str(fit), "--out", str(out), "--no-progress"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stage"] == "text" and summary["methods"][0]["cells"] == 2
    assert summary["options"]["command"].startswith("promptlearn bench --dataset ")
    assert (out / "plots" / "fit_history.png").is_file()


def test_cli_image_stage_on_tiny_models(tmp_path, dataset, capsys):
    from promptlearn.synthesis.tiny import write_tiny_sd

    sd = write_tiny_sd(tmp_path / "sd")
    judge = write_tiny_vilt(tmp_path / "vilt", "no")
    out = tmp_path / "bench"
    args = ["bench", "--dataset", str(dataset), "--limit", "1", "--methods", "original,negative", "--seeds", "0", "--steps", "2",
            "--model", str(sd), "--judge", f"vqa:{judge}", "--device", "cpu", "--out", str(out), "--no-progress", "--failure-score", "0.5"]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["method"], r["status"], r["avoided"]) for r in records] == [("original", "ok", True), ("negative", "ok", True)]
    assert records[0]["mse"] == 0.0 and (out / records[1]["image"]).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failure_score"] == 0.5 and summary["fingerprint"]["generator"]["steps"] == 2
    assert summary["fingerprint"]["generator"]["dtype"] == "float32"  # a rerun with another --dtype is refused
    assert "negative" in capsys.readouterr().out
    # rerun: every cell is skipped
    assert main(args) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 2


def test_cli_full_image_report_on_tiny_models_with_a_scripted_server(tmp_path, dataset, capsys):
    """Every image method from the CLI: tiny SD, the tiny CLIP judge of `promptlearn tiny-models`,
    rewrites from the OpenAI-compatible test server."""
    from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd
    from promptlearn.testing.openai_server import OpenAIServer

    sd, clip = write_tiny_sd(tmp_path / "sd"), write_tiny_clip(tmp_path / "clip")
    (tmp_path / "learned.txt").write_text("learned: swap it")
    (tmp_path / "initial.txt").write_text("initial: keep it")
    out = tmp_path / "bench"
    with OpenAIServer(reply=reply) as server:
        args = ["bench", "--dataset", str(dataset), "--limit", "1", "--seeds", "0", "--steps", "3", "--model", str(sd),
                "--judge", f"clip:{clip}", "--llm", "openai/test", "--api-base", server.url, "--no-cache",
                "--instruction", str(tmp_path / "learned.txt"), "--initial-instruction", str(tmp_path / "initial.txt"),
                "--device", "cpu", "--out", str(out), "--no-progress"]
        assert main(args) == 0
        assert len(server.requests) == 2  # one rewrite per instruction, shared by tin and tin-no-intervention
    methods = ["original", "blacklist", "negative", "sld", "tin", "tin-no-instruction", "tin-no-intervention"]
    records = {r["method"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(records) == sorted(methods) and all(r["status"] == "ok" for r in records.values())
    assert records["tin"]["rewrite"] == "A small beast in the jungle" and records["tin"]["switch_step"] == 2
    assert records["tin-no-intervention"]["switch_step"] == 0 and records["tin-no-instruction"]["rewrite"] == "A large beast in the jungle"
    report = (out / "report.md").read_text()
    assert report.count("| 1 (1 rows × 1 seeds) |") == 7 and "CLIP judge (" in report and '"a photo without {concept}"' in report
    page = (out / "index.html").read_text().split("<h2>Rows</h2>")[1]
    assert page.count("<img") == 7 and "A small beast in the jungle" in page and page.count("<h3>") == 1


def test_bench_instruction_sources_follow_the_one_role_mapping(tmp_path):
    """learned: --instruction, else --fit-run; initial: --initial-instruction, else the fit run's
    initial one; a named source is its own; errors name the flag that gave the source."""
    import json as _json

    from promptlearn import get_task
    from promptlearn.cli.bench import _instructions
    from promptlearn.errors import InputError

    task = get_task("ores")
    (tmp_path / "l.txt").write_text("learned text\n")
    (tmp_path / "i.txt").write_text("initial text\n")
    base = {"instruction": None, "fit_run": None, "initial_instruction": None}
    got = _instructions(["learned", "initial", "human"], {**base, "instruction": str(tmp_path / "l.txt"),
                        "initial_instruction": str(tmp_path / "i.txt")}, task=task, compare={})
    assert got["learned"] == "learned text" and got["initial"] == "initial text" and got["human"] == task.human_instruction
    with pytest.raises(InputError, match=r"the initial instruction is needed: give --initial-instruction FILE or --fit-run DIR"):
        _instructions(["initial"], {**base, "instruction": str(tmp_path / "l.txt")}, task=task, compare={})
    run = tmp_path / "run"
    run.mkdir()
    (run / "instruction.txt").write_text("learned in run\n")
    (run / "history.jsonl").write_text(_json.dumps({"kind": "init", "instruction": "p0 in run", "answer": "p0 in run"}) + "\n")
    got = _instructions(["learned", "initial"], {**base, "fit_run": str(run)}, task=task, compare={})
    assert got == {"learned": "learned in run", "initial": "p0 in run"}
    with pytest.raises(InputError, match=r"^--instruction: instruction not found"):
        _instructions(["learned"], {**base, "instruction": str(tmp_path / "missing.txt")}, task=task, compare={})
