"""Does a factor's effect differ between strata? A heterogeneity test and per-stratum effects.

Test: Cochran's Q on the per-stratum differences d_s with the POOLED within-cell variance,
Q = sum_s w_s (d_s - D)^2 / s_w^2, w_s = n_a,s n_b,s / (n_a,s + n_b,s) (the weights of D), referred
as Q / (S - 1) to F(S - 1, df_within). Why this form:
- per-stratum variances from 2-3 seeds are so noisy (1-2 df each) that Q with them is badly
  anti-conservative; the pooled s_w (the Hedges' g denominator, df = N - cells) is the variance the
  factorial design estimates well;
- with the variance estimated, Q / (S - 1) is F-distributed under normal noise, not chi-square: this is
  the factor x stratum interaction F test of the two-way ANOVA, exact in a balanced design;
- it tests differences in the effect itself, which is what "the claim holds only in some strata"
  means, while a permutation of the interaction is approximate (Freedman-Lane) and costlier.
Per-stratum effects get the matching t interval d_s +- t(df_within) s_w / sqrt(w_s).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import scipy.stats

from cyclegan.analysis.rules import LEVEL
from cyclegan.analysis.stats import Effect


@dataclass(frozen=True)
class StratumEffect:
    key: tuple  # levels of the other factors, in Effect.other_factors order
    label: str  # "factor=level, ..." (short factor names)
    difference: float
    ci_low: float  # 95% t interval with the pooled SD
    ci_high: float
    n_a: int
    n_b: int


@dataclass(frozen=True)
class Heterogeneity:
    q: float
    df: int  # S - 1
    p_value: float  # F(S - 1, df_within) tail of Q / (S - 1); NaN when undefined
    strata: tuple[StratumEffect, ...]


def _label(factors, key) -> str:
    return ", ".join(f"{f.rsplit('.', 1)[-1]}={k}" for f, k in zip(factors, key, strict=True)) or "all runs"


def heterogeneity(effect: Effect, level: float = LEVEL) -> Heterogeneity:
    """Q test of equal effects across `effect.strata` and every stratum's effect with its CI."""
    sd, dfw = effect.sd_within, effect.df_within
    t = float(scipy.stats.t.ppf((1 + level) / 2, dfw)) if dfw >= 1 else float("nan")
    rows = []
    for s in effect.strata:
        half = t * sd / math.sqrt(s.weight) if sd == sd and dfw >= 1 else float("nan")
        rows.append(StratumEffect(s.key, _label(effect.other_factors, s.key), s.difference, s.difference - half,
                                  s.difference + half, len(s.a), len(s.b)))
    k = len(effect.strata)
    if k < 2 or not (sd > 0) or dfw < 1:
        return Heterogeneity(float("nan"), max(0, k - 1), float("nan"), tuple(rows))
    q = sum(s.weight * ((s.difference - effect.difference) / sd) ** 2 for s in effect.strata)  # in SDs: unit-free
    p = float(scipy.stats.f.sf(q / (k - 1), k - 1, dfw))
    return Heterogeneity(float(q), k - 1, p, tuple(rows))
