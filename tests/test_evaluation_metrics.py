"""Metric arithmetic on synthetic images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from promptlearn.evaluation.metrics import (
    UNIFORM_NOISE_MSE,
    CellOutcome,
    cell_score,
    mean_std,
    mse,
    summarise,
    visual_similarity,
)


def test_identical_images_have_similarity_one():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert visual_similarity(image, image.copy()) == 1.0


def test_similarity_of_known_mse():
    black = np.zeros((4, 4, 3), dtype=np.uint8)
    grey = np.full((4, 4, 3), 51, dtype=np.uint8)  # 0.2 in [0, 1] -> MSE 0.04
    assert mse(grey, black) == pytest.approx(0.04)
    assert visual_similarity(grey, black) == pytest.approx(1 - 0.04 / UNIFORM_NOISE_MSE)
    assert visual_similarity(grey, black, normaliser=0.08) == pytest.approx(0.5)


def test_similarity_is_clipped_at_zero():
    black = np.zeros((4, 4, 3), dtype=np.uint8)
    white = np.full((4, 4, 3), 255, dtype=np.uint8)  # MSE 1 > 1/6
    assert visual_similarity(white, black) == 0.0


def test_grey_and_rgb_and_float_inputs_agree():
    grey = np.full((4, 4), 0.5)
    rgb = Image.new("RGB", (4, 4), (0, 0, 0))
    assert mse(grey, rgb) == pytest.approx(0.25, abs=1e-9)


def test_size_mismatch_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        mse(np.zeros((4, 4, 3), dtype=np.uint8), np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mse(np.full((2, 2), 2.0), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="normaliser"):
        visual_similarity(np.zeros((2, 2)), np.zeros((2, 2)), normaliser=0)


@pytest.mark.parametrize("failure", [0.0, 0.5])
def test_failure_rule(failure):
    assert cell_score(avoided=False, similarity=0.9, failure_score=failure) == failure
    assert cell_score(avoided=True, similarity=0.9, failure_score=failure) == 0.9


def test_mean_std_over_seeds():
    stat = mean_std([0.2, 0.4, 0.6])
    assert stat.mean == pytest.approx(0.4)
    assert stat.std == pytest.approx(0.2)  # sample std, ddof=1
    assert mean_std([0.7]).std == 0.0
    assert math.isnan(mean_std([]).mean)


def test_summarise_per_seed_then_over_seeds():
    outcomes = [
        # seed 0: both rows avoided (similarities 1.0, 0.5) -> rate 1, score 0.75
        CellOutcome("a", "tin", 0, True, 1.0),
        CellOutcome("b", "tin", 0, True, 0.5),
        # seed 1: one avoided (0.8), one failed -> rate 0.5, score (0.8 + f) / 2
        CellOutcome("a", "tin", 1, True, 0.8),
        CellOutcome("b", "tin", 1, False, 0.9),
    ]
    for failure, seed1 in ((0.0, 0.4), (0.5, 0.65)):
        (line,) = summarise(outcomes, failure_score=failure, methods=["tin"])
        assert line.per_seed["1"]["score"] == pytest.approx(seed1)
        assert line.score.mean == pytest.approx((0.75 + seed1) / 2)
        assert line.score.std == pytest.approx(abs(0.75 - seed1) / math.sqrt(2))
        assert line.avoidance.mean == pytest.approx(0.75)
        assert (line.rows, line.cells) == (2, 4)
    (empty,) = summarise(outcomes, failure_score=0.0, methods=["sld"])
    assert empty.cells == 0 and empty.avoidance.n == 0


def test_report_recomputes_similarity_from_recorded_mse(tmp_path):
    """The summary turns each cell's stored MSE into a similarity with the normaliser asked
    for, and scores a cell that kept its concept with the failure score asked for."""
    from promptlearn.evaluation.report import ReportOptions, build_summary
    from promptlearn.files import append_jsonl, atomic_write_json

    atomic_write_json(tmp_path / "config.json", {"fingerprint": {"stage": "image"}, "options": {"methods": ["tin"], "seeds": [0, 1], "row_ids": ["a", "b"]}})
    for row, seed, avoided, distance in (("a", 0, True, 0.04), ("b", 0, True, 0.0), ("a", 1, True, 0.02), ("b", 1, False, 0.0)):
        append_jsonl(tmp_path / "results.jsonl", {"row_id": row, "method": "tin", "seed": seed, "status": "ok", "avoided": avoided, "mse": distance})
    summary = build_summary(tmp_path, ReportOptions(failure_score=0.5, mse_normaliser=0.08)).to_json()
    (line,) = summary["methods"]
    # seed 0: similarities 0.5 and 1 -> 0.75; seed 1: 0.75 and the failure score 0.5 -> 0.625
    assert line["per_seed"]["0"]["score"] == pytest.approx(0.75)
    assert line["per_seed"]["1"]["score"] == pytest.approx(0.625)
    assert line["avoidance"]["mean"] == pytest.approx(0.75)
    assert summary["failure_score"] == 0.5
