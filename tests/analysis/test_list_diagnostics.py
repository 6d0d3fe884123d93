"""Diagnostics of a list experiment: Blair & Imai's test for design effects (its
chi-bar-square weights, its statistic, the design-based proportions of respondent
types against the binomial formulas of R's ``list::ict.test``) and the floor and
ceiling counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import perception as pc
from perception.analysis.list_diagnostics import chi_bar_weights, orthant_probability
from perception.errors import EstimationError

J = 3
WEIGHT_ATOL = 0.006  # chi-bar-square weights vs a Monte Carlo of 40,000 projections
ORTHANT_ATOL = 1e-6  # closed forms vs Genz's algorithm
EXACT_RTOL = 1e-10  # the same number computed two ways
ALPHA = 0.05


def random_correlation(m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, m + 2))
    cov = a @ a.T
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def simulate(n: int, seed: int, design_effect: float = 0.0) -> pd.DataFrame:
    """A list experiment; with ``design_effect``, that share of the treatment list's
    respondents without the sensitive item count one control item fewer."""
    rng = np.random.default_rng(seed)
    y0 = rng.binomial(J, 0.5, n)
    z = rng.random(n) < 0.3
    t = (rng.random(n) < 0.5).astype(int)
    lower = (t == 1) & ~z & (y0 > 0) & (rng.random(n) < design_effect)
    return pd.DataFrame({"t": t, "y": y0 - lower + t * z, "g": rng.integers(0, 2, n)})


# ------------------------------------------------------------- chi-bar-square --
@pytest.mark.parametrize("m, seed", [(2, 1), (3, 2), (4, 3), (5, 4)])
def test_chi_bar_weights_are_the_projection_probabilities(m, seed):
    cov = random_correlation(m, seed)
    weights = chi_bar_weights(cov)
    assert np.isclose(weights.sum(), 1.0) and (weights >= 0).all()
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(np.zeros(m), cov, size=40_000)
    whiten = np.linalg.inv(np.linalg.cholesky(cov))
    positive = np.array([(optimize.nnls(whiten, whiten @ z)[0] > 1e-12).sum() for z in draws])
    frequencies = np.bincount(positive, minlength=m + 1) / len(draws)
    assert np.allclose(weights, frequencies, atol=WEIGHT_ATOL), (weights, frequencies)


def test_independent_components_give_binomial_weights():
    assert np.allclose(chi_bar_weights(np.eye(4)), stats.binom.pmf(range(5), 4, 0.5))


@pytest.mark.parametrize("m", [2, 3])
def test_orthant_probabilities_closed_forms_match_genz(m):
    cov = random_correlation(m, 7)
    genz = stats.multivariate_normal.cdf(np.zeros(m), mean=np.zeros(m), cov=cov,
                                         abseps=1e-10, releps=1e-10,
                                         rng=np.random.default_rng(0))
    assert abs(orthant_probability(cov) - genz) < ORTHANT_ATOL
    assert np.isclose(orthant_probability(np.eye(5)), 1 / 32, atol=ORTHANT_ATOL)


# ------------------------------------------------------------------- the test --
def ict_test_covariance(y: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The proportions pi(y, 1) (y = 0..J-1) and pi(y, 0) (y = 1..J) and their binomial
    covariances, as R's ``list::ict.test`` computes them."""
    F1 = np.array([np.mean(y[t == 1] <= k) for k in range(-1, J + 1)])  # F(k) at k + 1
    F0 = np.array([np.mean(y[t == 0] <= k) for k in range(-1, J + 1)])
    n1, n0 = (t == 1).sum(), (t == 0).sum()

    def F(arr, k):
        return arr[k + 1]

    # components as (treatment index, control index, sign) of F1(a) and F0(b)
    comps = [(k, k, -1.0) for k in range(J)] + [(k, k - 1, 1.0) for k in range(1, J + 1)]
    pi = np.array([F(F0, b) - F(F1, a) if s < 0 else F(F1, a) - F(F0, b) for a, b, s in comps])

    def cov_f(arr, n, a, b):
        lo, hi = min(a, b), max(a, b)
        return F(arr, lo) * (1 - F(arr, hi)) / n

    m = len(comps)
    V = np.empty((m, m))
    for i, (a1, b1, s1) in enumerate(comps):
        for j, (a2, b2, s2) in enumerate(comps):
            # pi = s (F1(a) - F0(b)); the two lists are independent samples
            V[i, j] = s1 * s2 * (cov_f(F1, n1, a1, a2) + cov_f(F0, n0, b1, b2))
    return pi, V


