"""The verdict rule (DESIGN section 6) on top of `cyclegan.analysis.stats`.

A hypothesis (declared in the study YAML; a mapping or any object with these attributes) has
`name`, `claim`, `factor`, `levels` [a, b], `metric`, `direction` ("lower"/"higher": the predicted
sign of metric(a) - metric(b)) and `threshold` (absolute metric units, or a string "10%" = 10% of
|mean of level b|).

- confirmed: predicted direction, p <= alpha, |g| >= min_g and |diff| >= threshold;
- refuted: the same in the opposite direction, or p_equivalence <= alpha (|delta| < threshold);
- inconclusive otherwise (or < 2 runs in an arm), with `seeds_needed` (the power of this whole rule and
  the exact test's floor, cyclegan.analysis.power; None with the reason when no number of seeds decides);
- heterogeneous: the effect differs between strata (cyclegan.analysis.strata, F p <= alpha) and the
  claim does not hold in every stratum; the rule names where it holds and where not (no seeds offered).

A bound claim (`level`, `below` or `above`: cyclegan.analysis.bound) is confirmed when the one-sided
95% t bound of the level's equal-weight stratified mean is on the claimed side of the bound, refuted
when the opposite one-sided bound is on the other side, inconclusive otherwise. `where` {factor: level}
keeps only those strata. The settling rule over mini-epochs is cyclegan.analysis.settle.

In a family (cyclegan.analysis.family) the tests that decide are judged by their ADJUSTED p (`Adjusted`:
Holm or Benjamini-Hochberg over the confirmatory hypotheses), the raw p kept beside it; the exact test's
floor and `seeds_needed` use the level the raw p must reach there (`Adjusted.level`), not alpha.

Runs whose metric is not finite are dropped; when that makes the runs left a biased selection
(`selection_bias`: the two levels lost different numbers of runs, or a bound's level lost any; a
`convergence/*` time that was not reached within the budget is censored, and the slow runs are the ones
lost) no verdict is stated: inconclusive, naming the losses.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import scipy.stats

from cyclegan.analysis.bound import LevelMean, level_mean
from cyclegan.analysis.power import bound_power, seeds_for, seeds_to_decide, smallest_exact_p, undecidable
from cyclegan.analysis.rules import ALPHA, LEVEL_LABEL, MIN_G
from cyclegan.analysis.stats import Effect, equivalence_p, rows_at, stratified_effect
from cyclegan.analysis.strata import Heterogeneity, StratumEffect, heterogeneity
from cyclegan.names import TIME_TO_MARK_METRICS

NAN = float("nan")


@dataclass(frozen=True)
class Adjusted:
    """A hypothesis's p-values adjusted over its family (cyclegan.analysis.family)."""

    method: str  # "Holm" | "Benjamini-Hochberg"
    p: float  # adjusted p of the claim's test (two-sided permutation; one-sided t for a bound)
    p_refute: float  # adjusted p of the refuting test: TOST (comparison), the opposite one-sided t (bound)
    level: float = ALPHA  # the largest raw p of the claim's test the family decides (family.family_level)
    level_refute: float = ALPHA  # the same for the refuting test
    floor: float = NAN  # the adjusted p the exact test's smallest p would get in this family (NaN: the raw floor)


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
    ci_low: float  # 95% t interval (comparison: pooled within-cell SD; bound: one-sided t bounds)
    ci_high: float
    hedges_g: float
    p_value: float  # two-sided stratified permutation p
    exact: bool  # True: all relabelings enumerated; False: Monte Carlo
    p_equivalence: float  # permutation TOST p for |delta| < threshold
    threshold: float  # resolved, absolute metric units
    verdict: str  # "confirmed" | "refuted" | "inconclusive"
    rule: str  # which rule decided it, in words
    seeds_needed: int | None  # seeds per cell to settle an inconclusive one; else None
    kind: str = "compare"  # "compare" | "bound"
    heterogeneity_p: float = float("nan")  # F test of equal effects across strata (compare)
    strata_effects: tuple[StratumEffect, ...] = ()  # per-stratum differences with 95% CIs (compare)
    strata_outcomes: tuple[str, ...] = ()  # per stratum: "holds" | "opposite" | "no effect" | "unclear"
    where: tuple[tuple[str, str], ...] = ()  # the strata the hypothesis keeps
    since: int | None = None  # mini-epoch since which this verdict has held (cyclegan.analysis.settle)
    settle_rule: str = ""  # the settling rule as applied, in words
    trajectory: tuple = ()  # settle.Point per evaluated mini-epoch
    settled: bool = True  # False: "inconclusive: not settled" (the settling rule overrode a verdict)
    suggested_mini_epochs: int | None = None  # for a verdict that has not settled
    # What decided a confirmed, refuted or heterogeneous verdict, in a word or two ("equivalence",
    # "opposite direction", ...; "" for inconclusive): a refutation by equivalence and one by the
    # opposite effect say very different things, and the verdict table must show which at a glance.
    basis: str = ""
    p_adjusted: float = NAN  # the p that decided, adjusted over the confirmatory family (NaN: not in a family)
    p_equivalence_adjusted: float = NAN  # TOST p (bound: the opposite one-sided p), adjusted the same way
    family: str = ""  # "confirmatory: Holm over 5 hypotheses" | "exploratory (declared after training)" | ...
    changed: str = ""  # what changed in the hypothesis since the study's record before training
    superiority: float = NAN  # P(a run at levels[0] > a run at levels[1]), normal model (stats.superiority)
    superiority_low: float = NAN  # its 95% interval (the same model)
    superiority_high: float = NAN
    pairs_won: float = NAN  # run pairs of the same stratum won by levels[0] (ties 1/2): the empirical count
    pairs: int = 0

    @property
    def exploratory(self) -> bool:
        return self.family.startswith("exploratory")

    @property
    def label(self) -> str:
        """The verdict as shown: "confirmed", ..., or "inconclusive: not settled"."""
        return self.verdict if self.settled else f"{self.verdict}: not settled"


