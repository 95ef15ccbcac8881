"""How many seeds a design needs: the non-central t power of the comparison and the exact test's floor.

The normal approximation understates small n (a standardised effect of 2 needs 4 seeds per arm by
z, 6 by t), and the exact stratified permutation test cannot go below its smallest p-value, however
large the effect: 2 / prod_s C(n_a,s + n_b,s, n_a,s) two-sided (the observed and the mirrored
relabeling), 1 / prod_s C(...) one-sided (the equivalence test). One stratum with 2 seeds per arm:
2/6; 3 seeds: 2/20.
"""
from __future__ import annotations

import math

import scipy.stats

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 1000


def exact_floor(seeds_per_arm: int, n_strata: int, *, two_sided: bool = True) -> float:
    """Smallest p-value the exact stratified permutation test can give (balanced: n seeds per arm and stratum)."""
    count = math.comb(2 * seeds_per_arm, seeds_per_arm) ** max(1, n_strata)
    return min(1.0, (2.0 if two_sided else 1.0) / count)


def comparison_power(d: float, seeds: int, n_strata: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided level-alpha t test of a stratified difference, standardised effect d.

    n = seeds x n_strata runs per arm, Var(D) = 2 sd^2 / n (equal weights), df = 2 n - 2 n_strata
    (residual df of the full-combination cells); T' ~ non-central t(df, d sqrt(n / 2)).
    """
    n = seeds * max(1, n_strata)
    df = 2 * n - 2 * max(1, n_strata)
    if df < 1:
        return 0.0
    ncp, crit = abs(d) * math.sqrt(n / 2), scipy.stats.t.ppf(1 - alpha / 2, df)
    return _tail(crit, df, ncp) + _finite(scipy.stats.nct.cdf(-crit, df, ncp), 0.0)


def _finite(x: float, fallback: float) -> float:
    return float(x) if math.isfinite(x) else fallback


def _tail(crit: float, df: int, ncp: float) -> float:
    """P(T' > crit) for T' ~ nct(df, ncp); SciPy returns NaN far in the tails (ncp >~ 37), where it is ~1 or ~0."""
    return _finite(scipy.stats.nct.sf(crit, df, ncp), 1.0 if ncp > crit else 0.0)


def bound_power(d: float, seeds: int, n_strata: int, alpha: float = ALPHA) -> float:
    """Power of the one-sided level-alpha t bound (cyclegan.analysis.bound), d = |mean - bound| / sd.

    n = seeds x n_strata runs at the level, se = sd / sqrt(n), df = n - n_strata (pooled within strata).
    """
    n = seeds * max(1, n_strata)
    df = n - max(1, n_strata)
    if df < 1:
        return 0.0
    return _tail(float(scipy.stats.t.ppf(1 - alpha, df)), df, abs(d) * math.sqrt(n))


def seeds_for(power_of, d: float, n_strata: int, *, alpha: float = ALPHA, power: float = POWER,
              floor_two_sided: bool | None = True) -> int | None:
    """Smallest seeds per cell (>= 2) whose `power_of(d, seeds, n_strata, alpha)` reaches `power` and
    whose exact-test floor (when `floor_two_sided` is not None) is <= alpha. None if d is 0/NaN or
    more than MAX_SEEDS would be needed."""
    if not (math.isfinite(d) and d > 0):
        return None
    for seeds in range(2, MAX_SEEDS + 1):
        if floor_two_sided is not None and exact_floor(seeds, n_strata, two_sided=floor_two_sided) > alpha:
            continue
        if power_of(d, seeds, n_strata, alpha) >= power:
            return seeds
    return None
