"""Before training: can this design confirm or refute each declared hypothesis at all?

The exact stratified permutation test of a comparison has a floor (cyclegan.analysis.power.exact_floor):
one stratum with 2 seeds per arm never gives p <= 0.05 however large the effect. A bound claim's t bound
needs a residual degree of freedom (2 seeds in a stratum). Pure: it reads the study's factors, seeds
and hypotheses (attributes), nothing else.
"""
from __future__ import annotations

import math

from cyclegan.analysis.power import exact_floor
from cyclegan.analysis.rules import ALPHA
from cyclegan.analysis.verdict import hypothesis_where, is_bound


def _strata(study, hypothesis) -> int:
    where = hypothesis_where(hypothesis)
    return math.prod(1 if f in where else len(levels) for f, levels in study.factors.items() if f != hypothesis.factor)


def design_warnings(study, alpha: float = ALPHA) -> list[str]:
    """One line per hypothesis this design cannot decide (empty when all can)."""
    seeds, out = len(study.seeds), []
    for h in study.hypotheses:
        strata = _strata(study, h)
        if is_bound(h):
            if seeds < 2:
                out.append(f"hypothesis {h.name!r}: with {seeds} seed per cell the bound on {h.factor}={h.level} has no "
                           "run-to-run spread to bound; it can only be inconclusive. Declare at least 2 seeds.")
            continue
        floor = exact_floor(seeds, strata)
        if floor > alpha:
            need = next(n for n in range(seeds + 1, 100) if exact_floor(n, strata) <= alpha)
            eq = exact_floor(seeds, strata, two_sided=False)
            out.append(f"hypothesis {h.name!r}: {seeds} seeds x {strata} strata: the exact test's smallest p is {floor:.3g} "
                       f"> {alpha}, so it can be neither confirmed nor refuted by a difference"
                       + ("" if eq <= alpha else " nor by equivalence")
                       + f"; declare at least {need} seeds (or more strata).")
    return out