_MISSING = object()


def hypothesis_field(h, key: str, default=_MISSING):
    """A hypothesis key, from a study's Hypothesis or a plain mapping (tests, tuning files)."""
    if isinstance(h, Mapping):
        return h[key] if default is _MISSING else h.get(key, default)
    return getattr(h, key) if default is _MISSING else getattr(h, key, default)


def hypothesis_where(h) -> dict:
    """The strata a hypothesis keeps, {factor: level} (empty: all of them)."""
    return dict(hypothesis_field(h, "where", {}) or {})


def is_bound(h) -> bool:
    return hypothesis_field(h, "level", None) is not None


def is_relative(threshold) -> bool:
    return isinstance(threshold, str) and threshold.strip().endswith("%")


def resolve_threshold(threshold, mean_b: float) -> float:
    """Absolute threshold: a number as is, or "p%" of |mean_b| (the mean of level b)."""
    if is_relative(threshold):
        value = float(threshold.strip()[:-1]) / 100 * abs(mean_b)
    else:
        value = float(threshold)
    if not value >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r} (resolved {value})")
    return value


def seeds_needed(effect: float, sd: float, threshold: float, *, n_strata: int,
                 alpha: float = ALPHA, min_g: float = MIN_G, alpha_refute: float | None = None) -> int | None:
    """Seeds per cell for the whole rule (p, |g| >= min_g, threshold, or equivalence) to decide with
    probability POWER when the true effect is the observed one (cyclegan.analysis.power.seeds_to_decide).
    `alpha`, `alpha_refute`: the levels the raw p's must reach (in a family: `Adjusted.level`, ...).
    None when sd is 0/NaN, or no number of seeds decides this effect (`why_no_seeds` says why)."""
    if not (sd > 0) or not math.isfinite(sd) or not math.isfinite(effect):
        return None
    return seeds_to_decide(effect / sd, threshold / sd, max(1, n_strata), alpha=alpha, min_g=min_g,
                           alpha_refute=alpha_refute)


