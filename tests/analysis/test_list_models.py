"""The ML model of a list experiment (Imai 2011), fitted by EM with design-based SEs:
checked against an independent implementation (the likelihood written again here,
maximised by scipy, its derivatives taken by finite differences) and a jackknife by
hand; the errors it raises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import perception as pc
from perception.errors import EstimationError

J = 4
TRUE_DELTA = (-1.0, 0.6, 0.8)
TRUE_PSI = (0.2, -0.3, 0.4)
PARAM_ATOL = 2e-5  # ML estimates vs scipy's maximisation of the same likelihood
SE_RTOL = 2e-4  # design-based SEs vs finite-difference sandwich / jackknife by hand
STEP = 1e-5  # finite-difference step


def simulate(n: int, seed: int, clusters: int | None = None) -> pd.DataFrame:
    """Counts of Imai's model with two covariates; optionally clustered with weights."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    X = np.column_stack([np.ones(n), x1, x2])
    z = rng.random(n) < 1 / (1 + np.exp(-X @ np.array(TRUE_DELTA)))
    y0 = rng.binomial(J, 1 / (1 + np.exp(-X @ np.array(TRUE_PSI))))
    t = (rng.random(n) < 0.5).astype(int)
    data = pd.DataFrame({"x1": x1, "x2": x2, "t": t, "y": y0 + t * z})
    if clusters:
        data["psu"] = rng.integers(0, clusters, n)
        data["stratum"] = data["psu"] % 4
        data["w"] = rng.uniform(1, 4, n)
    return data


def log_lik_rows(params: np.ndarray, X: np.ndarray, y, t) -> np.ndarray:
    """Imai's likelihood, written independently of perception's."""
    p = X.shape[1]
    pi = 1 / (1 + np.exp(-X @ params[:p]))
    q = 1 / (1 + np.exp(-X @ params[p:]))
    both = pi * stats.binom.pmf(y - 1, J, q) + (1 - pi) * stats.binom.pmf(y, J, q)
    return np.log(np.where(t == 1, both, stats.binom.pmf(y, J, q)))


def design_matrix(data: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(data)), data["x1"], data["x2"]])


