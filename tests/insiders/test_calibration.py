"""Scores of probability forecasts, the bootstrap interval of a share difference, the power calculation."""

from __future__ import annotations

import numpy as np
import pytest

from insiders.calibration import (
    bootstrap_share_difference,
    brier_score,
    brier_skill,
    calibration_by_decile,
    log_loss,
    minimal_detectable_difference,
)


def test_scores_by_hand():
    predicted, actual = [0.9, 0.2, 0.5, 1.0], [1, 0, 1, 1]
    assert brier_score(predicted, actual) == pytest.approx((0.01 + 0.04 + 0.25 + 0.0) / 4)
    assert log_loss(predicted, actual) == pytest.approx(
        -(np.log(0.9) + np.log(0.8) + np.log(0.5) + np.log(1 - 1e-12)) / 4
    )
    # base rate 3/4: its Brier score is 3/16
    assert brier_skill(predicted, actual) == pytest.approx(1 - 0.075 / (3 / 16))
    assert brier_skill([0.75] * 4, actual) == pytest.approx(0.0)
    assert brier_skill(actual, actual) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("predicted", "actual", "message"),
    [([0.5], [1, 0], "same length"), ([], [], "zero"), ([1.2], [1], r"\[0, 1\]"), ([0.5], [2], "0 or 1")],
)
def test_scores_reject_bad_input(predicted, actual, message):
    with pytest.raises(ValueError, match=message):
        brier_score(predicted, actual)


def test_calibration_of_a_calibrated_forecast_is_flat_and_of_an_overconfident_one_is_not():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 50_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(float)
    table = calibration_by_decile(p, y)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].tolist() == [5_000] * 10
    assert table["gap"].abs().max() < 0.02
    assert (table["min_predicted"].diff().dropna() > 0).all()
    overconfident = np.clip(0.5 + 2.5 * (p - 0.5), 0, 1)
    assert calibration_by_decile(overconfident, y)["gap"].abs().max() > 0.2


def test_deciles_are_equal_sized_even_when_predictions_tie():
    table = calibration_by_decile(np.full(1000, 0.3), np.r_[np.ones(300), np.zeros(700)])
    assert table["customers"].tolist() == [100] * 10
    assert table["actual_share"].mean() == pytest.approx(0.3)


def test_bootstrap_interval_of_a_share_difference_covers_the_truth_and_excludes_zero_when_clear():
    rng = np.random.default_rng(11)
    values = rng.lognormal(3, 1.2, 4_000)
    top = values >= np.quantile(values, 0.9)
    random_group = rng.uniform(size=values.size) < 0.1
    clear = bootstrap_share_difference(values, top, random_group, resamples=500)
    assert clear.low > 0 and clear.covers(clear.estimate)
    # two random groups of the same size: the interval straddles 0
    other = rng.uniform(size=values.size) < 0.1
    level = bootstrap_share_difference(values, random_group, other, resamples=500)
    assert level.low < 0 < level.high
    assert level.high - level.low < 0.1


def test_minimal_detectable_difference():
    # z 0.975 + z 0.8 = 2.8016; sd 100, 100 per group: se = 14.14
    assert minimal_detectable_difference(100, 100, 100, 100) == pytest.approx(2.8016 * np.sqrt(200), rel=1e-4)
    small = minimal_detectable_difference(9_500, 9_500, 468, 52)
    large = minimal_detectable_difference(9_500, 9_500, 416, 104)
    assert large < small
    assert minimal_detectable_difference(1, 1, 10, 1) == float("inf")
