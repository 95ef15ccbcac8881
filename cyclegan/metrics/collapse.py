"""Mode-collapse indicators for H3: is the output black, flat, the same for every input, or
dominated by one input-independent picture?

The decision (`collapsed`, `collapse_kind`) follows DESIGN section 5's definition, collapse as
input-independence, through its two faces (cyclegan/metrics/input_dependence.py): the coarse
layout no longer identifies the input (kind 1, layout), or the fine detail is one picture shared
by all outputs (kind 2, texture). Black or flat outputs whose faint layout still follows the
input are kind 3 (degenerate). The older indicators below are still logged.

Collapse is not always black: in the DESIGN probe a scalar discriminator drove every input to
the same green/yellow striped picture while luma correlation with the input stayed 0.76. The
share of the picture that does not depend on the input shows up as correlation *between* the
high-passed outputs of different inputs. A strong grid is input-independent too, so that
correlation is also given with the grid lattice frequencies removed (see
highpass_cross_correlation). Both normalize each image, so a blurred, gridded output whose
little remaining detail is the grid's clipping residue scores high (0.8-0.97 in the tests):
they are logged, but no longer decide.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage as ndi

from cyclegan.metrics.batches import check_pair, luma, map_chunks
from cyclegan.metrics.grid import PERIODS, period_supported
from cyclegan.metrics.input_dependence import fine_energy_sums, input_identifiability, shared_texture

BLACK_LEVEL = 0.05
BLACK_FRACTION_LIMIT = 0.9
# "Flat and all alike": per-image std and inter-image difference both below this share of the
# inputs'.
FLAT_RATIO = 0.1
HIGHPASS_SIGMA = 2.0
# Calibration (tests/test_metrics_collapse.py; 64 photo crops at 32, 64 and 128 px):
# - the plain high-pass cross-correlation cannot separate grid from collapse: a period-2..16 grid
#   of amplitude 0.05 on real photos gives ~0.55 (the probe's 0.57 without normalization) and
#   one of 0.1 gives ~0.8, more than a collapsed batch's ~0.75;
# - with the period lattice removed, real photos score ~0.00 and grids of amplitude 0.05-0.2 stay
#   <= 0.25 (0.25 at 32 px, where clipping harmonics leak off the lattice; <= 0.11 at 64-128 px),
#   while every photo blended with one striped picture at the probe's input correlation (weight
#   0.4, input correlation 0.74-0.86) scores 0.75-0.82 and a weaker 30% blend 0.57-0.69.
# 0.4 is the midpoint of the probe's patch-discriminator (0.15) and collapsed (0.66) values and
# leaves a margin of >= 0.15 on both sides of that calibration set. It no longer drives
# `collapsed` (see the module docstring); it is the offgrid indicator's reading level.
HIGHPASS_COLLAPSE_THRESHOLD = 0.4
# The two faces (tests/test_metrics_input_dependence.py: 64 images at 32, 64 and 128 px).
# input_identifiability: every total collapse (one picture, one of three at random, a constant
# plus per-input noise, all black) measured <= 0.031 (chance is 1/64 = 0.016), every output that
# follows its input (copies, blur sigma 4, 30% contrast with a strong grid, a full-contrast
# texture over a sigma-3 blur, strong grids, stripes blended in) >= 0.95. 0.5 sits in the middle
# of that gap, and for N = 8 chance alone reaches it with probability ~2%.
IDENTIFIABILITY_LIMIT = 0.5
# shared_texture: outputs with their own detail (copies, noise, blur, grids of amplitude 0.2 with
# the lattice excluded, the blurred low-contrast gridded case) measured <= 0.18 (32 px; <= 0.10
# at 64-128 px), the planted shared textures (a full-contrast texture over a sigma-3 blur ~0.96,
# the probe's stripes blended at 30-40% 0.53-0.78) >= 0.53. 0.35 leaves >= 0.17 on both sides.
SHARED_TEXTURE_LIMIT = 0.35
# eval/collapse_kind codes.
NOT_COLLAPSED, LAYOUT_COLLAPSE, TEXTURE_COLLAPSE, DEGENERATE_OUTPUT = 0, 1, 2, 3
# Image pairs used for the mean pairwise difference: all of them up to this many, beyond that
# a deterministic subset of about this size (the cost is pairs x pixels).
MAX_PAIRS = 2048


def _pair_shifts(n: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Shifts k (pairing image i with i + k mod n) and the number of distinct pairs each adds.

    Shifts 1..n//2 enumerate every unordered pair exactly once (k and n - k give the same
    pairs; for even n, k = n/2 gives n/2 pairs, each seen twice). Beyond max_pairs, an evenly
    spaced subset of shifts below n/2, each contributing n distinct pairs.
    """
    if n * (n - 1) // 2 <= max_pairs:
        shifts = np.arange(1, n // 2 + 1)
        weights = np.where(2 * shifts == n, n / 2, n).astype(float)
        return shifts, weights
    count = -(-max_pairs // n)
    shifts = np.unique(np.linspace(1, (n - 1) // 2, count).round().astype(int))
    return shifts, np.full(len(shifts), float(n))


def inter_image_diff(y: np.ndarray, *, max_pairs: int = MAX_PAIRS) -> float:
    """Mean over image pairs of the mean |Y_i - Y_j|.

    Args:
        y: (N, H, W) luma in [0, 1].
        max_pairs: exact over all pairs when N (N - 1) / 2 <= max_pairs; otherwise over a
            deterministic subset of about max_pairs pairs (see _pair_shifts).
    Returns:
        In [0, 1]; NaN for N < 2.
    """
    n, h, w = y.shape
    if n < 2:
        return float("nan")
    shifts, weights = _pair_shifts(n, max_pairs)

    def chunk(part: slice) -> np.ndarray:
        # Sum over this chunk's images i of mean |y_i - y_{i+k}|, for every shift k.
        idx = np.arange(part.start, part.stop)
        own = y[part]
        return np.array([np.abs(own - y[(idx + k) % n]).mean(axis=(1, 2)).sum() for k in shifts])

    per_shift = np.sum(map_chunks(chunk, n, h * w * len(shifts)), axis=0) / n
    return float(np.sum(per_shift * weights) / np.sum(weights))


def _grid_free_mask(h: int, w: int) -> np.ndarray:
    """rfft-layout (H, W//2+1) mask that keeps every frequency except DC and the period lattice.

    The lattice of the largest supported period in PERIODS contains all the smaller periods'
    lattices, so a pattern with any of those periods is removed entirely.
    """
    keep = np.ones((h, w // 2 + 1), dtype=bool)
    supported = [p for p in PERIODS if period_supported(h, w, p)]
    ky = np.rint(np.fft.fftfreq(h) * h).astype(int)[:, None]
    kx = np.arange(w // 2 + 1)[None, :]
    if supported:
        p = max(supported)
        keep &= ~((ky % (h // p) == 0) & (kx % (w // p) == 0))
    keep[0, 0] = False
    return keep


def _highpass_cross_correlations(y: np.ndarray) -> tuple[float, float]:
    """(plain, grid-free) mean cross-image correlation of the high-passed luma; one FFT pass."""
    n, h, w = y.shape
    if n < 2:
        return float("nan"), float("nan")
    plain = np.ones((h, w // 2 + 1), dtype=bool)
    plain[0, 0] = False
    # Half-plane bins other than the kx = 0 and Nyquist columns stand for two full-plane bins.
    weights = np.full(plain.shape, 2.0)
    weights[:, 0] = 1.0
    if w % 2 == 0:
        weights[:, -1] = 1.0
    masked = [weights * plain, weights * _grid_free_mask(h, w)]

    def chunk(part: slice) -> list[tuple[np.ndarray, int]]:
        high = y[part] - ndi.gaussian_filter(y[part], sigma=(0, HIGHPASS_SIGMA, HIGHPASS_SIGMA))
        spectra = scipy.fft.rfft2(high, axes=(1, 2))
        power = np.abs(spectra) ** 2
        sums = []
        for wts in masked:
            norms = np.sqrt((wts * power).sum(axis=(1, 2)))
            # norm = H W x rms of the kept high-pass; below 1e-6 (far under one 8-bit level) it
            # is float round-off of a constant image, whose "pattern" would correlate perfectly.
            valid = norms > 1e-6 * h * w
            sums.append(((spectra[valid] / norms[valid, None, None]).sum(axis=0), int(valid.sum())))
        return sums

    results = map_chunks(chunk, n, h * w)
    correlations = []
    for k, wts in enumerate(masked):
        total = np.sum([r[k][0] for r in results], axis=0)
        count = sum(r[k][1] for r in results)
        correlations.append(float(((wts * np.abs(total) ** 2).sum() - count) / (n * (n - 1))))
    return correlations[0], correlations[1]


def highpass_cross_correlation(y: np.ndarray, *, exclude_grid: bool) -> float:
    """Mean cross-image correlation of high-passed luma y - Gaussian(y, 2).

    Args:
        y: (N, H, W) luma in [0, 1].
        exclude_grid: if True, drop the frequencies of the period-p lattice (largest p in
            PERIODS that the size supports) before correlating, so that a grid, which is
            input-independent by nature, does not read as collapse.
    Returns:
        In [-1/(N-1), 1]; 0 for unrelated images, 1 when all outputs share one high-pass
        picture; NaN for N < 2. Images without high-pass energy (constant images) count as
        uncorrelated with everything.

    Computed in the Fourier domain (Parseval): with unit-norm spectra z_i,
    |sum z_i|^2 = sum |z_i|^2 + sum_{i != j} <z_i, z_j>, which gives the mean over all pairs in
    O(N) instead of O(N^2). Zeroing DC makes the inner products Pearson correlations.
    """
    plain, offgrid = _highpass_cross_correlations(y)
    return offgrid if exclude_grid else plain


def _pearson_per_image(y_out: np.ndarray, y_in: np.ndarray) -> np.ndarray:
    """(N,) Pearson correlation of each output/input luma pair (N, H, W); 0 for a constant image.

    A constant image carries no information about its partner, so 0 (rather than NaN) keeps
    the result a number.
    """
    a = y_out - y_out.mean(axis=(1, 2), keepdims=True)
    b = y_in - y_in.mean(axis=(1, 2), keepdims=True)
    num = (a * b).sum(axis=(1, 2), dtype=np.float64)
    denom = np.sqrt((a**2).sum(axis=(1, 2), dtype=np.float64) * (b**2).sum(axis=(1, 2), dtype=np.float64))
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 1e-12)


def input_correlation(y_out: np.ndarray, y_in: np.ndarray) -> float:
    """Median per-image Pearson correlation of output and input luma, both (N, H, W), in [-1, 1]."""
    return float(np.median(_pearson_per_image(y_out, y_in)))


def collapse_kind(identifiability: float, texture: float, degenerate: bool) -> int:
    """The face of collapse that fired, in order of severity; NaN indicators never fire.

    1 (layout) when input_identifiability < IDENTIFIABILITY_LIMIT, else 3 (degenerate) when the
    outputs are black or flat, else 2 (texture) when shared_texture > SHARED_TEXTURE_LIMIT,
    else 0 (not collapsed).
    """
    if identifiability < IDENTIFIABILITY_LIMIT:
        return LAYOUT_COLLAPSE
    if degenerate:
        return DEGENERATE_OUTPUT
    if texture > SHARED_TEXTURE_LIMIT:
        return TEXTURE_COLLAPSE
    return NOT_COLLAPSED


def collapse_scores(outputs, inputs) -> dict[str, float | bool | int]:
    """All collapse indicators and the `collapsed` decision.

    Args:
        outputs: generator outputs (N, H, W, 3) floats in [0, 1]; use N >= 64 when available.
        inputs: the generator inputs, same shape.
    Returns:
        mean_luma, black_fraction (share of pixels with max(R, G, B) < 0.05), luma_std_median,
        inter_image_diff, input_correlation, highpass_cross_correlation (plain, as in DESIGN),
        highpass_cross_correlation_offgrid (grid lattice removed), input_luma_std_median,
        input_inter_image_diff, input_identifiability (in [0, 1], chance 1/N),
        shared_texture (~0 own detail .. ~1 one shared detail picture), collapse_kind (int,
        see collapse_kind) and collapsed (bool, kind != 0). Pairwise indicators are NaN for
        N < 2 and then take no part in the decision.
    """
    outputs, inputs = check_pair(outputs, inputs)
    n, h, w, _ = outputs.shape
    y_out, y_in = luma(outputs), luma(inputs)

    def chunk(part: slice) -> np.ndarray:
        # Per image: output std, input std, black pixel count, correlation with the input.
        a, b = y_out[part], y_in[part]
        rgb = outputs[part]
        # max over channels as two elementwise maxima: numpy reduces a length-3 last axis slowly.
        brightest = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
        black = (brightest < BLACK_LEVEL).sum(axis=(1, 2))
        corr = _pearson_per_image(a, b)
        return np.stack([a.std(axis=(1, 2)), b.std(axis=(1, 2)), black, corr], axis=1)

    per_image = np.concatenate(map_chunks(chunk, n, h * w))
    std_out = float(np.median(per_image[:, 0]))
    std_in = float(np.median(per_image[:, 1]))
    black = float(per_image[:, 2].sum() / (n * h * w))
    diff_out, diff_in = inter_image_diff(y_out), inter_image_diff(y_in)
    plain, offgrid = _highpass_cross_correlations(y_out)
    keep = _grid_free_mask(h, w)
    spectrum_sum, energy_out = fine_energy_sums(y_out, keep)
    _, energy_in = fine_energy_sums(y_in, keep)
    identifiability = input_identifiability(y_out, y_in)
    texture = shared_texture(spectrum_sum, energy_out, energy_in, n, keep, w)
    # NaN comparisons are False, so indicators that are undefined never trigger.
    degenerate = black > BLACK_FRACTION_LIMIT or (std_out < FLAT_RATIO * std_in and diff_out < FLAT_RATIO * diff_in)
    kind = collapse_kind(identifiability, texture, bool(degenerate))
    return {
        "mean_luma": float(y_out.mean(dtype=np.float64)),
        "black_fraction": black,
        "luma_std_median": std_out,
        "inter_image_diff": diff_out,
        "input_correlation": float(np.median(per_image[:, 3])),
        "highpass_cross_correlation": plain,
        "highpass_cross_correlation_offgrid": offgrid,
        "input_luma_std_median": std_in,
        "input_inter_image_diff": diff_in,
        "input_identifiability": identifiability,
        "shared_texture": texture,
        "collapse_kind": kind,
        "collapsed": kind != NOT_COLLAPSED,
    }
