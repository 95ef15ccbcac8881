"""The verdict rule (DESIGN section 6) on top of `cyclegan.analysis.stats`.

A hypothesis (declared in the study YAML; a mapping or any object with these attributes) has
`name`, `claim`, `factor`, `levels` [a, b], `metric`, `direction` ("lower"/"higher": the predicted
sign of metric(a) - metric(b)) and `threshold` (absolute metric units, or a string "10%" = 10% of
|mean of level b|).

- confirmed: predicted direction, p <= alpha, |g| >= min_g and |diff| >= threshold;
- refuted: the same in the opposite direction, or p_equivalence <= alpha (|delta| < threshold);
- inconclusive otherwise (or < 2 runs in an arm), with a rough `seeds_needed`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import scipy.stats

from cyclegan.analysis.stats import Effect, equivalence_p, stratified_effect

ALPHA = 0.05
MIN_G = 0.8


@dataclass(frozen=True)
class Verdict:
    name: str
    claim: str
    factor: str
    levels: tuple[str, str]
    metric: str
    direction: str
    n_a: int  # runs per arm that entered the comparison
    n_b: int
    difference: float  # stratified mean(a) - mean(b)
    ci_low: float  # 95% percentile bootstrap
    ci_high: float
    hedges_g: float
    p_value: float  # two-sided stratified permutation p
    exact: bool  # True: all relabelings enumerated; False: Monte Carlo
    p_equivalence: float  # permutation TOST p for |delta| < threshold
    threshold: float  # resolved, absolute metric units
    verdict: str  # "confirmed" | "refuted" | "inconclusive"
    rule: str  # which rule decided it, in words
    seeds_needed: int | None  # rough seeds per cell to settle an inconclusive one; else None


def _get(h, key: str):
    return h[key] if isinstance(h, Mapping) else getattr(h, key)


def resolve_threshold(threshold, mean_b: float) -> float:
    """Absolute threshold: a number as is, or "p%" of |mean_b| (the mean of level b)."""
    if isinstance(threshold, str) and threshold.strip().endswith("%"):
        value = float(threshold.strip()[:-1]) / 100 * abs(mean_b)
    else:
        value = float(threshold)
    if not value >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r} (resolved {value})")
    return value


def seeds_needed(effect: float, sd: float, threshold: float, *, n_strata: int,
                 alpha: float = ALPHA, power: float = 0.8) -> int | None:
    """Rough seeds per cell for a two-sided level-`alpha` test to reach `power`.

    Normal approximation for two arms of n = seeds x n_strata runs each (equal stratum weights make
    Var(D) = 2 sd^2 / n): n = 2 (z_{1-alpha/2} + z_power)^2 / d^2, d = max(|effect|, threshold) / sd,
    i.e. the observed standardised effect when it exceeds the threshold's, else the threshold's.
    Ignores the t / permutation small-sample penalty and the |g| >= 0.8 rule: a floor, not a promise.
    At least 2. None when sd is 0/NaN or d is 0.
    """
    if not (sd > 0) or not math.isfinite(sd):
        return None
    d = max(abs(effect) if math.isfinite(effect) else 0.0, threshold) / sd
    if not d > 0:
        return None
    z = scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)
    return max(2, math.ceil(2 * z * z / (d * d) / max(1, n_strata)))


def decide(effect: Effect, hypothesis, *, alpha: float = ALPHA, min_g: float = MIN_G) -> Verdict:
    """Apply the DESIGN section 6 rule to `effect` (from `stratified_effect`) for `hypothesis`."""
    name, direction = str(_get(hypothesis, "name")), str(_get(hypothesis, "direction"))
    levels = tuple(str(x) for x in _get(hypothesis, "levels"))
    if direction not in ("lower", "higher"):
        raise ValueError(f"hypothesis {name!r}: direction must be 'lower' or 'higher', got {direction!r}")
    if (effect.factor, effect.levels, effect.metric) != (_get(hypothesis, "factor"), levels,
                                                          _get(hypothesis, "metric")):
        raise ValueError(f"hypothesis {name!r} does not match the effect "
                         f"({effect.factor} {effect.levels} on {effect.metric})")
    raw = _get(hypothesis, "threshold")
    thr = resolve_threshold(raw, effect.mean_b) if effect.n_b else float("nan")
    thr_txt = f"{thr:.3g}" + (f" ({raw} of mean({levels[1]})={effect.mean_b:.3g})"
                              if isinstance(raw, str) and raw.strip().endswith("%") else "")
    p_eq = equivalence_p(effect, thr) if effect.n_a >= 2 and effect.n_b >= 2 else float("nan")
    d, g, p = effect.difference, effect.hedges_g, effect.p_value
    a, b = levels
    base = dict(name=name, claim=str(_get(hypothesis, "claim")), factor=effect.factor, levels=levels,
                metric=effect.metric, direction=direction, n_a=effect.n_a, n_b=effect.n_b,
                difference=d, ci_low=effect.ci_low, ci_high=effect.ci_high, hedges_g=g, p_value=p,
                exact=effect.exact, p_equivalence=p_eq, threshold=thr)

    if effect.n_a < 2 or effect.n_b < 2:
        why = (f"fewer than 2 runs in an arm (n[{a}]={effect.n_a}, n[{b}]={effect.n_b}; "
               f"{effect.n_nan_dropped} NaN and {effect.n_unmatched_dropped} unmatched runs dropped)")
        return Verdict(**base, verdict="inconclusive", rule=why,
                       seeds_needed=seeds_needed(d, effect.sd_within, thr, n_strata=max(1, effect.n_strata),
                                                 alpha=alpha) if effect.n_strata else None)

    predicted = -1.0 if direction == "lower" else 1.0
    sign = math.copysign(1.0, d) if d != 0 else 0.0
    strong = p <= alpha and abs(g) >= min_g and abs(d) >= thr  # NaN g or p fail these comparisons
    g_txt = f"|g|={abs(g):.2g}" + (f" [{effect.g_note}]" if effect.g_note else "")
    evidence = f"p={p:.3g} <= {alpha}, {g_txt} >= {min_g}, |diff|={abs(d):.3g} >= threshold {thr_txt}"
    if strong and sign == predicted:
        return Verdict(**base, verdict="confirmed", seeds_needed=None,
                       rule=f"predicted direction ({a} {direction} than {b}), {evidence}")
    if strong and sign == -predicted:
        other = "higher" if direction == "lower" else "lower"
        return Verdict(**base, verdict="refuted", seeds_needed=None,
                       rule=f"opposite direction ({a} {other} than {b}), {evidence}")
    if p_eq <= alpha:
        return Verdict(**base, verdict="refuted", seeds_needed=None,
                       rule=(f"equivalent: p_equivalence={p_eq:.3g} <= {alpha} that |diff| < threshold "
                             f"{thr_txt} (diff={d:.3g}, 95% CI [{effect.ci_low:.3g}, {effect.ci_high:.3g}])"))
    failed = [f"p={p:.3g} > {alpha}" if not p <= alpha else "",
              f"{g_txt} < {min_g}" if not abs(g) >= min_g else "",
              f"|diff|={abs(d):.3g} < threshold {thr_txt}" if not abs(d) >= thr else "",
              f"p_equivalence={p_eq:.3g} > {alpha}"]
    if strong:  # every size criterion met, but a zero difference has no direction
        failed.insert(0, "difference is exactly 0")
    need = seeds_needed(d, effect.sd_within, thr, n_strata=effect.n_strata, alpha=alpha)
    tail = (f"; roughly {need} seeds per cell would settle it" if need else
            "; seeds needed unknown (no within-cell spread)")
    return Verdict(**base, verdict="inconclusive", seeds_needed=need,
                   rule="neither rule met: " + "; ".join(x for x in failed if x) + tail)


def evaluate(df: pd.DataFrame, hypothesis, other_factors: Sequence[str], *, seed: int = 0,
             alpha: float = ALPHA, min_g: float = MIN_G) -> Verdict:
    """`stratified_effect` + `decide` for one hypothesis; `other_factors` are the study's other factors."""
    effect = stratified_effect(df, _get(hypothesis, "factor"), _get(hypothesis, "levels"),
                               _get(hypothesis, "metric"), other_factors, seed=seed)
    return decide(effect, hypothesis, alpha=alpha, min_g=min_g)
