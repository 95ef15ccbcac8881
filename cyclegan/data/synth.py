"""A deterministic synthetic photo / "painting" dataset, made offline from scikit-image's photos.

Photos are scenes: half are random crops of the bundled photographs (scale, position, flip),
40% are landscapes composed from them (a sky with soft clouds over a ground that is a crop of
a photograph, the horizon at a random height and tilt), then colour jitter. Paintings are
other scenes put through a painterly transform: flat colour regions (SLIC superpixels filled
with their mean colour), visible brush-stroke texture, and a muted, lifted palette. The two
domains differ in texture and colour statistics, as photos and Monets do, so a CycleGAN has
something to learn, and every file is a function of ``seed`` alone.

The landscapes, the contrast and saturation ranges and the stroke strength were set by
benchmarks/compare_synth_real.py against the monet2photo sample (benchmarks/RESULTS.md, "synthetic
data against the real sample").
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


def landscape(sources: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """A sky with soft clouds over a ground cropped from a photograph; (size, size, 3) in [0, 1].

    Real landscape photos put a bright, smooth mass above a darker, textured one; the bundled
    photographs alone have no such layout.
    """
    rows = np.linspace(0.0, 1.0, size)[:, None, None]
    zenith = np.array([0.25, 0.45, 0.8]) * rng.uniform(0.7, 1.1)
    haze = np.array([0.8, 0.85, 0.9]) * rng.uniform(0.8, 1.05)
    sky = zenith + (haze - zenith) * rows  # darker blue at the top, hazy at the horizon
    clouds = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=size / rng.uniform(6, 16))
    clouds = np.clip((clouds / (clouds.std() + 1e-8) - rng.uniform(0.0, 1.0)) * 0.35, 0, 1)
    sky = np.broadcast_to(sky, (size, size, 3)) * (1 - clouds[..., None]) + 0.95 * clouds[..., None]
    ground = random_crop(sources[rng.integers(len(sources))], size, rng)
    ground = ground * rng.uniform(0.6, 0.95)  # the ground is darker than the sky
    yy, xx = np.mgrid[0:size, 0:size] / size
    horizon = rng.uniform(0.2, 0.75) + rng.uniform(-0.4, 0.4) * (xx - 0.5) + 0.03 * np.sin(
        2 * np.pi * (xx * rng.uniform(1, 3) + rng.uniform()))
    below = ndimage.gaussian_filter((yy > horizon).astype(float), sigma=max(0.5, size / 256))
    return np.clip(sky * (1 - below[..., None]) + ground * below[..., None], 0, 1)


def scene(sources: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of a bundled photograph or, 40% of the time, a landscape composed from them."""
    if rng.random() < 0.4:
        return landscape(sources, size, rng)
    return random_crop(sources[rng.integers(len(sources))], size, rng)


def jitter_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Saturation (x0.5-0.9: the sources are more saturated than landscape photos), contrast
    (x1.0-1.5) and brightness (+-15%) jitter of a photo."""
    hsv = color.rgb2hsv(image)
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.5, 0.9), 0, 1)
    rgb = color.hsv2rgb(hsv)
    mean = rgb.mean()
    return np.clip((rgb - mean) * rng.uniform(1.0, 1.5) + mean * rng.uniform(0.85, 1.15), 0, 1)


def paint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Painterly transform: flat regions, visible directional brush strokes, muted palette."""
    size = image.shape[0]
    labels = segmentation.slic(image, n_segments=max(16, (size // 10) ** 2), compactness=8.0, start_label=0, channel_axis=-1)
    flat = color.label2rgb(labels, image, kind="avg", bg_label=-1)
    # Strokes: noise stretched along one direction, modulating brightness by ~15%; Monet's
    # strokes are what gives his paintings more fine detail than flat regions alone.
    angle = rng.uniform(0, 180)
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma=(max(0.6, size / 256), max(1.5, size / 48)))
    strokes = ndimage.rotate(noise, angle, reshape=False, mode="reflect")
    strokes /= strokes.std() + 1e-8
    textured = flat * (1.0 + 0.15 * strokes[..., None])
    hsv = color.rgb2hsv(np.clip(textured, 0, 1))
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.03, 0.03)) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * 0.55 + 0.08, 0, 1)  # muted: less pure, never fully gray
    hsv[..., 2] = 0.25 + 0.75 * hsv[..., 2]  # lifted shadows
    return np.clip(color.hsv2rgb(hsv), 0, 1)


def synthetic_image(domain: str, sources: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """One image of ``domain`` ("photo" or "monet"), (size, size, 3) float in [0, 1]."""
    image = scene(sources, size, rng)
    if domain == "photo":
        return jitter_colour(image, rng)
    if domain == "monet":
        return paint(image, rng)
    raise ValueError(f"unknown synthetic domain {domain!r}: use 'photo' or 'monet'")


def make_synthetic_dataset(root: str | Path, *, photos: int = 400, paintings: int = 300, size: int = 256, seed: int = 0, quality: int = 95) -> Path:
    """Write ``root/photo``, ``root/monet`` (JPEG) and ``root/data.csv``; returns the index path.

    Deterministic: the same arguments give byte-identical files."""
    if photos < 1 or paintings < 1:
        raise ValueError(f"need at least one image per domain, got photos={photos}, paintings={paintings}")
    if size < 16:
        raise ValueError(f"size={size} is too small for a useful image (minimum 16)")
    root = Path(root)
    sources = source_images()
    for domain, count in (("photo", photos), ("monet", paintings)):
        folder = root / domain
        folder.mkdir(parents=True, exist_ok=True)
        # Separate streams per domain: the two sets are unpaired, as in the real dataset.
        rng = np.random.default_rng([seed, 0 if domain == "photo" else 1])
        for index in range(count):
            image = synthetic_image(domain, sources, size, rng)
            pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"synth_{domain}_{index:04d}.jpg", quality=quality)
    return write_index(root)