def exact_floor_of(measured: Effect | LevelMean) -> float:
    """The smallest p the claim's test can give on these runs: the exact permutation test's floor
    (power.smallest_exact_p); 0 for a Monte Carlo p and a bound's t test (they have none that matters)."""
    if isinstance(measured, Effect) and measured.exact:
        return smallest_exact_p([(len(s.a), len(s.b)) for s in measured.strata])
    return 0.0


CENSORED = "not reached within the training budget: censored, the slowest runs"


def _why_missing(metric: str) -> str:
    # A time to a mark is NaN when the mark was not reached by the end: right-censored, and the runs lost
    # are the slow ones. Other metrics are NaN or inf for reasons of their own (no edge in a black output).
    return CENSORED if metric in TIME_TO_MARK_METRICS else "NaN or inf"


def selection_bias(measured: Effect | LevelMean) -> str:
    """Why the runs left after dropping non-finite values are a biased selection ("" when they are not).

    A comparison whose levels lost different numbers of runs compares one level's survivors with more of
    the other's: with censored convergence times the slow level keeps only its lucky fast runs, which can
    reverse the verdict (review s17, finding 2). A bound has no second level to balance a loss: any run
    lost shifts the level's mean."""
    if isinstance(measured, LevelMean):
        if not measured.n_nan_dropped:
            return ""
        return (f"{measured.n_nan_dropped} of {measured.n + measured.n_nan_dropped} runs at {measured.factor}="
                f"{measured.level} have no value of {measured.metric} ({_why_missing(measured.metric)}); the mean of "
                "the others is a biased selection, so the bound is not judged")
    if measured.n_nan_a == measured.n_nan_b:
        return ""
    (a, b), why = measured.levels, _why_missing(measured.metric)
    lost = f"{measured.n_nan_a} run(s) at {a} and {measured.n_nan_b} at {b} (of {measured.n_a} and {measured.n_b} with a value)"
    more = a if measured.n_nan_a > measured.n_nan_b else b
    return (f"runs without a value of {measured.metric} ({why}): {lost}. Dropping them compares {more}'s "
            "remaining runs (the ones that got a value) with more of the other level's, a biased comparison that "
            "can come out reversed, so it is not judged"
            + ("; train longer, until every run reaches the mark, or compare a metric every run has "
               "(convergence/cycle_auc)" if why == CENSORED else ""))


def why_no_seeds(effect: float, sd: float, threshold: float, *, min_g: float = MIN_G) -> str:
    """The text after an inconclusive rule when `seeds_needed` is None."""
    if not (sd > 0) or not math.isfinite(sd):
        return "seeds needed unknown (no within-cell spread)"
    return undecidable(effect / sd, threshold / sd, min_g=min_g) or "more than 1024 seeds per cell would be needed"


