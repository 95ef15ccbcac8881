"""What every metric shares: validation of image batches, luma, and a chunked thread map."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Values a little outside [0, 1] come from resampling or float round-off, not from wrong scaling.
RANGE_TOLERANCE = 1e-3
# Pixels per chunk of a batch (32 images of 256x256): bounds the temporaries of big batches.
CHUNK_PIXELS = 2**21

T = TypeVar("T")


def check_images(images, name: str = "images") -> np.ndarray:
    """Validate a batch of RGB images and return it as a float32/float64 array.

    Args:
        images: array-like of shape (N, H, W, 3), floats in [0, 1] (N >= 1).
        name: what to call the argument in error messages.
    Raises:
        ValueError: wrong rank/channels, empty batch or image, integer dtype (a uint8 batch in
            0..255 would otherwise be silently misread), non-finite values, or values outside
            [0, 1] by more than RANGE_TOLERANCE.
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (N, H, W, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (N = 0)")
    if arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ValueError(f"{name} has empty images of shape {arr.shape[1:]}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a float array in [0, 1], got dtype {arr.dtype}")
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(f"{name} values must lie in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    # scipy.fft and ndimage have no float16 kernels; float32 is the working precision otherwise.
    return arr.astype(np.float32) if arr.dtype.itemsize < 4 else arr


def check_pair(outputs, inputs) -> tuple[np.ndarray, np.ndarray]:
    """Validate generator outputs and their inputs: both (N, H, W, 3) in [0, 1], same shape."""
    outputs = check_images(outputs, "outputs")
    inputs = check_images(inputs, "inputs")
    if outputs.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"outputs and inputs have different batch sizes: {outputs.shape[0]} vs {inputs.shape[0]}"
        )
    if outputs.shape != inputs.shape:
        raise ValueError(
            f"outputs and inputs have different image shapes: {outputs.shape[1:]} vs {inputs.shape[1:]}"
        )
    return outputs, inputs


def map_chunks(fn: Callable[[slice], T], n: int, pixels_per_image: int) -> list[T]:
    """[fn(s) for s in consecutive slices covering range(n)], in order, on a thread pool.

    NumPy, scipy.fft, scipy.ndimage and scikit-image release the GIL in their inner loops, so
    chunks run on all cores; chunks hold at most CHUNK_PIXELS pixels so that large batches
    never build batch-sized temporaries. Small batches still get one chunk per core.
    """
    # Cores this process may use (affinity-aware where the OS supports it).
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    chunk = max(1, min(-(-n // workers), CHUNK_PIXELS // max(1, pixels_per_image)))
    slices = [slice(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    if len(slices) == 1:
        return [fn(slices[0])]
    with ThreadPoolExecutor(min(workers, len(slices))) as pool:
        return list(pool.map(fn, slices))


def luma(images: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of (N, H, W, 3) images in [0, 1] -> (N, H, W) in [0, 1], same float dtype."""
    return images @ np.asarray(LUMA_WEIGHTS, dtype=images.dtype)
