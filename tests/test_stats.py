"""Statistics primitives: answers computed independently here (brute force, closed forms)."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from cyclegan.analysis.stats import hedges_g, interaction_table, stratified_effect, summarise_cells


def design(effect=0.0, seeds=2, sd=0.1, offset_w=0.0, seed=0, base=2.0):
    """2x2x2: norm {instance, none} x weights {imagenet, random} x disc {patch, scalar}.

    metric = base + effect * [norm == none] + offset_w * [weights == random] + 0.5 [disc == scalar] + noise.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n, w, d, s in itertools.product(["instance", "none"], ["imagenet", "random"],
                                        ["patch", "scalar"], range(seeds)):
        y = base + effect * (n == "none") + offset_w * (w == "random") + 0.5 * (d == "scalar")
        rows.append(dict(norm=n, weights=w, disc=d, seed=s, grid=y + rng.normal(0, sd)))
    return pd.DataFrame(rows)


OTHERS = ["weights", "disc"]


def test_strong_effect_has_smallest_exact_p():
    df = design(effect=3.0, seeds=2)
    e = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS)
    assert e.exact and e.n_relabelings == math.comb(4, 2) ** 4
    assert e.p_value == pytest.approx(2 / 1296)  # only the identity and the full swap reach |D|
    assert e.difference == pytest.approx(-3.0, abs=0.2)
    assert (e.n_a, e.n_b, e.n_strata) == (8, 8, 4)


def brute_force_p(strata):
    """Every relabeling within strata, statistic with weights n_a n_b / (n_a + n_b)."""
    per = []
    for a, b in strata:
        x, na = a + b, len(a)
        per.append([(list(c), [i for i in range(len(x)) if i not in c], x)
                    for c in itertools.combinations(range(len(x)), na)])
    w = [len(a) * len(b) / (len(a) + len(b)) for a, b in strata]

    def stat(choice):
        return sum(wi * (np.mean([x[i] for i in ia]) - np.mean([x[i] for i in ib]))
                   for wi, (ia, ib, x) in zip(w, choice, strict=True)) / sum(w)

    obs = sum(wi * (np.mean(a) - np.mean(b)) for wi, (a, b) in zip(w, strata, strict=True)) / sum(w)
    vals = [stat(ch) for ch in itertools.product(*per)]
    return obs, sum(abs(v) >= abs(obs) - 1e-12 for v in vals) / len(vals), len(vals)


def tiny():
    strata = [([1.0, 3.5], [0.2]), ([5.0, 6.1, 4.0], [4.4, 2.0])]
    rows = [dict(f=lev, z=f"z{k}", m=v) for k, (a, b) in enumerate(strata)
            for lev, vals in (("a", a), ("b", b)) for v in vals]
    return strata, pd.DataFrame(rows)


def test_exact_p_matches_brute_force():
    strata, df = tiny()
    obs, p, count = brute_force_p(strata)
    e = stratified_effect(df, "f", ["a", "b"], "m", ["z"])
    assert e.exact and e.n_relabelings == count == 3 * 10
    assert e.difference == pytest.approx(obs)
    assert e.p_value == pytest.approx(p)
    assert 0.05 < p < 1  # a non-trivial value, not a boundary


def test_monte_carlo_fallback_approximates_exact_and_is_seeded():
    df = design(effect=0.15, seeds=2, sd=0.2, seed=3)
    ex = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS)
    mc = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS, max_exact=100, n_mc=20_000)
    assert ex.exact and not mc.exact and mc.n_relabelings == 20_000
    assert mc.p_value == pytest.approx(ex.p_value, abs=0.02)
    again = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS, max_exact=100, n_mc=20_000)
    assert again.p_value == mc.p_value