def decide_bound(estimate: LevelMean, hypothesis, *, alpha: float = ALPHA, adjusted: Adjusted | None = None) -> Verdict:
    """The bound rule on `estimate` (from `level_mean`); with `adjusted`, the family-adjusted one-sided p's decide."""
    name = str(hypothesis_field(hypothesis, "name"))
    below, above = hypothesis_field(hypothesis, "below", None), hypothesis_field(hypothesis, "above", None)
    if (below is None) == (above is None):
        raise ValueError(f"hypothesis {name!r}: a bound claim needs exactly one of below/above")
    side, bound = ("below", float(below)) if below is not None else ("above", float(above))
    m, lo, hi, se = estimate.mean, estimate.lower, estimate.upper, estimate.se
    # one-sided p of the claim (H0: the mean is on the wrong side of the bound)
    gap = (bound - m) if side == "below" else (m - bound)
    t = gap / se if se and se > 0 else (math.copysign(math.inf, gap) if se == 0 and gap else float("nan"))
    # Runs without spread on one side of the bound: t is +-inf and the p's are 0 and 1, as the interval
    # [m, m] decides alone (a NaN p would count as 1 in the family and leave such a claim undecided).
    p = float(scipy.stats.t.sf(t, estimate.df)) if not math.isnan(t) else float("nan")
    p_opposite = float(scipy.stats.t.cdf(t, estimate.df)) if not math.isnan(t) else float("nan")
    base = dict(name=name, claim=str(hypothesis_field(hypothesis, "claim")), factor=estimate.factor, levels=(estimate.level,),
                metric=estimate.metric, direction=side, n_a=estimate.n, n_b=0, difference=m, ci_low=lo, ci_high=hi,
                hedges_g=float("nan"), p_value=p, exact=False, p_equivalence=float("nan"), threshold=bound,
                kind="bound", where=tuple(hypothesis_where(hypothesis).items()),
                p_adjusted=adjusted.p if adjusted else NAN, p_equivalence_adjusted=adjusted.p_refute if adjusted else NAN)
    strata = f"{estimate.n_strata} strata, equal weights" if estimate.n_strata > 1 else "1 stratum"
    txt = (f"mean {m:.3g} over {strata} ({estimate.n} runs), one-sided {LEVEL_LABEL} t bounds "
           f"[{lo:.3g}, {hi:.3g}] (df {estimate.df})")
    if not math.isfinite(lo):
        return Verdict(**base, verdict="inconclusive", seeds_needed=None,
                       rule=f"too few runs for a bound ({estimate.n} runs in {estimate.n_strata} strata; "
                            f"{estimate.n_nan_dropped} NaN/inf dropped; need 2 in a stratum)")
    biased = selection_bias(estimate)
    if biased:
        return Verdict(**base, verdict="inconclusive", seeds_needed=None, rule=f"{biased}: {txt}")
    if adjusted is not None:  # the family decides: adjusted one-sided p's instead of the 95% bounds
        txt += f"; one-sided p {p:.3g}, {adjusted.method}-adjusted {adjusted.p:.3g} (opposite side: {p_opposite:.3g}, adjusted {adjusted.p_refute:.3g})"
        confirmed, refuted = adjusted.p <= alpha, adjusted.p_refute <= alpha
    else:
        confirmed, refuted = ((hi < bound) if side == "below" else (lo > bound)), ((lo > bound) if side == "below" else (hi < bound))
    if confirmed and math.isfinite(lo):
        return Verdict(**base, verdict="confirmed", seeds_needed=None, basis=f"{'upper' if side == 'below' else 'lower'} bound",
                       rule=f"{'upper' if side == 'below' else 'lower'} bound {hi if side == 'below' else lo:.3g} "
                            f"{'<' if side == 'below' else '>'} {bound:.3g}: {txt}")
    if refuted and math.isfinite(lo):
        return Verdict(**base, verdict="refuted", seeds_needed=None, basis=f"{'lower' if side == 'below' else 'upper'} bound",
                       rule=f"{'lower' if side == 'below' else 'upper'} bound {lo if side == 'below' else hi:.3g} "
                            f"{'>' if side == 'below' else '<'} {bound:.3g}: {txt}")
    sd = estimate.sd_within
    # the level the one-sided p of the side the mean lies on must reach (in a family: below alpha)
    level = alpha if adjusted is None else (adjusted.level if gap > 0 else adjusted.level_refute)
    need = (seeds_for(bound_power, abs(m - bound) / sd, estimate.n_strata, alpha=level, floor_two_sided=None)
            if sd > 0 else None)
    tail = f"; roughly {need} seeds per cell would settle it" if need else "; seeds needed unknown"
    return Verdict(**base, verdict="inconclusive", seeds_needed=need,
                   rule=f"the bound {bound:.3g} lies inside the interval: {txt}{tail}")


def _outcome(s: StratumEffect, predicted: float, thr: float) -> str:
    d, lo, hi = predicted * s.difference, *sorted((predicted * s.ci_low, predicted * s.ci_high))
    if lo > 0 and d >= thr:
        return "holds"
    if hi < 0 and -d >= thr:
        return "opposite"
    if -thr < lo and hi < thr:
        return "no effect"
    return "unclear"


_OUTCOME_WORDS = {"holds": "holds where", "opposite": "reversed where", "no effect": "no effect where",
                  "unclear": "unclear where"}


