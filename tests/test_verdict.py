"""The DESIGN section 6 verdict rule on planted effects."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from cyclegan.analysis.power import comparison_power, exact_floor
from cyclegan.analysis.stats import stratified_effect
from cyclegan.analysis.verdict import decide, evaluate, resolve_threshold, seeds_needed

OTHERS = ["weights", "disc"]


def design(effect=0.0, seeds=2, sd=0.1, seed=0, base=2.0):
    """2x2x2 like tests/test_stats.py: grid = base + effect [norm == none] + 0.5 [disc == scalar] + noise."""
    rng = np.random.default_rng(seed)
    rows = [dict(norm=n, weights=w, disc=d, seed=s,
                 grid=base + effect * (n == "none") + 0.5 * (d == "scalar") + rng.normal(0, sd))
            for n, w, d, s in itertools.product(["instance", "none"], ["imagenet", "random"],
                                                ["patch", "scalar"], range(seeds))]
    return pd.DataFrame(rows)

H2 = dict(name="H2", claim="instance norm removes the grid", factor="norm", levels=["instance", "none"],
          metric="grid", direction="lower", threshold=1.0)


def test_planted_effect_confirmed():
    v = evaluate(design(effect=3.0, seeds=2), H2, OTHERS)
    assert v.verdict == "confirmed" and v.seeds_needed is None
    assert v.difference < -2.5 and v.p_value <= 0.05 and v.exact and abs(v.hedges_g) >= 0.8
    assert (v.n_a, v.n_b) == (8, 8)
    assert v.rule.startswith("predicted direction") and "p=0.00154 <= 0.05" in v.rule


def test_reversed_effect_refuted():
    v = evaluate(design(effect=-3.0, seeds=3), H2, OTHERS)
    assert v.verdict == "refuted" and v.rule.startswith("opposite direction") and v.basis == "opposite direction"
    assert v.difference > 2.5


def test_noise_inconclusive_with_more_seeds_needed():
    df = design(effect=0.0, seeds=2, sd=1.0, seed=11)
    v = evaluate(df, dict(H2, threshold=0.5), OTHERS)
    assert v.verdict == "inconclusive", v.rule
    assert v.seeds_needed is not None and v.seeds_needed > 2
    assert "seeds per cell would settle it" in v.rule and "p=" in v.rule


def test_small_effect_inside_generous_threshold_refuted_by_equivalence():
    df = design(effect=0.05, seeds=6, sd=0.5, seed=12)
    v = evaluate(df, dict(H2, threshold=2.0), OTHERS)
    assert v.verdict == "refuted" and v.rule.startswith("equivalent")
    assert v.p_equivalence <= 0.05 and not v.exact  # 924^4 relabelings: Monte Carlo
    # The same data with a tight threshold proves nothing.
    tight = evaluate(df, dict(H2, threshold=0.05), OTHERS)
    assert tight.verdict == "inconclusive" and tight.p_equivalence > 0.05


def test_equivalence_p_matches_shifted_brute_force():
    # TOST by shifting level a by -+T: H0 delta >= T is rejected when D - T is extreme low among
    # within-stratum relabelings, H0 delta <= -T when D + T is extreme high. Balanced: equal weights.
    df = design(effect=0.1, seeds=2, sd=0.3, seed=13)
    e = stratified_effect(df, "norm", ["none", "instance"], "grid", OTHERS)
    v = decide(e, dict(H2, levels=["none", "instance"], direction="higher", threshold=0.6))
    one_sided = []
    for shift, lower_tail in ((-0.6, True), (0.6, False)):
        sub = df.assign(grid=df.grid + shift * (df.norm == "none"))
        strata = [np.r_[g[g.norm == "none"].grid, g[g.norm == "instance"].grid]
                  for _, g in sub.groupby(OTHERS)]
        obs = np.mean([x[:2].mean() - x[2:].mean() for x in strata])
        per = [[x[list(c)].mean() - np.delete(x, list(c)).mean()
                for c in itertools.combinations(range(4), 2)] for x in strata]
        null = np.array([np.mean(t) for t in itertools.product(*per)])
        one_sided.append(np.mean(null <= obs + 1e-12) if lower_tail else np.mean(null >= obs - 1e-12))
    assert v.p_equivalence == pytest.approx(max(one_sided))
    assert 0 < v.p_equivalence < 1


def test_relative_threshold_resolves_against_level_b():
    assert resolve_threshold("10%", -20.0) == pytest.approx(2.0)
    assert resolve_threshold(" 5 %", 40.0) == pytest.approx(2.0)
    assert resolve_threshold(1, 1e9) == 1.0
    with pytest.raises(ValueError):
        resolve_threshold(-1.0, 1.0)
    # level a mean 30, level b mean 10, diff +20: "100%" is 10 of b (30 if it wrongly used a).
    df = design(effect=-20.0, seeds=2, sd=0.05, base=30.0 - 0.25)
    e = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS)
    assert e.mean_a == pytest.approx(30.0, abs=0.05) and e.mean_b == pytest.approx(10.0, abs=0.05)
    rel = decide(e, dict(H2, direction="higher", threshold="100%"))
    assert rel.threshold == pytest.approx(e.mean_b)
    assert rel.verdict == "confirmed" and "100% of mean(none)" in rel.rule
    wide = decide(e, dict(H2, direction="higher", threshold="250%"))  # 25 > |diff|: inside
    assert wide.threshold == pytest.approx(2.5 * e.mean_b) and wide.verdict == "refuted"
    assert wide.rule.startswith("equivalent")


def test_too_few_runs_in_an_arm_is_inconclusive():
    df = design(effect=3.0, seeds=2)
    df.loc[(df.norm == "instance") & ~((df.weights == "imagenet") & (df.disc == "patch") & (df.seed == 0)),
           "grid"] = np.nan
    v = evaluate(df, H2, OTHERS)
    assert v.verdict == "inconclusive" and v.n_a == 1
    assert "fewer than 2 runs" in v.rule and "7 NaN" in v.rule


def test_zero_within_cell_variance_confirms_without_division_error():
    df = design(effect=3.0, seeds=2, sd=0.0)
    v = evaluate(df, H2, OTHERS)
    assert v.hedges_g == -math.inf and v.verdict == "confirmed" and "zero within-cell variance" in v.rule
    flat = evaluate(design(effect=0.0, seeds=2, sd=0.0), H2, OTHERS)
    assert math.isnan(flat.hedges_g) and flat.verdict == "refuted" and flat.p_equivalence <= 0.05


def test_seeds_needed_uses_t_and_the_exact_floor():
    # Standardised effect 2, one stratum: the normal formula says 4 seeds per arm, the t power says 6.
    z = 1.959963984540054 + 0.8416212335729143
    assert math.ceil(2 * z * z / 4) == 4
    assert seeds_needed(2.0, 1.0, 0.5, n_strata=1) == 6
    assert comparison_power(2.0, 5, 1) < 0.8 <= comparison_power(2.0, 6, 1)
    # Huge effect, one stratum: power is there at 2 seeds, but the exact test needs C(2n, n) >= 40 (n = 4).
    assert seeds_needed(50.0, 1.0, 0.5, n_strata=1) == 4
    assert exact_floor(2, 1) == pytest.approx(2 / 6) and exact_floor(3, 1) == pytest.approx(2 / 20)
    assert seeds_needed(20.0, 1.0, 0.5, n_strata=4) == 2  # 6^4 relabelings: 2 seeds can decide
    assert seeds_needed(1.0, 1.0, 0.5, n_strata=1) > math.ceil(2 * z * z / 1.0)  # the whole rule needs more than z
    assert seeds_needed(0.3, 1.0, 0.2, n_strata=1) is None  # |g| -> 0.3 < 0.8 and 0.3 > 0.2: no n decides
    assert seeds_needed(1.0, 0.0, 0.5, n_strata=4) is None
    assert seeds_needed(0.0, 1.0, 0.0, n_strata=4) is None


def test_hypothesis_must_match_effect():
    e = stratified_effect(design(effect=1.0), "norm", ["instance", "none"], "grid", OTHERS)
    with pytest.raises(ValueError, match="does not match"):
        decide(e, dict(H2, levels=["none", "instance"]))
    with pytest.raises(ValueError, match="direction"):
        decide(e, dict(H2, direction="smaller"))


def test_attribute_style_hypothesis():
    class H:
        name, claim, factor, levels, metric, direction, threshold = (
            "H2", "c", "norm", ("instance", "none"), "grid", "lower", "10%")
    df = design(effect=3.0, seeds=2)
    v = evaluate(df, H(), OTHERS)
    assert v.verdict == "confirmed"
    assert v.threshold == pytest.approx(0.1 * df[df.norm == "none"].grid.mean())


def test_a_relative_threshold_on_a_metric_with_values_at_or_below_zero_warns():
    """Review s17, finding 8: '10%' is 10% of |mean(b)|, which a common offset changes (the same data shifted by 1e8
    went from confirmed to refuted); meaningful only for a metric with a true zero. A warning, not an error."""
    h = dict(H2, threshold="10%")
    positive = evaluate(design(effect=3.0, seeds=2), h, OTHERS)
    assert positive.verdict == "confirmed" and "warning" not in positive.rule
    shifted = evaluate(design(effect=3.0, seeds=2, base=-2.0), h, OTHERS)
    assert "[warning: threshold 10% is relative to mean(none)" in shifted.rule and "values <= 0" in shifted.rule
