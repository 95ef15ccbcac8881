"""Convergence of a loss curve over mini-epochs (H1: pretrained encoders converge faster)."""

from __future__ import annotations

import numpy as np


def _check_curve(curve) -> np.ndarray:
    arr = np.asarray(curve, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"curve must be 1-D (one value per mini-epoch), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("curve is empty")
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr)) + 1
        raise ValueError(f"curve contains NaN or infinite values at mini-epochs {bad.tolist()}")
    return arr


def area_under_curve(curve) -> float:
    """Trapezoidal area under a loss curve with unit spacing in mini-epochs.

    Args:
        curve: 1-D array, one finite loss value per mini-epoch (length >= 1).
    Returns:
        Area in loss x mini-epochs; 0 for a single point. Lower means faster/lower training.
    """
    return float(np.trapezoid(_check_curve(curve), dx=1.0))


def epochs_to_within(curve, tolerance: float = 0.1, *, stay: bool = False) -> int:
    """The first mini-epoch (1-based) at which the loss is within `tolerance` of its final value.

    DESIGN: "the first mini-epoch at which the cycle loss is within 10% of its final value",
    implemented literally: the first i with |curve[i] - final| <= tolerance * |final|, where
    final is the last value (the curve's actual end point, not a smoothed one, so the answer is
    exact and reproducible for a given history). The last mini-epoch always qualifies, so the
    result is in 1..len(curve).

    With stay=True it is instead the first mini-epoch from which the curve never leaves the band
    again, which is robust to an early dip through the band on a noisy curve.

    Args:
        curve: 1-D array, one finite loss value per mini-epoch.
        tolerance: relative band half-width (0.1 = 10%), >= 0.
        stay: require the curve to stay in the band until the end.
    Returns:
        Mini-epoch number, 1-based.
    """
    arr = _check_curve(curve)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    final = arr[-1]
    inside = np.abs(arr - final) <= tolerance * abs(final)
    if stay:
        outside = np.flatnonzero(~inside)
        return int(outside[-1] + 2) if outside.size else 1
    return int(np.argmax(inside) + 1)


def epochs_to_fraction_of_start(curve, fraction: float = 0.5) -> float:
    """Convergence SPEED that stays meaningful before a plateau: mini-epochs until the loss first falls
    to ``fraction`` of its first-mini-epoch value (linear interpolation between mini-epochs).

    The area under a still falling curve mixes "faster" with "lower", and "within 10% of the final value"
    needs a final value the run has not reached yet. A fixed fraction of the run's own starting loss is
    reached (or not) independently of how long training continues afterwards: once a run has got there,
    the figure never changes, so the measure computed on the first t mini-epochs of a longer run is the
    same as on the full run.

    Args:
        curve: 1-D array, one finite positive loss value per mini-epoch (length >= 1).
        fraction: target as a fraction of curve[0], in (0, 1).
    Returns:
        Fractional mini-epoch number (1-based, >= 1); NaN when the curve never gets there within its
        length (the comparison then drops the run and counts it: "not reached within the budget").
    """
    arr = _check_curve(curve)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    target = fraction * arr[0]
    below = np.flatnonzero(arr <= target)
    if not below.size:
        return float("nan")
    i = int(below[0])
    if i == 0:  # a start at or below zero: already there
        return 1.0
    prev, cur = arr[i - 1], arr[i]
    return float(i + (prev - target) / (prev - cur))  # 1-based: arr[i-1] is mini-epoch i


def convergence_measures(curve) -> dict[str, float]:
    """Every convergence/* figure of a cycle-loss curve (one value per mini-epoch, oldest first)."""
    return {
        "convergence/cycle_auc": area_under_curve(curve),
        "convergence/cycle_epochs_to_10pct": float(epochs_to_within(curve, 0.1)),
        "convergence/cycle_epochs_to_half": epochs_to_fraction_of_start(curve, 0.5),
    }
