"""The two faces of collapse (DESIGN section 5: collapse is input-independence), calibrated on
planted cases whose truth holds by construction.

Each case is built from photo crops (scikit-image's bundled photos) or the synthetic generator's
photos, never from the shared real sample. The limits (LAYOUT_ALPHA, SHARED_TEXTURE_LIMIT) come
from nulls and labelled real runs (docs/metrics.md "Collapse"; tests/test_collapse_real_runs.py holds
the real runs); these planted cases stay on their side of them.
"""

import numpy as np
import pytest
from metrics_images import add_grid, gaussian_blur, photo_crops
from skimage import data, transform

from cyclegan.data.synth import source_images, synthetic_image
from cyclegan.metrics import score_batch
from cyclegan.metrics.batches import luma
from cyclegan.metrics.collapse import (
    DEGENERATE_OUTPUT,
    LAYOUT_ALPHA,
    LAYOUT_COLLAPSE,
    NOT_COLLAPSED,
    SHARED_TEXTURE_LIMIT,
    TEXTURE_COLLAPSE,
    collapse_kind,
    collapse_scores,
)
from cyclegan.metrics.input_dependence import identifiability_matches, input_identifiability, layout_p_value

SIZES = (32, 64, 128)
N = 64
MARGIN = 0.04  # every planted non-collapse stays at least this far below SHARED_TEXTURE_LIMIT


@pytest.fixture(scope="module", params=SIZES)
def photos(request):
    return photo_crops(N, request.param, seed=request.param)


def synth_photos(n, size, seed=0):
    """The synthetic generator's photo domain, made in memory (cyclegan data synth's recipe)."""
    rng = np.random.default_rng(seed)
    sources = source_images()
    return np.stack([synthetic_image("photo", sources, size, rng) for _ in range(n)])


def fixed_texture(size):
    """A gravel texture stretched to full contrast [0, 1]: one fine-scale picture, (size, size)."""
    gravel = data.gravel().astype(np.float64) / 255.0
    texture = transform.resize(gravel[: 2 * size, : 2 * size], (size, size), anti_aliasing=True)
    return (texture - texture.min()) / (texture.max() - texture.min())


def total_collapses(photos):
    """Outputs that do not depend on the input at all (each by construction), with the kind each is
    called: one picture, black or flat is degenerate (a total collapse; a real run's grey lattice on
    every output is tests/data/collapse's total collapse), a few pictures at random a layout collapse."""
    rng = np.random.default_rng(1)
    n, size = len(photos), photos.shape[1]
    pictures = photo_crops(3, size, seed=99)
    return {
        "one picture": (np.repeat(photos[:1], n, axis=0), DEGENERATE_OUTPUT),
        "one of three at random": (pictures[rng.integers(0, 3, n)], LAYOUT_COLLAPSE),
        "grey plus faint noise": (np.clip(0.5 + 0.01 * rng.standard_normal(photos.shape), 0, 1), DEGENERATE_OUTPUT),
        "fresh noise": (rng.uniform(0, 1, photos.shape), LAYOUT_COLLAPSE),
        "all black": (np.zeros_like(photos), DEGENERATE_OUTPUT),
    }


def test_outputs_that_ignore_their_inputs_are_collapsed_with_their_kind(photos):
    for name, (outputs, kind) in total_collapses(photos).items():
        scores = collapse_scores(outputs, photos)
        assert scores["collapse_kind"] == kind, name
        assert scores["collapsed"] is True, name
        assert scores["identifiability_p"] > LAYOUT_ALPHA, name  # the layout face fires too


def test_a_fixed_texture_over_blurred_inputs_is_texture_collapse(photos):
    texture = fixed_texture(photos.shape[1]) - 0.5
    outputs = np.clip(gaussian_blur(photos, 3) + texture[None, :, :, None], 0, 1)
    scores = collapse_scores(outputs, photos)
    assert scores["collapse_kind"] == TEXTURE_COLLAPSE
    # The layout still follows: far beyond chance. (At 32 px the colour channels, which the clipped
    # texture reaches, cost a few of the 64 matches: 57 against 60 with luma alone.)
    assert scores["input_identifiability"] > 0.85 and scores["identifiability_p"] < 1e-50
    assert scores["shared_texture"] > SHARED_TEXTURE_LIMIT + 0.5


