"""Grid score (H2) and the shared batch checks, on natural-looking images with known answers."""

import numpy as np
import pytest
from metrics_images import add_grid, add_noise, gaussian_blur, jpeg_roundtrip, photo_crops

from cyclegan.metrics.batches import check_images, check_pair, luma
from cyclegan.metrics.grid import (
    PERIODS,
    grid_scores,
    lattice_mask,
    mean_log_spectrum,
    mean_power_spectrum,
)

AMPLITUDES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)


@pytest.fixture(scope="module")
def photos64():
    return photo_crops(64, 64, seed=0)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("size", [64, 128])
def test_injected_lattice_raises_its_delta_monotonically(period, size):
    photos = photo_crops(48, size, seed=size + period)
    deltas = [grid_scores(add_grid(photos, period, a, seed=period), photos)[f"grid_delta_p{period}"]
              for a in AMPLITUDES]
    assert deltas[0] == pytest.approx(0.0, abs=1e-9)
    # Strictly rising up to a clearly visible 5%; beyond it a period-2 lattice at 128 px levels off at
    # about 8 nats (its power also raises the reference line it is compared with: 8.34 at 5%, 8.24 at
    # 10%), far above any threshold.
    visible = AMPLITUDES.index(0.05)
    assert np.all(np.diff(deltas[: visible + 1]) > 0), deltas
    assert min(deltas[visible:]) > 0.95 * deltas[visible], deltas
    # A grid of 5% amplitude is clearly visible; it must clear the 1-nat practical threshold.
    assert deltas[visible] > 2.0, deltas


@pytest.mark.parametrize("period", PERIODS[:-1])
def test_a_period_p_pattern_leaves_longer_periods_alone(photos64, period):
    # A p-periodic pattern only has power at multiples of N/p, i.e. on Lambda_q for q <= p
    # (a random tile also feeds the coarser lattices), never on Lambda_q for q > p.
    scores = grid_scores(add_grid(photos64, period, 0.05, seed=1), photos64)
    assert scores["grid_score"] > 2.0
    longer = [scores[f"grid_delta_p{q}"] for q in PERIODS if q > period]
    assert max(abs(v) for v in longer) < 1.0, scores


def test_identical_outputs_score_zero(photos64):
    scores = grid_scores(photos64, photos64.copy())
    assert all(abs(v) < 0.05 for v in scores.values()), scores


def test_unrelated_natural_images_score_small(photos64):
    scores = grid_scores(photo_crops(64, 64, seed=9), photos64)
    assert abs(scores["grid_score"]) < 1.0, scores


@pytest.mark.parametrize(
    "nuisance",
    [
        pytest.param(lambda x: add_noise(x, 0.01), id="noise-0.01"),
        pytest.param(lambda x: add_noise(x, 0.03), id="noise-0.03"),
        pytest.param(lambda x: add_noise(x, 0.1), id="noise-0.1"),
        pytest.param(lambda x: gaussian_blur(x, 0.5), id="blur-0.5"),
        pytest.param(lambda x: gaussian_blur(x, 1.0), id="blur-1"),
        pytest.param(lambda x: gaussian_blur(x, 2.0), id="blur-2"),
        pytest.param(lambda x: jpeg_roundtrip(x, 50), id="jpeg-50"),
        pytest.param(lambda x: jpeg_roundtrip(x, 75), id="jpeg-75"),
        pytest.param(lambda x: jpeg_roundtrip(x, 95), id="jpeg-95"),
    ],
)
def test_noise_blur_and_jpeg_move_every_delta_by_under_one_nat(photos64, nuisance):
    scores = grid_scores(nuisance(photos64), photos64)
    assert all(abs(v) < 1.0 for v in scores.values()), scores