def scipy_fit(data: pd.DataFrame, w: np.ndarray) -> np.ndarray:
    X, y, t = design_matrix(data), data["y"].to_numpy(), data["t"].to_numpy()
    result = optimize.minimize(lambda b: -w @ log_lik_rows(b, X, y, t), np.zeros(6),
                               method="BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
    return result.x


def estimates(fit) -> np.ndarray:
    return np.concatenate([fit.sensitive["estimate"], fit.control["estimate"]])


def ses(fit) -> np.ndarray:
    return np.concatenate([fit.sensitive["se"], fit.control["se"]])


def row_scores(params: np.ndarray, X, y, t) -> np.ndarray:
    """Per-row gradients of the log-likelihood by central differences."""
    out = np.empty((len(y), len(params)))
    for k in range(len(params)):
        e = np.zeros(len(params))
        e[k] = STEP
        out[:, k] = (log_lik_rows(params + e, X, y, t) - log_lik_rows(params - e, X, y, t)
                     ) / (2 * STEP)
    return out


def hessian(params: np.ndarray, X, y, t, w) -> np.ndarray:
    out = np.empty((len(params), len(params)))
    for k in range(len(params)):
        e = np.zeros(len(params))
        e[k] = STEP
        out[:, k] = (w @ row_scores(params + e, X, y, t) - w @ row_scores(params - e, X, y, t)
                     ) / (2 * STEP)
    return (out + out.T) / 2


@pytest.fixture(scope="module")
def srs_data() -> pd.DataFrame:
    return simulate(3000, seed=11)


def test_ml_estimates_maximise_the_likelihood(srs_data):
    design = pc.SurveyDesign(srs_data)
    fit = pc.list_regression(design, "y ~ x1 + x2", treatment="t", n_control_items=J)
    ours = estimates(fit)
    theirs = scipy_fit(srs_data, np.ones(len(srs_data)))
    assert np.allclose(ours, theirs, atol=PARAM_ATOL), (ours, theirs)
    X, y, t = design_matrix(srs_data), srs_data["y"].to_numpy(), srs_data["t"].to_numpy()
    assert np.isclose(fit.log_likelihood, log_lik_rows(ours, X, y, t).sum(), rtol=1e-12)
    assert np.abs(row_scores(ours, X, y, t).sum(axis=0)).max() < 1e-5
    assert list(fit.sensitive.index) == ["Intercept", "x1", "x2"]
    # the simulation's truth is within reach (n = 3000)
    assert np.all(np.abs(ours - np.array([*TRUE_DELTA, *TRUE_PSI])) < 4 * ses(fit))


def test_srs_sandwich_equals_the_finite_difference_sandwich(srs_data):
    """One row per PSU, equal weights: the design-based variance is the robust sandwich
    H^-1 (sum s s') H^-1 times n / (n - 1)."""
    design = pc.SurveyDesign(srs_data)
    fit = pc.list_regression(design, "y ~ x1 + x2", treatment="t", n_control_items=J)
    params = estimates(fit)
    X, y, t = design_matrix(srs_data), srs_data["y"].to_numpy(), srs_data["t"].to_numpy()
    s = row_scores(params, X, y, t)
    bread = np.linalg.inv(-hessian(params, X, y, t, np.ones(len(y))))
    n = len(y)
    sandwich = bread @ (s.T @ s) @ bread * n / (n - 1)
    assert np.allclose(ses(fit), np.sqrt(np.diag(sandwich)), rtol=SE_RTOL)
    labels = [f"sensitive:{k}" for k in ("Intercept", "x1", "x2")] + [
        f"control:{k}" for k in ("Intercept", "x1", "x2")]
    assert list(fit.vcov.index) == labels
    assert np.allclose(fit.vcov.to_numpy(), sandwich, rtol=10 * SE_RTOL, atol=1e-12)
    assert fit.df_residual == n - 1 + 1 - 6


def test_weighted_clustered_fit_and_its_sandwich():
    data = simulate(2500, seed=5, clusters=60)
    design = pc.SurveyDesign(data, weights="w", psu="psu", strata="stratum", nest=True)
    fit = pc.list_regression(design, "y ~ x1 + x2", treatment="t", n_control_items=J)
    w = data["w"].to_numpy()
    assert np.allclose(estimates(fit), scipy_fit(data, w / w.mean()), atol=PARAM_ATOL)
    # the sandwich with the design's meat: stratified sums of PSU score totals
    X, y, t = design_matrix(data), data["y"].to_numpy(), data["t"].to_numpy()
    params = estimates(fit)
    s = row_scores(params, X, y, t) * w[:, None]
    bread = np.linalg.inv(-hessian(params, X, y, t, w))
    meat = np.zeros((6, 6))
    for _, rows in data.groupby("stratum").groups.items():
        totals = pd.DataFrame(s[rows]).groupby(data.loc[rows, "psu"].to_numpy()).sum()
        centred = totals - totals.mean()
        m = len(totals)
        meat += m / (m - 1) * centred.T.to_numpy() @ centred.to_numpy()
    assert np.allclose(ses(fit), np.sqrt(np.diag(bread @ meat @ bread)), rtol=SE_RTOL)


def test_replicate_ses_equal_a_jackknife_by_hand():
    data = simulate(1200, seed=8, clusters=12)
    design = pc.SurveyDesign(data, psu="psu")
    fit = pc.list_regression(design.replicate("jk1"), "y ~ x1 + x2", treatment="t",
                             n_control_items=J)
    reps = np.array([scipy_fit(data[data["psu"] != j], np.ones(int((data["psu"] != j).sum())))
                     for j in sorted(data["psu"].unique())])
    R = len(reps)
    variance = (R - 1) / R * ((reps - reps.mean(axis=0)) ** 2).sum(axis=0)
    assert np.allclose(ses(fit), np.sqrt(variance), rtol=20 * SE_RTOL)
    taylor = pc.list_regression(design, "y ~ x1 + x2", treatment="t", n_control_items=J)
    assert np.allclose(estimates(fit), estimates(taylor), atol=1e-8)


def test_intercept_only_ml_is_near_the_difference_in_means(srs_data):
    design = pc.SurveyDesign(srs_data)
    fit = pc.list_regression(design, "y ~ 1", treatment="t", n_control_items=J)
    prevalence = pc.list_experiment(design, count="y", treatment="t")
    ml = 1 / (1 + np.exp(-fit.sensitive.loc["Intercept", "estimate"]))
    assert abs(ml - prevalence["estimate"].iloc[0]) < 2 * prevalence["se"].iloc[0]
    assert fit.iterations[0] >= 1 and "maximum likelihood" in fit.summary()


def test_ml_needs_j_and_a_count_on_the_left():
    design = pc.SurveyDesign(simulate(300, seed=1))
    with pytest.raises(EstimationError, match="needs n_control_items"):
        pc.list_regression(design, "y ~ x1", treatment="t")
    with pytest.raises(EstimationError, match="left side"):
        pc.list_regression(design, "np.log(y) ~ x1", treatment="t", n_control_items=J)
    with pytest.raises(EstimationError, match="include the list column"):
        pc.list_regression(design, "y ~ x1 + t", treatment="t", n_control_items=J)
    with pytest.raises(EstimationError, match="choose 'ml' or 'linear'"):
        pc.list_regression(design, "y ~ x1", treatment="t", n_control_items=J,
                           method="nls")  # type: ignore[arg-type]


def test_separation_is_refused_with_the_fix():
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=600)
    t = rng.integers(0, 2, 600)
    # the sensitive item is a step function of x1: its logit coefficient diverges
    data = pd.DataFrame({"x1": x1, "t": t, "y": rng.binomial(J, 0.5, 600) + t * (x1 > 0)})
    design = pc.SurveyDesign(data)
    with pytest.raises(EstimationError, match="did not converge.*method='linear'"):
        pc.list_regression(design, "y ~ x1", treatment="t", n_control_items=J)