@pytest.mark.parametrize("size", [64, 128])
def test_blurred_low_contrast_gridded_outputs_are_not_collapsed(size):
    # A deterministic function of the input whose only shared part is the grid. Not at 32 px: there
    # the strong grid's clipping harmonics leak off the lattice (shared texture 0.18); the studies
    # evaluate at 64 px or more, where it reads <= 0.10.
    photos = photo_crops(N, size, seed=size)
    outputs = add_grid(0.5 + 0.3 * (gaussian_blur(photos, 4) - 0.5), 4, 0.2)
    scores = collapse_scores(outputs, photos)
    assert scores["collapse_kind"] == NOT_COLLAPSED
    assert scores["shared_texture"] < SHARED_TEXTURE_LIMIT - MARGIN
    assert scores["input_identifiability"] > 0.9


def test_a_washed_out_output_that_follows_its_input_is_not_collapsed(photos):
    # The outside check's "grey, low-contrast, blurry, but each shows its own skyline" run: a
    # failure of quality, reported by its contrast ratio, not a collapse.
    outputs = 0.5 + 0.2 * (gaussian_blur(photos, 2) - 0.5)
    scores = collapse_scores(outputs, photos)
    assert scores["collapse_kind"] == NOT_COLLAPSED and scores["collapsed"] is False
    assert scores["contrast_ratio"] < 0.25
    assert scores["identifiability_p"] < 1e-6


@pytest.mark.parametrize("period", [2, 4, 8, 16])
def test_a_strong_grid_alone_is_not_collapsed(photos, period):
    scores = collapse_scores(add_grid(photos, period, 0.2, seed=period), photos)
    assert scores["collapse_kind"] == NOT_COLLAPSED
    assert scores["shared_texture"] < SHARED_TEXTURE_LIMIT - MARGIN


@pytest.mark.parametrize("size", [32, 64])
def test_synthetic_photos_as_outputs_are_not_collapsed(size):
    x = synth_photos(N, size, seed=size)
    for outputs in (x, add_grid(x, 4, 0.2)):
        scores = collapse_scores(outputs, x)
        assert scores["collapse_kind"] == NOT_COLLAPSED
        assert scores["input_identifiability"] > 0.9
        assert scores["shared_texture"] < SHARED_TEXTURE_LIMIT - MARGIN


def test_copies_are_fully_identifiable_and_share_no_texture(photos):
    scores = collapse_scores(photos.copy(), photos)
    assert scores["input_identifiability"] == 1.0
    assert abs(scores["shared_texture"]) < 0.02


def test_identifiability_counts_one_of_k_pictures_near_k_over_n():
    photos = photo_crops(N, 64, seed=3)
    rng = np.random.default_rng(4)
    for k in (1, 3, 8):
        outputs = photo_crops(k, 64, seed=50 + k)[rng.integers(0, k, N)]
        # Each picture can identify at most the one input it resembles best, in colour or in luma.
        assert input_identifiability(outputs, photos) <= k / N
        assert input_identifiability(luma(outputs), luma(photos)) <= k / N


def test_identifiability_is_blind_to_contrast_and_offset():
    y = luma(photo_crops(N, 64, seed=5))
    assert input_identifiability(0.2 + 0.1 * y, y) == input_identifiability(y, y) == 1.0


