"""Image arrays <-> files, and the sample grid. Arrays are float (..., H, W, 3) in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image


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
