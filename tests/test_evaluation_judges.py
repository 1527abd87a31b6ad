"""Judges: yes/no parsing, the spec parser, the scripted judge, and the VQA judge for real on
tiny random-weight ViLT and BLIP models built from configs (the BERT vocabulary of the shipped
MiniLM model is their tokenizer), with output biases that force a known answer."""

from __future__ import annotations

import pytest
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.evaluation.judges import JudgeAnswer, ScriptedJudge, parse_judge_spec, parse_yes_no
from promptlearn.evaluation.judges.vqa import VQAJudge
from _torch_threads import one_torch_thread  # noqa: F401

from _evaluation_models import write_tiny_blip, write_tiny_vilt


@pytest.mark.parametrize(
    "text, expected",
    [("yes", True), ("Yes, there is.", True), ("answer: NO!", False), ("there is no dog", False), ("Nope", False), ("", None), ("a dog", None),
     ("Not sure.", None), ("I can't tell", None), ("unclear, maybe", None), ("It is not there", False)],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


def test_parse_judge_spec(tmp_path, monkeypatch):
    spec = parse_judge_spec(f"vqa:{tmp_path}")
    assert (spec.kind, spec.path) == ("vqa", tmp_path)
    assert parse_judge_spec(f"CLIP:{tmp_path}").kind == "clip"
    with pytest.raises(InputError, match="judge model not found"):
        parse_judge_spec(f"vqa:{tmp_path / 'missing'}")
    with pytest.raises(InputError, match="bad judge spec"):
        parse_judge_spec("blip2")
    # a hub id is a model name too; offline and not cached, it fails at once, in one line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="judge model 'Salesforce/blip2-opt-2.7b' is not in the local hub cache and the hub is offline"):
        parse_judge_spec("vqa:Salesforce/blip2-opt-2.7b")
    with pytest.raises(InputError, match="bad judge spec"):
        parse_judge_spec(f"sam:{tmp_path}")


def test_scripted_judge_counts_calls():
    judge = ScriptedJudge(lambda image, concept: concept == "dog")
    answers = judge.judge([None, None], ["dog", "cat"])
    assert [a.present for a in answers] == [True, False] and judge.calls == 1
    with pytest.raises(ValueError):
        judge.judge([None], ["dog", "cat"])


IMAGES = [Image.new("RGB", (48, 40), (200, 30, 30)), Image.new("RGB", (64, 64), (10, 10, 250)), Image.new("RGB", (32, 32), (0, 255, 0))]


@pytest.mark.parametrize("answer, present", [("yes", True), ("no", False)])
def test_vqa_judge_on_a_tiny_vilt_classifier(tmp_path, answer, present):
    judge = VQAJudge.from_path(write_tiny_vilt(tmp_path / "vilt", answer), device="cpu", batch_size=2)
    answers = judge.judge(IMAGES, ["dog", "large", "a red car"])
    assert [a.present for a in answers] == [present] * 3
    assert all(isinstance(a, JudgeAnswer) and a.raw == answer for a in answers)
    assert all((a.p_yes > 0.99) if present else (a.p_yes < 0.01) for a in answers)
    assert judge.identity()["model_kind"] == "classifier"


@pytest.mark.parametrize("answer, present", [("yes", True), ("no", False)])
def test_vqa_judge_on_a_tiny_blip_generator(tmp_path, answer, present):
    judge = VQAJudge.from_path(write_tiny_blip(tmp_path / "blip", answer), device="cpu")
    answers = judge.judge(IMAGES[:2], ["dog", "cloudy"])
    assert [a.present for a in answers] == [present, present]
    assert all(a.raw.split()[0] == answer for a in answers)
    assert all(a.p_yes is not None and (a.p_yes > 0.99) == present for a in answers)
    assert judge.identity()["model_kind"] == "blip"


def test_vqa_judge_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(InputError, match="no config.json"):
        VQAJudge.from_path(tmp_path)
    with pytest.raises(InputError, match="not found"):
        VQAJudge.from_path(tmp_path / "missing")


def test_clip_judge_reuses_the_synthesis_filter_decision(tmp_path):
    from promptlearn.evaluation.judges.clip import CLIPJudge
    from promptlearn.synthesis.filters.clip_filter import ClipConceptFilter
    from promptlearn.synthesis.tiny import write_tiny_clip

    folder = write_tiny_clip(tmp_path / "clip")
    judge = parse_judge_spec(f"clip:{folder}").load(device="cpu")
    assert isinstance(judge, CLIPJudge)
    answers = judge.judge(IMAGES, ["dog", "cat", "dog"])
    reference = ClipConceptFilter.from_pretrained(folder, ["dog"]).check([IMAGES[0], IMAGES[2]])
    assert [answers[0].present, answers[2].present] == [d.flagged for d in reference]
    assert answers[0].p_yes == pytest.approx(reference[0].score)
    assert all(0.0 <= a.p_yes <= 1.0 for a in answers)
    assert judge.identity()["kind"] == "clip"
