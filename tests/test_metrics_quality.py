"""KID, FID, precision/recall, density/coverage and memorisation on features whose answer is known,
each checked against an independent implementation of its formula written here (loops or other algebra)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from cyclegan.metrics.quality import (
    FID_MIN_RELIABLE_N,
    FidSampleSizeWarning,
    density_coverage,
    epochs_to_within_margin,
    fid,
    frechet_distance,
    kid,
    kid_subset_size,
    memorisation,
    mmd2_unbiased,
    precision_recall,
    quality_scores,
)


def _naive_mmd2(x, y) -> float:
    """Binkowski et al.'s unbiased MMD^2 as a sum over pairs, kernel written out per pair."""
    d = len(x[0])

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b, strict=True)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def _fid_by_eigenvalues(x, y) -> float:
    """Tr((C_a C_b)^(1/2)) = sum of sqrt(eigenvalues of C_a^(1/2) C_b C_a^(1/2)) (symmetric, so eigh), not sqrtm."""
    mu_a, mu_b = x.mean(0), y.mean(0)
    c_a = (x - mu_a).T @ (x - mu_a) / (len(x) - 1)
    c_b = (y - mu_b).T @ (y - mu_b) / (len(y) - 1)
    w, v = np.linalg.eigh(c_a)
    root_a = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ c_b @ root_a)
    inner[inner < 1e-10 * inner.max()] = 0.0  # rounding noise of the zero eigenvalues (rank-deficient covariances)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(c_a) + np.trace(c_b) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None))))


def _dist(a, b) -> float:
    return math.sqrt(sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True)))


def _kth_radius(points, i, k) -> float:
    return sorted(_dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]


def test_mmd2_matches_a_pairwise_loop_to_1e_6():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.3, 1.2, size=(9, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(_naive_mmd2(x.tolist(), y.tolist()), abs=1e-6)


def test_kid_with_whole_sets_as_subsets_is_the_full_estimate():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)), rng.normal(0.5, 1.0, size=(10, 4))
    scores = kid(x, y, subsets=5, subset_size=10)  # every subset is the whole set, reordered
    assert scores["kid"] == pytest.approx(_naive_mmd2(x.tolist(), y.tolist()), abs=1e-6)
    assert scores["kid_std"] == pytest.approx(0.0, abs=1e-9)


def test_kid_of_one_distribution_is_about_zero_and_sometimes_negative():
    rng = np.random.default_rng(2)
    values = [kid(rng.normal(size=(64, 16)), rng.normal(size=(64, 16)), seed=s)["kid"] for s in range(20)]
    shifted = kid(rng.normal(size=(64, 16)), rng.normal(0.5, 1.0, size=(64, 16)))["kid"]
    assert min(values) < 0  # unbiased: negative estimates occur
    assert abs(np.mean(values)) < 0.1 * shifted


def test_kid_and_fid_grow_with_a_planted_shift():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 8))
    base = rng.normal(size=(200, 8))
    kids = [kid(real, base + shift)["kid"] for shift in (0.0, 0.25, 0.5, 1.0)]
    fids = [fid(real, base + shift, warn=False)["fid"] for shift in (0.0, 0.25, 0.5, 1.0)]
    assert kids == sorted(kids) and kids[-1] > 10 * abs(kids[0])
    assert fids == sorted(fids) and fids[-1] > 10 * fids[0]


def test_fid_matches_an_eigenvalue_formula_to_1e_6():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    y = rng.normal(0.4, 1.0, size=(250, 6)) @ rng.normal(size=(6, 6))
    assert fid(x, y, warn=False)["fid"] == pytest.approx(_fid_by_eigenvalues(x, y), abs=1e-6)


def test_fid_with_fewer_images_than_dimensions_matches_the_eigenvalue_formula():
    # 30 and 25 images of 60 features: rank-deficient covariances, as at 64 images of 2048 Inception features.
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(30, 60)), rng.normal(0.2, 1.5, size=(25, 60))
    assert fid(x, y, warn=False)["fid"] == pytest.approx(_fid_by_eigenvalues(x, y), abs=1e-6)


def test_frechet_distance_of_known_gaussians():
    # Diagonal covariances commute: Tr(C_a + C_b - 2 sqrt(C_a C_b)) = sum (sqrt(a_i) - sqrt(b_i))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mean_b = np.array([1.0, 2.0, 0.0])
    expected = 1 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(np.zeros(3), np.diag(a), mean_b, np.diag(b)) == pytest.approx(expected, abs=1e-9)


