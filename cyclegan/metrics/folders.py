"""Score generator outputs saved on disk: load image folders, pair by file stem, format tables.

Backs `cyclegan metrics --outputs DIR --inputs DIR [--target DIR] [--json]`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cyclegan.data.images import read_image
from cyclegan.metrics import score_batch
from cyclegan.names import IMAGE_SUFFIXES


def _list_images(folder) -> dict[str, Path]:
    """Map file stem -> path for the PNG/JPEG files of a folder (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    by_stem: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if path.stem in by_stem:
            raise ValueError(f"two images share the stem {path.stem!r}: {by_stem[path.stem]} and {path}")
        by_stem[path.stem] = path
    if not by_stem:
        raise ValueError(f"no PNG or JPEG images in {folder}")
    return by_stem


def _stack(paths: list[Path], size) -> np.ndarray:
    images = [read_image(path, size) for path in paths]
    first = images[0].shape
    for path, image in zip(paths, images, strict=True):
        if image.shape != first:
            raise ValueError(
                f"{path} is {image.shape[1]}x{image.shape[0]} but {paths[0]} is {first[1]}x{first[0]}; "
                "pass size= to resize"
            )
    return np.stack(images)


def load_folder(path, size=None) -> tuple[list[str], np.ndarray]:
    """All PNG/JPEG images of a folder, sorted by file name.

    Args:
        path: folder (not recursive; hidden and non-image files are skipped).
        size: None (all images must share one size), an int or (height, width) to resize to.
    Returns:
        (file names, (N, H, W, 3) float32 array in [0, 1]).
    Raises:
        ValueError: not a folder, no images, duplicate stems, an unreadable file (named), or
            differing sizes with size=None.
    """
    paths = sorted(_list_images(path).values(), key=lambda p: p.name)
    return [p.name for p in paths], _stack(paths, size)


def score_folders(outputs_dir, inputs_dir, target_dir=None, *, seed: int = 0) -> dict[str, float | bool | int]:
    """score_batch over images on disk, outputs paired with inputs by file stem.

    `a.png` in outputs_dir pairs with `a.jpg` (or any PNG/JPEG `a.*`) in inputs_dir. Every
    output needs an input; inputs without an output are ignored (the inputs folder may be the
    whole dataset). Inputs are resized to the outputs' size when they differ, and so are the
    target images (a distribution sample, not paired).

    Returns:
        score_batch's dict (JSON-able; undefined values are NaN).
    Raises:
        ValueError: naming an output without an input, or any loading error.
    """
    outputs = _list_images(outputs_dir)
    inputs = _list_images(inputs_dir)
    for stem, path in outputs.items():
        if stem not in inputs:
            raise ValueError(f"output {path} has no input with stem {stem!r} in {inputs_dir}")
    stems = sorted(outputs)
    output_images = _stack([outputs[s] for s in stems], None)
    size = output_images.shape[1:3]
    input_images = _stack([inputs[s] for s in stems], size)
    target_images = None
    if target_dir is not None:
        target_images = _stack(sorted(_list_images(target_dir).values(), key=lambda p: p.name), size)
    return score_batch(output_images, input_images, target_images, seed=seed)


def _format_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):  # e.g. the Inception file's name and fingerprint
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def format_table(scores: dict) -> str:
    """A two-column, left/right aligned text table of metric -> value, in the dict's order.

    Floats get 4 significant digits, booleans yes/no, NaN "n/a".
    """
    rows = [("metric", "value")] + [(str(k), _format_value(v)) for k, v in scores.items()]
    key_width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    lines = [f"{k:<{key_width}}  {v:>{value_width}}" for k, v in rows]
    lines.insert(1, "-" * (key_width + 2 + value_width))
    return "\n".join(lines)
