"""Image statistics of the synthetic data set next to a real one (e.g. the monet2photo sample).

Usage: python benchmarks/compare_synth_real.py --real DIR [--size 64] [--n 256] [--seed 0]

Makes the synthetic photos and paintings in memory (cyclegan.data.synth, the `cyclegan data
synth` recipe, at 256 px and resized like the pipeline reads files), reads n images per domain
of the real folder (DIR/photo, DIR/monet), and prints per domain: luma mean / std, mean
saturation, the power-spectrum slope, Canny edge density, the near-duplicate share (coarse
layouts that correlate > 0.9 with another image of the set), the collapse indicators with the
images as their own outputs (must read "not collapsed"), and the Lab / SWD distances between
the synthetic and the real domain.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from skimage import color, transform

from cyclegan.data.images import read_images
from cyclegan.data.synth import source_images, synthetic_image
from cyclegan.metrics import canny_edges, collapse_scores, lab_wasserstein, luma, sliced_wasserstein
from cyclegan.metrics.grid import mean_power_spectrum
from cyclegan.metrics.input_dependence import coarse_structure
from cyclegan.names import IMAGE_SUFFIXES


def synthetic(domain: str, n: int, size: int, seed: int) -> np.ndarray:
    """n synthetic images of one domain made at 256 px (as written to disk) and resized to size."""
    rng = np.random.default_rng([seed, 0 if domain == "photo" else 1])
    sources = source_images()
    images = []
    for _ in range(n):
        image = synthetic_image(domain, sources, 256, rng)
        image = np.round(np.clip(image, 0, 1) * 255) / 255  # the 8-bit file
        images.append(transform.resize(image, (size, size), order=1, anti_aliasing=True))
    return np.clip(np.stack(images), 0, 1).astype(np.float32)


def real(folder: Path, n: int, size: int) -> np.ndarray:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]
    if not paths:
        raise SystemExit(f"no images in {folder}")
    return read_images(paths, size)


def spectrum_slope(images: np.ndarray) -> float:
    """Least-squares slope of log radial power vs log frequency, 2 cycles .. a quarter of Nyquist x2."""
    power = mean_power_spectrum(images)
    h, w = power.shape
    ky, kx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    radius = np.hypot(ky, kx)
    band = (radius >= 2) & (radius <= min(h, w) / 2)
    bins = np.round(radius[band]).astype(int)
    radial = np.bincount(bins, power[band]) / np.maximum(np.bincount(bins), 1)
    freqs = np.nonzero(radial)[0]
    return float(np.polyfit(np.log(freqs), np.log(radial[freqs]), 1)[0])


def near_duplicate_share(images: np.ndarray, limit: float = 0.9) -> float:
    coarse = coarse_structure(luma(images))
    coarse = coarse - coarse.mean(axis=1, keepdims=True)
    coarse /= np.linalg.norm(coarse, axis=1, keepdims=True) + 1e-12
    similarity = coarse @ coarse.T
    np.fill_diagonal(similarity, -1)
    return float((similarity.max(axis=1) > limit).mean())


def statistics(images: np.ndarray) -> dict[str, float]:
    y = luma(images)
    collapse = collapse_scores(images, images)
    return {
        "luma mean": float(y.mean()),
        "luma std (median per image)": float(np.median(y.std(axis=(1, 2)))),
        "saturation mean": float(color.rgb2hsv(images)[..., 1].mean()),
        "power-spectrum slope": spectrum_slope(images),
        "edge density (Canny)": float(canny_edges(y).mean()),
        "near-duplicate share": near_duplicate_share(images),
        "inter_image_diff": collapse["inter_image_diff"],
        "input_identifiability (self)": collapse["input_identifiability"],
        "shared_texture (self)": collapse["shared_texture"],
        "collapse_kind (self)": float(collapse["collapse_kind"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for domain in ("photo", "monet"):
        start = time.perf_counter()
        syn = synthetic(domain, args.n, args.size, args.seed)
        rea = real(args.real / domain, args.n, args.size)
        print(f"\n{domain}: {len(syn)} synthetic vs {len(rea)} real at {args.size} px "
              f"({time.perf_counter() - start:.0f} s to make and read)")
        s_syn, s_real = statistics(syn), statistics(rea)
        print(f"  {'statistic':<32} {'synthetic':>10} {'real':>10}")
        for key in s_syn:
            print(f"  {key:<32} {s_syn[key]:10.3f} {s_real[key]:10.3f}")
        lab = lab_wasserstein(syn, rea)
        print(f"  {'Lab W1 L / a / b (syn vs real)':<32} {lab['lab_w_l']:.2f} / {lab['lab_w_a']:.2f} / {lab['lab_w_b']:.2f}")
        print(f"  {'SWD x1e3 (syn vs real)':<32} {sliced_wasserstein(syn, rea)['swd']:.2f}")
        print(f"  {'SWD x1e3 (real half vs half)':<32} "
              f"{sliced_wasserstein(rea[: len(rea) // 2], rea[len(rea) // 2:])['swd']:.2f}")


if __name__ == "__main__":
    main()
