"""Image arrays <-> files, and the sample grid. Arrays are float (..., H, W, 3) in [0, 1].

:func:`read_image` is the project's one image decoder: training (its input stream, held-out and
sample sets), ``cyclegan translate``, ``cyclegan metrics`` and the report all see a file as the same
array, so a score computed in training and one recomputed from files agree."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from skimage.transform import resize


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_png(image: np.ndarray, path: Path) -> None:
    """Lossless, so the grid metric sees what the generator made (JPEG adds its own 8x8 grid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(path, format="PNG")


def sample_grid(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Stack image rows into one picture: each row is (N, H, W, 3); the result (R*H, N*W, 3).

    The trainer passes [photos, G(photos), paintings, F(paintings)]: inputs over outputs."""
    if not rows:
        raise ValueError("sample_grid needs at least one row")
    widths = {row.shape for row in rows}
    if len(widths) != 1:
        raise ValueError(f"sample_grid rows differ in shape: {sorted(widths)}")
    return np.concatenate([np.concatenate(list(row), axis=1) for row in rows], axis=0)


def _to_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


# The decompression-bomb guard of every reader (data.max_image_pixels' default): 40 M pixels is a
# 6300x6300 photo, far above any training size, and a few hundred MB of float64 while decoding.
MAX_IMAGE_PIXELS = 40_000_000


class ImageTooLarge(ValueError):
    """An image with more pixels than the guard allows (a decompression bomb or a huge scan)."""


class UnreadableImage(ValueError):
    """A file with an image's name that Pillow cannot identify (damaged, or not an image)."""


@contextlib.contextmanager
def open_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Iterator[Image.Image]:
    """The one way the project opens an image file (training, ``translate``, ``metrics``, ``data check``):
    Pillow's header only, refused with :class:`ImageTooLarge` naming the file and its size when it has
    more than ``max_pixels`` pixels, before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLarge(f"{path}: too large: {width}x{height} pixels > {max_pixels} (decompression-bomb guard; "
                                        "data.max_image_pixels)")
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLarge(f"{path}: too large: {err}") from None
    except UnidentifiedImageError:
        raise UnreadableImage(f"cannot read image {path}: not a JPEG or PNG Pillow can identify") from None
    except OSError as err:
        # A file cut short inside its header: Pillow's OSError ("Truncated File Read") names no file.
        # Only an OSError of Pillow's own reading comes here with no filename; a missing file or
        # one that cannot be opened names itself, and passes unchanged.
        if err.filename is not None:
            raise
        raise UnreadableImage(f"cannot read image {path}: {err}") from None


def read_image(path, size=None, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """One image file as (H, W, 3) float32 in [0, 1].

    Grayscale is repeated over channels, alpha is dropped, palette/CMYK are converted, 16-bit
    images are scaled by 1/65535 (Pillow's convert("RGB") would clip them to 8 bits).
    size: None, an int (square) or (height, width); resizing is antialiased bilinear.
    """
    path = Path(path)
    try:
        with open_image(path, max_pixels) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grayscale PNGs open as "I;16" or "I" depending on the Pillow version.
                gray = np.asarray(image, dtype=np.float64) / 65535.0
                array = np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=2)
            elif image.mode == "F":
                array = np.repeat(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)[..., None], 3, axis=2)
            else:
                array = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    except (ImageTooLarge, UnreadableImage):
        raise
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    target = _to_size(size)
    if target is not None and array.shape[:2] != target:
        array = np.clip(resize(array, target, order=1, anti_aliasing=True), 0.0, 1.0)
    return array.astype(np.float32)


def read_images(paths: Sequence[Path], size) -> np.ndarray:
    """:func:`read_image` of every file, stacked to (N, H, W, 3) float32; decoded on a few threads
    (Pillow and SciPy release the GIL). Raises ValueError naming the first unreadable file."""
    if not paths:
        target = _to_size(size)
        return np.zeros((0, *(target or (0, 0)), 3), np.float32)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return np.stack(list(pool.map(lambda p: read_image(p, size), paths)))
