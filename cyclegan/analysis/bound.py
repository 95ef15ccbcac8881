"""Bound claims: "at level L the metric stays below (or above) B", e.g. "with instance norm no grid is left".

The estimate is the level's mean over strata of the other factors with EQUAL weights (each stratum
is one condition the claim speaks about; a stratum with more finished runs must not count more),
the seed (run) being the unit: m = mean_s xbar_s.

Interval: one-sided 95% Student-t bound with the within-stratum variance pooled over strata,
se = s_p sqrt(sum_s 1/n_s) / S, df = N - S. Why t and not the alternatives:
- an exact sign-flip test of the runs around B has a floor of 1/2^n one-sided: 3 seeds give 1/8,
  so with the studies' 2-3 seeds per cell it could never decide, whatever the data;
- a percentile bootstrap of 2-3 runs per cell undercovers badly (its spread is the sample's,
  which understates the population's by sqrt((n-1)/n) and ignores the t tail);
- the t bound is exact for normal run-to-run noise and robust for means of moderately skewed
  values; pooling keeps df = N - S instead of the 1 df a two-run stratum would have alone.
Confirmed when the upper (for `below`) bound is below B; refuted when the lower bound is above
it (each a one-sided 5% test); inconclusive otherwise.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from cyclegan.analysis.rules import ALPHA
from cyclegan.analysis.stats import pooled_sd, rows_at


@dataclass(frozen=True)
class LevelMean:
    factor: str
    level: str
    metric: str
    mean: float  # equal-weight mean of the stratum means
    lower: float  # one-sided (1 - alpha) lower bound
    upper: float  # one-sided (1 - alpha) upper bound
    se: float
    sd_within: float  # pooled within-stratum SD
    df: int  # N - S
    n: int  # runs used
    n_strata: int
    n_nan_dropped: int
    strata: tuple[tuple[tuple, float, int], ...]  # (stratum key, mean, runs)


def level_mean(df: pd.DataFrame, factor: str, level: str, metric: str, other_factors: Sequence[str] = (),
               *, alpha: float = ALPHA) -> LevelMean:
    """Equal-weight stratified mean of `metric` at `factor` = `level` with one-sided t bounds.

    `df`: one row per finished run (factor columns compared as strings, float metric column).
    """
    others = [f for f in other_factors if f != factor]
    sub = rows_at(df, {factor: level})
    finite = np.isfinite(pd.to_numeric(sub[metric], errors="coerce").to_numpy(float))  # inf is dropped like NaN
    n_nan = int((~finite).sum())
    sub = sub[finite]
    groups = sub.groupby([sub[f].astype(str) for f in others], sort=True) if others else [((), sub)]
    strata, values, n = [], [], 0
    for key, g in groups:
        x = g[metric].to_numpy(float)
        if not len(x):
            continue
        strata.append((tuple(key) if isinstance(key, tuple) else (key,), float(x.mean()), len(x)))
        values.append(x)
        n += len(x)
    s = len(strata)
    nan = float("nan")
    if not s:
        return LevelMean(factor, str(level), metric, nan, nan, nan, nan, nan, 0, 0, 0, n_nan, ())
    mean = float(np.mean([m for _, m, _ in strata]))
    df_w = n - s
    if df_w < 1:
        return LevelMean(factor, str(level), metric, mean, nan, nan, nan, nan, df_w, n, s, n_nan, tuple(strata))
    sd = pooled_sd(values, df_w)
    se = sd * math.sqrt(sum(1.0 / k for _, _, k in strata)) / s
    half = float(scipy.stats.t.ppf(1 - alpha, df_w)) * se
    return LevelMean(factor, str(level), metric, mean, mean - half, mean + half, se, sd, df_w, n, s, n_nan,
                     tuple(strata))
