"""How much of a generator's output depends on its input, at coarse and at fine scale.

DESIGN section 5 defines collapse as input-independence. It has two faces:

- layout: the coarse picture (where the masses are, in lightness or in colour) no longer follows
  the input; every input gives the same picture, or one of a few. `input_identifiability` asks
  whether each output's own input can be picked out of the batch from the output's coarse
  structure alone, after removing what all outputs share.
- texture: the coarse layout still follows the input but the fine detail is one picture
  pasted onto every output (the DESIGN probe's stripes). `shared_texture` is the share of the
  fine-scale energy that is common to all outputs, the grid lattice excluded (a grid is
  input-independent by nature and is H2's business, not H3's), and so is a frame along the
  border (padding makes every output's border alike: a frame, not a collapse).

Both are pure functions of images in [0, 1]: the layout face reads colour images (N, H, W, 3) in
CIELAB or luma (N, H, W), the texture face luma.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.ndimage as ndi
from scipy import stats
from skimage.color import rgb2lab
from skimage.transform import resize

from cyclegan.metrics.batches import map_chunks
from cyclegan.metrics.grid import PERIODS, period_supported

# Coarse structure: luma blurred and resampled to COARSE_SIDE x COARSE_SIDE. 8 x 8 keeps the
# placement of large masses (sky, figure, ground) and drops everything a texture or a grid
# could carry (at 64 px one coarse cell is 8 px, twice the largest grid period that fits).
COARSE_SIDE = 8
# Fine scale: y - Gaussian(y, FINE_SIGMA), the same high-pass as the cross-correlation.
FINE_SIGMA = 2.0
# The texture face looks at the picture inside a frame of about 1/8 of each side: zero padding
# leaves a band along every output's border that is alike across outputs. In real healthy runs at
# 64 px the frame held most of the shared fine energy (a gridded run read 0.136 with it and 0.003
# without: benchmarks/RESULTS.md, 2026-12-06); a texture collapse covers the picture, so the centre
# keeps it. The frame is a multiple of half the largest grid period the image supports, so the window
# keeps that period's lattice on FFT bins and excluded (64 -> 48, 128 -> 96, 256 -> 192 px); where
# a frame would leave the window too small for that period (32 px and below), there is none.
TEXTURE_FRAME = 8


def texture_window(h: int, w: int) -> tuple[slice, slice]:
    """The rows and columns the texture face reads: all but a frame of about 1/TEXTURE_FRAME of each
    side, as above."""
    supported = [p for p in PERIODS if period_supported(h, w, p)]
    period = max(supported, default=0)
    step = max(period // 2, 1)

    def frame(side: int) -> int:
        width = -(-(side // TEXTURE_FRAME) // step) * step  # rounded up to a multiple of step
        while width > 0 and side - 2 * width < max(2 * period, 1):
            width -= step
        return width

    mh, mw = frame(h), frame(w)
    return slice(mh, h - mh), slice(mw, w - mw)


# Below this norm (far under one 8-bit level per coarse cell) a residual is float round-off of
# an image that equals the batch mean: it says nothing about its input.
_TINY = 1e-6


def _downsample(images: np.ndarray, side: int) -> np.ndarray:
    """(N, H, W[, C]) -> (N, side, side[, C]) float64, anti-aliased. Where the sides divide, block
    means down to twice ``side`` first: the Gaussian of the anti-aliased resize then runs on 16 x 16
    pictures, not on the full ones (at 256 px it blurred each with sigma 15; the layout face for 64
    images went from 0.70 s in luma to 0.15 s in colour: benchmarks/PERFORMANCE.md, 2026-12-07)."""
    n, h, w = images.shape[:3]
    rest = images.shape[3:]
    middle = 2 * side
    if h % middle == 0 and w % middle == 0 and h > middle:
        images = images.reshape(n, middle, h // middle, middle, w // middle, *rest).mean(axis=(2, 4), dtype=np.float64)
    return resize(images.astype(np.float64), (n, side, side, *rest), order=1, anti_aliasing=True, mode="reflect")


def coarse_structure(y: np.ndarray, side: int = COARSE_SIDE) -> np.ndarray:
    """Blurred, downsampled luma: (N, H, W) -> (N, side * side) float64."""
    return _downsample(y, side).reshape(y.shape[0], side * side)


def _unit_residuals(coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the batch mean, then each row's own mean, scale rows to unit norm; (rows, valid)."""
    residual = coarse - coarse.mean(axis=0, keepdims=True)
    residual -= residual.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(residual, axis=1)
    valid = norms > _TINY * np.sqrt(residual.shape[1])
    unit = np.zeros_like(residual)
    unit[valid] = residual[valid] / norms[valid, None]
    return unit, valid


