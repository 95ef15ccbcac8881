"""The synthetic scenes have the properties the generator claims (made in memory, small sizes)."""

import numpy as np
import pytest
from skimage import color

from cyclegan.data.synth import landscape, source_images, synthetic_image


def test_landscapes_put_a_bright_sky_over_a_darker_ground():
    sources = source_images()
    rng = np.random.default_rng(0)
    scenes = np.stack([landscape(sources, 48, rng) for _ in range(24)])
    y = scenes @ np.array([0.299, 0.587, 0.114])
    top, bottom = y[:, :8].mean(axis=(1, 2)), y[:, -8:].mean(axis=(1, 2))
    assert (top > bottom).mean() > 0.8
    assert scenes.min() >= 0 and scenes.max() <= 1


def test_paintings_are_less_saturated_than_photos_and_both_deterministic():
    sources = source_images()

    def make(domain, seed):
        rng = np.random.default_rng(seed)
        return np.stack([synthetic_image(domain, sources, 48, rng) for _ in range(12)])

    photos, paintings = make("photo", 1), make("monet", 1)
    assert np.array_equal(photos, make("photo", 1))
    assert color.rgb2hsv(paintings)[..., 1].mean() < color.rgb2hsv(photos)[..., 1].mean()


def test_an_unknown_domain_is_named():
    with pytest.raises(ValueError, match="'painting'"):
        synthetic_image("painting", source_images(), 32, np.random.default_rng(0))