def test_stratum_offset_does_not_fake_an_effect():
    # x is unrelated to m; z shifts m by 100 and is confounded with x (8+1 vs 1+8 runs).
    rng = np.random.default_rng(1)
    rows = [dict(x=x, z=z, m=100.0 * (z == "z2") + rng.normal(0, 1))
            for z, (nx1, nx2) in (("z1", (8, 1)), ("z2", (1, 8)))
            for x, n in (("x1", nx1), ("x2", nx2)) for _ in range(n)]
    df = pd.DataFrame(rows)
    naive = stratified_effect(df, "x", ["x1", "x2"], "m", [])
    strat = stratified_effect(df, "x", ["x1", "x2"], "m", ["z"])
    assert abs(naive.difference) > 50 and naive.p_value <= 0.05  # unstratified: spurious effect
    assert abs(strat.difference) < 3 and strat.p_value > 0.2  # stratified: none


def test_stratification_removes_other_factor_variance():
    # Balanced design, real effect 1 with an other-factor offset of 100: only strata reveal it.
    df = design(effect=1.0, seeds=3, sd=0.2, offset_w=100.0, seed=2)
    naive = stratified_effect(df, "norm", ["instance", "none"], "grid", [])
    strat = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS)
    assert naive.p_value > 0.3 and strat.p_value < 0.01
    assert abs(strat.hedges_g) > 3 > abs(naive.hedges_g)


def test_hedges_g_hand_computation():
    # Strata z1: a=[1,2,3], b=[0,1]; z2: a=[10,12], b=[8,9,10].
    df = pd.DataFrame(dict(f=list("aaabbaabbb"), z=["z1"] * 5 + ["z2"] * 5,
                           m=[1, 2, 3, 0, 1, 10, 12, 8, 9, 10.0]))
    e = stratified_effect(df, "f", ["a", "b"], "m", ["z"])
    w1 = w2 = 3 * 2 / 5
    diff = (w1 * (2 - 0.5) + w2 * (11 - 9)) / (w1 + w2)  # 1.75
    sse = 2 + 0.5 + 2 + 2  # deviations from the 4 cell means
    dfree = 10 - 4
    j = math.gamma(dfree / 2) / (math.sqrt(dfree / 2) * math.gamma((dfree - 1) / 2))
    assert e.difference == pytest.approx(1.75) == pytest.approx(diff)
    assert e.df_within == dfree and e.sd_within == pytest.approx(math.sqrt(sse / dfree))
    assert e.hedges_g == pytest.approx(j * diff / math.sqrt(sse / dfree))
    assert j == pytest.approx(1 - 3 / (4 * dfree - 1), abs=0.01)


def test_hedges_g_zero_variance_and_no_replication():
    g, sd, _, note = hedges_g(-2.0, [np.array([1.0, 1.0]), np.array([3.0, 3.0])])
    assert g == -math.inf and sd == 0 and "zero within-cell variance" in note
    g, _, _, note = hedges_g(0.0, [np.array([1.0, 1.0]), np.array([1.0, 1.0])])
    assert math.isnan(g) and "zero difference" in note
    g, _, dfw, note = hedges_g(1.0, [np.array([1.0]), np.array([2.0, 2.5])])
    assert math.isnan(g) and dfw == 1 and "residual df" in note


def test_ci_covers_truth_and_does_not_depend_on_the_seed():
    df = design(effect=1.0, seeds=3, sd=0.3, seed=4)
    e1 = stratified_effect(df, "norm", ["none", "instance"], "grid", OTHERS, seed=7)
    e2 = stratified_effect(df, "norm", ["none", "instance"], "grid", OTHERS, seed=8)
    assert e1.ci_low < 1.0 < e1.ci_high and e1.ci_low < e1.difference < e1.ci_high
    assert e1.ci_high - e1.ci_low < 1.0  # informative, not everything
    assert (e1.ci_low, e1.ci_high) == (e2.ci_low, e2.ci_high)  # a t interval: no resampling, no seed
    # D +- t(df_w) s_w / sqrt(W): 4 strata of 3 vs 3 (w = 1.5 each), df_w = 24 runs - 8 cells = 16
    half = scipy.stats.t.ppf(0.975, 16) * e1.sd_within / math.sqrt(4 * 1.5)
    assert (e1.ci_low, e1.ci_high) == pytest.approx((e1.difference - half, e1.difference + half))