def test_srs_proportions_and_covariances_are_ict_test_times_n_over_n_minus_1():
    data = simulate(1500, seed=3)
    res = pc.list_design_test(pc.SurveyDesign(data), count="y", treatment="t",
                              n_control_items=J, gms=False)
    pi, V = ict_test_covariance(data["y"].to_numpy(), data["t"].to_numpy())
    n = len(data)
    assert np.allclose(res.proportions["estimate"], pi, rtol=EXACT_RTOL)
    assert np.allclose(res.proportions["se"] ** 2, np.diag(V) * n / (n - 1), rtol=1e-9)
    # the statistic: the distance to the positive orthant in the metric of V^-1
    tests = res.tests.set_index("sensitive")
    for z, idx in ((1, slice(0, J)), (0, slice(J, 2 * J))):
        S = V[idx, idx] * n / (n - 1)
        found = optimize.minimize(
            lambda mu, S=S, idx=idx: (pi[idx] - mu) @ np.linalg.solve(S, pi[idx] - mu),
            np.clip(pi[idx], 0, None), bounds=[(0, None)] * J, method="L-BFGS-B",
            options={"ftol": 1e-15, "gtol": 1e-12})
        assert np.isclose(tests.loc[z, "statistic"], found.fun, rtol=1e-5, atol=1e-9)


def test_no_design_effect_is_not_rejected_and_a_design_effect_is():
    clean = simulate(4000, seed=21)
    res = pc.list_design_test(pc.SurveyDesign(clean), count="y", treatment="t",
                              n_control_items=J)
    assert res.p["p"].iloc[0] > ALPHA
    broken = simulate(4000, seed=21, design_effect=0.6)
    res = pc.list_design_test(pc.SurveyDesign(broken), count="y", treatment="t",
                              n_control_items=J)
    assert res.p["p"].iloc[0] < 1e-4
    negative = res.proportions[res.proportions["estimate"] < 0]
    assert len(negative) and (negative["sensitive"] == 1).all()
    assert "Bonferroni" in res.summary()


def test_bonferroni_is_twice_the_smaller_p_at_most_one_by_subgroup():
    data = simulate(3000, seed=4, design_effect=0.3)
    res = pc.list_design_test(pc.SurveyDesign(data, psu=None), count="y", treatment="t",
                              n_control_items=J, by="g")
    assert res.p["g"].tolist() == [0, 1]
    for g in (0, 1):
        tests = res.tests[res.tests["g"] == g]["p"].dropna()
        assert np.isclose(res.p.loc[res.p["g"] == g, "p"].item(), min(1.0, 2 * tests.min()))


def test_gms_leaves_out_the_clearly_positive_proportions():
    data = simulate(4000, seed=5)
    res = pc.list_design_test(pc.SurveyDesign(data), count="y", treatment="t",
                              n_control_items=J)
    props = res.proportions
    clear = props["estimate"] / props["se"] > np.sqrt(np.log(len(data)))
    assert (props["tested"] == ~clear).all()
    counted = res.tests.set_index("sensitive")["components"]
    assert counted.sum() == int((~clear).sum())


def test_the_demo_has_no_design_effect():
    d = pc.demo_survey(seed=1).design()
    res = pc.list_design_test(d, count="le_count", treatment="le_list", n_control_items=4,
                              by="wave")
    assert (res.p["p"] > ALPHA).all()


# ------------------------------------------------------------ floor and ceiling --
def test_floor_and_ceiling_counts_and_shares():
    data = simulate(2000, seed=6)
    data["w"] = np.where(data["g"] == 1, 2.0, 1.0)
    design = pc.SurveyDesign(data, weights="w")
    t = pc.list_floor_ceiling(design, count="y", treatment="t", n_control_items=J)
    assert t[["list", "count"]].values.tolist() == [["control", 0], ["control", J],
                                                   ["treatment", 0], ["treatment", J + 1]]
    for row in t.itertuples(index=False):
        arm = data["t"] == (row.list == "treatment")
        at = arm & (data["y"] == row.count)
        assert row.respondents == at.sum() and row.n == arm.sum()
        share = (data.loc[at, "w"].sum()) / data.loc[arm, "w"].sum()
        assert np.isclose(row.share, share, rtol=EXACT_RTOL)
    assert t["disclosure"].tolist() == [False, False, True, True]


def test_floor_and_ceiling_need_both_lists_in_each_subgroup():
    data = simulate(200, seed=7)
    data.loc[data["g"] == 1, "t"] = 0
    data["y"] = data["y"].clip(upper=J)
    with pytest.raises(EstimationError, match="no respondent heard the treatment list"):
        pc.list_floor_ceiling(pc.SurveyDesign(data), count="y", treatment="t",
                              n_control_items=J, by="g")
    with pytest.raises(EstimationError, match="above J = 2 on the control list"):
        pc.list_floor_ceiling(pc.SurveyDesign(simulate(200, seed=7)), count="y",
                              treatment="t", n_control_items=2)
