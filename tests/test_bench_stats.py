"""The benchmark's round figures: medians with ranges, shares paired with the probe of their round,
and ratios taken round by round."""

from __future__ import annotations

import pytest

from cyclegan.core.bench_stats import Spread, round_ratios, round_shares, spread


def test_spread_is_the_median_and_the_range():
    assert spread([3.0, 1.0, 2.0, 10.0]) == Spread(median=2.5, low=1.0, high=10.0, count=4)
    assert spread([5.0]) == Spread(5.0, 5.0, 5.0, 1)
    with pytest.raises(ValueError, match="no samples"):
        spread([])


def test_spread_formats_with_scale_unit_and_digits():
    share = spread([0.70, 0.74, 0.80])
    assert share.format(scale=100, unit="%") == "74% (70-80%, 3 rounds)"
    assert spread([1.234, 1.25]).format(digits=2, unit="x") == "1.24x (1.23-1.25x, 2 rounds)"
    assert share.relative_half_range == pytest.approx(0.05 / 0.74)


def test_a_share_pairs_each_round_with_its_own_probe():
    # 100 GFLOP per step; the machine halves its speed in round 2 and the step slows with it.
    shares = round_shares(100.0, [1.0, 2.0], [200.0, 100.0])
    assert shares == [0.5, 0.5]  # the share holds still where time and probe both moved
    with pytest.raises(ValueError, match="2 rounds of steps but 1 probes"):
        round_shares(100.0, [1.0, 2.0], [200.0])


def test_ratios_are_taken_round_by_round():
    # Reference seconds over project seconds = project pairs/s over reference pairs/s.
    assert round_ratios([12.0, 24.0], [10.0, 20.0]) == [1.2, 1.2]
    with pytest.raises(ValueError, match="2 rounds against 3"):
        round_ratios([1.0, 2.0], [1.0, 2.0, 3.0])
