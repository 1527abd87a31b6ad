"""``generate --prompts``: the library's batch (:func:`promptlearn.synthesis.batch.generate_batch`)
with a scripted painter and rewriter: an image per method and seed and a manifest per prompt,
a rerun that skips finished prompts, a failed prompt tried again, settings that must match;
the one-query-per-line reader; the CLI's checks. Local vs Ray, bit for bit on the tiny SD
checkpoint: tests/test_ray_executor.py."""

from __future__ import annotations

import json
import zlib
from types import SimpleNamespace

import pytest
from PIL import Image

from promptlearn.cli.main import main
from promptlearn.data import load_examples
from promptlearn.errors import InputError
from promptlearn.synthesis.batch import generate_batch
from promptlearn.synthesis.methods import DEFAULT_SWITCH_STEP
from promptlearn.synthesis.switch_step import resolve_switch_step
from promptlearn.tasks.registry import get_task

PROMPTS = "a dog in a park\n\na dog on a sofa\na dog and a cat\n"


class Painter:
    """One grey level per (prompt used, method, seed); ``fail_on`` raises for that query."""

    def __init__(self, fail_on: str | None = None):
        self.fail_on, self.calls = fail_on, []

    def identity(self):
        return {"model": "painter", "steps": 4}

    def generate(self, request):
        self.calls.append(request)
        if request.query == self.fail_on:
            raise RuntimeError("out of memory")
        level = zlib.crc32(f"{request.rewrite or request.query}|{request.method}|{request.seed}".encode()) % 256
        return Image.new("RGB", (8, 8), (level, level, level))


class SwapRewriter:
    """The Rewriter's surface generate_batch uses: ``rewrite_many`` and its predictor's identity."""

    def __init__(self):
        self.predictor = SimpleNamespace(llm=SimpleNamespace(spec="scripted"), instruction="swap dog for cat", task=SimpleNamespace(name="ores"))
        self.verify_retries, self.rows = 0, 0

    def rewrite_many(self, rows, errors=None):
        self.rows += len(rows)
        return [SimpleNamespace(output=row.inputs["query"].replace("dog", "cat"), error=None, passed=True, problem=None) for row in rows]


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text(PROMPTS)
    return load_examples(path, get_task("ores"), concept="dog")


def _batch(rows, out, painter, rewriter=None, **kw):
    return generate_batch(rows=rows, out=out, methods=["original", "tin"], seeds=[0, 1], generator=painter,
                          rewriters={"learned": rewriter or SwapRewriter()}, progress=False, **kw)


def test_one_query_per_line_needs_the_concept(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text(PROMPTS)
    assert [(r.id, r.inputs["query"], r.inputs["concept"]) for r in load_examples(path, get_task("ores"), concept="dog")] == [
        ("prompts-1", "a dog in a park", "dog"), ("prompts-3", "a dog on a sofa", "dog"), ("prompts-4", "a dog and a cat", "dog")]
    with pytest.raises(InputError, match="one query per line and no concept") as error:
        load_examples(path, get_task("ores"))
    assert error.value.arguments == ("concept",)


def test_images_and_a_manifest_per_prompt_and_a_rerun_skips_them(rows, tmp_path):
    out = tmp_path / "run"
    painter, rewriter = Painter(), SwapRewriter()
    run = _batch(rows, out, painter, rewriter)
    assert (run.done, run.failed, run.skipped, run.images) == (3, 0, 0, 12)
    manifest = json.loads((out / "prompts" / "prompts-1" / "manifest.json").read_text())
    assert manifest["query"] == "a dog in a park" and manifest["concept"] == "dog" and manifest["rewrites"] == {"learned": "a cat in a park"}
    assert [(i["method"], i["seed"], i["prompt"]) for i in manifest["images"]] == [
        ("original", 0, "a dog in a park"), ("tin", 0, "a cat in a park"), ("original", 1, "a dog in a park"), ("tin", 1, "a cat in a park")]
    assert manifest["images"][1]["switch_step"] == resolve_switch_step(DEFAULT_SWITCH_STEP, 4) and manifest["images"][1]["instruction"] == "learned"
    for image in manifest["images"]:
        assert (out / image["image"]).is_file()
    again = _batch(rows, out, painter, rewriter)
    assert (again.done, again.skipped) == (0, 3) and len(painter.calls) == 12 and rewriter.rows == 3  # no image, no rewrite
    (out / "prompts" / "prompts-3" / "tin-seed1.png").unlink()  # an image lost: its prompt is made again
    third = _batch(rows, out, painter, rewriter)
    assert (third.done, third.skipped) == (1, 2) and rewriter.rows == 4


def test_a_failed_prompt_has_no_manifest_and_a_rerun_makes_only_it(rows, tmp_path):
    out = tmp_path / "run"
    run = _batch(rows, out, Painter(fail_on="a dog on a sofa"))
    assert (run.done, run.failed) == (2, 1) and "prompts-3: original, seed 0: RuntimeError: out of memory" in run.errors[0]
    assert not (out / "prompts" / "prompts-3" / "manifest.json").exists()
    painter = Painter()
    again = _batch(rows, out, painter)
    assert (again.done, again.skipped, again.failed) == (1, 2, 0) and {r.query for r in painter.calls} == {"a dog on a sofa"}


def test_a_rerun_with_other_settings_is_refused_naming_them(rows, tmp_path):
    out = tmp_path / "run"
    _batch(rows, out, Painter())
    with pytest.raises(InputError, match="seeds"):
        generate_batch(rows=rows, out=out, methods=["original", "tin"], seeds=[0, 1, 2], generator=Painter(),
                       rewriters={"learned": SwapRewriter()}, progress=False)


def test_inputs_are_checked_before_any_image(rows, tmp_path):
    with pytest.raises(InputError, match="learned instruction"):
        generate_batch(rows=rows, out=tmp_path / "a", methods=["tin"], seeds=[0], generator=Painter(), progress=False)
    with pytest.raises(InputError, match="seeds"):
        generate_batch(rows=rows, out=tmp_path / "b", methods=["original"], seeds=[], generator=Painter(), progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        generate_batch(rows=rows, out=tmp_path / "file", methods=["original"], seeds=[0], generator=Painter(), progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("extra, message", [
    ([], "give --query TEXT or --prompts FILE"),
    (["--query", "a dog", "--prompts", "p.txt"], "give --query or --prompts, not both"),
    (["--prompts", "p.txt", "--rewrite", "a cat"], "--rewrite is not available with --prompts"),
    (["--prompts", "p.txt", "--filter", "safety-checker"], "--filter is not available with --prompts"),
    (["--prompts", "p.txt"], "holds one query per line and no concept: give the concept to avoid (--concept)"),
    (["--query", "a dog", "--executor", "ray"], "--executor ray runs many prompts: give --prompts FILE"),
])
def test_the_cli_says_what_is_wrong_in_one_line(tmp_path, monkeypatch, capsys, extra, message):
    if "--executor" in extra:
        pytest.importorskip("ray", reason="Ray is not installed")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_text(PROMPTS)
    assert main(["generate", "--out", str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