def coarse_channels(images: np.ndarray, side: int = COARSE_SIDE) -> list[np.ndarray]:
    """The coarse structure the layout face compares: luma (N, H, W) -> [its coarse structure];
    colour (N, H, W, 3) RGB -> the coarse picture's CIELAB lightness and its two colour axes,
    each (N, side * side). A layout can live in colour alone: a real run turned every sky grey and
    every ground olive, two colours of one lightness, and luma lost a layout a person sees
    (benchmarks/RESULTS.md, 2026-12-06 night)."""
    if images.ndim == 3:
        return [coarse_structure(images, side)]
    n = images.shape[0]
    lab = rgb2lab(np.clip(_downsample(images, side), 0.0, 1.0))
    return [lab[..., c].reshape(n, side * side) for c in range(3)]


def _layout_basis(channels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per output, an orthonormal basis of the span of its coarse channels' residuals (batch mean and
    own mean removed): (N, K, C) with zero columns where a channel adds nothing, and (N,) valid."""
    units = [_unit_residuals(channel) for channel in channels]
    stacked = np.stack([unit for unit, _ in units], axis=2)  # (N, K, C)
    left, singular, _ = np.linalg.svd(stacked, full_matrices=False)
    basis = left * (singular > 1e-6)[:, None, :]
    return basis, np.any([valid for _, valid in units], axis=0)


def identifiability_matches(outputs: np.ndarray, inputs: np.ndarray) -> int:
    """How many outputs pick out their own input as their best coarse match (see
    :func:`input_identifiability`, which is this count over N); 0 for N < 2."""
    n = outputs.shape[0]
    if n < 2:
        return 0
    basis, out_valid = _layout_basis(coarse_channels(outputs))
    lightness, _ = _unit_residuals(coarse_channels(inputs)[0])
    # Output i against input j: the share of input j's lightness layout that output i's coarse layout
    # (its lightness and colour) explains, the R^2 of a least-squares fit: sign-free, and a lightness
    # edge that comes out as a colour edge counts. The same rule for every j keeps the null exact: an
    # output that ignores its input finds it with probability 1/N.
    explained = (np.einsum("ikc,jk->ijc", basis, lightness) ** 2).sum(axis=2)
    best = explained.argmax(axis=1)
    return int(((best == np.arange(n)) & out_valid).sum())


def layout_p_value(matches: int, n: int) -> float:
    """One-sided binomial p-value of ``matches`` of ``n`` outputs finding their own input when each
    finds it by chance with probability 1/n (outputs that do not depend on their inputs).

    A small p says the layout follows the input. Under the null each output's best match is one of
    the n inputs, equally likely; benchmarks/collapse_calibration.py measures the test's false-alarm
    rate on unrelated real images (docs/metrics.md). NaN for n < 2.
    """
    if n < 2:
        return float("nan")
    return float(stats.binomtest(int(matches), int(n), 1.0 / n, alternative="greater").pvalue)


def input_identifiability(outputs: np.ndarray, inputs: np.ndarray) -> float:
    """Share of outputs whose own input is their best coarse match among all the batch's inputs.

    Args:
        outputs: (N, H, W, 3) RGB outputs in [0, 1], compared in CIELAB (see
            :func:`coarse_channels`), or (N, H, W) luma.
        inputs: the inputs, the same shape, paired by index.
    Returns:
        In [0, 1]; chance level is 1/N. ~1 when outputs follow their inputs' layout however
        washed-out, gridded or textured they are (Pearson correlation ignores contrast and
        offset); <= k/N when every input gives one of k pictures; 0 for outputs identical
        to one another (nothing is left after removing the shared picture). NaN for N < 2.

    Both sides are the coarse structure minus the batch mean (what all outputs share,
    respectively what all inputs share), channel by channel; an output matches the input whose
    lightness layout its own channels explain best (R^2, which ignores the sign): an output
    whose layout is its input's negative depends on its input as much as a copy does (the quick
    study had a cell whose generator inverted luminance, coarse correlation -0.86 with its own input,
    which signed matching read as identifiability 0, a layout collapse). Ties with an output that
    has no residual at all count as not identified. Why colour: :func:`coarse_channels`.
    """
    n = outputs.shape[0]
    if n < 2:
        return float("nan")
    return identifiability_matches(outputs, inputs) / n


def _half_plane_weights(keep: np.ndarray, w: int) -> np.ndarray:
    """rfft bins stand for two full-plane bins, except the kx = 0 and (even W) Nyquist columns."""
    weights = np.full(keep.shape, 2.0)
    weights[:, 0] = 1.0
    if w % 2 == 0:
        weights[:, -1] = 1.0
    return weights * keep


def fine_energy_sums(y: np.ndarray, keep: np.ndarray, window: tuple[slice, slice]) -> tuple[np.ndarray, float]:
    """(sum of the fine-scale spectra, sum of their energies) over the batch, on the kept bins,
    inside ``window`` (the high-pass is taken on the whole image first, so the window's edge sees
    real neighbours, not the filter's padding).

    Args:
        y: (N, H, W) luma.
        keep: (h, w // 2 + 1) boolean rfft mask of the frequencies to count, for the window's (h, w).
        window: (rows, columns) to read, :func:`texture_window` of (H, W).
    Returns:
        ((h, w // 2 + 1) complex sum of rfft2 of the windowed y_i - Gaussian(y_i), sum_i ||kept
        part||^2), energies in Parseval units (h w x the spatial sum of squares).
    """
    n, h, w = y.shape
    rows, cols = window
    weights = _half_plane_weights(keep, cols.stop - cols.start)

    def chunk(part: slice) -> tuple[np.ndarray, float]:
        fine = (y[part] - ndi.gaussian_filter(y[part], sigma=(0, FINE_SIGMA, FINE_SIGMA)))[:, rows, cols]
        spectra = scipy.fft.rfft2(fine.astype(np.float64), axes=(1, 2))
        energy = float((weights * (spectra.real**2 + spectra.imag**2)).sum())
        return spectra.sum(axis=0), energy

    results = map_chunks(chunk, n, h * w)
    return np.sum([r[0] for r in results], axis=0), float(sum(r[1] for r in results))


def shared_texture(spectrum_sum: np.ndarray, energy_out: float, energy_in: float, n: int,
                   keep: np.ndarray, w: int) -> float:
    """Energy of the fine detail common to all outputs, over the larger of the outputs' and
    the inputs' fine-scale energy (grid lattice excluded through `keep`).

    Args:
        spectrum_sum: sum over the N outputs of their fine-scale rfft2 spectra (H, W//2+1).
        energy_out, energy_in: sum over images of the kept fine-scale energy of outputs, inputs.
        n: batch size; keep: the rfft mask used for all three; w: image width.
    Returns:
        Mean over output pairs of <h_i, h_j>, divided by max(mean ||h_out||^2,
        mean ||h_in||^2): ~0 for detail that differs between outputs, ~1 when every output
        carries the same fine picture at the inputs' strength or more; NaN for N < 2 or no
        fine-scale energy at all. Energy-weighted, so an output with almost no detail (a
        blurred one) adds almost nothing to the numerator, and the inputs' energy in the
        denominator keeps the residue of a blurred batch from reading as a large share.

    |sum h_i|^2 = sum |h_i|^2 + sum_{i != j} <h_i, h_j> gives the pair sum in O(N).
    """
    scale = max(energy_out, energy_in) / n
    if n < 2 or scale <= 0:
        return float("nan")
    weights = _half_plane_weights(keep, w)
    total = float((weights * (spectrum_sum.real**2 + spectrum_sum.imag**2)).sum())
    pair_mean = (total - energy_out) / (n * (n - 1))
    return float(pair_mean / scale)
