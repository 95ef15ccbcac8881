"""How many seeds a design needs: the exact test's floor, and the power of the whole verdict rule.

The exact stratified permutation test cannot go below its smallest p-value, however large the effect
(`smallest_exact_p`): with count = prod_s C(n_a,s + n_b,s, n_a,s) relabelings, 2 / count two-sided when
every stratum is balanced (the observed and the mirrored relabeling are equally extreme), 1 / count when
a stratum is not (a failed run: no mirror) and 1 / count one-sided (the equivalence test). One stratum
with 2 seeds per arm: 2/6; 3 seeds: 2/20; 2 vs 5: 1/21. Integer arithmetic: the count of a large design
has hundreds of digits, and a float division by it would overflow.

A decision needs the WHOLE rule (cyclegan.analysis.verdict): p <= alpha, |g| >= MIN_G and
|diff| >= threshold, or equivalence (TOST p <= alpha that |diff| < threshold). `rule_power` is the
probability of a decision for a true standardised effect, simulated (seeded, so the same answer every
time) from the sufficient statistics of a balanced design under normal noise: D ~ N(delta, 2/n),
SSE ~ chi2(df) independently, with t tests in place of the permutation tests (which they approach) and
each test unable to pass when the exact test's floor is above alpha. In a family (Holm, BH) alpha is the
level the hypothesis's RAW p must reach there (cyclegan.analysis.family.family_level), not ALPHA: a design
whose floor lies between the two decides alone but never in its family. `seeds_needed` answers None when no
number of seeds decides the effect (`undecidable`): |delta| < MIN_G rules out a confirmation as n grows
(g tends to delta), and |delta| >= threshold / sd rules out equivalence.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import scipy.special
import scipy.stats

from cyclegan.analysis.rules import ALPHA, MIN_G, POWER

MAX_SEEDS = 1024
SIMULATIONS = 4000


def smallest_exact_p(sizes: Sequence[tuple[int, int]], *, two_sided: bool = True) -> float:
    """Smallest p-value the exact stratified permutation test can give with these (n_a, n_b) per stratum
    (for data without ties; ties only raise it)."""
    count = math.prod(math.comb(na + nb, na) for na, nb in sizes) if sizes else 1
    mirrored = two_sided and all(na == nb for na, nb in sizes)
    return float(min(Fraction(1), Fraction(2 if mirrored else 1, count)))


def exact_floor(seeds_per_arm: int, n_strata: int, *, two_sided: bool = True) -> float:
    """`smallest_exact_p` of a balanced design: n seeds per arm in each of n_strata strata."""
    return smallest_exact_p([(seeds_per_arm, seeds_per_arm)] * max(1, n_strata), two_sided=two_sided)


def comparison_power(d: float, seeds: int, n_strata: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided level-alpha t test alone of a stratified difference, standardised effect d.

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


def rule_power(d: float, tau: float, seeds: int, n_strata: int, *, alpha: float = ALPHA, min_g: float = MIN_G,
               simulations: int = SIMULATIONS, seed: int = 0, alpha_refute: float | None = None) -> float:
    """Probability that the whole verdict rule decides (confirms, refutes or finds equivalence) when the
    true standardised effect is `d` and the threshold is `tau` SDs (see the module text).

    `alpha`, `alpha_refute`: the levels the raw p of the difference test and of the equivalence test must
    reach (in a family they are below ALPHA: cyclegan.analysis.family.family_level; `alpha_refute`
    defaults to `alpha`)."""
    alpha_eq = alpha if alpha_refute is None else alpha_refute
    s = max(1, n_strata)
    n = seeds * s
    df = 2 * n - 2 * s
    if df < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    diff = abs(d) + rng.standard_normal(simulations) * math.sqrt(2 / n)
    sd = np.sqrt(rng.chisquare(df, simulations) / df)
    se = sd * math.sqrt(2 / n)
    j = math.exp(scipy.special.gammaln(df / 2) - scipy.special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    decided = np.zeros(simulations, dtype=bool)
    if exact_floor(seeds, s) <= alpha:
        p = 2 * scipy.stats.t.sf(np.abs(diff) / se, df)
        decided |= (p <= alpha) & (j * np.abs(diff) / sd >= min_g) & (np.abs(diff) >= tau)
    if tau > 0 and exact_floor(seeds, s, two_sided=False) <= alpha_eq:
        p_eq = np.maximum(scipy.stats.t.cdf((diff - tau) / se, df), scipy.stats.t.sf((diff + tau) / se, df))
        decided |= p_eq <= alpha_eq
    return float(decided.mean())


def undecidable(d: float, tau: float, *, min_g: float = MIN_G) -> str:
    """Why no number of seeds lets the rule decide an effect of `d` SDs with threshold `tau` SDs ("" if some does)."""
    if math.isfinite(d) and abs(d) >= min_g and abs(d) >= tau:
        return ""
    if math.isfinite(d) and abs(d) < tau:
        return ""
    return (f"no number of seeds would settle it: an effect of {abs(d):.2g} SD can never reach |g| >= {min_g}, and it is "
            f"not inside the threshold ({tau:.2g} SD) for equivalence")


def seeds_to_decide(d: float, tau: float, n_strata: int, *, alpha: float = ALPHA, min_g: float = MIN_G,
                    power: float = POWER, alpha_refute: float | None = None) -> int | None:
    """Smallest seeds per cell (>= 2) at which `rule_power` reaches `power`; None when the effect is
    undecidable or more than MAX_SEEDS would be needed. Doubling, then bisection (the power rises with n
    once the rule's limits are met)."""
    if not math.isfinite(d) or undecidable(d, tau, min_g=min_g):
        return None
    ok = lambda seeds: rule_power(d, tau, seeds, n_strata, alpha=alpha, min_g=min_g,  # noqa: E731
                                  alpha_refute=alpha_refute) >= power
    low, high = 1, 2
    while not ok(high):
        low, high = high, high * 2
        if high > MAX_SEEDS:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid, high)
    return high


def seeds_for(power_of, d: float, n_strata: int, *, alpha: float = ALPHA, power: float = POWER,
              floor_two_sided: bool | None = True) -> int | None:
    """Smallest seeds per cell (>= 2) whose `power_of(d, seeds, n_strata, alpha)` reaches `power` and
    whose exact-test floor (when `floor_two_sided` is not None) is <= alpha. None if d is 0/NaN or
    more than MAX_SEEDS would be needed. (The bound rule: its t bound is the whole rule.)"""
    if not (math.isfinite(d) and d > 0):
        return None
    for seeds in range(2, MAX_SEEDS + 1):
        if floor_two_sided is not None and exact_floor(seeds, n_strata, two_sided=floor_two_sided) > alpha:
            continue
        if power_of(d, seeds, n_strata, alpha) >= power:
            return seeds
    return None
