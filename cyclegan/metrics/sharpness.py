"""Edge sharpness for H1: the blur (in pixels) of the output at the input's edges, and edge F1.

edge_sigma inverts a Gaussian-blurred step: a step of height h blurred by sigma s has, after a
further sigma-1 Gaussian derivative, a gradient peak of h / (sqrt(2 pi) sqrt(s^2 + 1)). Measuring
h (local max - min) and the peak g at the input's Canny edges gives s without knowing the scene.
It rewards over-sharpening halos, so read it together with the grid score.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.ndimage as ndi
from skimage.feature import canny

from cyclegan.metrics.grid import check_pair, luma

CANNY_SIGMA = 2.0
# The window for h: 11 px spans +-5 px, i.e. the full rise of steps blurred up to sigma ~2.
HEIGHT_WINDOW = 11
# Edges with a smaller local contrast are dominated by noise and texture; skip them.
MIN_HEIGHT = 0.05
F1_TOLERANCE = 2


def canny_edges(y: np.ndarray, sigma: float = CANNY_SIGMA) -> np.ndarray:
    """Canny edges of each image of a luma batch.

    Args:
        y: (N, H, W) luma in [0, 1].
        sigma: Gaussian smoothing of the Canny detector, in pixels.
    Returns:
        (N, H, W) bool. scikit-image's default thresholds (0.1 / 0.2 of the Sobel magnitude
        of a [0, 1] image) are used. Images run in threads: skimage's filters release the GIL.
    """
    workers = max(1, min(len(y), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return np.stack(list(pool.map(lambda image: canny(image, sigma=sigma), y)))


def _window(h: int, w: int) -> int:
    # At tiny sizes the window may not exceed the image; keep it odd so it is centred.
    side = min(HEIGHT_WINDOW, h, w)
    return side if side % 2 == 1 else side - 1


def _edge_sigma_from(y_out: np.ndarray, input_edges: np.ndarray) -> float:
    """Pooled edge_sigma of output luma (N, H, W) at boolean input edges (N, H, W)."""
    if not input_edges.any():
        return float("nan")
    win = _window(*y_out.shape[1:])
    # Derivatives along the two image axes only (gaussian_gradient_magnitude would also
    # differentiate across the batch axis); sigma 0 / size 1 on the batch axis keeps images apart.
    g = np.hypot(
        ndi.gaussian_filter(y_out, sigma=(0, 1, 1), order=(0, 1, 0)),
        ndi.gaussian_filter(y_out, sigma=(0, 1, 1), order=(0, 0, 1)),
    )
    # The input's edge may sit a pixel off the output's gradient ridge; take the ridge value.
    g = ndi.maximum_filter(g, size=(1, 3, 3))
    smooth = ndi.gaussian_filter(y_out, sigma=(0, 1, 1))
    height = ndi.maximum_filter(smooth, size=(1, win, win)) - ndi.minimum_filter(smooth, size=(1, win, win))
    keep = input_edges & (height > MIN_HEIGHT)
    if not keep.any():
        return float("nan")
    g, height = g[keep].astype(np.float64), height[keep].astype(np.float64)
    # g > 0 wherever height > 0.05 within a 3x3 ridge; the floor only guards division by zero.
    total_sigma = height / (np.sqrt(2 * np.pi) * np.maximum(g, 1e-12))
    return float(np.median(np.sqrt(np.maximum(total_sigma**2 - 1.0, 0.0))))


def _edge_f1_from(input_edges: np.ndarray, output_edges: np.ndarray, tolerance: int) -> float:
    """Pooled F1 of two (N, H, W) edge maps with a Euclidean distance tolerance in pixels."""
    if not input_edges.any() and not output_edges.any():
        return float("nan")
    # Dilating by a disk of radius t is the same as thresholding the distance transform of
    # the other map at t, without the transform's cost; size 1 on the batch axis.
    r = int(tolerance)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disk = (yy**2 + xx**2 <= tolerance**2)[None]
    near_input = ndi.binary_dilation(input_edges, structure=disk)
    near_output = ndi.binary_dilation(output_edges, structure=disk)
    n_out, n_in = output_edges.sum(), input_edges.sum()
    precision = (output_edges & near_input).sum() / n_out if n_out else 0.0
    recall = (input_edges & near_output).sum() / n_in if n_in else 0.0
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def edge_scores(outputs, inputs, *, tolerance: int = F1_TOLERANCE) -> dict[str, float]:
    """edge_sigma and edge_f1 in one pass (the input's Canny edges are computed once).

    Args:
        outputs: generator outputs (N, H, W, 3) floats in [0, 1].
        inputs: generator inputs, same shape.
        tolerance: F1 matching distance in pixels.
    Returns:
        {"edge_sigma": pixels >= 0 (lower is sharper), "edge_f1": in [0, 1]}; NaN when there
        are no usable edge pixels.
    """
    outputs, inputs = check_pair(outputs, inputs)
    y_out, y_in = luma(outputs), luma(inputs)
    input_edges = canny_edges(y_in)
    return {
        "edge_sigma": _edge_sigma_from(y_out, input_edges),
        "edge_f1": _edge_f1_from(input_edges, canny_edges(y_out), tolerance),
    }


def edge_sigma(outputs, inputs) -> float:
    """Median blur, in pixels, of the outputs at the inputs' Canny edges (lower is sharper).

    Args:
        outputs: (N, H, W, 3) floats in [0, 1]; inputs: same shape.
    Returns:
        Pooled median over all images' edge pixels with local contrast > MIN_HEIGHT, or NaN if
        there are none.
    """
    outputs, inputs = check_pair(outputs, inputs)
    return _edge_sigma_from(luma(outputs), canny_edges(luma(inputs)))


def edge_f1(outputs, inputs, *, tolerance: int = F1_TOLERANCE) -> float:
    """F1 of output vs input Canny edges (sigma 2) with a tolerance in pixels; NaN if neither has edges.

    Precision: share of output edge pixels within `tolerance` of an input edge; recall: share
    of input edge pixels within `tolerance` of an output edge; pooled over the batch.
    """
    outputs, inputs = check_pair(outputs, inputs)
    return _edge_f1_from(canny_edges(luma(inputs)), canny_edges(luma(outputs)), tolerance)
