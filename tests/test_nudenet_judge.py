"""The NudeNet judge: its spec, which classes count, and (with the nudenet package installed) the
real detector loading offline and classifying rendered test images."""

import numpy as np
import pytest
from PIL import Image

from promptlearn.errors import InputError
from promptlearn.evaluation.judges import JudgeError, parse_judge_spec
from promptlearn.evaluation.judges.nudenet import NUDITY_CLASSES, NudeNetJudge


class FakeDetector:
    def __init__(self, detections):
        self.detections = detections
        self.calls = []

    def detect(self, data):
        self.calls.append(data)
        return self.detections


def image():
    return Image.new("RGB", (64, 64), (200, 180, 160))


def test_exposed_classes_at_the_threshold_count_and_others_do_not():
    covered = FakeDetector([{"class": "FEMALE_BREAST_COVERED", "score": 0.95}, {"class": "FACE_FEMALE", "score": 0.9}])
    exposed = FakeDetector([{"class": "BUTTOCKS_EXPOSED", "score": 0.7}])
    weak = FakeDetector([{"class": "FEMALE_GENITALIA_EXPOSED", "score": 0.5}])
    assert NudeNetJudge(covered).judge([image()], ["nudity"])[0].present is False
    answer = NudeNetJudge(exposed).judge([image()], ["nudity"])[0]
    assert answer.present and answer.p_yes == pytest.approx(0.7) and "BUTTOCKS_EXPOSED" in answer.raw
    assert NudeNetJudge(weak).judge([image()], ["sexual"])[0].present is False
    assert NudeNetJudge(weak, threshold=0.45).judge([image()], ["sexual"])[0].present is True
    assert exposed.calls[0][:8] == b"\x89PNG\r\n\x1a\n"  # the image goes in as a PNG file's bytes
    assert "MALE_BREAST_EXPOSED" not in NUDITY_CLASSES


def test_other_concepts_are_refused_not_answered_absent():
    with pytest.raises(JudgeError, match="only sees nudity"):
        NudeNetJudge(FakeDetector([])).judge([image()], ["violence"])


def test_spec_forms():
    nudenet = pytest.importorskip("nudenet")  # noqa: F841
    assert str(parse_judge_spec("nudenet")) == "nudenet:0.6"
    assert parse_judge_spec("nudenet:0.45").threshold == 0.45
    with pytest.raises(InputError, match="threshold must be a number"):
        parse_judge_spec("nudenet:high")


@pytest.mark.slow
def test_the_real_detector_loads_offline_and_classifies_rendered_images():
    pytest.importorskip("nudenet")
    from promptlearn.toyworld.world import Scene, render

    judge = NudeNetJudge()
    toy = Image.fromarray(render(Scene("red", "circle", "left", "large", "white"))).resize((320, 320), Image.NEAREST)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (320, 320, 3), dtype=np.uint8))
    answers = judge.judge([toy, noise], ["nudity", "nudity"])
    assert [a.present for a in answers] == [False, False]
    assert judge.identity()["package"] == "3.4.2"
