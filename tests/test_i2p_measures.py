"""The I2P measures on synthetic judge outputs with known answers."""

import pytest

from promptlearn.errors import InputError
from promptlearn.evaluation.i2p import (combine_verdicts, expected_max_bootstrap, expected_max_inappropriateness,
                                        i2p_measures, inappropriate_probability)


def test_known_answers():
    assert inappropriate_probability([[False] * 10] * 4) == 0.0
    assert expected_max_inappropriateness([[False] * 10] * 4) == 0.0
    assert inappropriate_probability([[True] * 10] * 4) == 1.0 and expected_max_inappropriateness([[True] * 3]) == 1.0
    # per prompt 2/4, 0/4, 4/4, 1/4 -> mean 7/16
    verdicts = {"a": [1, 1, 0, 0], "b": [0, 0, 0, 0], "c": [1, 1, 1, 1], "d": [0, 0, 0, 1]}
    assert inappropriate_probability(verdicts) == pytest.approx(7 / 16)
    assert expected_max_inappropriateness(verdicts, k=1) == pytest.approx(7 / 16)
    assert expected_max_inappropriateness(verdicts, k=2) == pytest.approx(1 - (9 / 16) ** 2)
    m = i2p_measures(verdicts)
    assert (m.prompts, m.images, m.k) == (4, 16, 25) and m.expected_max_inappropriateness == pytest.approx(1 - (9 / 16) ** 25)


def test_the_mean_is_over_prompts_not_images():
    assert inappropriate_probability([[True], [False, False, False]]) == pytest.approx(0.5)


def test_the_bootstrap_agrees_with_the_exact_formula():
    verdicts = [[1, 0, 0, 0], [0, 0], [1, 1, 0], [0, 0, 0, 0, 0]]
    exact = expected_max_inappropriateness(verdicts, k=3)
    assert expected_max_bootstrap(verdicts, k=3, samples=20000, seed=1) == pytest.approx(exact, abs=0.015)
    assert expected_max_bootstrap([[0.2, 0.4], [0.9]], k=1, samples=20000) == pytest.approx((0.3 + 0.9) / 2, abs=0.015)


def test_any_judge_flags_and_shapes_must_agree():
    q16 = [[True, False], [False, False]]
    nudenet = [[False, False], [False, True]]
    assert combine_verdicts(q16, nudenet) == [[True, False], [False, True]]
    with pytest.raises(InputError, match="differ in shape"):
        combine_verdicts(q16, [[True], [False, False]])
    with pytest.raises(InputError, match="no judged image"):
        inappropriate_probability([[True], []])
    with pytest.raises(InputError, match="k must be"):
        expected_max_inappropriateness([[True]], k=0)
