"""Translation quality in the units GAN papers report, as pure functions of two feature arrays.

Features are float arrays (N, D): one row per image, e.g. InceptionV3's 2048-d pool features
(:mod:`cyclegan.core.inception` computes them; this module never sees an image or a network).
"real" is a sample of the target domain, "fake" the generator's outputs.

- KID (Binkowski et al. 2018): the unbiased estimate of MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / D + 1)^3, averaged over random subsets, with the subsets' standard deviation.
  Unbiased, so two samples of one distribution give values around 0, negative ones included.
  The primary quality figure at the held-out sets' size (64 images), where FID is strongly biased.
- FID (Heusel et al. 2017): the Frechet distance of Gaussians fitted to the two sets, with the sample
  size it was computed at (its bias grows as the size shrinks; docs/metrics.md gives the measurement).
- Precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al. 2020):
  k-nearest-neighbour balls around each sample; fidelity (precision, density) and diversity
  (recall, coverage) as separate numbers, so a collapsed generator shows high precision, low recall.
- Memorisation (MiFID-style, Bai et al. 2021): the cosine distance from each generated image's
  features to the nearest TRAINING image of the target domain; a generator that returns training
  paintings has distances near 0.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist

KID_SUBSETS = 100
KID_MAX_SUBSET_SIZE = 1000  # clean-fid's and torch-fidelity's cap
# Below this many images per set FID's bias exceeds the spread of the FIDs it is used to compare
# (measured by subsampling with the stand-in Inception file: docs/metrics.md "Sample sizes").
FID_MIN_RELIABLE_N = 1000
PRECISION_RECALL_K = 3  # Kynkaanniemi et al.'s choice
DENSITY_COVERAGE_K = 5  # Naeem et al.'s choice


class FidSampleSizeWarning(UserWarning):
    """FID computed on fewer images than :data:`FID_MIN_RELIABLE_N`: compare it only at equal n."""


def check_features(features, name: str) -> np.ndarray:
    """``features`` as float64 (N, D), finite, N >= 2; ValueError naming ``name`` otherwise."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: features must be (N, D), got shape {array.shape}")
    if len(array) < 2:
        raise ValueError(f"{name}: at least 2 feature rows are needed, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return array


def _check_pair(real, fake) -> tuple[np.ndarray, np.ndarray]:
    real, fake = check_features(real, "real"), check_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    return real, fake


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's kernel matrix (len(x), len(y)): (x.y / D + 1)^3."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(real, fake) -> float:
    """The unbiased MMD^2 estimate with :func:`polynomial_kernel` (within-set sums leave out the diagonal)."""
    x, y = _check_pair(real, fake)
    return _mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def _mmd2_from_kernels(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    m, n = len(k_xx), len(k_yy)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kid_subset_size(n_real: int, n_fake: int) -> int:
    """Images drawn from each set per KID subset: half the smaller set, at most 1000 (the usual cap).
    Half, not all: subsets of every image would all be the same sample, and their spread zero."""
    return max(2, min(KID_MAX_SUBSET_SIZE, min(n_real, n_fake) // 2))


def kid(real, fake, *, subsets: int = KID_SUBSETS, subset_size: int | None = None, seed: int = 0) -> dict[str, float | int]:
    """Kernel Inception Distance: :func:`mmd2_unbiased` on ``subsets`` random subsets (drawn without
    replacement, ``subset_size`` from each set, default :func:`kid_subset_size`).

    Returns:
        ``kid`` (mean over subsets), ``kid_std`` (their standard deviation: the spread of a
        ``kid_subset_size``-image estimate, wider than the mean's own error), ``kid_subset_size``.
    """
    x, y = _check_pair(real, fake)
    size = subset_size if subset_size is not None else kid_subset_size(len(x), len(y))
    if not 2 <= size <= min(len(x), len(y)):
        raise ValueError(f"KID subset size {size} must be between 2 and the smaller set's size {min(len(x), len(y))}")
    if subsets < 1:
        raise ValueError(f"KID needs at least 1 subset, got {subsets}")
    rng = np.random.default_rng(seed)
    # The kernel matrices once; each subset reads its rows and columns (100 subsets cost 3 products, not 300).
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    values = []
    for _ in range(subsets):
        i, j = rng.choice(len(x), size, replace=False), rng.choice(len(y), size, replace=False)
        values.append(_mmd2_from_kernels(k_xx[np.ix_(i, i)], k_yy[np.ix_(j, j)], k_xy[np.ix_(i, j)]))
    values = np.array(values)
    return {"kid": float(values.mean()), "kid_std": float(values.std(ddof=1)) if subsets > 1 else 0.0, "kid_subset_size": size}


def gaussian_fit(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D)."""
    array = check_features(features, "features")
    return array.mean(axis=0), np.cov(array, rowvar=False)


def frechet_distance(mean_a, cov_a, mean_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)), the matrix root by scipy.linalg.sqrtm.

    The product of two rank-deficient covariances (fewer images than dimensions, always the case at
    64 images and 2048 features) may have no finite root: then both get a tiny ridge first, as the
    reference implementation does; its imaginary rounding residue is dropped."""
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.all(np.isfinite(root)):
        ridge = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + ridge) @ (cov_b + ridge))
    root = np.real(root)
    diff = mean_a - mean_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def fid(real, fake, *, warn: bool = True) -> dict[str, float | int]:
    """Frechet Inception Distance of two feature sets. Returns ``fid`` and ``fid_n`` (the smaller
    set's size: FID is biased upwards, the more so the fewer images, so only FIDs at equal n compare).
    Warns (:class:`FidSampleSizeWarning`) below :data:`FID_MIN_RELIABLE_N`.

    With fewer images than feature dimensions (64 images, 2048 features) the covariances are
    rank-deficient and sqrtm of their 2048 x 2048 product took 90 s on a 2-core CPU (measured) and
    needs a ridge to stay finite. The trace of that root is then computed exactly from the centred
    features A (n x D) and B (m x D): the non-zero eigenvalues of C_a C_b are the squared singular
    values of B A^T / sqrt((n-1)(m-1)) (an m x n matrix), so Tr (C_a C_b)^(1/2) is their sum.
    """
    x, y = _check_pair(real, fake)
    n = min(len(x), len(y))
    if warn and n < FID_MIN_RELIABLE_N:
        warnings.warn(f"FID on {n} images is dominated by its sample-size bias (reliable from about {FID_MIN_RELIABLE_N}); "
                      "compare FIDs only at the same n, and prefer KID", FidSampleSizeWarning, stacklevel=2)
    if n > x.shape[1]:  # full-rank covariances: the usual route
        return {"fid": frechet_distance(*gaussian_fit(x), *gaussian_fit(y)), "fid_n": n}
    a, b = x - x.mean(axis=0), y - y.mean(axis=0)
    trace_a, trace_b = (a * a).sum() / (len(a) - 1), (b * b).sum() / (len(b) - 1)
    trace_root = linalg.svdvals(b @ a.T).sum() / np.sqrt((len(a) - 1) * (len(b) - 1))
    diff = x.mean(axis=0) - y.mean(axis=0)
    return {"fid": float(diff @ diff + trace_a + trace_b - 2.0 * trace_root), "fid_n": n}


def _kth_neighbour_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Each row's Euclidean distance to its k-th nearest other row."""
    if not 1 <= k < len(features):
        raise ValueError(f"k={k} nearest neighbours need more than {k} samples, got {len(features)}")
    distances = cdist(features, features)
    return np.sort(distances, axis=1)[:, k]  # column 0 is the row itself (distance 0)


def precision_recall(real, fake, *, k: int = PRECISION_RECALL_K) -> dict[str, float]:
    """Kynkaanniemi et al. 2019: ``precision`` = share of fake samples inside the real manifold (the
    union of balls around each real sample reaching its k-th nearest real neighbour); ``recall`` =
    share of real samples inside the fake manifold built the same way."""
    x, y = _check_pair(real, fake)
    cross = cdist(x, y)  # (real, fake)
    real_radii, fake_radii = _kth_neighbour_radii(x, k), _kth_neighbour_radii(y, k)
    precision = (cross <= real_radii[:, None]).any(axis=0).mean()
    recall = (cross <= fake_radii[None, :]).any(axis=1).mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real, fake, *, k: int = DENSITY_COVERAGE_K) -> dict[str, float]:
    """Naeem et al. 2020, on the real samples' k-NN balls only (robust to fake outliers): ``density``
    = how many real balls hold each fake sample on average, over k (about 1 when the two match,
    above 1 for fakes crowded where the real data is dense); ``coverage`` = share of real balls
    holding at least one fake sample."""
    x, y = _check_pair(real, fake)
    inside = cdist(x, y) <= _kth_neighbour_radii(x, k)[:, None]  # (real, fake)
    return {"density": float(inside.sum() / (k * len(y))), "coverage": float(inside.any(axis=1).mean())}


def memorisation(fake, train) -> dict[str, float]:
    """MiFID's memorisation term: for each fake sample the cosine distance 1 - |cos| to its nearest
    training sample of the target domain. Returns ``memorisation_distance`` (their mean, MiFID's d)
    and ``memorisation_min`` (the closest single copy). Near 0: the generator returns training images."""
    y, t = check_features(fake, "fake"), check_features(train, "train")
    if y.shape[1] != t.shape[1]:
        raise ValueError(f"fake and train features differ in dimension: {y.shape[1]} vs {t.shape[1]}")
    nearest = (1.0 - np.abs(1.0 - cdist(y, t, metric="cosine"))).min(axis=1)  # cdist gives 1 - cos
    return {"memorisation_distance": float(nearest.mean()), "memorisation_min": float(nearest.min())}


def quality_scores(real, fake, train=None, *, seed: int = 0, warn: bool = True) -> dict[str, float | int]:
    """Every measure above in one flat dict: kid, kid_std, kid_subset_size, fid, fid_n, precision,
    recall, density, coverage (NaN when a set has no more samples than their k), and with ``train``
    memorisation_distance and memorisation_min."""
    scores: dict[str, float | int] = {}
    scores.update(kid(real, fake, seed=seed))
    scores.update(fid(real, fake, warn=warn))
    # The k-NN measures need more than k samples per set; below that they are undefined (NaN), not an error,
    # so a tiny smoke run still gets KID and FID.
    n = min(len(real), len(fake))
    nan = float("nan")
    scores.update(precision_recall(real, fake) if n > PRECISION_RECALL_K else {"precision": nan, "recall": nan})
    scores.update(density_coverage(real, fake) if n > DENSITY_COVERAGE_K else {"density": nan, "coverage": nan})
    if train is not None:
        scores.update(memorisation(fake, train))
    return scores


def epochs_to_within_margin(curve, margin: float) -> int:
    """The first mini-epoch (1-based) from which a curve stays within ``margin`` (absolute, in the
    curve's units) of its final value: H1's convergence read on KID, whose final value may be near 0
    or negative, where a relative band would be meaningless."""
    values = np.asarray(curve, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("curve must be a non-empty 1-D array of finite values (one per evaluated mini-epoch)")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    outside = np.flatnonzero(np.abs(values - values[-1]) > margin)
    return int(outside[-1] + 2) if outside.size else 1
