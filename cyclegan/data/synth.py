"""A deterministic synthetic photo / "painting" dataset, made offline from scikit-image's photos.

Photos are random crops of the bundled photographs (scale, position, flip, colour jitter).
Paintings are other crops put through a painterly transform: flat colour regions (SLIC
superpixels filled with their mean colour), brush-stroke texture, and a softer, pastel palette.
The two domains differ in texture and colour statistics, as photos and Monets do, so a CycleGAN
has something to learn, and every file is a function of ``seed`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, data, segmentation, transform

from cyclegan.data.dataset import write_index

# Bundled colour photographs, and grayscale textures tinted into landscape-like colours
# (RGB multipliers) so that greens, browns and skies are represented.
_COLOUR_SOURCES: tuple[Callable[[], np.ndarray], ...] = (data.astronaut, data.coffee, data.chelsea, data.rocket)
_TINTED_SOURCES: tuple[tuple[Callable[[], np.ndarray], tuple[float, float, float]], ...] = (
    (data.grass, (0.55, 0.85, 0.45)),
    (data.gravel, (0.85, 0.75, 0.6)),
    (data.brick, (0.9, 0.6, 0.5)),
    (data.camera, (0.7, 0.8, 1.0)),
)


def source_images() -> list[np.ndarray]:
    """The bundled photographs as float RGB in [0, 1] (no download: they ship with scikit-image)."""
    images = [np.asarray(load(), dtype=np.float64)[..., :3] / 255.0 for load in _COLOUR_SOURCES]
    for load, tint in _TINTED_SOURCES:
        gray = np.asarray(load(), dtype=np.float64) / 255.0
        images.append(np.clip(gray[..., None] * np.asarray(tint), 0.0, 1.0))
    return images


def random_crop(source: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A square crop covering 35-100% of the shorter side, resized to ``size``, maybe flipped."""
    height, width = source.shape[:2]
    side = int(min(height, width) * rng.uniform(0.35, 1.0))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    crop = transform.resize(source[top:top + side, left:left + side], (size, size), anti_aliasing=True)
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation jitter of a photo (+-15%)."""
    hsv = color.rgb2hsv(image)
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.85, 1.15), 0, 1)
    rgb = color.hsv2rgb(hsv)
    mean = rgb.mean()
    return np.clip((rgb - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.85, 1.15), 0, 1)


def paint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Painterly transform: flat regions, directional brush strokes, pastel palette, soft edges."""
    size = image.shape[0]
    labels = segmentation.slic(image, n_segments=max(16, (size // 10) ** 2), compactness=8.0, start_label=0, channel_axis=-1)
    flat = color.label2rgb(labels, image, kind="avg", bg_label=-1)
    # Strokes: noise stretched along one direction, modulating brightness by a few percent.
    angle = rng.uniform(0, 180)
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=(0.6, max(1.5, size / 64)))
    strokes = ndimage.rotate(noise, angle, reshape=False, mode="reflect")
    strokes /= strokes.std() + 1e-8
    textured = flat * (1.0 + 0.07 * strokes[..., None])
    hsv = color.rgb2hsv(np.clip(textured, 0, 1))
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.03, 0.03)) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 0.8 + 0.12, 0, 1)  # pastel: less pure, never fully gray
    hsv[..., 2] = 0.2 + 0.75 * hsv[..., 2]  # lifted shadows, compressed contrast
    painted = color.hsv2rgb(hsv)
    return np.clip(ndimage.gaussian_filter(painted, sigma=(0.6, 0.6, 0)), 0, 1)


def make_synthetic_dataset(root: str | Path, *, photos: int = 400, paintings: int = 300, size: int = 256, seed: int = 0, quality: int = 95) -> Path:
    """Write ``root/photo``, ``root/monet`` (JPEG) and ``root/data.csv``; returns the index path.

    Deterministic: the same arguments give byte-identical files."""
    if photos < 1 or paintings < 1:
        raise ValueError(f"need at least one image per domain, got photos={photos}, paintings={paintings}")
    if size < 16:
        raise ValueError(f"size={size} is too small for a useful image (minimum 16)")
    root = Path(root)
    sources = source_images()
    for domain, count, make in (("photo", photos, jitter_colour), ("monet", paintings, paint)):
        folder = root / domain
        folder.mkdir(parents=True, exist_ok=True)
        # Separate streams per domain: the two sets are unpaired, as in the real dataset.
        rng = np.random.default_rng([seed, 0 if domain == "photo" else 1])
        for index in range(count):
            source = sources[rng.integers(len(sources))]
            image = make(random_crop(source, size, rng), rng)
            pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"synth_{domain}_{index:04d}.jpg", quality=quality)
    return write_index(root)
