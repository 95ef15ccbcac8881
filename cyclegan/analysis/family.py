"""A study's hypotheses as a family: the family-wise error of the confirmatory ones controlled.

A study tests several hypotheses at alpha each; without a correction the chance that at least one true
null is "confirmed" grows with their number. The CONFIRMATORY family is every hypothesis that was
recorded before training (cyclegan.analysis.preregistration) and not declared `exploratory: true`.
Their p-values are adjusted together and the verdict is decided with the adjusted p
(cyclegan.analysis.verdict.Adjusted); exploratory ones are decided alone, on their raw p, and say so.

- Holm (default, `correction: holm`): step-down; controls the family-wise error rate at alpha under any
  dependence. Adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the sorted p's.
- Benjamini-Hochberg (`correction: bh`): controls the false discovery rate (the expected share of false
  confirmations) under independence or positive dependence; for large, tuning-style families.
  Adjusted p_(i) = min_{j >= i} min(1, m p_(j) / j).

Two tests can decide a hypothesis (the claim's test, and the refuting one: TOST equivalence for a
comparison, the opposite one-sided t for a bound); each is adjusted over the family on its own. The
heterogeneity F test (which rewrites a verdict to "heterogeneous") is not a claim and is not adjusted.
A NaN p (a hypothesis without data, or whose runs are a biased selection) counts in the family's size as a
p of 1: it cannot be rejected and a family does not shrink because a metric is missing.

What a hypothesis's raw p must reach in its family (`family_level`: alpha / m when the others are not
decided, up to alpha when they are) also sizes its seeds, and whether the exact test's floor can be
decided at all is judged on the floor's ADJUSTED p (`adjusted_at`), not the raw floor against alpha.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cyclegan.analysis.rules import ALPHA, DEFAULT_CORRECTION, MIN_G
from cyclegan.analysis.verdict import (
    Adjusted,
    Verdict,
    decide_measured,
    exact_floor_of,
    hypothesis_field,
    measure,
    selection_bias,
)

METHOD_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
EXPLORATORY_DECLARED = "exploratory (declared exploratory)"
EXPLORATORY_LATE = "exploratory (declared after training)"


def _as_array(pvalues: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    return np.where(np.isfinite(p), np.clip(p, 0.0, 1.0), 1.0)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    p = _as_array(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = _as_array(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def adjust(pvalues: Sequence[float], method: str = DEFAULT_CORRECTION) -> list[float]:
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    raise ValueError(f"unknown correction {method!r}; choose from {', '.join(METHOD_NAMES)}")


def adjusted_at(pvalues: Sequence[float], i: int, p: float, method: str = DEFAULT_CORRECTION) -> float:
    """The adjusted p member `i` of the family would get if its raw p were `p`, the others as given."""
    q = list(pvalues)
    q[i] = p
    return adjust(q, method)[i]


def family_level(pvalues: Sequence[float], i: int, method: str = DEFAULT_CORRECTION, alpha: float = ALPHA) -> float:
    """The largest raw p member `i` can have and still be decided in its family (adjusted p <= alpha), the
    others' p's as given: the level its test must reach, which sizes its seeds (`power.rule_power`).

    Holm and BH adjusted p's never fall below the raw p and rise with it, so the level is <= alpha and found
    by bisection. It is alpha / m when every other p is large (Holm's first step, BH's first rank) and can be
    up to alpha when the others are decided with smaller p's."""
    if adjusted_at(pvalues, i, alpha, method) <= alpha:
        return alpha
    low, high = 0.0, alpha  # adjusted_at(low) <= alpha < adjusted_at(high)
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if adjusted_at(pvalues, i, mid, method) <= alpha else (low, mid)
    return low


def _refute_p(v: Verdict) -> float:
    """The raw p of the refuting test: TOST for a comparison, the opposite one-sided t for a bound."""
    return 1.0 - v.p_value if v.kind == "bound" and math.isfinite(v.p_value) else v.p_equivalence


def family_text(method: str, size: int) -> str:
    return f"confirmatory: {METHOD_NAMES[method]} over {size} hypothes{'is' if size == 1 else 'es'}"


def evaluate_family(df: pd.DataFrame, hypotheses: Sequence, factors: Sequence[str], *,
                    exploratory: Sequence[str] = (), method: str = DEFAULT_CORRECTION, seed: int = 0,
                    alpha: float = ALPHA, min_g: float = MIN_G, **effect_options) -> list[Verdict]:
    """Every hypothesis's verdict on `df` (one row per finished run); `factors`: the study's factors (each
    hypothesis's strata are the others). `exploratory`: {hypothesis name: why} (or names) kept out of the
    family (its text in `Verdict.family`, default "exploratory (declared exploratory)")."""
    why = dict(exploratory) if isinstance(exploratory, dict) else dict.fromkeys(exploratory, EXPLORATORY_DECLARED)
    measured = [measure(df, h, [f for f in factors if f != hypothesis_field(h, "factor")], seed=seed, alpha=alpha, **effect_options)
                for h in hypotheses]
    raw = [decide_measured(m, h, alpha=alpha, min_g=min_g) for m, h in zip(measured, hypotheses, strict=True)]
    members = [i for i, h in enumerate(hypotheses) if hypothesis_field(h, "name") not in why]
    # A hypothesis whose runs are a biased selection (selection_bias) is undecided; its p counts as 1 here
    # too, so its biased p cannot move the others' adjustment (Holm: a small p takes the strictest step).
    biased = {i for i in members if selection_bias(measured[i])}
    ps = [float("nan") if i in biased else raw[i].p_value for i in members]
    refute_ps = [float("nan") if i in biased else _refute_p(raw[i]) for i in members]
    p_adj, refute_adj = adjust(ps, method), adjust(refute_ps, method)
    out = [dataclasses.replace(v, family=why.get(hypothesis_field(h, "name"), "")) for v, h in zip(raw, hypotheses, strict=True)]
    label = family_text(method, len(members))
    for k, (i, pa, ra) in enumerate(zip(members, p_adj, refute_adj, strict=True)):
        adjusted = Adjusted(METHOD_NAMES[method], pa, ra, level=family_level(ps, k, method, alpha),
                            level_refute=family_level(refute_ps, k, method, alpha),
                            floor=adjusted_at(ps, k, exact_floor_of(measured[i]), method))
        v = decide_measured(measured[i], hypotheses[i], alpha=alpha, min_g=min_g, p_equivalence=raw[i].p_equivalence,
                            adjusted=adjusted)
        out[i] = dataclasses.replace(v, family=label)
    return out
