"""Distribution distances: SWD on Laplacian-pyramid patches and per-channel Lab Wasserstein."""

import numpy as np
import pytest
from metrics_images import gaussian_blur, photo_crops
from scipy.stats import wasserstein_distance
from skimage.color import rgb2lab

from cyclegan.metrics.distribution import (
    LabWassersteinTarget,
    SlicedWassersteinTarget,
    _pyr_up,
    lab_wasserstein,
    laplacian_pyramid,
    sliced_wasserstein,
)

SHIFTS = (0.05, 0.1, 0.2)


@pytest.fixture(scope="module")
def halves():
    # 256 images per half: with 64 the image-sampling noise between halves is ~80-100 (x1e3).
    photos = photo_crops(512, 32, seed=5)
    return photos[:256], photos[256:]


def colour_shift(images, amount):
    return np.clip(images + np.array([amount, 0.0, -amount]), 0.0, 1.0)


@pytest.fixture(scope="module")
def same_swd(halves):
    return sliced_wasserstein(*halves)


@pytest.fixture(scope="module")
def shifted_swd(halves):
    a, b = halves
    return [sliced_wasserstein(colour_shift(a, d), b)["swd"] for d in SHIFTS]


def test_halves_of_one_set_are_much_closer_than_a_colour_shifted_set(same_swd, shifted_swd):
    same = same_swd["swd"]
    assert same < 0.3 * shifted_swd[-1]
    assert same < 0.5 * shifted_swd[1]


def test_swd_grows_with_colour_shift(shifted_swd):
    assert np.all(np.diff(shifted_swd) > 0), shifted_swd


def test_target_normalisation_exposes_a_contrast_change(halves, same_swd):
    # Normalising each set by its own statistics would hide a global contrast reduction.
    a, b = halves
    assert sliced_wasserstein(0.25 + 0.5 * a, b)["swd"] > 3 * same_swd["swd"]


def test_blur_shows_on_the_finest_level(halves, same_swd):
    a, b = halves
    blurred = sliced_wasserstein(gaussian_blur(a, 1.5), b)
    assert blurred["swd_level_0"] > 3 * same_swd["swd_level_0"]


def test_levels_keys_seed_and_unequal_sizes():
    photos = photo_crops(40, 64, seed=6)
    result = sliced_wasserstein(photos[:30], photos[30:], seed=3)
    assert set(result) == {"swd", "swd_level_0", "swd_level_1", "swd_level_2"}
    levels = [result[f"swd_level_{k}"] for k in range(3)]
    assert result["swd"] == pytest.approx(np.mean(levels))
    assert all(v > 0 for v in levels)
    assert sliced_wasserstein(photos[:30], photos[30:], seed=3) == result
    assert sliced_wasserstein(photos[:30], photos[30:], seed=4) != result


@pytest.mark.parametrize(("size", "n_levels"), [(256, 5), (64, 3), (48, 2), (32, 2), (16, 1)])
def test_pyramid_depth_stops_at_16_pixels(size, n_levels):
    assert len(laplacian_pyramid(np.zeros((1, size, size, 3)))) == n_levels


def test_pyramid_reconstructs_the_image():
    images = photo_crops(3, 64, seed=7)
    levels = laplacian_pyramid(images)
    image = levels[-1]
    for detail in reversed(levels[:-1]):
        image = detail + _pyr_up(image, detail.shape)
    np.testing.assert_allclose(image, images, atol=1e-5)


@pytest.mark.parametrize(("n_images", "n_target"), [(24, 24), (30, 20), (16, 28)])
def test_a_prepared_target_gives_the_one_shot_distance_batch_after_batch(n_images, n_target):
    # The trainer prepares the held-out paintings once and scores every mini-epoch's outputs against
    # them: each call must equal a fresh one-shot distance, whatever was scored before (no state
    # carried between calls), including the subsampling of the larger set.
    photos = photo_crops(n_images * 2 + n_target, 32, seed=11)
    batches = [photos[:n_images], colour_shift(photos[n_images:2 * n_images], 0.3)]
    target_images = photos[2 * n_images:]
    target = SlicedWassersteinTarget(target_images, n_images, seed=4)
    for batch in (batches[0], batches[1], batches[0]):
        assert target.distance(batch) == sliced_wasserstein(batch, target_images, seed=4)
    assert target.distance(batches[1])["swd"] > target.distance(batches[0])["swd"]


