"""Convergence of a loss curve on synthetic curves with known answers."""

import numpy as np
import pytest

from cyclegan.metrics.convergence import (
    area_under_curve,
    convergence_measures,
    epochs_to_fraction_of_start,
    epochs_to_within,
)


def test_area_under_known_curves():
    assert area_under_curve(np.full(11, 2.0)) == pytest.approx(20.0)  # 10 intervals x 2
    assert area_under_curve(np.arange(11.0)) == pytest.approx(50.0)  # triangle 10 x 10 / 2
    assert area_under_curve([3.0]) == 0.0
    assert area_under_curve([4.0, 2.0, 0.0]) == pytest.approx(4.0)


def test_faster_decay_has_smaller_area_and_earlier_convergence():
    t = np.arange(100)
    fast = 1.0 + 9.0 * np.exp(-t / 5.0)
    slow = 1.0 + 9.0 * np.exp(-t / 20.0)
    assert area_under_curve(fast) < area_under_curve(slow)
    assert epochs_to_within(fast) < epochs_to_within(slow)


def test_epochs_to_within_on_exponential_decay():
    # c_t = 1 + 9 exp(-t / 10), t = 0..199: final ~1, within 10% once 9 exp(-t/10) <= 0.1 * c_end,
    # i.e. t >= 10 ln(90 / c_end) = 44.99..., so t = 45, the 46th mini-epoch.
    t = np.arange(200)
    curve = 1.0 + 9.0 * np.exp(-t / 10.0)
    expected_t = int(np.ceil(10 * np.log(90 / curve[-1])))
    assert expected_t == 45
    assert epochs_to_within(curve) == expected_t + 1


def test_literal_first_entry_versus_staying_inside():
    curve = [10.0, 5.0, 2.0, 1.05, 0.8, 1.2, 1.0]  # enters the band at 4, leaves, back at 7
    assert epochs_to_within(curve) == 4
    assert epochs_to_within(curve, stay=True) == 7
    assert epochs_to_within(curve, tolerance=0.25) == 4
    assert epochs_to_within(curve, tolerance=0.25, stay=True) == 4


def test_edge_cases():
    assert epochs_to_within([5.0]) == 1
    assert epochs_to_within([3.0, 3.0, 3.0]) == 1
    assert epochs_to_within([2.0, 1.0, 0.0]) == 3  # a final value of 0 needs an exact 0
    assert epochs_to_within([-1.0, -2.0, -2.1]) == 2  # the band uses |final| (negative losses)
    assert epochs_to_within([4.0, 3.0, 2.0, 1.0], tolerance=0.0) == 4


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        (np.zeros((2, 3)), "1-D"),
        ([], "empty"),
        ([1.0, np.nan, 2.0], r"mini-epochs \[2\]"),
        ([1.0, np.inf], "infinite"),
    ],
)
def test_bad_curves_raise(curve, message):
    with pytest.raises(ValueError, match=message):
        area_under_curve(curve)
    with pytest.raises(ValueError, match=message):
        epochs_to_within(curve)


def test_negative_tolerance_raises():
    with pytest.raises(ValueError, match="tolerance"):
        epochs_to_within([1.0, 2.0], tolerance=-0.1)


def test_epochs_to_half_is_speed_not_level_and_does_not_move_once_reached():
    assert epochs_to_fraction_of_start([4.0, 3.0, 1.0, 0.5]) == pytest.approx(2.5)  # 2 at 3.0, 3 at 1.0: 2 crossed at 2.5
    assert epochs_to_fraction_of_start([4.0, 2.0, 1.9]) == pytest.approx(2.0)
    assert np.isnan(epochs_to_fraction_of_start([4.0, 3.5, 3.0]))  # not reached within the budget
    # A fast curve that plateaus high has the LARGER area but the SMALLER (better) time to half.
    fast_high = [4.0, 1.9, 1.9, 1.9, 1.9, 1.9, 1.9, 1.9]
    slow_low = [4.0, 2.5, 1.5, 1.0, 0.8, 0.6, 0.5, 0.4]
    assert area_under_curve(fast_high) > area_under_curve(slow_low)
    assert epochs_to_fraction_of_start(fast_high) < epochs_to_fraction_of_start(slow_low)
    # The prefix's value equals the full curve's once reached: longer training does not change it.
    assert epochs_to_fraction_of_start(slow_low[:5]) == epochs_to_fraction_of_start(slow_low + [0.5, 0.4])
    with pytest.raises(ValueError, match="fraction"):
        epochs_to_fraction_of_start([1.0, 0.4], fraction=1.5)
    assert set(convergence_measures([4.0, 2.0])) == {
        "convergence/cycle_auc", "convergence/cycle_epochs_to_10pct", "convergence/cycle_epochs_to_half"}
