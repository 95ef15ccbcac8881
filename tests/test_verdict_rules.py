"""Bound claims, heterogeneous effects, the settling rule and the design warning, on planted data."""
import itertools
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cyclegan.analysis.design import design_warnings
from cyclegan.analysis.settle import over_training, window
from cyclegan.analysis.verdict import evaluate
from cyclegan.report.render import strata_summary

H2 = dict(name="H2", claim="instance norm lowers the grid", factor="norm", levels=["instance", "none"],
          metric="grid", direction="lower", threshold=1.0)
REMOVES = dict(name="H2-removes", claim="no grid is left", factor="norm", level="instance", metric="grid", below=1.0)


def runs(effect_by_up, seeds=3, sd=0.2, base=2.0, seed=0, instance_level=None):
    """norm x up: grid = base + effect_by_up[up] at norm=none (+ noise); instance_level sets norm=instance's mean."""
    rng = np.random.default_rng(seed)
    rows = []
    for n, up, s in itertools.product(["instance", "none"], ["transpose", "resize"], range(seeds)):
        mean = (instance_level if instance_level is not None else base) if n == "instance" else base + effect_by_up[up]
        rows.append(dict(norm=n, up=up, seed=s, grid=mean + rng.normal(0, sd)))
    return pd.DataFrame(rows)


# -- bound claims ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "expected"), [(0.4, "confirmed"), (2.5, "refuted"), (1.0, "inconclusive")])
def test_bound_met_missed_undecided(level, expected):
    v = evaluate(runs({"transpose": 3, "resize": 3}, instance_level=level), REMOVES, ["up"])
    assert v.kind == "bound" and v.verdict == expected, v.rule
    assert v.basis == {"confirmed": "upper bound", "refuted": "lower bound", "inconclusive": ""}[expected]
    assert v.n_a == 6 and v.ci_low < v.difference < v.ci_high
    if expected == "inconclusive":
        assert v.seeds_needed is None or v.seeds_needed > 3
    assert (v.ci_high < 1.0) == (expected == "confirmed") and (v.ci_low > 1.0) == (expected == "refuted")


def test_bound_weights_strata_equally():
    df = runs({"transpose": 0, "resize": 0}, instance_level=0.0, sd=0.0)
    df.loc[(df.norm == "instance") & (df.up == "transpose"), "grid"] = 2.0
    extra = df[(df.norm == "instance") & (df.up == "resize")].assign(seed=[3, 4, 5])  # 6 runs in one stratum
    v = evaluate(pd.concat([df, extra]), REMOVES, ["up"])
    assert v.difference == pytest.approx(1.0)  # (2 + 0) / 2, not (3 * 2 + 6 * 0) / 9


def test_where_restricts_to_strata():
    h = dict(H2, where={"up": "transpose"})
    v = evaluate(runs({"transpose": 3.0, "resize": -0.5}, seeds=4), h, ["up"])
    assert v.verdict == "confirmed" and v.n_a == 4 and v.where == (("up", "transpose"),)
    # one stratum with 3 seeds per arm: the exact test cannot reach 0.05 (2/20), whatever the effect
    few = evaluate(runs({"transpose": 3.0, "resize": -0.5}, seeds=3), h, ["up"])
    assert few.verdict == "inconclusive" and "cannot go below p=0.1" in few.rule and few.seeds_needed == 4


# -- heterogeneity -----------------------------------------------------------------------------------------

def test_same_sign_everywhere_gives_one_verdict():
    v = evaluate(runs({"transpose": 3.0, "resize": 2.0}), H2, ["up"])
    assert v.verdict == "confirmed" and all(o == "holds" for o in v.strata_outcomes)
    assert len(v.strata_effects) == 2


def test_opposite_signs_name_where_the_claim_holds():
    v = evaluate(runs({"transpose": 3.3, "resize": -1.5}), H2, ["up"])
    assert v.verdict == "heterogeneous" and v.seeds_needed is None and v.basis == "interaction", v.rule
    assert v.heterogeneity_p <= 0.05
    assert "holds where up=transpose" in v.rule and "reversed where up=resize" in v.rule
    assert "more seeds will not" in v.rule
    by = dict(zip((s.label for s in v.strata_effects), v.strata_outcomes, strict=True))
    assert by == {"up=resize": "opposite", "up=transpose": "holds"}
    # The verdict table and console line say where, not only the long text: holds first, then reversed.
    summary = strata_summary(v)
    assert summary.startswith("holds where up=transpose (") and "; reversed where up=resize (" in summary


def test_effect_in_one_stratum_only():
    v = evaluate(runs({"transpose": 3.0, "resize": 0.0}, sd=0.1), H2, ["up"])
    assert v.verdict == "heterogeneous", v.rule
    assert "holds where up=transpose" in v.rule and "no effect where up=resize" in v.rule


# -- the settling rule over mini-epochs ----------------------------------------------------------------------

def history(effect_at, epochs=8, seeds=3, sd=0.2, seed=0):
    """One row per run and mini-epoch: grid = 2 + effect_at(epoch) at norm=none, flat curves otherwise."""
    rng = np.random.default_rng(seed)
    rows = [dict(norm=n, up=up, seed=s, mini_epoch=e,
                 grid=2.0 + (effect_at(e) if n == "none" else 0.0) + rng.normal(0, sd))
            for e in range(1, epochs + 1)
            for n, up, s in itertools.product(["instance", "none"], ["transpose", "resize"], range(seeds))]
    return pd.DataFrame(rows)