def test_a_layout_carried_in_colour_alone_is_found_where_luma_sees_none(photos):
    # Each input's lightness mapped onto two colours of one luma (a grey and an olive, Rec. 601), under
    # fresh lightness noise: the output's luma says nothing of its input, its colour is the input's
    # layout. A real run did much this (every sky grey, every ground olive:
    # tests/data/collapse/scalarIN-gan-s1-00350.png), and the luma-only layout test called it a layout
    # collapse.
    grey = np.array([0.5, 0.5, 0.5])
    olive = np.array([0.6, 0.5, (0.5 - 0.299 * 0.6 - 0.587 * 0.5) / 0.114])
    t = luma(photos)[..., None]
    noise = np.random.default_rng(8).normal(0.0, 0.05, t.shape)
    outputs = np.clip(t * grey + (1 - t) * olive + noise, 0, 1)
    assert layout_p_value(identifiability_matches(luma(outputs), luma(photos)), N) > LAYOUT_ALPHA
    assert input_identifiability(outputs, photos) > 0.9
    scores = collapse_scores(outputs, photos)
    assert scores["collapse_kind"] == NOT_COLLAPSED and scores["collapsed"] is False


def test_a_luminance_inverted_output_follows_its_input_and_is_not_collapsed(photos):
    # A generator that maps each photo to its washed-out negative under a strong grid (seen in the
    # quick study: coarse correlation -0.86 with its own input) is a deterministic function of the
    # input: not input-independent, so not a collapse (DESIGN section 5).
    size = photos.shape[1]
    grid = 0.15 * ((np.arange(size) // 2) % 2)
    negative = np.clip(0.75 - 0.5 * photos + grid[None, None, :, None], 0, 1)
    scores = collapse_scores(negative, photos)
    assert scores["input_identifiability"] > 0.9
    assert scores["collapse_kind"] == 0 and scores["collapsed"] is False


def test_a_dark_output_that_still_follows_its_input_is_degenerate_not_layout():
    photos = photo_crops(N, 64, seed=6)
    scores = collapse_scores(0.03 * photos, photos)
    assert scores["collapse_kind"] == DEGENERATE_OUTPUT
    assert scores["collapsed"] is True
    assert scores["input_identifiability"] > 0.9


def test_collapse_kind_order_and_nan():
    nan = float("nan")
    assert collapse_kind(0.5, 1.0, True) == DEGENERATE_OUTPUT  # black, flat or one picture comes first
    assert collapse_kind(0.5, 1.0, False) == LAYOUT_COLLAPSE  # p 0.5: no better than chance
    assert collapse_kind(1e-9, 1.0, True) == DEGENERATE_OUTPUT
    assert collapse_kind(1e-9, 1.0, False) == TEXTURE_COLLAPSE
    assert collapse_kind(nan, nan, False) == NOT_COLLAPSED


def test_layout_test_is_the_binomial_tail_against_chance():
    # Independent formula: P(K >= k) for K ~ Binomial(n, 1/n), summed term by term.
    from math import comb

    def tail(k, n):
        return sum(comb(n, j) * (1 / n) ** j * (1 - 1 / n) ** (n - j) for j in range(k, n + 1))

    for k, n in ((0, 64), (1, 64), (3, 64), (4, 64), (27, 64), (2, 8)):
        assert layout_p_value(k, n) == pytest.approx(tail(k, n), rel=1e-9)
    # The outside check's washed-out run: 27 of 64 outputs found their own input, the old fixed 0.5
    # limit called it input-independent; against chance it is overwhelming input dependence.
    assert layout_p_value(27, 64) < 1e-20
    assert collapse_kind(layout_p_value(27, 64), 0.0, False) == NOT_COLLAPSED
    # Chance-level counts are a layout collapse: 1 or 2 of 64 is what unrelated outputs give.
    assert collapse_kind(layout_p_value(2, 64), 0.0, False) == LAYOUT_COLLAPSE


def test_score_batch_reports_the_kind_as_an_int():
    photos = photo_crops(16, 32, seed=7)
    scores = score_batch(np.repeat(photos[:1], 16, axis=0), photos)
    assert scores["collapse_kind"] == DEGENERATE_OUTPUT and type(scores["collapse_kind"]) is int
    assert 0.0 <= scores["input_identifiability"] <= 1 / 16