def test_a_prepared_target_refuses_another_batch_size():
    photos = photo_crops(20, 32, seed=12)
    target = SlicedWassersteinTarget(photos[10:], 10)
    with pytest.raises(ValueError, match="prepared for batches of 10 images, got 9"):
        target.distance(photos[:9])


def test_images_smaller_than_a_patch_raise():
    with pytest.raises(ValueError, match="patch"):
        sliced_wasserstein(np.zeros((2, 6, 6, 3)), np.zeros((2, 6, 6, 3)))


def test_mismatched_image_shapes_raise():
    with pytest.raises(ValueError, match="same image shape"):
        sliced_wasserstein(np.zeros((2, 32, 32, 3)), np.zeros((2, 64, 64, 3)))


def test_lab_distance_is_zero_for_identical_sets_and_grows_with_shift(halves):
    a, b = halves
    small = a[:8]
    assert lab_wasserstein(small, small.copy()) == {"lab_w_l": 0.0, "lab_w_a": 0.0, "lab_w_b": 0.0}
    same = lab_wasserstein(a, b)
    shifted = [lab_wasserstein(colour_shift(a, d), b) for d in SHIFTS]
    # Red up and blue down moves a* and b* (red-green, yellow-blue) monotonically.
    for channel in ("lab_w_a", "lab_w_b"):
        values = [same[channel]] + [s[channel] for s in shifted]
        assert np.all(np.diff(values) > 0), (channel, values)
    assert shifted[-1]["lab_w_b"] > 5 * same["lab_w_b"]


def test_lab_luminance_shift_moves_only_l():
    photos = photo_crops(16, 32, seed=8)
    darker = lab_wasserstein(photos * 0.7, photos)
    assert darker["lab_w_l"] > 5.0
    # Chroma scales with lightness in Lab, so a* and b* move a little too, but far less.
    assert darker["lab_w_l"] > 2 * max(darker["lab_w_a"], darker["lab_w_b"])


@pytest.mark.parametrize(("n_a", "n_b", "max_pixels"), [(8, 8, 100_000), (10, 6, 3000), (6, 12, 2048), (4, 3, 100_000)])
def test_lab_distance_equals_scipys_wasserstein_on_the_same_pixel_subsamples(n_a, n_b, max_pixels):
    # The quantile shortcut for equal counts must give scipy's number; unequal counts (here 4 x 32 x 32
    # against 3 x 32 x 32 pixels, no subsampling) go to scipy itself. Subsamples replayed in the documented order.
    photos = photo_crops(n_a + n_b, 32, seed=21)
    a, b = colour_shift(photos[:n_a], 0.1), photos[n_a:]
    rng = np.random.default_rng(3)
    pixels = []
    for images in (a, b):
        flat = images.reshape(-1, 3)
        if len(flat) > max_pixels:
            flat = flat[rng.choice(len(flat), max_pixels, replace=False)]
        pixels.append(rgb2lab(np.clip(flat, 0, 1).astype(np.float64)[None]).reshape(-1, 3))
    expected = {f"lab_w_{ch}": wasserstein_distance(pixels[0][:, i], pixels[1][:, i]) for i, ch in enumerate("lab")}
    got = lab_wasserstein(a, b, seed=3, max_pixels=max_pixels)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got["lab_w_b"] > 1.0  # the blue shift is seen, so the comparison is not of zeros


def test_a_prepared_lab_target_gives_the_one_shot_distance_batch_after_batch():
    photos = photo_crops(36, 32, seed=22)
    batches = [photos[:12], colour_shift(photos[12:24], 0.2)]
    target = LabWassersteinTarget(photos[24:], 12, (32, 32, 3), seed=5, max_pixels=5000)
    for batch in (batches[0], batches[1], batches[0]):
        assert target.distance(batch) == lab_wasserstein(batch, photos[24:], seed=5, max_pixels=5000)
    assert target.distance(batches[1])["lab_w_b"] > target.distance(batches[0])["lab_w_b"]
    with pytest.raises(ValueError, match=r"prepared for 12 images of \(32, 32, 3\), got 11"):
        target.distance(photos[:11])
