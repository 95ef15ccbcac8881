"""Statistics primitives for factorial ablations: the seed (run) is the unit of replication.

A factor's effect is estimated *within strata* of the other factors (one stratum per combination of
their levels), so a big effect of another factor can neither fake nor hide it. Choices, stated once:

- Point estimate: D = sum_s w_s (mean_a,s - mean_b,s) / sum_s w_s with precision weights
  w_s = n_a,s n_b,s / (n_a,s + n_b,s) (inverse of the difference's variance under a common SD; equal
  weights in a balanced design). Strata lacking one of the two levels are dropped and counted.
- p-value: exact stratified permutation test of D (labels permuted within strata only; all
  prod_s C(n_s, n_a,s) relabelings enumerated when <= max_exact, else seeded Monte Carlo with
  p = (1 + k) / (1 + B)). Two-sided: P(|D*| >= |D|).
- CI: t interval D +- t(df_w) s_w / sqrt(sum_s w_s) with the pooled within-cell SD s_w of Hedges' g
  (Var(D) = s_w^2 sum_s (w_s/W)^2 (1/n_a,s + 1/n_b,s) = s_w^2 / W). Exact coverage for normal noise with a
  common SD at any size; the percentile bootstrap it replaces covered ~79% at 3 vs 3 (its spread is the
  sample's, not the population's), measured in tests/test_stats_findings.py.
- Ties: relabelings with equal exact sums differ by float rounding. Each stratum is centred before the
  statistic is formed (D is unchanged by a per-stratum shift, so a common offset such as 1e8 leaves only
  the rounding of the values themselves) and ties are judged with a tolerance proportional to the data's
  own spread plus the rounding of their magnitude (`_tie_tolerance`); both scale with the units, so a
  metric multiplied by 1e-12 or 1e12 or shifted by 1e8 gets the same p. Exact rational arithmetic would
  not do: 1e8 + 0.1 and 1e8 + 1.1 are stored with different rounding, and the ties the data mean would
  break; ranks would change the test.
- Non-finite values (NaN, +-inf) are dropped and counted per level (inf - inf is NaN, and every comparison
  with it is False, which would give p = 0); the verdict refuses to decide when the two levels lost
  different numbers of runs (cyclegan.analysis.verdict.selection_bias: e.g. censored convergence times).
- P(A > B): McGraw & Wong's common-language effect size under normal noise with a common SD,
  Phi(D / (s_w sqrt 2)), and its 95% interval Phi(delta / sqrt 2) with delta's interval from inverting
  the non-central t of D / se: point and interval from one model. The empirical share of run pairs won
  is kept beside it in words (`pairs_won` of `pairs`): at 2-3 seeds it is often exactly 0 or 1, outside
  the model's interval.
- Hedges' g = J(df) * D / s_w, s_w = sqrt(SSE / df), SSE = squared deviations from the cell means of the
  full factor combination (factor x other factors), df = N - n_cells; J(df) = Gamma(df/2) /
  (sqrt(df/2) Gamma((df-1)/2)) (exact small-sample correction, ~ 1 - 3/(4 df - 1)).
  s_w = 0 gives g = +-inf (every seed identical within cells: the effect is deterministic) or NaN when
  D = 0 too; df < 2 gives NaN. `g_note` says which.
- Equivalence: permutation TOST on the same relabelings. H0: delta >= T is tested by shifting level a
  by -T (T(x - T 1_a) = D - T because the weights sum to 1) and a one-sided permutation p; same for
  delta <= -T; p_equivalence = max of the two (exact under a location-shift model).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.special
import scipy.stats

from cyclegan.analysis.rules import LEVEL

MAX_EXACT = 200_000
MC_RESAMPLES = 20_000


def rows_at(df: pd.DataFrame, levels: Mapping[str, object]) -> pd.DataFrame:
    """The rows of `df` at these factor levels ({factor: level}; empty: all rows). Levels are compared
    as strings: factor columns hold YAML values (true, 0.5, "instance") that a study names as text."""
    for factor, level in levels.items():
        df = df[df[factor].astype(str) == str(level)]
    return df


@dataclass(frozen=True)
class Stratum:
    key: tuple  # levels of the other factors, in `other_factors` order
    a: np.ndarray = field(repr=False, compare=False)  # metric values at level a (non-finite dropped)
    b: np.ndarray = field(repr=False, compare=False)
    weight: float

    @property
    def difference(self) -> float:
        return float(self.a.mean() - self.b.mean())


@dataclass(frozen=True)
class Effect:
    factor: str
    levels: tuple[str, str]
    metric: str
    other_factors: tuple[str, ...]
    n_a: int  # runs used at level a (in strata holding both levels, metric not NaN)
    n_b: int
    n_strata: int
    n_nan_dropped: int  # runs at either level whose metric was not finite (NaN or +-inf)
    n_unmatched_dropped: int  # runs in strata that lack one of the two levels
    mean_a: float  # plain means of the used runs (for relative thresholds and display)
    mean_b: float
    difference: float  # stratified D (a - b); NaN if no stratum holds both levels
    ci_low: float
    ci_high: float
    p_value: float
    exact: bool
    n_relabelings: int  # enumerated (exact) or Monte Carlo draws
    hedges_g: float
    sd_within: float
    df_within: int
    g_note: str
    seed: int
    strata: tuple[Stratum, ...] = field(repr=False, compare=False)
    superiority: float = float("nan")  # P(a run at level a > a run at level b), normal model (see `superiority`)
    superiority_low: float = float("nan")  # its 95% interval (the same model)
    superiority_high: float = float("nan")
    pairs_won: float = float("nan")  # run pairs (a, b) of the same stratum with a > b, ties 1/2 (the empirical count)
    pairs: int = 0  # run pairs of the same stratum
    n_nan_a: int = 0  # of n_nan_dropped, the runs at level a (the rest at level b): unequal losses bias D
    n_nan_b: int = 0


def _tie_tolerance(centred: Sequence[np.ndarray], raw_magnitude: float, n_values: int) -> float:
    """How far apart two relabelings' statistics may be and still be the same value (float rounding).

    Scale-free on purpose (a p-value must not depend on the metric's units): rounding of the centred sums
    is ~eps x their spread, and the values carry ~eps x their own magnitude from before centring (a
    common offset of 1e8 rounds each value to ~1e-8). 1e-9 of the spread is far above the first and far
    below any difference a measurement can mean; the second term covers the offset's rounding with a
    margin of n_values (one rounding per value summed).
    """
    spread = max((float(np.max(np.abs(x))) for x in centred if x.size), default=0.0)
    return 1e-9 * spread + 8 * n_values * np.finfo(float).eps * raw_magnitude


def _null_distribution(strata: Sequence[Stratum], shift: float, max_exact: int, n_mc: int, seed: int):
    """Observed statistic, its permutation distribution with level a shifted by `shift`, and the tie tolerance.

    Returns (observed, null values, exact, tolerance). Exact null values include the identity
    relabeling; the observed value is the identity relabeling's, computed the same way as the others,
    so it always counts as at least as extreme as itself.
    """
    wsum = sum(s.weight for s in strata)
    count = math.prod(math.comb(len(s.a) + len(s.b), len(s.a)) for s in strata)
    exact = count <= max_exact
    rng = np.random.default_rng(seed)
    total = np.zeros(1 if exact else n_mc + 1)
    centred, magnitude, n_values = [], abs(shift), 0
    for s in strata:
        raw = np.concatenate([s.a, s.b])
        centre = float(np.median(raw))  # D does not change when a stratum is shifted; rounding does
        x = np.concatenate([s.a - centre + shift, s.b - centre])
        centred.append(x)
        magnitude, n_values = max(magnitude, float(np.max(np.abs(raw)))), n_values + len(raw)
        na, n = len(s.a), len(s.a) + len(s.b)
        if exact:
            idx = np.array(list(itertools.combinations(range(n), na)), dtype=int)  # identity first
        else:
            idx = np.vstack([np.arange(n), rng.permuted(np.tile(np.arange(n), (n_mc, 1)), axis=1)])[:, :na]
        sum_a = x[idx].sum(axis=1)
        contrib = s.weight / wsum * (sum_a / na - (x.sum() - sum_a) / (n - na))
        total = (total[:, None] + contrib[None, :]).ravel() if exact else total + contrib
    tol = _tie_tolerance(centred, magnitude, n_values)
    return float(total[0]), (total if exact else total[1:]), exact, tol


def _p(hits: np.ndarray, exact: bool) -> float:
    return float(hits.mean()) if exact else float((1 + hits.sum()) / (1 + hits.size))


def permutation_p(strata, *, max_exact=MAX_EXACT, n_mc=MC_RESAMPLES, seed=0) -> tuple[float, bool, int]:
    """Two-sided stratified permutation p-value of D. Returns (p, exact, n_relabelings)."""
    obs, null, exact, tol = _null_distribution(strata, 0.0, max_exact, n_mc, seed)
    return _p(np.abs(null) >= abs(obs) - tol, exact), exact, null.size


def equivalence_p(effect: Effect, threshold: float, *, max_exact=MAX_EXACT, n_mc=MC_RESAMPLES) -> float:
    """Permutation TOST p-value for |delta| < threshold (absolute metric units); small = equivalent."""
    if not effect.strata or not threshold > 0:
        return float("nan")
    up, null_up, exact, tol_up = _null_distribution(effect.strata, -threshold, max_exact, n_mc, effect.seed)
    lo, null_lo, _, tol_lo = _null_distribution(effect.strata, threshold, max_exact, n_mc, effect.seed)
    p_up = _p(null_up <= up + tol_up, exact)  # H0: delta >= threshold
    p_lo = _p(null_lo >= lo - tol_lo, exact)  # H0: delta <= -threshold
    return max(p_up, p_lo)


def t_interval(difference: float, strata: Sequence[Stratum], sd_within: float, df_within: int, *,
               level: float = LEVEL) -> tuple[float, float]:
    """Two-sided t interval of D: D +- t_{(1+level)/2}(df_w) s_w / sqrt(sum_s w_s) (see the module text).

    NaN without residual df; the point itself when s_w is 0 (no spread: the effect is deterministic)."""
    if df_within < 1 or not math.isfinite(sd_within) or not strata:
        return float("nan"), float("nan")
    half = float(scipy.stats.t.ppf((1 + level) / 2, df_within)) * sd_within / math.sqrt(sum(s.weight for s in strata))
    return difference - half, difference + half


def _noncentrality_interval(t_obs: float, df: int, level: float) -> tuple[float, float]:
    """The non-centrality parameters whose non-central t puts `t_obs` at its (1 +- level)/2 quantiles."""
    def solve(target: float) -> float:
        def f(nc: float) -> float:  # decreasing in nc; SciPy gives NaN far in the tails, where it is ~0 or ~1
            value = float(scipy.stats.nct.cdf(t_obs, df, nc))
            return (value if math.isfinite(value) else (0.0 if nc > t_obs else 1.0)) - target
        lo, hi = t_obs - 10.0, t_obs + 10.0
        while f(lo) < 0:
            lo -= 2 * (hi - lo)
        while f(hi) > 0:
            hi += 2 * (hi - lo)
        return float(scipy.optimize.brentq(f, lo, hi, xtol=1e-10))
    return solve((1 + level) / 2), solve((1 - level) / 2)


def pairs_won(strata: Sequence[Stratum]) -> tuple[float, int]:
    """(pairs won by level a, pairs): run pairs (a, b) of the same stratum with a > b, ties 1/2 (the
    Mann-Whitney U over strata), "a run of level a beat a run of level b in 7 of 9 pairs"."""
    pairs = sum(len(s.a) * len(s.b) for s in strata)
    wins = sum(float((s.a[:, None] > s.b[None, :]).sum() + 0.5 * (s.a[:, None] == s.b[None, :]).sum()) for s in strata)
    return wins, pairs


def superiority(strata: Sequence[Stratum], sd_within: float, df_within: int, *,
                level: float = LEVEL) -> tuple[float, float, float]:
    """P(A > B) under normal noise with a common SD: (point, low, high).

    P = Phi(delta / sqrt(2)) with delta = effect / SD (McGraw & Wong's common-language effect size). Point:
    delta estimated by D / s_w; interval: t = D / (s_w / sqrt(W)) is non-central t(df_w, delta sqrt(W)),
    whose inversion gives delta's exact interval. One model for both, so the point lies inside its interval
    (the empirical share of pairs won, `pairs_won`, is 0 or 1 whenever the arms do not overlap, which the
    model's interval excludes). Without spread (s_w = 0) the point is 1 or 0 (every pair is won or lost,
    deterministically; 1/2 without a difference) and the interval NaN; without residual df all NaN."""
    nan = float("nan")
    if not strata or df_within < 1 or not math.isfinite(sd_within):
        return nan, nan, nan
    w = sum(s.weight for s in strata)
    d = sum(s.weight * s.difference for s in strata) / w
    if not sd_within > 0:
        return (0.5 if d == 0 else float(d > 0)), nan, nan
    to_p = lambda delta: float(scipy.stats.norm.cdf(delta / math.sqrt(2)))  # noqa: E731
    nc_lo, nc_hi = _noncentrality_interval(d / (sd_within / math.sqrt(w)), df_within, level)
    return to_p(d / sd_within), to_p(nc_lo / math.sqrt(w)), to_p(nc_hi / math.sqrt(w))


def pooled_sd(groups: Sequence[np.ndarray], df: int) -> float:
    """sqrt(sum of squared deviations from each group's mean / df), unit-free: the deviations are
    divided by the largest before squaring, so values near 1e-170 or 1e160 neither underflow to a
    zero SD (an infinite g) nor overflow to an infinite one (a zero g)."""
    deviations = [c - c.mean() for c in groups if len(c)]
    scale = max((float(np.max(np.abs(d))) for d in deviations), default=0.0)
    if scale == 0.0:
        return 0.0
    return scale * math.sqrt(sum(float(((d / scale) ** 2).sum()) for d in deviations) / df)


def hedges_g(difference: float, cells: Sequence[np.ndarray]) -> tuple[float, float, int, str]:
    """Hedges' g from D and the runs of every full-combination cell. Returns (g, s_w, df, note)."""
    n = sum(len(c) for c in cells)
    df = n - len(cells)
    if df < 2:
        return float("nan"), float("nan"), df, f"g undefined: {df} residual df (< 2; need replicated cells)"
    sd = pooled_sd(cells, df)
    if sd == 0.0:
        if difference == 0.0:
            return float("nan"), 0.0, df, "g undefined: zero within-cell variance and zero difference"
        return math.copysign(math.inf, difference), 0.0, df, "g infinite: zero within-cell variance"
    j = math.exp(scipy.special.gammaln(df / 2) - scipy.special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return j * difference / sd, sd, df, ""


def _usable(df: pd.DataFrame, factor: str, levels: Sequence, metric: str) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The runs at the two levels with a finite metric, and how many of each level were not finite."""
    lv = [str(x) for x in levels]
    sub = df[df[factor].astype(str).isin(lv)].copy()
    sub[factor] = sub[factor].astype(str)
    finite = np.isfinite(pd.to_numeric(sub[metric], errors="coerce").to_numpy(float))
    lost = sub.loc[~finite, factor]
    return sub[finite], (int((lost == lv[0]).sum()), int((lost == lv[1]).sum()))


def stratified_effect(df: pd.DataFrame, factor: str, levels: Sequence, metric: str,
                      other_factors: Sequence[str] = (), *, seed: int = 0, max_exact: int = MAX_EXACT,
                      n_mc: int = MC_RESAMPLES) -> Effect:
    """Effect of `factor` (levels[0] minus levels[1]) on `metric`, compared within strata of `other_factors`.

    `df`: one row per finished run, factor columns (levels compared as strings) and float metric columns.
    Runs at other levels of `factor` are ignored; non-finite metrics (NaN, +-inf) are dropped and counted.
    """
    if len(levels) != 2 or str(levels[0]) == str(levels[1]):
        raise ValueError(f"levels must be two distinct levels of {factor!r}, got {levels!r}")
    la, lb = str(levels[0]), str(levels[1])
    others = tuple(f for f in other_factors if f != factor)
    sub, (nan_a, nan_b) = _usable(df, factor, levels, metric)
    n_nan = nan_a + nan_b
    strata, cells, unmatched = [], [], 0
    groups = sub.groupby([sub[f].astype(str) for f in others], sort=True) if others else [((), sub)]
    for key, g in groups:
        # Sorted: the Monte Carlo relabelings index positions, so runs in another row order (the study
        # file's seeds or levels listed differently) would draw other relabelings and another p.
        a = np.sort(g.loc[g[factor] == la, metric].to_numpy(float))
        b = np.sort(g.loc[g[factor] == lb, metric].to_numpy(float))
        if len(a) == 0 or len(b) == 0:
            unmatched += len(a) + len(b)
            continue
        strata.append(Stratum(tuple(key) if isinstance(key, tuple) else (key,), a, b,
                              len(a) * len(b) / (len(a) + len(b))))
        cells += [a, b]
    n_a, n_b = sum(len(s.a) for s in strata), sum(len(s.b) for s in strata)
    nan = float("nan")
    mean_a = float(np.mean(np.concatenate([s.a for s in strata]))) if strata else nan
    mean_b = float(np.mean(np.concatenate([s.b for s in strata]))) if strata else nan
    if not strata:
        return Effect(factor, (la, lb), metric, others, 0, 0, 0, n_nan, unmatched, mean_a, mean_b,
                      nan, nan, nan, nan, False, 0, nan, nan, 0, "no stratum holds both levels", seed, (),
                      n_nan_a=nan_a, n_nan_b=nan_b)
    wsum = sum(s.weight for s in strata)
    diff = float(sum(s.weight * s.difference for s in strata) / wsum)
    p, exact, n_rel = permutation_p(strata, max_exact=max_exact, n_mc=n_mc, seed=seed)
    g, sd, dfw, note = hedges_g(diff, cells)
    lo, hi = t_interval(diff, strata, sd, dfw)
    sup = superiority(strata, sd, dfw)
    return Effect(factor, (la, lb), metric, others, n_a, n_b, len(strata), n_nan, unmatched, mean_a,
                  mean_b, diff, lo, hi, p, exact, n_rel, g, sd, dfw, note, seed, tuple(strata), *sup,
                  *pairs_won(strata), n_nan_a=nan_a, n_nan_b=nan_b)


def interaction_table(df: pd.DataFrame, factor_a: str, factor_b: str, metric: str, *,
                      levels_a: Sequence | None = None, levels_b: Sequence | None = None,
                      other_factors: Sequence[str] = (), n_resamples: int = 9_999,
                      seed: int = 0) -> pd.DataFrame:
    """2x2 table of mean `metric` (rows: levels of a, columns: levels of b; non-finite metrics, NaN
    and +-inf, dropped and counted in `attrs["n_dropped"]`: one infinite run would make a cell mean and
    every permuted contrast infinite, and the p the smallest possible).

    Levels default to order of appearance. `attrs` holds `contrast` = (a1b1 - a1b2) - (a2b1 - a2b2)
    on these cell means and `p_value`, a two-sided Freedman-Lane permutation p (residuals of the
    additive model a + b + other factors are permuted; approximate, Monte Carlo (1 + k) / (1 + B)).
    """
    finite = np.isfinite(pd.to_numeric(df[metric], errors="coerce").to_numpy(float))
    d = df[finite].copy()
    for f in (factor_a, factor_b, *other_factors):
        d[f] = d[f].astype(str)
    la = [str(x) for x in levels_a] if levels_a is not None else list(pd.unique(d[factor_a]))
    lb = [str(x) for x in levels_b] if levels_b is not None else list(pd.unique(d[factor_b]))
    # In a fixed order: the permutations index positions, and runs listed otherwise must give the same p.
    d = d[d[factor_a].isin(la) & d[factor_b].isin(lb)].sort_values([factor_a, factor_b, *other_factors, metric], kind="stable")
    table = (d.groupby([factor_a, factor_b])[metric].mean().unstack(factor_b)
             .reindex(index=la, columns=lb))
    dropped = int((~finite & df[factor_a].astype(str).isin(la).to_numpy() & df[factor_b].astype(str).isin(lb).to_numpy()).sum())
    table.attrs.update(contrast=float("nan"), p_value=float("nan"), p_method="none", n_dropped=dropped)
    if len(la) != 2 or len(lb) != 2 or table.isna().to_numpy().any():
        return table
    y = d[metric].to_numpy(float)
    ia, ib = (d[factor_a] == la[0]).to_numpy(), (d[factor_b] == lb[0]).to_numpy()
    sign = np.where(ia == ib, 1.0, -1.0)
    size = d.groupby([factor_a, factor_b])[metric].transform("size").to_numpy(float)
    c = sign / size  # contrast = c . y
    x = pd.get_dummies(d[[factor_a, factor_b, *other_factors]], drop_first=True).to_numpy(float)
    x = np.column_stack([np.ones(len(y)), x])
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    resid = y - fitted
    obs = float(c @ y)
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.tile(np.arange(len(y)), (n_resamples, 1)), axis=1)
    null = c @ fitted + resid[perm] @ c
    k = int((np.abs(null) >= abs(obs) - _tie_tolerance([resid], float(np.max(np.abs(y))), len(y))).sum())
    table.attrs.update(contrast=obs, p_value=(1 + k) / (1 + n_resamples), p_method="freedman-lane")
    return table


def summarise_cells(df: pd.DataFrame, factors: Sequence[str], metrics: Sequence[str], *,
                    status_col: str = "status", finished: str = "FINISHED",
                    level: float = LEVEL) -> pd.DataFrame:
    """One row per cell (combination of factor levels, as strings).

    Columns: the factors, `n_runs`; with a `status_col` column also `n_finished` and `n_failed`
    (anything not `finished`), metrics then use finished runs only; `n_seeds` (distinct seeds
    among those runs, if a `seed` column exists); per metric `<m>_mean`, `<m>_ci_low`, `<m>_ci_high`
    (t-interval over runs, mean +- t_{(1+level)/2, n-1} s / sqrt(n); NaN when n < 2) and `<m>_n`, the
    runs with a finite value (NaN and +-inf are left out: an infinite run would make the mean infinite
    and the interval NaN).
    """
    d = df.copy()
    for f in factors:
        d[f] = d[f].astype(str)
    rows = []
    for key, g in d.groupby(list(factors), sort=True):
        row = dict(zip(factors, key if isinstance(key, tuple) else (key,), strict=True), n_runs=len(g))
        if status_col in g:
            ok = g[status_col].astype(str) == finished
            row.update(n_finished=int(ok.sum()), n_failed=int((~ok).sum()))
            g = g[ok]
        if "seed" in g:
            row["n_seeds"] = int(g["seed"].nunique())
        for m in metrics:
            x = pd.to_numeric(g[m], errors="coerce").to_numpy(float) if m in g else np.array([])
            x = x[np.isfinite(x)]
            n = len(x)
            mean = float(x.mean()) if n else float("nan")
            # pooled_sd's scaling: x.std underflows to 0 near 1e-300 and overflows near 1e300
            half = (scipy.stats.t.ppf((1 + level) / 2, n - 1) * pooled_sd([x], n - 1) / math.sqrt(n)
                    if n >= 2 else float("nan"))
            row.update({f"{m}_mean": mean, f"{m}_ci_low": mean - half, f"{m}_ci_high": mean + half,
                        f"{m}_n": n})
        rows.append(row)
    return pd.DataFrame(rows)