def test_nan_metrics_and_other_levels_are_dropped_with_counts():
    df = design(effect=1.0, seeds=2)
    df.loc[0, "grid"] = np.nan
    extra = df.iloc[:3].assign(norm="batch")  # a third level: ignored
    e = stratified_effect(pd.concat([df, extra]), "norm", ["instance", "none"], "grid", OTHERS)
    assert (e.n_a, e.n_b, e.n_nan_dropped) == (7, 8, 1)
    with pytest.raises(ValueError):
        stratified_effect(df, "norm", ["none", "none"], "grid", OTHERS)


def test_unmatched_strata_are_dropped():
    df = design(effect=1.0, seeds=2)
    df = df[~((df.weights == "random") & (df.disc == "scalar") & (df.norm == "none"))]
    e = stratified_effect(df, "norm", ["instance", "none"], "grid", OTHERS)
    assert e.n_strata == 3 and e.n_unmatched_dropped == 2 and e.n_a == e.n_b == 6


def test_interaction_table_and_contrast():
    rows = []
    rng = np.random.default_rng(5)
    for a, b, s in itertools.product(["a1", "a2"], ["b1", "b2"], range(4)):
        mean = {("a1", "b1"): 1.0, ("a1", "b2"): 2.0, ("a2", "b1"): 3.0, ("a2", "b2"): 7.0}[a, b]
        rows.append(dict(A=a, B=b, seed=s, m=mean + rng.normal(0, 0.1)))
    df = pd.DataFrame(rows)
    t = interaction_table(df, "A", "B", "m")
    assert list(t.index) == ["a1", "a2"] and list(t.columns) == ["b1", "b2"]
    hand = df.groupby(["A", "B"]).m.mean()
    assert t.loc["a2", "b1"] == pytest.approx(hand["a2", "b1"])
    contrast = (hand["a1", "b1"] - hand["a1", "b2"]) - (hand["a2", "b1"] - hand["a2", "b2"])
    assert t.attrs["contrast"] == pytest.approx(contrast) and contrast == pytest.approx(3.0, abs=0.3)
    assert t.attrs["p_value"] < 0.01
    additive = df.assign(m=df.m - 3.0 * ((df.A == "a2") & (df.B == "b2")))
    assert interaction_table(additive, "A", "B", "m").attrs["p_value"] > 0.05


def test_summarise_cells_hand_values():
    df = pd.DataFrame(dict(
        A=["x", "x", "x", "x", "y", "y"], seed=[0, 1, 2, 3, 0, 1],
        m=[1.0, 2.0, 3.0, np.nan, 5.0, 9.0],
        status=["FINISHED", "FINISHED", "FINISHED", "FAILED", "FINISHED", "FINISHED"]))
    s = summarise_cells(df, ["A"], ["m"]).set_index("A")
    t2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # closed-form t quantile for 2 df at 0.975
    assert s.loc["x", "n_runs"] == 4 and s.loc["x", "n_finished"] == 3 and s.loc["x", "n_failed"] == 1
    assert s.loc["x", "n_seeds"] == 3 and s.loc["x", "m_n"] == 3
    assert s.loc["x", "m_mean"] == pytest.approx(2.0)
    assert s.loc["x", "m_ci_low"] == pytest.approx(2.0 - t2 * 1.0 / math.sqrt(3))
    assert s.loc["x", "m_ci_high"] == pytest.approx(2.0 + t2 * 1.0 / math.sqrt(3))
    t1 = 12.706204736174698  # t_{0.975, 1} = tan(0.475 pi)
    assert t1 == pytest.approx(math.tan(0.475 * math.pi))
    assert s.loc["y", "m_ci_high"] == pytest.approx(7.0 + t1 * math.sqrt(8) / math.sqrt(2))
    single = summarise_cells(df.iloc[4:5].drop(columns="status"), ["A"], ["m"])
    assert single.m_mean[0] == 5.0 and math.isnan(single.m_ci_low[0]) and "n_failed" not in single
