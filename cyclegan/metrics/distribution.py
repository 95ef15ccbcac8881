"""Distribution distances that need no pretrained network.

Sliced Wasserstein distance (SWD) on Laplacian-pyramid 7x7 patches follows Karras et al. 2018
("Progressive growing of GANs", metrics/sliced_wasserstein.py), with two deliberate changes:
descriptors of both sets are normalised with the *target* set's per-channel mean/std (the paper
normalises each set with its own, which hides a global colour or contrast shift), and the
number of patches per image shrinks for large sets so that each level keeps at most
`max_descriptors` patches. Values are multiplied by 1e3 like the paper's tables.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
from scipy.stats import wasserstein_distance
from skimage.color import rgb2lab

from cyclegan.metrics.grid import check_images

# 5-tap binomial kernel, as cv2.pyrDown / pyrUp and the paper's pyramid.
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
MIN_LEVEL_SIZE = 16


def _blur(images: np.ndarray, gain: float = 1.0) -> np.ndarray:
    # Separable binomial filter over the two image axes of (N, H, W, C).
    kernel = _BINOMIAL * gain
    out = ndi.convolve1d(images, kernel, axis=1, mode="mirror")
    return ndi.convolve1d(out, kernel, axis=2, mode="mirror")


def _pyr_up(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-insertion upsampling to `shape` (N, H, W, C), then the binomial filter x4."""
    up = np.zeros(shape, dtype=images.dtype)
    up[:, ::2, ::2] = images
    return _blur(up, gain=2.0)  # 2 per axis -> 4 in 2-D: restores the mean after zero insertion


def laplacian_pyramid(images, min_size: int = MIN_LEVEL_SIZE) -> list[np.ndarray]:
    """Laplacian pyramid of a batch, finest level first.

    Args:
        images: (N, H, W, 3) floats in [0, 1].
        min_size: the coarsest level is the last one whose smaller side is >= min_size.
    Returns:
        Levels (N, H_k, W_k, 3) float32 with H_k = ceil(H / 2^k); every level but the last is a
        band-pass (detail) image, the last is the low-pass residual. A 32 px batch gives two
        levels (32, 16), 256 px gives five (256 ... 16); images smaller than min_size give one.
    """
    images = check_images(images)
    levels = [np.asarray(images, dtype=np.float32)]
    while min(levels[-1].shape[1:3]) // 2 >= min_size:
        finer = levels[-1]
        coarser = _blur(finer)[:, ::2, ::2]
        levels[-1] = finer - _pyr_up(coarser, finer.shape)
        levels.append(coarser)
    return levels