def strata_by_outcome(strata, outcomes) -> list[tuple[str, list]]:
    """The strata grouped by their outcome, in the order holds, reversed, no effect, unclear, each with
    its words ("holds where", ...); outcomes without strata are left out."""
    return [(words, [s for s, so in zip(strata, outcomes, strict=True) if so == outcome])
            for outcome, words in _OUTCOME_WORDS.items() if outcome in outcomes]


def _heterogeneous(v: Verdict, het: Heterogeneity, predicted: float, alpha: float) -> Verdict:
    """Rewrite `v` when the effect differs between strata and the claim does not hold in all of them."""
    outcomes = tuple(_outcome(s, predicted, v.threshold) for s in het.strata)
    v = dataclasses.replace(v, heterogeneity_p=het.p_value, strata_effects=het.strata, strata_outcomes=outcomes)
    if not het.p_value <= alpha or all(o == "holds" for o in outcomes):
        return v
    parts = [f"{words} " + "; ".join(f"{s.label} (diff {s.difference:.3g} [{s.ci_low:.3g}, {s.ci_high:.3g}])" for s in ss)
             for words, ss in strata_by_outcome(het.strata, outcomes)]
    return dataclasses.replace(
        v, verdict="heterogeneous", seeds_needed=None, basis="interaction",
        rule=(f"the effect differs between strata (Cochran's Q = {het.q:.3g}, F p = {het.p_value:.3g} <= {alpha}): "
              + "; ".join(parts) + ". A real interaction: more seeds will not make it one number; "
              "state the claim per stratum (where:)"))


def decide(effect: Effect, hypothesis, *, alpha: float = ALPHA, min_g: float = MIN_G, adjusted: Adjusted | None = None,
           p_equivalence: float | None = None) -> Verdict:
    """Apply the DESIGN section 6 rule to `effect` (from `stratified_effect`) for `hypothesis`, then the
    heterogeneity rule when it has two or more strata. `adjusted`: the family's adjusted p's decide;
    `p_equivalence`: the TOST p when already computed (a family decides twice on one effect)."""
    v = _decide_compare(effect, hypothesis, alpha=alpha, min_g=min_g, adjusted=adjusted, p_equivalence=p_equivalence)
    v = dataclasses.replace(v, where=tuple(hypothesis_where(hypothesis).items()),
                            rule=v.rule + relative_threshold_warning(effect, hypothesis_field(hypothesis, "threshold")))
    if effect.n_strata < 2 or effect.n_a < 2 or effect.n_b < 2 or selection_bias(effect):
        return v
    return _heterogeneous(v, heterogeneity(effect), -1.0 if v.direction == "lower" else 1.0, alpha)


def relative_threshold_warning(effect: Effect, threshold) -> str:
    """A warning after the rule when a "p%" threshold meets a metric with values <= 0 ("" otherwise).

    p% of |mean(b)| is a share of the distance from the metric's zero, meaningful only for a ratio-scale
    metric with a true zero (edge_sigma in pixels): for a metric that can be <= 0 (grid_score, KID) the
    threshold, and so the verdict, changes with a common offset that changes nothing else (review s17,
    finding 8). A warning, not an error: the study declared it, and it may still be what was meant."""
    if not is_relative(threshold) or not effect.strata:
        return ""
    low = min(min(float(s.a.min()), float(s.b.min())) for s in effect.strata)
    if low > 0:
        return ""
    return (f" [warning: threshold {threshold.strip()} is relative to mean({effect.levels[1]}), meaningful only for a "
            f"metric with a true zero, but {effect.metric} has values <= 0 (min {low:.3g}): shifting the metric would "
            "change the threshold and the verdict; state an absolute threshold]")


