"""Grid (checkerboard) score for H2: excess log-power on period-p frequency lattices.

A generator that paints a p-periodic pattern puts power on the frequencies that are multiples of
N/p. Natural images have a smooth, roughly power-law spectrum there, so the log spectrum minus its
local median ("excess") is ~0 on the lattice for clean images and positive for gridded ones.
Subtracting the same quantity for the generator inputs cancels structure the inputs already carry
(e.g. JPEG 8x8 blocks).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage as ndi

from cyclegan.metrics.batches import check_images, check_pair, luma, map_chunks

PERIODS = (2, 4, 8, 16)
_MEDIAN_SIZE = 9


def _periodic_rfft(y: np.ndarray) -> np.ndarray:
    """Half-plane FFT over axes (1, 2) of the periodic component of y (Moisan 2011).

    y: (N, H, W) real. The periodic component p = y - s, where the smooth component s solves a
    Poisson problem driven by the jumps across the image borders; removing s stops those jumps
    from leaking a bright cross onto the frequency axes, which would otherwise drown Lambda_p's
    axis points. Returns (N, H, W // 2 + 1) complex.
    """
    _, h, w = y.shape
    v = np.zeros_like(y)
    jump_rows = y[:, -1, :] - y[:, 0, :]
    v[:, 0, :] = jump_rows
    v[:, -1, :] = -jump_rows
    jump_cols = y[:, :, -1] - y[:, :, 0]
    v[:, :, 0] += jump_cols
    v[:, :, -1] -= jump_cols
    q = 2 * np.pi * np.arange(h) / h
    r = 2 * np.pi * np.arange(w // 2 + 1) / w
    denom = 2 * np.cos(q)[:, None] + 2 * np.cos(r)[None, :] - 4
    denom[0, 0] = 1.0  # the smooth part has zero mean; avoid 0/0 at DC
    s_hat = scipy.fft.rfft2(v, axes=(1, 2)) / denom
    s_hat[:, 0, 0] = 0
    return scipy.fft.rfft2(y, axes=(1, 2)) - s_hat


def mean_power_spectrum(images) -> np.ndarray:
    """Mean power spectrum of the mean-free periodic luma component over a batch.

    Args:
        images: (N, H, W, 3) floats in [0, 1].
    Returns:
        (H, W) float64 power, unshifted FFT layout (DC at [0, 0]), >= 0.
    """
    images = check_images(images)
    n, h, w, _ = images.shape

    def chunk_power(part: slice) -> np.ndarray:
        y = luma(images[part])
        y = y - y.mean(axis=(1, 2), keepdims=True)
        return (np.abs(_periodic_rfft(y)) ** 2).sum(axis=0, dtype=np.float64)

    half = np.sum(map_chunks(chunk_power, n, h * w), axis=0) / n
    # Rebuild the full plane from Hermitian symmetry: P[ky, kx] = P[-ky, -kx].
    full = np.empty((h, w))
    full[:, : w // 2 + 1] = half
    kx = np.arange(w // 2 + 1, w)
    ky = (-np.arange(h)) % h
    full[:, kx] = half[ky][:, w - kx]
    return full


def _log_power(power: np.ndarray) -> np.ndarray:
    # A relative epsilon keeps ln finite for exactly-zero bins (constant or all-black images)
    # without biasing bins with real power.
    eps = 1e-12 * power.mean() + np.finfo(np.float64).tiny
    return np.log(power + eps)


def mean_log_spectrum(images) -> np.ndarray:
    """ln of the batch-mean power spectrum, fftshifted for display (DC at the centre).

    Args:
        images: (N, H, W, 3) floats in [0, 1].
    Returns:
        (H, W) float64, natural log of power (arbitrary offset).
    """
    return np.fft.fftshift(_log_power(mean_power_spectrum(images)))


def excess_log_spectrum(power: np.ndarray) -> np.ndarray:
    """E = ln P minus a local median of ln P, in nats, wrapped (the spectrum is periodic). (H, W) -> (H, W).

    The two frequency axes (ky = 0, kx = 0) are kept apart from the rest of the plane. The periodic
    component still carries the border's slope mismatch (Moisan removes only the jumps), which leaves a
    ridge along both axes; where the images have little power of their own near Nyquist (blurred or
    smooth outputs) that ridge stands 1-3 nats above the bins beside it, and a 9x9 median, 72 of whose
    81 bins are off the axis, reads it as grid on the axis points of every lattice. So a bin on an axis
    is compared with the median of the 9 bins of its own axis line around it, and every other bin with
    the median of its 9x9 window with the axis bins left out.
    """
    log_p = _log_power(power)
    r = _MEDIAN_SIZE // 2
    off_axis = log_p.copy()
    off_axis[0, :] = off_axis[:, 0] = np.nan
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(off_axis, r, mode="wrap"), (_MEDIAN_SIZE, _MEDIAN_SIZE))
    reference = np.nanmedian(windows, axis=(2, 3))  # no window is all axis
    reference[0, :] = ndi.median_filter(log_p[0, :], size=_MEDIAN_SIZE, mode="wrap")
    reference[:, 0] = ndi.median_filter(log_p[:, 0], size=_MEDIAN_SIZE, mode="wrap")
    return log_p - reference


def period_supported(h: int, w: int, period: int) -> bool:
    """A period is scored only if it divides both sides and is at most half of each side.

    Non-dividing periods would put their lattice between FFT bins; p > N/2 leaves a "lattice"
    that is most of the plane, so its median-relative excess is meaningless.
    """
    return h % period == 0 and w % period == 0 and 2 * period <= min(h, w)


def lattice_mask(h: int, w: int, period: int) -> np.ndarray:
    """Lambda_p as a boolean (H, W) mask in unshifted FFT layout.

    Frequencies (ky, kx) (integer, fftfreq order) with ky a multiple of H/p and kx a multiple of
    W/p, excluding the coarser lattice of p/2 (multiples of 2H/p, 2W/p); for p = 2 the coarser
    lattice is the origin alone, so the origin is always excluded.
    """
    if not period_supported(h, w, period):
        raise ValueError(f"period {period} is not supported for {h}x{w} images")
    ky = np.rint(np.fft.fftfreq(h) * h).astype(int)[:, None]
    kx = np.rint(np.fft.fftfreq(w) * w).astype(int)[None, :]
    on_p = (ky % (h // period) == 0) & (kx % (w // period) == 0)
    on_coarse = (ky % (2 * h // period) == 0) & (kx % (2 * w // period) == 0)
    return on_p & ~on_coarse


def grid_excess(images, periods=PERIODS) -> dict[int, float]:
    """G_p: mean excess log-power over Lambda_p, in nats, for one batch.

    Args:
        images: (N, H, W, 3) floats in [0, 1].
        periods: periods to score.
    Returns:
        {p: G_p}; NaN for periods the image size does not support (see period_supported).
    """
    power = mean_power_spectrum(images)
    h, w = power.shape
    excess = excess_log_spectrum(power)
    return {
        p: float(excess[lattice_mask(h, w, p)].mean()) if period_supported(h, w, p) else float("nan")
        for p in periods
    }


def grid_scores(outputs, inputs) -> dict[str, float]:
    """Delta G_p = G_p(outputs) - G_p(inputs) for p in PERIODS, and their maximum.

    Args:
        outputs: generator outputs (N, H, W, 3) floats in [0, 1].
        inputs: the generator inputs, same shape.
    Returns:
        {"grid_delta_p2", ..., "grid_delta_p16", "grid_score"} in nats; a delta is NaN when the
        image size does not support that period, and grid_score is the max over the others
        (NaN if none is supported).
    """
    outputs, inputs = check_pair(outputs, inputs)
    g_out, g_in = grid_excess(outputs), grid_excess(inputs)
    scores = {f"grid_delta_p{p}": g_out[p] - g_in[p] for p in PERIODS}
    finite = [v for v in scores.values() if np.isfinite(v)]
    scores["grid_score"] = max(finite) if finite else float("nan")
    return scores
