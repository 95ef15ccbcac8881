"""Before training: can this design confirm or refute each declared hypothesis at all?

The exact stratified permutation test of a comparison has a floor (cyclegan.analysis.power.exact_floor):
one stratum with 2 seeds per arm never gives p <= 0.05 however large the effect. In a family the floor
must pass the family's correction, not alpha: with Holm over m hypotheses the smallest p is compared with
alpha / m, so a floor between alpha / m and alpha decides alone but never in the family. The check is the
family's best case: every confirmatory hypothesis at its own floor (a bound's t test has none), adjusted
together (cyclegan.analysis.family.adjusted_at); a hypothesis whose adjusted floor is above alpha cannot be
decided whatever the data. A bound claim's t bound needs a residual degree of freedom (2 seeds in a
stratum). Pure: it reads the study's factors, seeds, hypotheses and correction (attributes), nothing else.
"""
from __future__ import annotations

import math

from cyclegan.analysis.family import METHOD_NAMES, adjusted_at
from cyclegan.analysis.power import exact_floor
from cyclegan.analysis.rules import ALPHA, DEFAULT_CORRECTION
from cyclegan.analysis.verdict import hypothesis_field, hypothesis_where, is_bound


def _strata(study, hypothesis) -> int:
    where = hypothesis_where(hypothesis)
    return math.prod(1 if f in where else len(levels) for f, levels in study.factors.items() if f != hypothesis.factor)


def _floors(study, seeds: int, *, two_sided: bool) -> list[float]:
    """Each hypothesis's smallest attainable p with `seeds` per cell: the exact test's floor for a
    comparison, 0 for a bound with a residual df (a t test), 1 without one (no p: it counts as 1)."""
    return [(0.0 if seeds >= 2 else 1.0) if is_bound(h) else exact_floor(seeds, _strata(study, h), two_sided=two_sided)
            for h in study.hypotheses]


def _best_adjusted(study, seeds: int, i: int, method: str, *, two_sided: bool = True) -> float:
    """The smallest p hypothesis `i` can be decided with: its floor, adjusted over the confirmatory family
    with every other member at its floor (the family's best case); the raw floor for an exploratory one."""
    floors = _floors(study, seeds, two_sided=two_sided)
    members = [k for k, h in enumerate(study.hypotheses) if not hypothesis_field(h, "exploratory", False)]
    if i not in members:
        return floors[i]
    return adjusted_at([floors[k] for k in members], members.index(i), floors[i], method)


def design_warnings(study, alpha: float = ALPHA) -> list[str]:
    """One line per hypothesis this design cannot decide (empty when all can)."""
    seeds, out = len(study.seeds), []
    method = getattr(study, "correction", DEFAULT_CORRECTION)
    for i, h in enumerate(study.hypotheses):
        strata = _strata(study, h)
        if is_bound(h):
            if seeds < 2:
                out.append(f"hypothesis {h.name!r}: with {seeds} seed per cell the bound on {h.factor}={h.level} has no "
                           "run-to-run spread to bound; it can only be inconclusive. Declare at least 2 seeds.")
            continue
        floor, best = exact_floor(seeds, strata), _best_adjusted(study, seeds, i, method)
        if best > alpha:
            need = next((n for n in range(seeds + 1, 100) if _best_adjusted(study, n, i, method) <= alpha), None)
            eq = _best_adjusted(study, seeds, i, method, two_sided=False)
            family = "" if best == floor else (f", {METHOD_NAMES[method]}-adjusted over its family at best {best:.3g} "
                                               "(even if every other hypothesis reaches its own smallest p)")
            out.append(f"hypothesis {h.name!r}: {seeds} seeds x {strata} strata: the exact test's smallest p is {floor:.3g}"
                       f"{family} > {alpha}, so it can be neither confirmed nor refuted by a difference"
                       + ("" if eq <= alpha else " nor by equivalence")
                       + (f"; declare at least {need} seeds (or more strata)." if need else "; declare more seeds or strata."))
    return out
