"""Collapse indicators (H3) and the calibration of the high-pass cross-correlation threshold.

Calibration story (DESIGN probe: collapsed striped picture 0.66, strong grid without
normalization 0.57, patch discriminator 0.15, real photos 0.00): the plain high-pass
cross-image correlation of a grid grows with its amplitude past that of a collapsed batch, so no
threshold on it separates "grid" from "collapse" (test_plain_correlation_cannot_separate...).
Removing the period lattice's frequencies first does: grids fall to <= ~0.15, the striped
collapse stays >= ~0.6, and HIGHPASS_COLLAPSE_THRESHOLD = 0.4 sits between with margin.
These indicators are still logged; `collapsed` itself is now decided by the two faces of
input-independence (tests/test_metrics_input_dependence.py), which also see through a blurred,
gridded output that the normalized correlation reads as collapse.
"""

import itertools

import numpy as np
import pytest
import scipy.ndimage as ndi
from metrics_images import add_grid, add_noise, gaussian_blur, photo_crops, striped_picture

from cyclegan.metrics.batches import luma
from cyclegan.metrics.collapse import (
    HIGHPASS_COLLAPSE_THRESHOLD,
    collapse_scores,
    highpass_cross_correlation,
    inter_image_diff,
)
from cyclegan.metrics.grid import PERIODS

SIZES = (32, 64, 128)
GRID_AMPLITUDES = (0.05, 0.1, 0.2)
# Blend weight of the shared striped picture; 0.4 reproduces the probe's input correlation
# (0.76): measured 0.74 at 32 px, 0.78 at 64 px, 0.86 at 128 px.
STRIPE_WEIGHT = 0.4


@pytest.fixture(scope="module", params=SIZES)
def photos(request):
    return photo_crops(64, request.param, seed=request.param)


def striped_collapse(photos, weight=STRIPE_WEIGHT):
    return (1 - weight) * photos + weight * striped_picture(photos.shape[1])[None]


def test_all_black_is_collapsed(photos):
    scores = collapse_scores(np.zeros_like(photos), photos)
    assert scores["collapsed"] is True
    assert scores["black_fraction"] == 1.0
    assert scores["mean_luma"] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_grey_is_collapsed_by_flatness(photos, dtype):
    scores = collapse_scores(np.full(photos.shape, 0.6, dtype=dtype), photos)
    assert scores["collapsed"] is True
    assert scores["black_fraction"] == 0.0
    assert scores["luma_std_median"] == pytest.approx(0.0, abs=1e-6)
    assert scores["inter_image_diff"] == pytest.approx(0.0, abs=1e-6)
    assert scores["input_correlation"] == 0.0
    # No high-pass energy at all: counted as uncorrelated, not as one shared (round-off) picture.
    assert scores["highpass_cross_correlation"] == 0.0


def test_a_copy_of_real_images_is_not_collapsed(photos):
    scores = collapse_scores(photos.copy(), photos)
    assert scores["collapsed"] is False
    assert scores["input_correlation"] == pytest.approx(1.0)
    assert abs(scores["highpass_cross_correlation"]) < 0.05
    assert scores["luma_std_median"] == scores["input_luma_std_median"] > 0.05
    assert scores["inter_image_diff"] == scores["input_inter_image_diff"] > 0.1


@pytest.mark.parametrize(("period", "amplitude"), list(itertools.product(PERIODS, GRID_AMPLITUDES)))
def test_a_strong_grid_on_real_images_is_not_collapsed(photos, period, amplitude):
    scores = collapse_scores(add_grid(photos, period, amplitude, seed=period), photos)
    assert scores["collapsed"] is False
    assert scores["highpass_cross_correlation_offgrid"] < HIGHPASS_COLLAPSE_THRESHOLD - 0.2