def _decide_compare(effect: Effect, hypothesis, *, alpha: float = ALPHA, min_g: float = MIN_G, adjusted: Adjusted | None = None,
                    p_equivalence: float | None = None) -> Verdict:
    name, direction = str(hypothesis_field(hypothesis, "name")), str(hypothesis_field(hypothesis, "direction"))
    levels = tuple(str(x) for x in hypothesis_field(hypothesis, "levels"))
    if direction not in ("lower", "higher"):
        raise ValueError(f"hypothesis {name!r}: direction must be 'lower' or 'higher', got {direction!r}")
    if (effect.factor, effect.levels, effect.metric) != (hypothesis_field(hypothesis, "factor"), levels,
                                                          hypothesis_field(hypothesis, "metric")):
        raise ValueError(f"hypothesis {name!r} does not match the effect "
                         f"({effect.factor} {effect.levels} on {effect.metric})")
    raw = hypothesis_field(hypothesis, "threshold")
    thr = resolve_threshold(raw, effect.mean_b) if effect.n_b else float("nan")
    thr_txt = f"{thr:.3g}" + (f" ({raw} of mean({levels[1]})={effect.mean_b:.3g})" if is_relative(raw) else "")
    if p_equivalence is None:
        p_equivalence = equivalence_p(effect, thr) if effect.n_a >= 2 and effect.n_b >= 2 else float("nan")
    p_eq = p_equivalence
    d, g, p = effect.difference, effect.hedges_g, effect.p_value
    a, b = levels
    base = dict(name=name, claim=str(hypothesis_field(hypothesis, "claim")), factor=effect.factor, levels=levels,
                metric=effect.metric, direction=direction, n_a=effect.n_a, n_b=effect.n_b,
                difference=d, ci_low=effect.ci_low, ci_high=effect.ci_high, hedges_g=g, p_value=p,
                exact=effect.exact, p_equivalence=p_eq, threshold=thr, superiority=effect.superiority,
                superiority_low=effect.superiority_low, superiority_high=effect.superiority_high,
                pairs_won=effect.pairs_won, pairs=effect.pairs,
                p_adjusted=adjusted.p if adjusted else NAN, p_equivalence_adjusted=adjusted.p_refute if adjusted else NAN)
    p_raw, p_eq_raw = p, p_eq
    if adjusted is not None:  # the family decides with the adjusted p's; the text shows both
        p, p_eq = adjusted.p, adjusted.p_refute
    p_name = f"{adjusted.method}-adjusted p" if adjusted else "p"
    pe_name = f"{adjusted.method}-adjusted p_equivalence" if adjusted else "p_equivalence"
    raw_txt = f" (raw {p_raw:.3g})" if adjusted else ""
    raw_eq_txt = f" (raw {p_eq_raw:.3g})" if adjusted else ""
    # the levels the raw p's must reach: alpha alone, less in a family (cyclegan.analysis.family.family_level)
    level, level_eq = (adjusted.level, adjusted.level_refute) if adjusted else (alpha, alpha)

    if effect.n_a < 2 or effect.n_b < 2:
        why = (f"fewer than 2 runs in an arm (n[{a}]={effect.n_a}, n[{b}]={effect.n_b}; "
               f"{effect.n_nan_dropped} NaN/inf and {effect.n_unmatched_dropped} unmatched runs dropped)")
        return Verdict(**base, verdict="inconclusive", rule=why,
                       seeds_needed=seeds_needed(d, effect.sd_within, thr, n_strata=max(1, effect.n_strata),
                                                 alpha=level, min_g=min_g, alpha_refute=level_eq)
                       if effect.n_strata else None)
    biased = selection_bias(effect)
    if biased:  # more seeds would not help: the same runs would be lost
        return Verdict(**base, verdict="inconclusive", seeds_needed=None, rule=biased)

    predicted = -1.0 if direction == "lower" else 1.0
    sign = math.copysign(1.0, d) if d != 0 else 0.0
    strong = p <= alpha and abs(g) >= min_g and abs(d) >= thr  # NaN g or p fail these comparisons
    g_txt = f"|g|={abs(g):.2g}" + (f" [{effect.g_note}]" if effect.g_note else "")
    evidence = f"{p_name}={p:.3g}{raw_txt} <= {alpha}, {g_txt} >= {min_g}, |diff|={abs(d):.3g} >= threshold {thr_txt}"
    if strong and sign == predicted:
        return Verdict(**base, verdict="confirmed", seeds_needed=None, basis="predicted direction",
                       rule=f"predicted direction ({a} {direction} than {b}), {evidence}")
    if strong and sign == -predicted:
        other = "higher" if direction == "lower" else "lower"
        return Verdict(**base, verdict="refuted", seeds_needed=None, basis="opposite direction",
                       rule=f"opposite direction ({a} {other} than {b}), {evidence}")
    if p_eq <= alpha:
        return Verdict(**base, verdict="refuted", seeds_needed=None, basis="equivalence",
                       rule=(f"equivalent: {pe_name}={p_eq:.3g}{raw_eq_txt} <= {alpha} that |diff| < threshold "
                             f"{thr_txt} (diff={d:.3g}, {LEVEL_LABEL} CI [{effect.ci_low:.3g}, {effect.ci_high:.3g}])"))
    failed = [f"{p_name}={p:.3g}{raw_txt} > {alpha}" if not p <= alpha else "",
              f"{g_txt} < {min_g}" if not abs(g) >= min_g else "",
              f"|diff|={abs(d):.3g} < threshold {thr_txt}" if not abs(d) >= thr else "",
              f"{pe_name}={p_eq:.3g}{raw_eq_txt} > {alpha}"]
    if strong:  # every size criterion met, but a zero difference has no direction
        failed.insert(0, "difference is exactly 0")
    need = seeds_needed(d, effect.sd_within, thr, n_strata=effect.n_strata, alpha=level, min_g=min_g,
                        alpha_refute=level_eq)
    tail = (f"; roughly {need} seeds per cell would settle it" if need else
            f"; {why_no_seeds(d, effect.sd_within, thr, min_g=min_g)}")
    floor = exact_floor_of(effect)
    # In a family the floor's ADJUSTED p decides whether these seeds can ever decide: a floor below alpha
    # can still be above what the family lets a raw p reach (2 hypotheses under Holm: alpha / 2 at best).
    reach = adjusted.floor if adjusted and not math.isnan(adjusted.floor) else floor
    if reach > alpha:
        failed.insert(0, f"the exact test cannot go below p={floor:.3g} with these seeds"
                      + (f" ({adjusted.method}-adjusted {reach:.3g} in this family)" if reach != floor else ""))
    return Verdict(**base, verdict="inconclusive", seeds_needed=need,
                   rule="neither rule met: " + "; ".join(x for x in failed if x) + tail)