def _patches(level: np.ndarray, per_image: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """per_image random size x size x C patches from each image -> (N * per_image, size*size*C)."""
    n, h, w, c = level.shape
    tops = rng.integers(0, h - size + 1, size=(n, per_image))
    lefts = rng.integers(0, w - size + 1, size=(n, per_image))
    offsets = np.arange(size)
    rows = tops[:, :, None, None] + offsets[:, None]        # (n, k, size, 1)
    cols = lefts[:, :, None, None] + offsets[None, :]       # (n, k, 1, size)
    idx = np.arange(n)[:, None, None, None]
    return level[idx, rows, cols].reshape(n * per_image, size * size * c)


def _swd(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, repeats: int, directions: int) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections.

    a and b are (M, D) with equal M, so sorting both projections pairs the quantiles exactly.
    """
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        dirs = dirs.astype(np.float32)
        proj_a = np.sort(a @ dirs, axis=0)
        proj_b = np.sort(b @ dirs, axis=0)
        results.append(float(np.abs(proj_a - proj_b).mean()))
    return float(np.mean(results))


def _equal_size(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Subsample the larger set (seeded, order kept) so both contribute the same patch count.
    n = min(len(a), len(b))
    if len(a) > n:
        a = a[np.sort(rng.choice(len(a), n, replace=False))]
    if len(b) > n:
        b = b[np.sort(rng.choice(len(b), n, replace=False))]
    return a, b


def sliced_wasserstein(
    images_a,
    images_b,
    *,
    seed: int = 0,
    patch_size: int = 7,
    patches_per_image: int = 128,
    max_descriptors: int = 16384,
    repeats: int = 4,
    directions: int = 128,
) -> dict[str, float]:
    """SWD x 1e3 between two image sets on Laplacian-pyramid patches (Karras et al. 2018).

    Args:
        images_a: e.g. generator outputs, (N_a, H, W, 3) floats in [0, 1].
        images_b: the target set, (N_b, H, W, 3), same H and W; its per-channel patch statistics
            normalise both sets' descriptors.
        seed: seeds subsampling, patch positions and projection directions.
        patch_size: patch side in pixels (7 in the paper).
        patches_per_image: patches per image per level (128 in the paper); reduced so that a
            level holds at most max_descriptors patches per set.
        repeats, directions: repeats x directions random projections (4 x 128 in the paper).
    Returns:
        {"swd": mean over levels, "swd_level_0": finest, ..., "swd_level_{L-1}": coarsest},
        all x 1e3, >= 0. Levels smaller than patch_size are skipped.
    """
    images_a = check_images(images_a, "images_a")
    images_b = check_images(images_b, "images_b")
    if images_a.shape[1:] != images_b.shape[1:]:
        raise ValueError(
            f"images_a and images_b must have the same image shape, got {images_a.shape[1:]} "
            f"and {images_b.shape[1:]}"
        )
    if min(images_a.shape[1:3]) < patch_size:
        raise ValueError(f"images of {images_a.shape[1:3]} are smaller than the {patch_size} px patch")
    rng = np.random.default_rng(seed)
    images_a, images_b = _equal_size(images_a, images_b, rng)
    n = len(images_a)
    per_image = max(1, min(patches_per_image, max_descriptors // n))
    scores = {}
    levels_a, levels_b = laplacian_pyramid(images_a), laplacian_pyramid(images_b)
    for k, (level_a, level_b) in enumerate(zip(levels_a, levels_b)):
        if min(level_a.shape[1:3]) < patch_size:
            continue
        desc_a = _patches(level_a, per_image, patch_size, rng).reshape(-1, patch_size**2, 3)
        desc_b = _patches(level_b, per_image, patch_size, rng).reshape(-1, patch_size**2, 3)
        mean = desc_b.mean(axis=(0, 1))
        std = desc_b.std(axis=(0, 1))
        # A channel without variation in the target (e.g. a flat test set) keeps unit scale.
        std = np.where(std > 1e-8, std, 1.0)
        desc_a = ((desc_a - mean) / std).reshape(len(desc_a), -1)
        desc_b = ((desc_b - mean) / std).reshape(len(desc_b), -1)
        scores[f"swd_level_{k}"] = 1e3 * _swd(desc_a, desc_b, rng, repeats, directions)
    return {"swd": float(np.mean(list(scores.values()))), **scores}


def lab_wasserstein(images_a, images_b, *, seed: int = 0, max_pixels: int = 100_000) -> dict[str, float]:
    """Per-channel 1-D Wasserstein distance between the sets' CIELAB pixel distributions.

    Args:
        images_a, images_b: (N, H, W, 3) floats in [0, 1]; sizes may differ.
        seed: seeds the pixel subsample.
        max_pixels: pixels drawn (without replacement) from each set when it has more.
    Returns:
        {"lab_w_l", "lab_w_a", "lab_w_b"} in Lab units (L in 0..100, a/b roughly -128..127).
    """
    rng = np.random.default_rng(seed)
    labs = []
    for name, images in (("images_a", images_a), ("images_b", images_b)):
        pixels = check_images(images, name).reshape(-1, 3)
        if len(pixels) > max_pixels:
            pixels = pixels[rng.choice(len(pixels), max_pixels, replace=False)]
        # rgb2lab wants values inside [0, 1]; the tolerance band of check_images is clipped.
        labs.append(rgb2lab(np.clip(pixels, 0.0, 1.0).astype(np.float64)[None]).reshape(-1, 3))
    return {
        f"lab_w_{ch}": float(wasserstein_distance(labs[0][:, i], labs[1][:, i]))
        for i, ch in enumerate("lab")
    }