def test_fid_reports_n_and_warns_below_the_reliable_size():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(64, 2048)), rng.normal(size=(80, 2048))  # fewer images than dimensions
    with pytest.warns(FidSampleSizeWarning, match="64 images"):
        scores = fid(x, y)
    assert scores["fid_n"] == 64 and math.isfinite(scores["fid"])
    big = rng.normal(size=(FID_MIN_RELIABLE_N, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid(big, big + 0.1)


def test_precision_recall_match_a_loop_and_catch_a_collapsed_generator():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(40, 3))
    fake = rng.normal(0.3, 1.0, size=(30, 3))
    scores = precision_recall(real, fake, k=3)
    r_real = [_kth_radius(real, i, 3) for i in range(len(real))]
    r_fake = [_kth_radius(fake, j, 3) for j in range(len(fake))]
    precision = np.mean([any(_dist(f, real[i]) <= r_real[i] for i in range(len(real))) for f in fake])
    recall = np.mean([any(_dist(r, fake[j]) <= r_fake[j] for j in range(len(fake))) for r in real])
    assert scores == pytest.approx({"precision": precision, "recall": recall}, abs=1e-12)
    # A collapsed generator: every output near one real sample -> faithful but not diverse.
    collapsed = real[0] + 0.01 * rng.normal(size=(30, 3))
    caught = precision_recall(real, collapsed)
    assert caught["precision"] >= 0.9 and caught["recall"] <= 0.2
    healthy = precision_recall(real, rng.normal(size=(40, 3)))
    assert healthy["recall"] >= 0.6


def test_density_coverage_match_a_loop_and_catch_a_collapsed_generator():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(35, 3)), rng.normal(0.2, 1.0, size=(25, 3))
    scores = density_coverage(real, fake, k=5)
    radii = [_kth_radius(real, i, 5) for i in range(len(real))]
    inside = [[_dist(f, real[i]) <= radii[i] for f in fake] for i in range(len(real))]
    density = sum(sum(row) for row in inside) / (5 * len(fake))
    coverage = np.mean([any(row) for row in inside])
    assert scores == pytest.approx({"density": density, "coverage": coverage}, abs=1e-12)
    collapsed = density_coverage(real, real[0] + 0.01 * rng.normal(size=(25, 3)))
    healthy = density_coverage(real, rng.normal(size=(35, 3)))
    # Only the balls around real[0] and its nearest neighbours hold the collapsed outputs.
    assert collapsed["coverage"] <= 0.3 and healthy["coverage"] >= 0.8


def test_memorisation_flags_a_generator_that_returns_training_images():
    rng = np.random.default_rng(8)
    train, fresh = rng.normal(size=(50, 32)), rng.normal(size=(20, 32))
    copies = train[:20] * 1.5  # the same images (cosine ignores the scale)
    honest, copying = memorisation(fresh, train), memorisation(copies, train)
    assert copying["memorisation_distance"] == pytest.approx(0.0, abs=1e-9)
    assert honest["memorisation_distance"] > 0.3
    # An independent loop: 1 - |cos| to the nearest training vector.
    expected = np.mean([min(1 - abs(np.dot(f, t)) / (np.linalg.norm(f) * np.linalg.norm(t)) for t in train) for f in fresh])
    assert honest["memorisation_distance"] == pytest.approx(expected, abs=1e-9)


def test_quality_scores_has_every_key_and_bad_input_is_named():
    rng = np.random.default_rng(9)
    scores = quality_scores(rng.normal(size=(20, 4)), rng.normal(size=(20, 4)), rng.normal(size=(30, 4)), warn=False)
    assert set(scores) == {"kid", "kid_std", "kid_subset_size", "fid", "fid_n", "precision", "recall", "density",
                           "coverage", "memorisation_distance", "memorisation_min"}
    assert scores["kid_subset_size"] == kid_subset_size(20, 20) == 10
    tiny = quality_scores(rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), warn=False)  # too few for k = 5
    assert math.isnan(tiny["density"]) and math.isfinite(tiny["precision"]) and math.isfinite(tiny["kid"])
    with pytest.raises(ValueError, match="real: features contain NaN"):
        kid(np.full((4, 2), np.nan), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="differ in dimension"):
        fid(np.zeros((4, 2)), np.zeros((4, 3)))


def test_epochs_to_within_margin_on_a_negative_final_value():
    curve = [0.5, 0.2, 0.02, -0.01, 0.005, -0.002]
    assert epochs_to_within_margin(curve, 0.01) == 4  # from mini-epoch 4 on within 0.01 of -0.002
    assert epochs_to_within_margin(curve, 1.0) == 1
    with pytest.raises(ValueError):
        epochs_to_within_margin([], 0.1)