def test_plain_correlation_cannot_separate_grid_from_collapse(photos):
    # Why the decision uses the grid-free correlation: a 0.1 grid outscores the collapse.
    grid = collapse_scores(add_grid(photos, 4, 0.1, seed=4), photos)
    collapse = collapse_scores(striped_collapse(photos, 0.3), photos)
    assert grid["highpass_cross_correlation"] > collapse["highpass_cross_correlation"]
    assert grid["highpass_cross_correlation"] > HIGHPASS_COLLAPSE_THRESHOLD


def test_the_same_striped_picture_blended_into_every_output_is_collapsed(photos):
    scores = collapse_scores(striped_collapse(photos), photos)
    assert scores["collapsed"] is True
    # ... though the outputs still follow their inputs, as in the probe: neither black nor flat.
    assert scores["input_correlation"] > 0.7
    assert scores["black_fraction"] < 0.1
    assert scores["luma_std_median"] > 0.5 * scores["input_luma_std_median"]
    assert scores["highpass_cross_correlation_offgrid"] > HIGHPASS_COLLAPSE_THRESHOLD + 0.2


def test_threshold_sits_between_grids_and_collapse_with_margin():
    grids, collapses = [], []
    for size in SIZES:
        photos = photo_crops(64, size, seed=100 + size)
        for period, amplitude in itertools.product(PERIODS, GRID_AMPLITUDES):
            grids.append(collapse_scores(add_grid(photos, period, amplitude), photos))
        for weight in (0.3, 0.4, 0.5):
            collapses.append(collapse_scores(striped_collapse(photos, weight), photos))
    highest_grid = max(s["highpass_cross_correlation_offgrid"] for s in grids)
    lowest_collapse = min(s["highpass_cross_correlation_offgrid"] for s in collapses)
    assert highest_grid + 0.1 < HIGHPASS_COLLAPSE_THRESHOLD < lowest_collapse - 0.1


@pytest.mark.parametrize(
    "nuisance",
    [lambda x: add_noise(x, 0.05), lambda x: gaussian_blur(x, 1.5)],
    ids=["noise", "blur"],
)
def test_noisy_or_blurry_outputs_are_not_collapsed(photos, nuisance):
    assert collapse_scores(nuisance(photos), photos)["collapsed"] is False


def test_inter_image_diff_is_exact_for_small_batches_and_close_for_large():
    y = luma(photo_crops(64, 32, seed=7))

    def brute(z):
        n = len(z)
        return np.mean([np.abs(z[i] - z[j]).mean() for i in range(n) for j in range(n) if i != j])

    assert inter_image_diff(y[:12]) == pytest.approx(brute(y[:12]), rel=1e-9)
    assert inter_image_diff(y) == pytest.approx(brute(y), rel=0.05)
    assert inter_image_diff(y) == inter_image_diff(y.copy())  # deterministic
    assert np.isnan(inter_image_diff(y[:1]))


def test_highpass_cross_correlation_matches_pairwise_pearson():
    y = luma(photo_crops(16, 32, seed=8))
    y = 0.5 * y + 0.5 * y[:1]  # share some content so the answer is not ~0
    high = y - ndi.gaussian_filter(y, sigma=(0, 2, 2))
    corr = np.corrcoef(high.reshape(len(high), -1))
    expected = corr[~np.eye(len(corr), dtype=bool)].mean()
    assert highpass_cross_correlation(y, exclude_grid=False) == pytest.approx(expected, rel=1e-6)
    assert expected > 0.2


def test_single_image_batch_gives_nan_pairwise_indicators():
    photo = photo_crops(1, 32, seed=9)
    scores = collapse_scores(photo, photo)
    assert np.isnan(scores["inter_image_diff"])
    assert np.isnan(scores["highpass_cross_correlation"])
    assert scores["collapsed"] is False
    assert collapse_scores(np.zeros_like(photo), photo)["collapsed"] is True


def test_mismatched_batches_raise():
    photos = photo_crops(4, 32)
    with pytest.raises(ValueError, match="batch sizes"):
        collapse_scores(photos[:3], photos)
