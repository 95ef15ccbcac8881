"""Throughput of the image metrics: images per second for score_batch and each component.

Usage: python benchmarks/bench_metrics.py [--n 1000] [--size 256] [--repeats 1]

Builds its own natural-looking images offline (crops of scikit-image's bundled photos; outputs
are the inputs slightly blurred, with a faint period-4 grid) as float32, like the trainer's.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage as ndi
from skimage import data

from cyclegan.metrics import (
    BatchScorer,
    collapse_scores,
    edge_scores,
    grid_scores,
    lab_wasserstein,
    score_batch,
    sliced_wasserstein,
)


def make_batch(n: int, size: int, seed: int) -> np.ndarray:
    """(n, size, size, 3) float32 crops of the bundled photos, resized up when a photo is small."""
    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    photos = [p[..., :3].astype(np.float32) / 255.0 for p in photos]
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        photo = photos[i % len(photos)]
        top = rng.integers(photo.shape[0] - size + 1)
        left = rng.integers(photo.shape[1] - size + 1)
        out[i] = photo[top:top + size, left:left + size]
    return out


def make_outputs(inputs: np.ndarray) -> np.ndarray:
    grid = 0.02 * np.cos(np.pi * np.arange(inputs.shape[2]) / 2, dtype=np.float32)
    blurred = ndi.gaussian_filter(inputs, sigma=(0, 0.8, 0.8, 0))
    return np.clip(blurred + grid[None, None, :, None], 0.0, 1.0).astype(np.float32)


def timed(label: str, n: int, fn, repeats: int) -> float:
    """Best-of-`repeats` wall time; CPU time (all threads) is printed too, because on a shared
    machine wall time also measures the neighbours."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    print(f"{label:<40} {best:7.2f} s wall {n / best:8.1f} images/s   {best_cpu:7.2f} s CPU")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    n, size, repeats = args.n, args.size, args.repeats

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} cores (load average {load:.1f}), numpy {np.__version__}; "
          f"building {n} images of {size}x{size} ...")
    inputs = make_batch(n, size, seed=0)
    outputs = make_outputs(inputs)
    target = make_batch(n, size, seed=1)

    print(f"\n{n} images of {size}x{size}:")
    timed("score_batch(outputs, inputs)", n, lambda: score_batch(outputs, inputs), repeats)
    timed("score_batch(outputs, inputs, target)", n, lambda: score_batch(outputs, inputs, target), repeats)
    timed("  grid_scores", n, lambda: grid_scores(outputs, inputs), repeats)
    timed("  edge_scores", n, lambda: edge_scores(outputs, inputs), repeats)
    timed("  collapse_scores", n, lambda: collapse_scores(outputs, inputs), repeats)
    timed("  sliced_wasserstein", n, lambda: sliced_wasserstein(outputs, target), repeats)
    timed("  lab_wasserstein", n, lambda: lab_wasserstein(outputs, target), repeats)

    print("\nper mini-epoch (64 images, with target):")
    for small in (32, 64, 128, 256):
        x = make_batch(128, small, seed=2)
        y = make_outputs(x[:64])
        timed(f"  score_batch at {small}x{small}", 64,
              lambda y=y, x=x: score_batch(y, x[:64], x[64:]), max(repeats, 3))
        # What the trainer calls: the scorer is built once per run, each mini-epoch only scores.
        scorer = BatchScorer(x[:64], x[64:])
        timed(f"  BatchScorer at {small}x{small} (prepared)", 64, lambda y=y, scorer=scorer: scorer(y), max(repeats, 3))


if __name__ == "__main__":
    main()
