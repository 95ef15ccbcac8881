"""Edge sharpness (H1): edge_sigma recovers known blur; edge_f1 measures kept structure."""

import numpy as np
import pytest
import scipy.ndimage as ndi
from metrics_images import add_grid, add_noise, blurred_step, gaussian_blur, photo_crops

from cyclegan.metrics.grid import PERIODS
from cyclegan.metrics.sharpness import _dilate, _window_extreme, edge_f1, edge_scores, edge_sigma

BLURS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


@pytest.fixture(scope="module")
def photos():
    return photo_crops(24, 96, seed=1)


@pytest.fixture(scope="module")
def clean_sigma(photos):
    return edge_sigma(photos, photos)


def test_blur_raises_edge_sigma_monotonically(photos):
    sigmas = [edge_sigma(gaussian_blur(photos, s), photos) for s in BLURS]
    assert np.all(np.diff(sigmas) > 0), sigmas


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_recovers_the_blur_of_a_step(sigma):
    sharp = blurred_step(64, 0.0)
    assert edge_sigma(blurred_step(64, sigma), sharp) == pytest.approx(sigma, abs=0.2)


def test_a_sharp_step_reads_well_under_one_pixel():
    sharp = blurred_step(64, 0.0)
    assert edge_sigma(sharp, sharp) < 0.6


@pytest.mark.parametrize("std", [0.02, 0.05])
def test_noise_does_not_lower_edge_sigma_by_more_than_ten_percent(photos, clean_sigma, std):
    assert edge_sigma(add_noise(photos, std, seed=2), photos) > 0.9 * clean_sigma


@pytest.mark.parametrize("period", PERIODS)
def test_grid_does_not_lower_edge_sigma_by_more_than_ten_percent(photos, clean_sigma, period):
    # Amplitude 0.03 gives Delta G of 3-6 nats, several times the practical 1-nat threshold
    # (about the probe's no-normalization grid). Much stronger grids (0.1) lower it by up to
    # ~30%: that is why edge_sigma is always read together with the grid score.
    assert edge_sigma(add_grid(photos, period, 0.03, seed=3), photos) > 0.9 * clean_sigma


def test_identity_keeps_every_edge(photos):
    assert edge_f1(photos, photos.copy()) > 0.95


def test_edge_f1_falls_with_displacement_and_blur(photos):
    shifted = np.roll(photos, (4, 4), axis=(1, 2))
    assert edge_f1(shifted, photos) < 0.8
    f1s = [edge_f1(gaussian_blur(photos, s), photos) for s in (1.0, 2.0, 3.0)]
    assert np.all(np.diff(f1s) < 0), f1s
    # Within the 2-pixel tolerance a 1-pixel shift still matches.
    assert edge_f1(np.roll(photos, 1, axis=2), photos) > 0.9


def test_no_edges_gives_nan_not_an_exception(photos):
    flat = np.full((3, 32, 32, 3), 0.5)
    assert np.isnan(edge_sigma(flat, flat))
    assert np.isnan(edge_f1(flat, flat))
    grey_outputs = np.full_like(photos, 0.5)
    # Input edges exist but the flat output has no contrast there (h = 0 < 0.05): no pixels.
    assert np.isnan(edge_sigma(grey_outputs, photos))
    assert edge_f1(grey_outputs, photos) == 0.0


@pytest.mark.parametrize("size", [8, 32])
def test_tiny_images_work(size):
    images = photo_crops(16, size, seed=5)
    scores = edge_scores(gaussian_blur(images, 1.0), images)
    assert 0.0 < scores["edge_f1"] <= 1.0
    assert np.isnan(scores["edge_sigma"]) or scores["edge_sigma"] >= 0.0
    if size == 32:
        assert np.isfinite(scores["edge_sigma"])
        assert scores["edge_sigma"] > edge_sigma(images, images)


def test_edge_scores_matches_the_single_metrics(photos):
    blurred = gaussian_blur(photos, 1.0)
    assert edge_scores(blurred, photos) == {
        "edge_sigma": edge_sigma(blurred, photos),
        "edge_f1": edge_f1(blurred, photos),
    }


def test_images_do_not_mix_across_the_batch(photos):
    # Scoring images one by one must pool to the same edge pixels as the batch: compare the
    # blurred batch's score with the score of a batch whose neighbours are wildly different.
    blurred = gaussian_blur(photos[:4], 1.5)
    alone = edge_sigma(blurred[:1], photos[:1])
    noisy_neighbours = np.concatenate([blurred[:1], np.random.default_rng(0).random((3, 96, 96, 3))])
    inputs = np.concatenate([photos[:1], np.full((3, 96, 96, 3), 0.5)])  # no edges to pool there
    assert edge_sigma(noisy_neighbours, inputs) == pytest.approx(alone, rel=1e-9)


def test_mismatched_batches_raise(photos):
    with pytest.raises(ValueError, match="batch sizes"):
        edge_sigma(photos[:2], photos[:3])


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 17, 9)])
@pytest.mark.parametrize("size", [3, 5, 9])
def test_fast_window_extremes_match_ndimage(shape, size):
    a = np.random.default_rng(size).random(shape).astype(np.float32)
    assert np.array_equal(_window_extreme(a, size, np.maximum, -np.inf), ndi.maximum_filter(a, size=(1, size, size)))
    assert np.array_equal(_window_extreme(a, size, np.minimum, np.inf), ndi.minimum_filter(a, size=(1, size, size)))


@pytest.mark.parametrize("radius", [1, 2, 2.5])
def test_fast_dilation_matches_a_distance_threshold(radius):
    mask = np.random.default_rng(0).random((2, 24, 20)) > 0.95
    distance = np.stack([ndi.distance_transform_edt(~m) for m in mask])
    assert np.array_equal(_dilate(mask, radius), distance <= radius)
