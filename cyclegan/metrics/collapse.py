"""Mode-collapse indicators for H3: does the output still depend on its input?

The decision (`collapsed`, `collapse_kind`) follows DESIGN section 5's definition, collapse as
input-independence, through its two faces (cyclegan/metrics/input_dependence.py): the coarse
layout no longer identifies the input better than chance (kind 1, layout), or the fine detail is
one picture shared by all outputs (kind 2, texture). Outputs that are black, flat, or one picture for
every input are kind 3 (degenerate: the seed project's "black images" and their kin, a total
collapse). A washed-out output that still follows its input is not a collapse: its low
`contrast_ratio` is a failure of quality, reported under its own name.

The limits come from nulls and were checked on real runs labelled by eye (docs/metrics.md,
"Collapse"; benchmarks/collapse_calibration.py; the labelled fixtures in tests/data/collapse/).
"""

from __future__ import annotations

import numpy as np

from cyclegan.metrics.batches import check_pair, luma, map_chunks
from cyclegan.metrics.grid import PERIODS, period_supported
from cyclegan.metrics.input_dependence import (
    fine_energy_sums,
    identifiability_matches,
    layout_p_value,
    shared_texture,
    texture_window,
)

BLACK_LEVEL = 0.05
BLACK_FRACTION_LIMIT = 0.9
# "Flat and all alike": per-image std and inter-image difference both below this share of the
# inputs'.
FLAT_RATIO = 0.1
# "One picture for every input", however much contrast it has: the inter-image difference below this
# share of the inputs'. Real total collapses (one lattice picture on every output) read 0.001 and 0.012;
# no real run that followed its inputs read below 0.136 (a flat grey washed-out one); docs/metrics.md.
ONE_PICTURE_RATIO = 0.02
# Luma's "flat" and "one picture" confirmed on colour: the RGB inter-image difference under this share
# of the inputs'. Luma alone reads outputs of one lightness whose hues differ as all alike. On RGB the
# real total collapses read 0.0017 and 0.022 (colour noise along the lattice's red line lifts the
# second above ONE_PICTURE_RATIO), every real run that followed its inputs 0.247 or more.
COLOUR_ALIKE_RATIO = 0.1
# Layout face: the count of outputs that pick out their own input is tested against chance (each
# finds it with probability 1/N when outputs do not depend on inputs), one-sided binomial test.
# A layout collapse is called only when the count is NOT significantly above chance at this level:
# 27 of 64 (p ~ 1e-30) is overwhelming evidence of input dependence, however washed-out the output.
LAYOUT_ALPHA = 0.05
# Texture face: the share of fine detail common to all outputs inside a frame (grid lattice and the
# border band excluded: input_dependence.texture_window). Derived from real-image nulls and checked on
# this project's real runs labelled by eye; the figures and the derivation are in one place,
# docs/metrics.md "How the collapse limits were set".
SHARED_TEXTURE_LIMIT = 0.15
# eval/collapse_kind codes, and the names the report and `cyclegan metrics` show for them.
NOT_COLLAPSED, LAYOUT_COLLAPSE, TEXTURE_COLLAPSE, DEGENERATE_OUTPUT = 0, 1, 2, 3
COLLAPSE_KIND_NAMES = {NOT_COLLAPSED: "none", LAYOUT_COLLAPSE: "layout", TEXTURE_COLLAPSE: "texture",
                       DEGENERATE_OUTPUT: "degenerate"}
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


def _colour_inter_image_diff(images: np.ndarray) -> float:
    """:func:`inter_image_diff` over all three channels: (N, H, W, 3) -> the mean |RGB_i - RGB_j|."""
    n, h, w, _ = images.shape
    return inter_image_diff(images.reshape(n, h, w * 3))


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


def layout_decidable(n: int) -> bool:
    """Whether ``n`` images can show input dependence when one output misses its input: with n - 1
    of n matches the layout test must reach LAYOUT_ALPHA. Below that (n <= 4: 3 of 4 matches give
    p = 0.051, 2 of 2 give 0.25) even outputs that copy their inputs would be called a layout
    collapse, so the layout face is not judged (the other faces are)."""
    return n >= 2 and layout_p_value(n - 1, n) <= LAYOUT_ALPHA


def collapse_kind(identifiability_p: float, texture: float, degenerate: bool) -> int:
    """The face of collapse that fired, in order of severity; NaN indicators never fire.

    3 (degenerate) when the outputs are black, flat or one picture for every input (a total
    collapse, whatever the layout test says: one picture finds its input only by chance), else 1
    (layout) when the layout test's p-value is above LAYOUT_ALPHA (the outputs do not find their own
    inputs better than chance), else 2 (texture) when shared_texture > SHARED_TEXTURE_LIMIT, else 0
    (not collapsed).
    """
    if degenerate:
        return DEGENERATE_OUTPUT
    if identifiability_p > LAYOUT_ALPHA:  # NaN (too few images to tell: layout_decidable) never fires
        return LAYOUT_COLLAPSE
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
        inter_image_diff, input_correlation, input_luma_std_median, input_inter_image_diff,
        contrast_ratio (luma_std_median / input_luma_std_median: low for washed-out outputs,
        not a collapse), input_identifiability (in [0, 1], chance 1/N), identifiability_p (the
        layout test's p-value), shared_texture (~0 own detail .. ~1 one shared detail picture),
        collapse_kind (int, see collapse_kind) and collapsed (bool, kind != 0). Pairwise
        indicators are NaN for N < 2 and then take no part in the decision.
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
    window = rows, cols = texture_window(h, w)
    window_h, window_w = rows.stop - rows.start, cols.stop - cols.start
    keep = _grid_free_mask(window_h, window_w)
    spectrum_sum, energy_out = fine_energy_sums(y_out, keep, window)
    _, energy_in = fine_energy_sums(y_in, keep, window)
    matches = identifiability_matches(outputs, inputs)
    identifiability_p = layout_p_value(matches, n)
    texture = shared_texture(spectrum_sum, energy_out, energy_in, n, keep, window_w)
    layout_evidence = identifiability_p if layout_decidable(n) else float("nan")
    # NaN comparisons are False, so indicators that are undefined never trigger.
    flat = std_out < FLAT_RATIO * std_in and diff_out < FLAT_RATIO * diff_in
    one_picture = diff_out < ONE_PICTURE_RATIO * diff_in
    if flat or one_picture:
        # Luma alone also reads outputs that differ in colour only (one lightness, any hue) as flat
        # or all alike: they are, only if their colours are too (measured only here: rarely needed).
        colours_alike = _colour_inter_image_diff(outputs) < COLOUR_ALIKE_RATIO * _colour_inter_image_diff(inputs)
        flat, one_picture = flat and colours_alike, one_picture and colours_alike
    degenerate = black > BLACK_FRACTION_LIMIT or flat or one_picture
    kind = collapse_kind(layout_evidence, texture, bool(degenerate))
    return {
        "mean_luma": float(y_out.mean(dtype=np.float64)),
        "black_fraction": black,
        "luma_std_median": std_out,
        "inter_image_diff": diff_out,
        "input_correlation": float(np.median(per_image[:, 3])),
        "input_luma_std_median": std_in,
        "input_inter_image_diff": diff_in,
        "contrast_ratio": std_out / std_in if std_in > 0 else float("nan"),
        "input_identifiability": matches / n if n >= 2 else float("nan"),
        "identifiability_p": identifiability_p,
        "shared_texture": texture,
        "collapse_kind": kind,
        "collapsed": kind != NOT_COLLAPSED,
    }
