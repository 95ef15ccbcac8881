"""Natural-looking test images for the metrics tests, built offline from scikit-image's photos.

Every builder is deterministic given its seed and returns float64 arrays in [0, 1] with shape
(N, H, W, 3) unless its docstring says otherwise.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage import data


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    # Varied content: portrait, still life, animal, outdoor scene, microscopy texture.
    photos = (data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry())
    return tuple(p[..., :3].astype(np.float64) / 255.0 for p in photos)


def photo_crops(n: int, size: int, seed: int = 0) -> np.ndarray:
    """n random size x size crops of the bundled photos (photos in turn; random position and flip)."""
    rng = np.random.default_rng(seed)
    photos = _photos()
    out = np.empty((n, size, size, 3))
    for i in range(n):
        photo = photos[i % len(photos)]  # cycle so any half of a batch has the same mix
        top = rng.integers(photo.shape[0] - size + 1)
        left = rng.integers(photo.shape[1] - size + 1)
        crop = photo[top:top + size, left:left + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def lattice_pattern(size: int, period: int, seed: int = 0) -> np.ndarray:
    """A zero-mean, unit-std, exactly period-p grey pattern: a random p x p tile repeated.

    Returns (size, size) float64. A random tile has power on every frequency of the period-p
    lattice, including Lambda_p's points that are not on the coarser p/2 lattice.
    """
    rng = np.random.default_rng(seed)
    tile = rng.standard_normal((period, period))
    tile -= tile.mean()
    tile /= tile.std()
    return np.tile(tile, (size // period, size // period))


def add_grid(images: np.ndarray, period: int, amplitude: float, seed: int = 0) -> np.ndarray:
    """Add amplitude x lattice_pattern to every channel of every image and clip to [0, 1]."""
    pattern = lattice_pattern(images.shape[1], period, seed)
    return np.clip(images + amplitude * pattern[None, :, :, None], 0.0, 1.0)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Blur each image spatially (not across the batch or channels)."""
    return ndi.gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="reflect")


def add_noise(images: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """Add white Gaussian noise and clip to [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.clip(images + std * rng.standard_normal(images.shape), 0.0, 1.0)


def jpeg_roundtrip(images: np.ndarray, quality: int) -> np.ndarray:
    """Encode each image as JPEG with Pillow at the given quality and decode it again."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255.0
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 (rounded), as a lossless PNG would store it."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def quantize(images: np.ndarray) -> np.ndarray:
    """Round to 8-bit levels, as saving outputs to PNG does."""
    return np.rint(images * 255.0) / 255.0


def blurred_step(size: int, sigma: float, low: float = 0.2, high: float = 0.8) -> np.ndarray:
    """One grey image (1, size, size, 3): a vertical step edge in the middle, Gaussian-blurred."""
    image = np.full((size, size), low)
    image[:, size // 2:] = high
    if sigma > 0:
        image = ndi.gaussian_filter(image, sigma, mode="nearest")
    return np.repeat(image[None, :, :, None], 3, axis=3)


def striped_picture(size: int) -> np.ndarray:
    """The input-independent picture of a collapsed generator: green/yellow slanted, wavy stripes.

    Returns (size, size, 3) in [0, 1]. Modelled on the DESIGN probe: the same striped picture for
    every input. The stripes are oblique with a non-integer, wobbling period, so their energy is
    spread over many frequencies rather than sitting on a small-period lattice.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    phase = 2 * np.pi * (xx + 0.6 * yy) / 6.3 + 1.5 * np.sin(2 * np.pi * yy / 37.0)
    stripes = 0.5 + 0.5 * np.sin(phase)
    blobs = 0.5 + 0.5 * np.sin(2 * np.pi * xx / 53.0) * np.cos(2 * np.pi * yy / 41.0)
    green = np.array([0.25, 0.6, 0.15])
    yellow = np.array([0.95, 0.9, 0.2])
    picture = green + (yellow - green) * stripes[..., None]
    return np.clip(picture * (0.75 + 0.25 * blobs[..., None]), 0.0, 1.0)
