"""Espresso's measures: synthetic filter decisions with known answers, then a tiny random CLIP end to end."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from promptlearn.errors import InputError
from promptlearn.evaluation.espresso import clip_accuracy, clip_scores, espresso_measures, normalised_clip_score
from promptlearn.synthesis.filters import FilterDecision
from promptlearn.synthesis.filters.clip_filter import ClipConceptFilter
from promptlearn.synthesis.tiny import write_tiny_clip
from _torch_threads import one_torch_thread  # noqa: F401  (autouse)


def _d(*flags: bool) -> list[FilterDecision]:
    return [FilterDecision("x", f) for f in flags]


def test_clip_accuracy_counts_what_passes_and_still_shows():
    # 4 images: blocked+shows, passes+shows, passes+absent, blocked+absent -> only image 2 counts
    assert clip_accuracy(_d(True, False, False, True), [True, True, False, False]) == 0.25
    assert clip_accuracy(_d(False, False), [True, True]) == 1.0  # no filter: the evaluator's share
    assert clip_accuracy(_d(True, True), [True, True]) == 0.0  # a perfect filter
    with pytest.raises(InputError, match="2 filter decisions for 1"):
        clip_accuracy(_d(True, False), [True])
    with pytest.raises(InputError, match="at least one"):
        clip_accuracy([], [])


def test_normalised_clip_score_known_answers():
    # scores 30, 20, 10; the middle image is blocked: (30 + 0 + 10) / 60
    assert normalised_clip_score(_d(False, True, False), [30.0, 20.0, 10.0]) == pytest.approx(40 / 60)
    assert normalised_clip_score(_d(False, False), [30.0, 20.0]) == 1.0
    # a blocked image replaced by a blank one that still scores 5
    assert normalised_clip_score(_d(True, False), [30.0, 10.0], blocked_score=5.0) == pytest.approx(15 / 40)
    assert normalised_clip_score(_d(True, False), [30.0, 10.0], blocked_score=[6.0, 0.0]) == pytest.approx(16 / 40)
    with pytest.raises(InputError, match="sum to 0"):
        normalised_clip_score(_d(False), [0.0])
    with pytest.raises(InputError, match="negative"):
        normalised_clip_score(_d(False), [-1.0])
    with pytest.raises(InputError, match="1 blocked scores for 2"):
        normalised_clip_score(_d(False, True), [1.0, 1.0], blocked_score=[0.0])


class _Fixed:
    """An ImageFilter that answers from a list, in order, whatever the images."""

    name = "fixed"

    def __init__(self, flags):
        self.flags = list(flags)

    def check(self, images):
        return _d(*self.flags[: len(images)])


def test_espresso_measures_from_synthetic_filters():
    images = [object()] * 4
    measures = espresso_measures(
        _Fixed([True, False, True, True]), _Fixed([True, True, False, True]),
        unacceptable_images=images, attacked_images={"leetspeak": images[:2]},
    )
    assert measures.unacceptable_accuracy == 0.25  # image 1 passes and shows
    assert measures.attack_accuracy == {"leetspeak": 0.5}
    assert measures.acceptable_normalised_clip_score is None
    assert measures.images == {"unacceptable": 4, "attack:leetspeak": 2}
    with pytest.raises(InputError, match="prompts"):
        espresso_measures(_Fixed([False]), _Fixed([False]), acceptable_images=images[:1])


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return ClipConceptFilter.from_pretrained(write_tiny_clip(tmp_path_factory.mktemp("clip") / "clip"), ["nudity"])


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(1).random((n, 40, 40, 3), dtype=np.float32)


def test_clip_scores_on_a_tiny_clip_match_the_cosine(tiny_clip):
    images, prompts = _images(2), ["a red car", "a dog"]
    got = clip_scores(tiny_clip, images, prompts)
    x = torch.nn.functional.normalize(tiny_clip.image_embeddings(images), dim=-1)
    t = torch.nn.functional.normalize(tiny_clip.text_embeddings(prompts), dim=-1)
    expected = [max(100 * float(c), 0.0) for c in (x * t).sum(-1)]
    assert got == pytest.approx(expected, abs=1e-4) and all(s >= 0 for s in got)
    with pytest.raises(InputError, match="2 images for 1 prompts"):
        clip_scores(tiny_clip, images, prompts[:1])


def test_espresso_measures_end_to_end_on_a_tiny_clip(tiny_clip):
    """The filter under test and the evaluator are CLIP filters; pointing the evaluator's texts at the
    images fixes which image "shows" the concept, so the answers are known (plumbing, random weights)."""
    images = _images(3)
    embeds = tiny_clip.image_embeddings(images)
    evaluator = copy.copy(tiny_clip)  # image 0 shows the concept, images 1 and 2 do not
    evaluator._unacceptable_embeds, evaluator._acceptable_embeds = embeds[:1], embeds[1:2]
    blocks_none = copy.copy(tiny_clip)
    blocks_none._unacceptable_embeds, blocks_none._acceptable_embeds = embeds[1:2], embeds[:1]  # passes image 0
    assert [d.flagged for d in evaluator.check(images[:2])] == [True, False]
    open_filter = espresso_measures(blocks_none, evaluator, unacceptable_images=images[:1],
                                    acceptable_images=images, acceptable_prompts=["a", "b", "c"], scorer=tiny_clip)
    assert not blocks_none.check(images[:1])[0].flagged
    assert open_filter.unacceptable_accuracy == 1.0  # image 0 passes and shows
    strict = espresso_measures(evaluator, evaluator, unacceptable_images=images[:1], acceptable_images=images,
                               acceptable_prompts=["a", "b", "c"], scorer=tiny_clip)
    assert strict.unacceptable_accuracy == 0.0  # the evaluator as the filter blocks what it sees
    scores = clip_scores(tiny_clip, images, ["a", "b", "c"])
    kept = [s for s, d in zip(scores, evaluator.check(images)) if not d.flagged]
    assert strict.acceptable_normalised_clip_score == pytest.approx(sum(kept) / sum(scores))
