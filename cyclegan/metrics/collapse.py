"""Mode-collapse indicators for H3: is the output black, flat, the same for every input, or
dominated by one input-independent picture?

Collapse is not always black: in the DESIGN probe a scalar discriminator drove every input to
the same green/yellow striped picture while luma correlation with the input stayed 0.76. The
share of the picture that does not depend on the input shows up as correlation *between* the
high-passed outputs of different inputs. A strong grid is input-independent too, so the collapse
decision uses that correlation with the grid lattice frequencies removed (see
highpass_cross_correlation).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage as ndi

from cyclegan.metrics.grid import PERIODS, check_pair, luma, period_supported

BLACK_LEVEL = 0.05
BLACK_FRACTION_LIMIT = 0.9
# "Flat and all alike": per-image std and inter-image difference both below this share of the
# inputs'.
FLAT_RATIO = 0.1
HIGHPASS_SIGMA = 2.0
# Calibration (tests/test_metrics_collapse.py, 64 photo crops at 32-128 px):
# - the plain high-pass cross-correlation cannot separate grid from collapse: a period-2..16 grid
#   of amplitude 0.05 on real photos gives ~0.55 (the probe's 0.57 without normalization), 0.1
#   gives ~0.8, above a collapsed batch's ~0.75;
# - with the period lattice removed, real photos score ~0.00, grids of amplitude 0.1-0.2 stay
#   <= ~0.15 (only clipping harmonics leak off the lattice; a clipped amplitude-0.3 grid at
#   32 px still stays below 0.3), while every photo blended with one striped picture at the
#   probe's input correlation (~0.75) scores 0.75-0.8, and a 30% blend (input corr ~0.9) ~0.6.
# 0.4 is the midpoint of the probe's patch-discriminator (0.15) and collapsed (0.66) values and
# keeps a margin of >= 0.1 to everything above.
HIGHPASS_COLLAPSE_THRESHOLD = 0.4
# Shifts used to estimate the mean pairwise difference: all pairs up to this many shifts,
# an evenly spaced deterministic subset beyond (each shift k pairs image i with i + k).
_MAX_SHIFTS = 16


def inter_image_diff(y: np.ndarray) -> float:
    """Mean over image pairs of the mean |Y_i - Y_j|.

    Args:
        y: (N, H, W) luma in [0, 1].
    Returns:
        In [0, 1]; NaN for N < 2. Exact for N <= _MAX_SHIFTS + 1; beyond that, the pairs
        (i, i + k mod N) for an evenly spaced set of shifts k (deterministic, N per shift).
    """
    n = len(y)
    if n < 2:
        return float("nan")
    shifts = np.arange(1, n)
    if len(shifts) > _MAX_SHIFTS:
        shifts = np.unique(np.linspace(1, n - 1, _MAX_SHIFTS).round().astype(int))
    return float(np.mean([np.abs(y - np.roll(y, -k, axis=0)).mean() for k in shifts]))


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


def _mean_cross_correlation(spectra: np.ndarray, weights: np.ndarray) -> float:
    """Mean pairwise correlation of images given their half-plane spectra (N, H, W//2+1).

    weights double the bins that stand for a conjugate pair, so sums equal full-plane sums
    (Parseval). With unit-norm z_i, |sum z_i|^2 = sum |z_i|^2 + sum_{i != j} <z_i, z_j>, which
    gives the mean over all pairs in O(N) instead of O(N^2). Images with no high-pass energy
    (constant images) count as uncorrelated with everything.
    """
    n = len(spectra)
    if n < 2:
        return float("nan")
    norms = np.sqrt((weights * np.abs(spectra) ** 2).sum(axis=(1, 2)))
    valid = norms > 1e-12 * max(norms.max(), 1e-300)
    z = spectra[valid] / norms[valid, None, None]
    total = z.sum(axis=0)
    pair_sum = (weights * np.abs(total) ** 2).sum() - valid.sum()
    return float(pair_sum / (n * (n - 1)))


def highpass_cross_correlation(y: np.ndarray, *, exclude_grid: bool) -> float:
    """Mean cross-image correlation of high-passed luma y - Gaussian(y, 2).

    Args:
        y: (N, H, W) luma in [0, 1].
        exclude_grid: if True, drop the frequencies of the period-p lattice (largest p in
            PERIODS that the size supports) before correlating, so that a grid, which is
            input-independent by nature, does not read as collapse.
    Returns:
        In [-1/(N-1), 1]; 0 for unrelated images, 1 when all outputs share one high-pass
        picture; NaN for N < 2.
    """
    _, h, w = y.shape
    high = y - ndi.gaussian_filter(y, sigma=(0, HIGHPASS_SIGMA, HIGHPASS_SIGMA))
    spectra = scipy.fft.rfft2(high, axes=(1, 2), workers=-1)
    if exclude_grid:
        keep = _grid_free_mask(h, w)
    else:
        keep = np.ones((h, w // 2 + 1), dtype=bool)
        keep[0, 0] = False  # removing DC makes the inner products Pearson correlations
    weights = np.full(keep.shape, 2.0)
    weights[:, 0] = 1.0
    if w % 2 == 0:
        weights[:, -1] = 1.0
    return _mean_cross_correlation(spectra * keep, weights * keep)


def input_correlation(y_out: np.ndarray, y_in: np.ndarray) -> float:
    """Median per-image Pearson correlation of output and input luma, both (N, H, W).

    A constant image carries no information about its partner, so its correlation counts as 0
    (rather than NaN) and the result stays a number.
    """
    a = y_out - y_out.mean(axis=(1, 2), keepdims=True)
    b = y_in - y_in.mean(axis=(1, 2), keepdims=True)
    denom = np.sqrt((a**2).sum(axis=(1, 2)) * (b**2).sum(axis=(1, 2)))
    num = (a * b).sum(axis=(1, 2))
    corr = np.divide(num, denom, out=np.zeros_like(num), where=denom > 1e-12)
    return float(np.median(corr))


def collapse_scores(outputs, inputs) -> dict[str, float | bool]:
    """All collapse indicators and the `collapsed` decision.

    Args:
        outputs: generator outputs (N, H, W, 3) floats in [0, 1]; use N >= 64 when available.
        inputs: the generator inputs, same shape.
    Returns:
        mean_luma, black_fraction (share of pixels with max(R, G, B) < 0.05), luma_std_median,
        inter_image_diff, input_correlation, highpass_cross_correlation (plain, as in DESIGN),
        highpass_cross_correlation_offgrid (grid lattice removed; drives the decision),
        input_luma_std_median, input_inter_image_diff, and collapsed (bool): black fraction
        > 0.9, or std and inter-image difference both < 10% of the inputs', or the grid-free
        high-pass cross-correlation > HIGHPASS_COLLAPSE_THRESHOLD. Pairwise indicators are NaN
        for N < 2 and then take no part in the decision.
    """
    outputs, inputs = check_pair(outputs, inputs)
    y_out, y_in = luma(outputs), luma(inputs)
    std_out = float(np.median(y_out.std(axis=(1, 2))))
    std_in = float(np.median(y_in.std(axis=(1, 2))))
    diff_out, diff_in = inter_image_diff(y_out), inter_image_diff(y_in)
    black = float((outputs.max(axis=-1) < BLACK_LEVEL).mean())
    offgrid = highpass_cross_correlation(y_out, exclude_grid=True)
    # NaN comparisons are False, so indicators that are undefined never trigger.
    collapsed = (
        black > BLACK_FRACTION_LIMIT
        or (std_out < FLAT_RATIO * std_in and diff_out < FLAT_RATIO * diff_in)
        or offgrid > HIGHPASS_COLLAPSE_THRESHOLD
    )
    return {
        "mean_luma": float(y_out.mean()),
        "black_fraction": black,
        "luma_std_median": std_out,
        "inter_image_diff": diff_out,
        "input_correlation": input_correlation(y_out, y_in),
        "highpass_cross_correlation": highpass_cross_correlation(y_out, exclude_grid=False),
        "highpass_cross_correlation_offgrid": offgrid,
        "input_luma_std_median": std_in,
        "input_inter_image_diff": diff_in,
        "collapsed": bool(collapsed),
    }
