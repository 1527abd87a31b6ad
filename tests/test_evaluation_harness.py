"""The image-stage harness on a scripted generator, rewriter and judge: cells, resume, failures,
reports. The generator paints solid colours whose distance to the reference is known."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.evaluation import Rewrite, ScriptedJudge, run_image_bench, write_reports
from promptlearn.evaluation.report import ReportOptions
from promptlearn.tasks.base import Example

from _word_task import WordTask

# grey levels per synthesis method; the judge says "present" for the unconstrained colour
LEVEL = {"original": 0, "blacklist": 0, "negative": 51, "sld": 102, "tin": 51, "tin-no-instruction": 51, "tin-no-intervention": 51}


class PaintingGenerator:
    def __init__(self, fail_on: tuple[str, str] | None = None):
        self.calls: list[tuple[str, str, int, str | None, int | None]] = []
        self.fail_on = fail_on

    def identity(self):
        return {"model": "painter"}

    def generate(self, request):
        self.calls.append((request.query, request.method, request.seed, request.rewrite, request.switch_step))
        if self.fail_on == (request.query, request.method):
            raise RuntimeError("CUDA out of memory (simulated)")
        level = LEVEL[request.method] + (request.switch_step or 0)
        return Image.new("RGB", (8, 8), (level, level, level))


class ListRewriter:
    def __init__(self):
        self.calls = 0

    def identity(self):
        return {"llm": "scripted"}

    def rewrite(self, rows, instruction):
        self.calls += 1
        return [Rewrite(f"{row.inputs['query']} [{instruction}]") for row in rows]


def present_if_black(image, concept):
    return image.getpixel((0, 0))[0] < 10


ROWS = [
    Example("r1", {"concept": "dog", "query": "a dog on a sofa"}),
    Example("r2", {"concept": "red", "query": "a red car"}),
]
METHODS = ["original", "blacklist", "negative", "tin", "tin-no-instruction", "tin-no-intervention"]
INSTRUCTIONS = {"learned": "learned: rewrite it", "initial": "initial: rewrite"}


def run(out, generator, judge=None, rewriter=None, **kw):
    return run_image_bench(
        rows=kw.pop("rows", ROWS),
        out=out,
        generator=generator,
        judge=judge or ScriptedJudge(present_if_black),
        rewriter=rewriter or ListRewriter(),
        instructions=kw.pop("instructions", INSTRUCTIONS),
        methods=kw.pop("methods", METHODS),
        seeds=kw.pop("seeds", [0, 1]),
        switch_step=2,
        progress=False,
        **kw,
    )


def test_cells_scores_and_resume(tmp_path):
    generator, rewriter = PaintingGenerator(), ListRewriter()
    result = run(tmp_path / "b", generator, rewriter=rewriter)
    assert (result.done, result.failed, result.skipped) == (2 * 2 * 6, 0, 0)
    assert len(generator.calls) == 24
    assert rewriter.calls == 2  # one batch per instruction, shared across seeds and methods
    # tin switches at S, tin-no-intervention at 0, and both use the learned rewrite
    tin = [c for c in generator.calls if c[1].startswith("tin")]
    assert {c[1]: c[4] for c in tin} == {"tin": 2, "tin-no-instruction": 2, "tin-no-intervention": 0}
    assert all("[learned" in c[3] or "[initial" in c[3] for c in tin)

    records = [json.loads(line) for line in (tmp_path / "b" / "results.jsonl").read_text().splitlines()]
    assert len(records) == 24
    cell = next(r for r in records if r["row_id"] == "r1" and r["method"] == "negative" and r["seed"] == 1)
    assert cell["avoided"] is True and cell["mse"] == pytest.approx(0.04)
    assert (tmp_path / "b" / cell["image"]).is_file()
    assert cell["judge"]["raw"] == "no"

    # a rerun does nothing: no image, no rewrite, no judge call
    judge = ScriptedJudge(present_if_black)
    again_gen, again_rw = PaintingGenerator(), ListRewriter()
    result = run(tmp_path / "b", again_gen, judge=judge, rewriter=again_rw)
    assert (len(again_gen.calls), again_rw.calls, judge.calls, result.skipped) == (0, 0, 0, 24)

    # adding a seed only makes that seed's cells
    more = PaintingGenerator()
    run(tmp_path / "b", more, seeds=[0, 1, 2])
    assert {c[2] for c in more.calls} == {2} and len(more.calls) == 12


def test_changed_instruction_redoes_only_its_cells(tmp_path):
    run(tmp_path / "b", PaintingGenerator())
    generator = PaintingGenerator()
    run(tmp_path / "b", generator, instructions={**INSTRUCTIONS, "initial": "initial v2"})
    # tin-no-instruction needs the reference, which is read back from disk, not regenerated
    assert len(generator.calls) == 4 and all(c[1] == "tin-no-instruction" and "[initial v2]" in c[3] for c in generator.calls)


def test_a_failing_cell_is_recorded_and_retried(tmp_path):
    result = run(tmp_path / "b", PaintingGenerator(fail_on=("a red car", "negative")))
    assert result.failed == 2 and result.done == 22
    assert "CUDA out of memory" in result.errors[0]
    summary = write_reports(tmp_path / "b")
    assert len(summary.failures) == 2
    assert "Failed cells (2)" in (tmp_path / "b" / "report.md").read_text()
    retry = PaintingGenerator()
    result = run(tmp_path / "b", retry)
    assert result.done == 2 and [c[1] for c in retry.calls] == ["negative", "negative"]


def test_a_lost_reference_image_is_made_again(tmp_path):
    run(tmp_path / "b", PaintingGenerator(), methods=["original", "negative"], seeds=[0])
    (tmp_path / "b" / "images" / "r1" / "original-seed0.png").unlink()
    generator = PaintingGenerator()
    result = run(tmp_path / "b", generator, methods=["original", "negative", "sld"], seeds=[0])
    assert result.failed == 0 and sorted(c[1] for c in generator.calls) == ["original", "sld", "sld"]


def test_a_failing_reference_fails_its_row_and_seed(tmp_path):
    result = run(tmp_path / "b", PaintingGenerator(fail_on=("a dog on a sofa", "original")), seeds=[0])
    assert result.failed == 6 and result.done == 6


def test_reports(tmp_path):
    run(tmp_path / "b", PaintingGenerator())
    summary = write_reports(tmp_path / "b", ReportOptions(failure_score=0.5), wall_seconds=1.5)
    folder = tmp_path / "b"
    for name in ("summary.json", "report.md", "index.html", "plots/methods.png"):
        assert (folder / name).is_file(), name
    by_method = {m.method: m.to_json() for m in summary.methods}
    # original and blacklist paint black: never avoided, scored with the failure score
    assert by_method["original"]["avoidance"]["mean"] == 0.0
    assert by_method["blacklist"]["score"]["mean"] == 0.5
    assert by_method["negative"]["avoidance"]["mean"] == 1.0
    assert by_method["negative"]["score"]["mean"] == pytest.approx(1 - 0.04 * 6)
    assert by_method["negative"]["paper_avoidance_pct"] == 39.8
    assert by_method["negative"]["score"]["std"] == 0.0 and by_method["negative"]["cells"] == 4

    report = (folder / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| method"))
    for column in ("avoidance % (mean ± std)", "similarity score (mean ± std)", "| n |", "paper avoidance % (machine eval)"):
        assert column in header
    assert "| negative |" in report and "100.0 ± 0.0" in report and "39.8 (Table 1, negative prompt)" in report
    assert "failure score **0.5**" in report and "1/6" in report
    assert "Wall time of the last invocation: 1.5 s" in report

    page = (folder / "index.html").read_text()
    sources = [part.split('"')[0] for part in page.split('src="')[1:]]
    assert sources and all((folder / s).is_file() and not s.startswith("/") for s in sources)
    assert "a dog on a sofa [learned" in page  # rewrites as captions
    assert "http" not in page  # self-contained apart from the relative image paths
    # a different failure score needs no new cell
    assert write_reports(folder, ReportOptions(failure_score=0.0)).methods[1].summary.score.mean == 0.0


def test_report_with_a_fit_history_plot(tmp_path):
    fit = tmp_path / "fit"
    fit.mkdir()
    from promptlearn.optimizer import InitRecord, StepRecord

    def step(number, batch_score, val_score):
        return StepRecord(step=number, epoch=0, batch=number, instruction_before=f"p{number}", instruction_after=f"p{number + 1}",
                          update_answer="", history_shown=0, batch_score=batch_score, val_score=val_score)

    lines = [InitRecord(instruction="p0", answer="p0", val_score=0.2), step(0, 0.3, 0.4), step(1, 0.5, 0.6)]
    (fit / "history.jsonl").write_text("".join(json.dumps(x.to_json()) + "\n" for x in lines))
    run(tmp_path / "b", PaintingGenerator(), methods=["original", "negative"], seeds=[0])
    summary = write_reports(tmp_path / "b", fit_run=fit)
    assert summary.plots["fit_history"] == "plots/fit_history.png"
    assert (tmp_path / "b" / "plots" / "fit_history.png").stat().st_size > 1000
    assert "![score per step of the fit](plots/fit_history.png)" in (tmp_path / "b" / "report.md").read_text()
    assert 'src="plots/fit_history.png"' in (tmp_path / "b" / "index.html").read_text()


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="unknown method 'dalle'"):
        run(tmp_path / "a", PaintingGenerator(), methods=["dalle"])
    with pytest.raises(InputError, match="has no rows"):
        run(tmp_path / "b", PaintingGenerator(), rows=[])
    with pytest.raises(InputError, match="row 'x' has an empty concept"):
        run(tmp_path / "c", PaintingGenerator(), rows=[Example("x", {"concept": " ", "query": "q"})])
    with pytest.raises(InputError, match="needs the initial instruction"):
        run(tmp_path / "d", PaintingGenerator(), instructions={"learned": "x"})
    run(tmp_path / "e", PaintingGenerator(), methods=["original"], seeds=[0])
    with pytest.raises(InputError, match="different generator"):
        run_image_bench(rows=ROWS, out=tmp_path / "e", generator=type("G", (PaintingGenerator,), {"identity": lambda self: {"model": "other"}})(),
                        judge=ScriptedJudge(present_if_black), methods=["original"], seeds=[0], switch_step=2, progress=False)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "thing.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        run(tmp_path / "f", PaintingGenerator())


def test_index_html_opens_in_a_headless_browser(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no headless browser: `which chromium` finds nothing (apt-get install chromium to run this check)")
    run(tmp_path / "b", PaintingGenerator(), seeds=[0])
    write_reports(tmp_path / "b")
    page = (tmp_path / "b" / "index.html").resolve()
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri()],
        capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    with Image.open(shot) as image:
        assert image.size == (1400, 1000)
        assert sum(1 for count in image.convert("L").histogram() if count) > 10  # something was drawn, not a blank page
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()], capture_output=True, timeout=120, text=True)
    assert "ORES benchmark" in dom.stdout and dom.stdout.count("<img") >= 12


def test_seed_and_method_lists():
    from promptlearn.evaluation import parse_seeds
    from promptlearn.synthesis.methods import parse_methods

    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3, 1,3") == [3, 1]
    for bad in ("", "-1", "a", "4-x"):
        with pytest.raises(InputError):
            parse_seeds(bad)
    with pytest.raises(InputError, match="runs backwards; use e.g. 2-5"):
        parse_seeds("0,5-2")
    assert parse_methods("tin, Original") == ["tin", "original"]
    with pytest.raises(InputError, match="listed twice"):
        parse_methods("tin, original,tin")
    with pytest.raises(InputError, match="no method"):
        parse_methods(" , ", known=["tin"])


class StoppingRewriter(ListRewriter):
    """Rewrites ``stop_after`` calls, then raises as a killed process would."""

    def __init__(self, stop_after):
        super().__init__()
        self.stop_after = stop_after

    def rewrite(self, rows, instruction):
        if self.calls >= self.stop_after:
            raise KeyboardInterrupt
        return super().rewrite(rows, instruction)


def test_text_stage_records_chunk_by_chunk_and_resumes(tmp_path):
    from promptlearn.evaluation import run_text_bench

    rows = [Example(f"r{i}", {"concept": "dog", "query": f"a dog number {i}"}) for i in range(5)]
    args = dict(rows=rows, out=tmp_path / "t", task=WordTask(), methods=["learned", "blacklist"], instructions={"learned": "keep"}, progress=False, chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_text_bench(rewriter=StoppingRewriter(stop_after=2), **args)
    recorded = [json.loads(line) for line in (tmp_path / "t" / "results.jsonl").read_text().splitlines()]
    assert [r["row_id"] for r in recorded] == ["r0", "r1", "r2", "r3"]  # two chunks of two kept

    rewriter = ListRewriter()
    again = run_text_bench(rewriter=rewriter, **args)
    assert (again.skipped, again.done, again.failed, rewriter.calls) == (4, 1 + 5, 0, 1)
    summary = write_reports(tmp_path / "t")
    by = {m.method: m.to_json() for m in summary.methods}
    assert by["learned"]["avoidance"]["mean"] == 0.0 and by["blacklist"]["avoidance"]["mean"] == 1.0
    assert by["blacklist"]["score"]["mean"] == pytest.approx(0.5) and by["blacklist"]["cells"] == 5


def test_the_summary_covers_the_last_invocations_rows_methods_and_seeds(tmp_path):
    run(tmp_path / "b", PaintingGenerator())
    assert write_reports(tmp_path / "b").methods[0].summary.cells == 2 * 2
    again = run(tmp_path / "b", PaintingGenerator(), rows=ROWS[:1], methods=["original", "negative"], seeds=[1])
    assert again.skipped == 2 and again.done == 0
    summary = write_reports(tmp_path / "b")
    assert [(m.method, m.summary.cells, m.summary.rows) for m in summary.methods] == [("original", 1, 1), ("negative", 1, 1)]
    assert "a red car" not in (tmp_path / "b" / "index.html").read_text()  # r2 is not in this run
    assert len((tmp_path / "b" / "results.jsonl").read_text().splitlines()) == 2 * 2 * len(METHODS)  # nothing deleted


def test_a_torn_last_line_is_dropped_on_resume(tmp_path):
    run(tmp_path / "b", PaintingGenerator(), methods=["original"], seeds=[0])
    results = tmp_path / "b" / "results.jsonl"
    whole = results.read_text()
    results.write_text(whole + '{"row_id": "r1", "meth')  # a kill in the middle of a write
    again = run(tmp_path / "b", PaintingGenerator(), methods=["original", "negative"], seeds=[0])
    assert (again.skipped, again.done) == (2, 2)
    lines = results.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    results.write_text("not json\n" + results.read_text())
    with pytest.raises(InputError, match="a damaged line"):
        run(tmp_path / "b", PaintingGenerator(), methods=["original"], seeds=[0])


class ShortRewriter(ListRewriter):
    """Breaks the QueryRewriter contract: one rewrite fewer than rows."""

    def rewrite(self, rows, instruction):
        return super().rewrite(rows, instruction)[:-1]


def test_a_rewriter_that_drops_rows_is_refused_by_both_stages(tmp_path):
    from promptlearn.errors import PromptlearnError
    from promptlearn.evaluation import run_text_bench

    with pytest.raises(PromptlearnError, match="returned 1 rewrites for 2 rows"):
        run_text_bench(rows=ROWS, out=tmp_path / "t", task=WordTask(), methods=["learned"], instructions={"learned": "keep"}, rewriter=ShortRewriter(), progress=False)
    with pytest.raises(PromptlearnError, match="returned 1 rewrites for 2 rows"):
        run(tmp_path / "i", PaintingGenerator(), rewriter=ShortRewriter(), methods=["tin"], seeds=[0])