def test_lattices_are_disjoint_and_tile_the_period_lattice():
    n = 64
    masks = {p: lattice_mask(n, n, p) for p in PERIODS}
    # Lambda_p has p^2 - (p/2)^2 points (the origin belongs to the coarsest lattice).
    assert {p: int(m.sum()) for p, m in masks.items()} == {2: 3, 4: 12, 8: 48, 16: 192}
    union = np.zeros((n, n), dtype=int)
    for m in masks.values():
        union += m
    assert union.max() == 1
    k = np.rint(np.fft.fftfreq(n) * n).astype(int)
    period16 = (k[:, None] % (n // 16) == 0) & (k[None, :] % (n // 16) == 0)
    period16[0, 0] = False
    assert np.array_equal(union.astype(bool), period16)
    assert not lattice_mask(n, n, 2)[0, 0]


def test_periodic_plus_smooth_removes_the_border_cross():
    # A horizontal ramp is smooth but not periodic: a plain FFT puts its wrap-around jump on
    # the kx axis. Moisan's periodic component keeps almost none of that power.
    ramp = np.linspace(0.2, 0.8, 32)[None, None, :, None] * np.ones((1, 32, 1, 3))
    y = luma(ramp)[0]
    plain = np.abs(np.fft.fft2(y - y.mean())) ** 2
    assert mean_power_spectrum(ramp).sum() < 0.01 * plain.sum()


def test_mean_log_spectrum_is_centred_and_shows_the_grid():
    size = 64
    cols = np.cos(np.pi * np.arange(size) / 2)  # period 4 along x
    images = np.clip(photo_crops(8, size, seed=3) + 0.1 * cols[None, None, :, None], 0, 1)
    spectrum = mean_log_spectrum(images)
    assert spectrum.shape == (size, size)
    row, col = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    assert row == size // 2 and abs(col - size // 2) == size // 4


def test_unsupported_periods_are_nan_and_skipped():
    photos = photo_crops(8, 40, seed=4)  # 40 is not divisible by 16
    scores = grid_scores(add_grid(photos, 8, 0.05), photos)
    assert np.isnan(scores["grid_delta_p16"])
    finite = [scores[f"grid_delta_p{p}"] for p in (2, 4, 8)]
    assert np.all(np.isfinite(finite))
    assert scores["grid_score"] == max(finite)
    assert scores["grid_delta_p8"] > 1.0


def test_constant_images_give_finite_zero_scores():
    black = np.zeros((4, 32, 32, 3))
    scores = grid_scores(black, black)
    assert all(v == 0.0 for v in scores.values()), scores


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 8, 8)), "shape"),
        (np.zeros((2, 8, 8, 4)), "shape"),
        (np.zeros((0, 8, 8, 3)), "empty"),
        (np.zeros((2, 8, 8, 3), dtype=np.uint8), "dtype"),
        (np.full((2, 8, 8, 3), 255.0), "[0, 1]"),
        (np.full((2, 8, 8, 3), -0.1), "[0, 1]"),
        (np.full((2, 8, 8, 3), np.nan), "NaN"),
    ],
)
def test_bad_batches_raise_value_error_naming_the_problem(images, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_images(images)


def test_small_overshoot_is_tolerated():
    assert check_images(np.full((1, 4, 4, 3), 1.0005)).shape == (1, 4, 4, 3)


def test_mismatched_pairs_raise():
    a = np.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match="batch sizes: 2 vs 3"):
        check_pair(a, np.zeros((3, 8, 8, 3)))
    with pytest.raises(ValueError, match="image shapes"):
        check_pair(a, np.zeros((2, 8, 16, 3)))
    with pytest.raises(ValueError, match="outputs"):
        grid_scores(np.zeros((2, 8, 8)), a)


def test_non_square_images_use_per_axis_lattices():
    photos = photo_crops(16, 96, seed=11)[:, :64]  # 64 x 96
    pattern = np.tile(np.random.default_rng(0).standard_normal((8, 8)), (8, 12))
    gridded = np.clip(photos + 0.05 * pattern[None, :, :, None], 0, 1)
    scores = grid_scores(gridded, photos)
    assert scores["grid_delta_p8"] > 2.0
    assert abs(grid_scores(photos, photos)["grid_score"]) < 1e-9


def test_float16_and_float32_batches_are_accepted():
    photos = photo_crops(4, 32, seed=12)
    for dtype in (np.float16, np.float32):
        assert abs(grid_scores(photos.astype(dtype), photos)["grid_score"]) < 0.05