def verdict_over_training(long, hypothesis):
    return over_training(long[long.mini_epoch == long.mini_epoch.max()], long, hypothesis, ["up"])


def test_window():
    assert [window(n) for n in (1, 4, 8, 9, 16)] == [2, 2, 2, 3, 4]


def test_effect_from_the_start_is_confirmed_and_says_since():
    v = verdict_over_training(history(lambda e: 3.0), H2)
    assert v.verdict == "confirmed" and v.settled and v.since == 1 and v.basis == "predicted direction", v.rule
    assert len(v.trajectory) == 8 and "(met; held since mini-epoch 1)" in v.settle_rule


def test_effect_only_in_the_last_mini_epoch_is_not_settled():
    v = verdict_over_training(history(lambda e: 3.0 if e >= 8 else 0.0, epochs=8), H2)
    assert v.verdict == "inconclusive" and not v.settled and v.label == "inconclusive: not settled"
    assert v.rule.startswith("not settled: confirmed") and v.suggested_mini_epochs > 8 and v.basis == ""
    assert v.since == 8
    fixed = verdict_over_training(history(lambda e: 3.0 if e >= 8 else 0.0, epochs=8), dict(H2, settle=False))
    assert fixed.verdict == "confirmed" and "settle: false" in fixed.settle_rule


def test_effect_that_fades_is_not_confirmed():
    v = verdict_over_training(history(lambda e: 3.0 if e <= 5 else 0.0, epochs=8), H2)
    assert v.verdict != "confirmed"
    assert v.trajectory[0].verdict == "confirmed" and v.trajectory[-1].verdict != "confirmed"


def test_no_effect_many_seeds_flat_curves_refuted_by_equivalence():
    long = history(lambda e: 0.0, epochs=6, seeds=8, sd=0.2)
    v = verdict_over_training(long, dict(H2, threshold=1.0))
    assert v.verdict == "refuted" and v.settled and v.rule.startswith("equivalent") and v.basis == "equivalence", v.rule
    assert all(p.verdict == "refuted" for p in v.trajectory)


# -- before training ----------------------------------------------------------------------------------------

def test_design_warning_for_designs_below_the_exact_floor():
    hyp = SimpleNamespace(name="H2", factor="norm", level=None, where={})
    one = SimpleNamespace(factors={"norm": ("instance", "none")}, seeds=(0, 1, 2), hypotheses=(hyp,))
    (line,) = design_warnings(one)
    assert "'H2'" in line and "smallest p is 0.1" in line and "at least 4 seeds" in line
    two = SimpleNamespace(factors={"norm": ("instance", "none"), "up": ("a", "b")}, seeds=(0, 1, 2), hypotheses=(hyp,))
    assert design_warnings(two) == []  # 20^2 relabelings: 2/400
    restricted = SimpleNamespace(name="H2", factor="norm", level=None, where={"up": "a"})
    assert len(design_warnings(SimpleNamespace(factors=two.factors, seeds=(0, 1, 2), hypotheses=(restricted,)))) == 1


def test_equivalence_that_is_drifting_towards_the_threshold_is_not_settled():
    # No effect early, then a growing difference that stays inside the margin (1.0) at the end: the
    # equivalence test refutes at every mini-epoch, but the trend reaches the margin one window later.
    long = history(lambda e: max(0.0, 0.25 * (e - 4.6)), epochs=8, seeds=8, sd=0.05)  # 0.6, 0.85 at the end
    v = verdict_over_training(long, dict(H2, direction="higher"))
    assert v.trajectory[-1].verdict == "refuted" and v.trajectory[-2].verdict == "refuted"
    assert v.verdict == "inconclusive" and not v.settled and "outside the equivalence margin" in v.rule, v.rule


def test_a_refutation_that_changes_its_basis_has_not_settled():
    """Review s17, finding 4: a difference of 0 at mini-epochs 1-7 (refuted by equivalence) and +3 at 8 (refuted by
    the opposite direction) was reported settled, by the opposite direction, since mini-epoch 1."""
    from cyclegan.analysis.settle import family_over_training

    h = dict(name="H", claim="", factor="f", levels=["a", "b"], metric="m", direction="lower", threshold=1.0)
    noise = np.random.default_rng(0).normal(size=(2, 4, 8)) * 0.05  # level x seed x mini-epoch
    long = pd.DataFrame([dict(mini_epoch=e, f=level, o=k // 4, seed=k % 4,
                              m=noise[i, k % 4, e - 1] + (3.0 if level == "a" and e == 8 else 0.0))
                         for e in range(1, 9) for i, level in enumerate("ab") for k in range(8)])
    (v,) = family_over_training(long[long.mini_epoch == 8].drop(columns="mini_epoch"), long, [h], ["f", "o"])
    assert [(p.verdict, p.basis) for p in v.trajectory[-2:]] == [("refuted", "equivalence"), ("refuted", "opposite direction")]
    assert v.label == "inconclusive: not settled" and v.since == 8, v.settle_rule  # was: refuted since 1
    assert v.rule.startswith("not settled: refuted (opposite direction) at the last mini-epoch")
