"""Effects over training and the settling rule: no verdict from a statistic that is still changing.

The hypothesis's statistic (stratified difference with its 95% CI, or the bound's level mean with its
one-sided bounds) is computed at EVERY evaluated mini-epoch with exactly the rule of the final verdict
(cyclegan.analysis.verdict.evaluate on the runs' values at that mini-epoch).

Settling rule: "confirmed", "refuted" or "heterogeneous" stand only when the same verdict, decided on the
same basis, held at every one of the last k = max(2, ceil(25% of the evaluated mini-epochs)) evaluated
mini-epochs ("refuted" by equivalence and "refuted" by the opposite direction are different verdicts: an
effect that was zero throughout and turns the other way at the last mini-epoch has not settled). Why: a
verdict seen once at the end may be a crossing on its way elsewhere (an effect that appears late, a
collapse that has not happened yet); a quarter of training is long enough to see a drift, short enough
that a study of 8 evaluations needs only its last 2, and at least 2 rules out a single lucky point.
A verdict that held must also survive its own trend: the statistic's change over the window,
extrapolated by one more window, must not carry it across the threshold or bound that decided it
(a refutation by equivalence whose difference is growing towards the threshold, a bound met by a grid
score still rising towards it). Otherwise the verdict is "inconclusive: not settled" with the training length at which the current
verdict would have held for k evaluations if it keeps holding. `settle: false` (a claim explicitly
about the fixed budget) takes the last mini-epoch's verdict as is.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from cyclegan.analysis.family import evaluate_family
from cyclegan.analysis.rules import DEFAULT_CORRECTION
from cyclegan.analysis.verdict import Verdict, evaluate, hypothesis_field

DECISIVE = ("confirmed", "refuted", "heterogeneous")
SHARE = 0.25


@dataclass(frozen=True)
class Point:
    mini_epoch: int
    statistic: float  # difference (compare) or level mean (bound)
    ci_low: float
    ci_high: float
    verdict: str
    basis: str = ""  # what decided it (Verdict.basis): the settling rule compares (verdict, basis)


def window(n_evaluated: int) -> int:
    """How many of the last evaluated mini-epochs must agree: max(2, ceil(25%))."""
    return max(2, math.ceil(SHARE * n_evaluated))


def trajectory(long: pd.DataFrame, hypothesis, other_factors: Sequence[str], *, epoch: str = "mini_epoch",
               **options) -> list[Point]:
    """The verdict at every mini-epoch of `long` (one row per run and mini-epoch) where the metric has a value.

    A run without a value at a mini-epoch where others have one stays in (the rule counts it, and a
    `convergence/*` time not reached yet is censored, not missing: verdict.selection_bias)."""
    metric = hypothesis_field(hypothesis, "metric")
    out = []
    for e, at in long.groupby(epoch, sort=True):
        if not at[metric].notna().any():
            continue
        v = evaluate(at, hypothesis, other_factors, **options)
        out.append(Point(int(e), v.difference, v.ci_low, v.ci_high, v.verdict, v.basis))
    return out


def settle(final: Verdict, points: Sequence[Point], *, settle: bool = True) -> Verdict:
    """Apply the settling rule to `final` (the verdict on the last values) given its `points`."""
    points = list(points)
    run = 0
    for p in reversed(points):
        if (p.verdict, p.basis) != (final.verdict, final.basis):
            break
        run += 1
    since = points[-run].mini_epoch if run else None
    v = dataclasses.replace(final, since=since, trajectory=tuple(points))
    if not settle:
        return dataclasses.replace(v, settle_rule="settle: false (a fixed-budget claim): the last mini-epoch decides")
    k = window(len(points))
    rule = (f"settling rule: the same verdict on the same basis at each of the last max(2, ceil(25% of {len(points)})) "
            f"= {k} evaluated mini-epochs")
    drift = _drift(final, points[-k:]) if final.verdict in DECISIVE and run >= k else ""
    if final.verdict not in DECISIVE or (run >= k and not drift):
        held = f"; held since mini-epoch {since}" if since is not None else ""
        return dataclasses.replace(v, settle_rule=rule + (" (met" + held + ")" if final.verdict in DECISIVE else held))
    if drift:
        longer = math.ceil(2 * points[-1].mini_epoch)
        return dataclasses.replace(v, verdict="inconclusive", settled=False, seeds_needed=None, basis="",
                                   rule=f"not settled: {final.verdict} at each of the last {k} evaluated mini-epochs, but {drift}; "
                                        f"train longer, at least ~{longer} mini-epochs, and report again (was: {final.rule})",
                                   settle_rule=rule + " and a trend that does not cross the decision (not met)",
                                   suggested_mini_epochs=longer)
    # if the verdict keeps holding, n evaluations in all give a run of run + (n - len) >= window(n)
    n = len(points) + 1
    while run + n - len(points) < window(n):
        n += 1
    spacing = points[-1].mini_epoch / len(points) if points else 1.0
    longer = math.ceil(n * spacing)
    held = f"{final.verdict} ({final.basis})" if final.basis else final.verdict
    why = (f"not settled: {held} at the last mini-epoch but held only at the last {run} of {k} required "
           f"(since mini-epoch {since}); train longer, at least ~{longer} mini-epochs, and report again "
           f"(was: {final.rule})")
    return dataclasses.replace(v, verdict="inconclusive", settled=False, rule=why, seeds_needed=None, basis="",
                               settle_rule=rule + " (not met)", suggested_mini_epochs=longer)


def _drift(final: Verdict, window_points: Sequence[Point]) -> str:
    """Why the trend over the window would overturn `final` within one more window ("" if it would not)."""
    first, last = window_points[0].statistic, window_points[-1].statistic
    projected = last + (last - first)
    moved = f"the statistic moved from {first:.3g} to {last:.3g} and at that rate reaches {projected:.3g} one window later"
    thr = final.threshold
    if final.kind == "bound":
        below = final.direction == "below"
        crosses = (projected >= thr if below else projected <= thr) if final.verdict == "confirmed" else \
                  (projected <= thr if below else projected >= thr)
        return f"{moved}, across the bound {thr:.3g}" if crosses else ""
    if final.verdict == "heterogeneous" or not math.isfinite(projected):
        return ""
    predicted = -1.0 if final.direction == "lower" else 1.0
    if final.rule.startswith("equivalent"):
        return f"{moved}, outside the equivalence margin ±{thr:.3g}" if abs(projected) >= thr else ""
    sign = predicted if final.verdict == "confirmed" else -predicted  # the side the verdict stands on
    return f"{moved}, inside the threshold {thr:.3g}" if sign * projected < thr else ""


def over_training(final_runs: pd.DataFrame, long: pd.DataFrame, hypothesis, other_factors: Sequence[str],
                  **options) -> Verdict:
    """The verdict on the final values of `final_runs`, its trajectory over `long` and the settling rule
    (skipped for `settle: false` hypotheses; without any history the final verdict is returned as is)."""
    final = evaluate(final_runs, hypothesis, other_factors, **options)
    points = trajectory(long, hypothesis, other_factors, **options) if len(long) else []
    if not points:
        return dataclasses.replace(final, settle_rule="no per-mini-epoch history: the settling rule could not be applied")
    return settle(final, points, settle=bool(hypothesis_field(hypothesis, "settle", True)))


def family_over_training(final_runs: pd.DataFrame, long: pd.DataFrame, hypotheses: Sequence, factors: Sequence[str], *,
                         exploratory=(), method: str = DEFAULT_CORRECTION, epoch: str = "mini_epoch",
                         **options) -> list[Verdict]:
    """`over_training` for a study's hypotheses as one family (cyclegan.analysis.family): the final verdicts
    and the verdict at every mini-epoch are decided with the family's adjusted p's, so the settling rule
    judges the same rule that decides. A hypothesis's trajectory has the mini-epochs where its metric has values."""
    finals = evaluate_family(final_runs, hypotheses, factors, exploratory=exploratory, method=method, **options)
    points: list[list[Point]] = [[] for _ in hypotheses]
    if len(long):
        for e, at in long.groupby(epoch, sort=True):
            present = [at[hypothesis_field(h, "metric")].notna().any() for h in hypotheses]
            if not any(present):
                continue
            at_epoch = evaluate_family(at, hypotheses, factors, exploratory=exploratory, method=method, **options)
            for i, v in enumerate(at_epoch):
                if present[i]:
                    points[i].append(Point(int(e), v.difference, v.ci_low, v.ci_high, v.verdict, v.basis))
    out = []
    for h, final, pts in zip(hypotheses, finals, points, strict=True):
        if not pts:
            out.append(dataclasses.replace(final, settle_rule="no per-mini-epoch history: the settling rule could not be applied"))
        else:
            out.append(settle(final, pts, settle=bool(hypothesis_field(h, "settle", True))))
    return out