def measure(df: pd.DataFrame, hypothesis, other_factors: Sequence[str], *, seed: int = 0, alpha: float = ALPHA,
            **effect_options) -> Effect | LevelMean:
    """What a hypothesis is decided on: the stratified effect (comparison) or level mean (bound) on `df`."""
    df = rows_at(df, hypothesis_where(hypothesis))
    factor, metric = hypothesis_field(hypothesis, "factor"), hypothesis_field(hypothesis, "metric")
    if is_bound(hypothesis):
        return level_mean(df, factor, hypothesis_field(hypothesis, "level"), metric, other_factors, alpha=alpha)
    return stratified_effect(df, factor, hypothesis_field(hypothesis, "levels"), metric, other_factors, seed=seed,
                             **effect_options)


def decide_measured(measured: Effect | LevelMean, hypothesis, *, alpha: float = ALPHA, min_g: float = MIN_G,
                    adjusted: Adjusted | None = None, p_equivalence: float | None = None) -> Verdict:
    """The verdict on what `measure` returned."""
    if isinstance(measured, LevelMean):
        return decide_bound(measured, hypothesis, alpha=alpha, adjusted=adjusted)
    return decide(measured, hypothesis, alpha=alpha, min_g=min_g, adjusted=adjusted, p_equivalence=p_equivalence)


def evaluate(df: pd.DataFrame, hypothesis, other_factors: Sequence[str], *, seed: int = 0,
             alpha: float = ALPHA, min_g: float = MIN_G, **effect_options) -> Verdict:
    """The verdict of one hypothesis on `df` (one row per finished run), alone (no family); `other_factors`
    are the study's other factors (the strata). `effect_options` go to `stratified_effect` (n_mc, max_exact)."""
    return decide_measured(measure(df, hypothesis, other_factors, seed=seed, alpha=alpha, **effect_options), hypothesis,
                           alpha=alpha, min_g=min_g)
