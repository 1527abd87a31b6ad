"""Output filters: the CLIP concept decision arithmetic, the CLIP filter and the SD safety checker on
tiny checkpoints, image conversion, and ``--filter`` specs."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.synthesis.filters import FilterDecision, ImageFilter, parse_filter_spec, to_pil_images
from promptlearn.synthesis.filters.clip_filter import ClipConceptFilter, concept_decisions
from promptlearn.synthesis.filters.safety_checker import SafetyChecker
from promptlearn.synthesis.tiny import write_tiny_clip, write_tiny_sd
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "clip": write_tiny_clip(root / "clip"),
        "sd_safe": write_tiny_sd(root / "sd_safe", with_safety_checker=True),
        "sd_plain": write_tiny_sd(root / "sd_plain"),
    }


@pytest.fixture(scope="module")
def clip_filter(folders):
    return ClipConceptFilter.from_pretrained(folders["clip"], ["nudity", "blood"])


def _images(n: int = 3, size: int = 40) -> np.ndarray:
    return np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)


# --- decision arithmetic ---------------------------------------------------------------------------


def test_decision_is_softmax_of_scaled_cosines():
    unacceptable = torch.tensor([[1.0, 0.0]])
    acceptable = torch.tensor([[0.0, 1.0]])
    images = torch.tensor([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]])  # near u, near a, equidistant
    near_u, near_a, tie = concept_decisions(images, unacceptable, acceptable, concepts=["x"], logit_scale=10.0)
    cos_u, cos_a = 3 / math.sqrt(10), 1 / math.sqrt(10)
    expected = math.exp(10 * cos_u) / (math.exp(10 * cos_u) + math.exp(10 * cos_a))
    assert near_u.concepts[0].p_unacceptable == pytest.approx(expected, rel=1e-5)
    assert near_u.concepts[0].similarity_unacceptable == pytest.approx(cos_u, rel=1e-5)
    assert near_u.concepts[0].similarity_acceptable == pytest.approx(cos_a, rel=1e-5)
    assert near_u.flagged and near_u.score == near_u.concepts[0].p_unacceptable
    assert not near_a.flagged and near_a.concepts[0].p_unacceptable == pytest.approx(1 - expected, rel=1e-5)
    assert tie.concepts[0].p_unacceptable == pytest.approx(0.5) and not tie.flagged


def test_decision_threshold_scale_and_several_concepts():
    unacceptable = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    acceptable = torch.tensor([[0.0, 2.0, 0.0], [0.0, 1.0, 0.0]])
    image = torch.tensor([[2.0, 1.0, 0.0]])
    loose = concept_decisions(image, unacceptable, acceptable, concepts=["a", "b"], logit_scale=5.0)[0]
    assert [s.flagged for s in loose.concepts] == [True, False] and loose.flagged  # any concept flags the image
    # concept a: cos_u = 2/sqrt(5), cos_a = 1/sqrt(5), so p = sigmoid(5 / sqrt(5)) ~ 0.903
    assert loose.concepts[0].p_unacceptable == pytest.approx(1 / (1 + math.exp(-5 / math.sqrt(5))), rel=1e-5)
    strict = concept_decisions(image, unacceptable, acceptable, concepts=["a", "b"], logit_scale=5.0, threshold=0.95)[0]
    assert not strict.flagged and strict.score == loose.score
    scaled = concept_decisions(7 * image, 3 * unacceptable, acceptable, concepts=["a", "b"], logit_scale=5.0)[0]
    assert scaled == loose  # embeddings are normalised first
    assert loose.to_dict()["concepts"][0]["concept"] == "a"


def test_decision_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        concept_decisions(torch.ones(1, 3), torch.ones(2, 3), torch.ones(2, 3), concepts=["a"], logit_scale=1.0)
    with pytest.raises(ValueError):
        concept_decisions(torch.ones(1, 3), torch.ones(1, 3), torch.ones(1, 2), concepts=["a"], logit_scale=1.0)


# --- image conversion ---------------------------------------------------------------------------------


def test_to_pil_images_accepts_diffusers_outputs():
    floats = _images(2, 8)
    from_np = to_pil_images(floats)
    from_pt = to_pil_images(torch.from_numpy(floats).permute(0, 3, 1, 2))
    from_uint8 = to_pil_images((floats * 255).round().astype(np.uint8))
    assert len(from_np) == 2 and from_np[0].size == (8, 8) and from_np[0].mode == "RGB"
    for a, b, c in zip(from_np, from_pt, from_uint8):
        assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(c))
    assert len(to_pil_images([Image.new("L", (5, 5)), floats[0]])) == 2
    assert to_pil_images(Image.new("RGBA", (4, 4)))[0].mode == "RGB"
    for bad in (np.zeros((2, 3, 8, 8)), torch.zeros(2, 4, 8, 8), np.zeros((8, 8, 3), dtype=np.int64), "img.png", 3):
        with pytest.raises(InputError):
            to_pil_images(bad)


# --- CLIP filter on a tiny checkpoint ----------------------------------------------------------------


def test_clip_filter_matches_manual_computation(clip_filter):
    images = _images(3)
    decisions = clip_filter.check(images)
    assert isinstance(clip_filter, ImageFilter)
    assert [d.filter for d in decisions] == ["clip"] * 3
    assert clip_filter.unacceptable_texts == ("a photo of nudity", "a photo of blood")
    assert clip_filter.acceptable_texts == ("a photo without nudity", "a photo without blood")

    model, processor = clip_filter.model, clip_filter.processor
    with torch.no_grad():
        out = model(**processor(text=["a photo of blood", "a photo without blood"], images=to_pil_images(images),
                                return_tensors="pt", padding=True))
    expected = out.logits_per_image.softmax(dim=-1)[:, 0]  # CLIP's own softmax over the pair
    got = torch.tensor([d.concepts[1].p_unacceptable for d in decisions])
    assert torch.allclose(got, expected, atol=1e-5)


def test_clip_filter_flags_the_image_nearer_the_unacceptable_text(clip_filter):
    images = _images(2)
    embeds = clip_filter.image_embeddings(images)
    # Point the "texts" at the two images themselves: image 0 is the unacceptable one.
    pointed = copy.copy(clip_filter)
    pointed.concepts, pointed._unacceptable_embeds, pointed._acceptable_embeds = ("x",), embeds[:1], embeds[1:]
    first, second = pointed.check(images)
    assert first.flagged and not second.flagged
    assert first.concepts[0].similarity_unacceptable == pytest.approx(1.0, abs=1e-5)


def test_clip_filter_batches_and_user_acceptable_texts(folders, clip_filter):
    images = _images(5)
    one_by_one = ClipConceptFilter(clip_filter.model, clip_filter.processor, ["nudity", "blood"], batch_size=2)
    expected = [d.score for d in clip_filter.check(images)]
    assert [d.score for d in one_by_one.check(images)] == pytest.approx(expected, abs=1e-5)
    same = ClipConceptFilter(clip_filter.model, clip_filter.processor, ["cat"], acceptable=["a photo of cat"])
    assert all(d.score == pytest.approx(0.5) and not d.flagged for d in same.check(images))
    assert clip_filter.check([]) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"concepts": []}, "at least one"),
        ({"concepts": ["a", " "]}, "at least one"),
        ({"concepts": ["a"], "acceptable": ["b", "c"]}, "one non-empty acceptable text per concept"),
        ({"concepts": ["a"], "unacceptable_template": "a photo"}, "must contain"),
        ({"concepts": ["a"], "acceptable_template": "{concept} {other}"}, "cannot be filled"),
        ({"concepts": ["a"], "threshold": 1.0}, "threshold"),
    ],
)
def test_clip_filter_bad_arguments(clip_filter, kwargs, message):
    with pytest.raises(InputError, match=message):
        ClipConceptFilter(clip_filter.model, clip_filter.processor, **kwargs)


def test_clip_filter_missing_path(tmp_path):
    with pytest.raises(InputError, match="not a CLIP model folder") as info:
        ClipConceptFilter.from_pretrained(tmp_path / "nope", ["a"])
    assert "\n" not in str(info.value)


# --- safety checker ------------------------------------------------------------------------------------


def test_safety_checker_reports_flags_without_touching_images(folders):
    checker = SafetyChecker.from_checkpoint(folders["sd_safe"])
    assert isinstance(checker, ImageFilter)
    images = _images(2, 64)
    before = images.copy()
    assert checker.check(images) == [FilterDecision("safety-checker", False)] * 2  # tiny thresholds are 1.0
    checker.checker.concept_embeds_weights.data.fill_(-2.0)  # cosine - (-2) > 0: every concept fires
    try:
        assert [d.flagged for d in checker.check(images)] == [True, True]
    finally:
        checker.checker.concept_embeds_weights.data.fill_(1.0)
    assert np.array_equal(images, before)


def test_safety_checker_scores_explain_its_flags(folders):
    checker = SafetyChecker.from_checkpoint(folders["sd_safe"])
    images = _images(2, 64)
    scores = checker.scores(images)
    assert [s.flagged for s in scores] == [d.flagged for d in checker.check(images)] == [False, False]
    assert len(scores[0].concept_scores) == 17 and len(scores[0].special_scores) == 3 and scores[0].adjustment == 0.0
    weights = checker.checker.special_care_embeds_weights
    try:
        weights.data.fill_(-2.0)  # every special-care concept fires: the adjustment applies to the later scores
        [first, _] = checker.scores(images)
        assert first.special_care == (0, 1, 2) and first.adjustment == pytest.approx(0.01)
        plain = checker.scores(images, special_care_adjustment=0.0)[0]
        assert first.concept_scores[0] - plain.concept_scores[0] == pytest.approx(0.01, abs=1e-6)
        checker.checker.concept_embeds_weights.data[3] = -2.0  # one concept fires
        [flagged, _] = checker.scores(images)
        assert flagged.bad_concepts == (3,) and flagged.flagged and checker.check(images)[0].flagged
    finally:
        weights.data.fill_(1.0)
        checker.checker.concept_embeds_weights.data.fill_(1.0)


def test_safety_checker_absent_or_bad_path(folders, tmp_path):
    assert SafetyChecker.from_checkpoint(folders["sd_plain"]) is None
    with pytest.raises(InputError, match="has no safety checker"):
        SafetyChecker.from_checkpoint(folders["sd_plain"], required=True)
    with pytest.raises(InputError, match="does not exist"):
        SafetyChecker.from_checkpoint(tmp_path / "missing")
    with pytest.raises(InputError, match="no model_index.json"):
        SafetyChecker.from_checkpoint(tmp_path)


# --- --filter specs ------------------------------------------------------------------------------------


def test_parse_filter_spec(folders):
    clip = parse_filter_spec(f"clip:{folders['clip']}", concepts=["blood"], clip_threshold=0.7)
    assert isinstance(clip, ClipConceptFilter) and clip.threshold == 0.7 and clip.concepts == ("blood",)
    assert isinstance(parse_filter_spec("safety-checker", sd_checkpoint=folders["sd_safe"]), SafetyChecker)
    assert isinstance(parse_filter_spec(f"Safety-Checker:{folders['sd_safe']}"), SafetyChecker)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nsfw", "unknown filter"),
        ("clip", "needs a model"),
        ("clip:/no/such/folder", "CLIP filter model not found: /no/such/folder"),
        ("safety-checker", "no checkpoint"),
        ("safety-checker:/no/such/folder", "pipeline not found: /no/such/folder"),
        ("clip:nobody/no-such-clip", "'nobody/no-such-clip' is not in the local hub cache and the hub is offline"),
    ],
)
def test_parse_filter_spec_bad(spec, message, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=message) as info:
        parse_filter_spec(spec, concepts=["a"])
    assert "\n" not in str(info.value)


def test_parse_filter_spec_safety_checker_absent(folders):
    with pytest.raises(InputError, match="has no safety checker"):
        parse_filter_spec("safety-checker", sd_checkpoint=folders["sd_plain"])


def test_acceptable_counterparts_inline_and_from_files(folders, tmp_path):
    from promptlearn.synthesis.filters.spec import parse_acceptable

    assert parse_acceptable("nudity=a photo of a clothed person; blood = a photo of red paint") == {
        "nudity": "a photo of a clothed person", "blood": "a photo of red paint"}
    (tmp_path / "a.json").write_text('{"nudity": "a clothed person"}')
    (tmp_path / "a.tsv").write_text("nudity\ta clothed person\n\nblood\tred paint\n")
    assert parse_acceptable(str(tmp_path / "a.json")) == {"nudity": "a clothed person"}
    assert parse_acceptable(str(tmp_path / "a.tsv")) == {"nudity": "a clothed person", "blood": "red paint"}
    (tmp_path / "bad.tsv").write_text("nudity\ta clothed person\nblood\n")
    with pytest.raises(InputError, match=r"bad.tsv:2: expected 'concept<TAB>acceptable text'"):
        parse_acceptable(str(tmp_path / "bad.tsv"))
    with pytest.raises(InputError, match="use concept=text"):
        parse_acceptable("nudity")
    clip = parse_filter_spec(f"clip:{folders['clip']}", concepts=["nudity", "blood"], acceptable={"nudity": "a clothed person"})
    assert clip.acceptable_texts == ("a clothed person", "a photo without blood")
    with pytest.raises(InputError, match="not a concept to filter"):
        parse_filter_spec(f"clip:{folders['clip']}", concepts=["nudity"], acceptable={"gore": "paint"})
