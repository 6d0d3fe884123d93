"""pc.glm's count and trials families against R's svyglm (make_models_more.R ->
models_more.csv): poisson and quasipoisson with an offset, the binomial with trials,
on Taylor and replicate designs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _models_cases import design, r_term, reference

import perception as pc

RTOL = 1e-8  # IRLS to R's convergence rule, from R's own start: agreement to ~1e-13
DESIGNS = ["strat", "clus1", "clus2", "jk1", "boot"]
REPLICATE = ["jk1", "boot"]


def counts(name: str):
    """The design with R's derived columns: log(enroll) and the meal counts."""
    d = design(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log of the missing enroll
        log_enroll = np.log(d.data["enroll"].astype(float))
    return d.with_data(d.data.assign(
        log_enroll=log_enroll, nmeals=np.round(d.data["meals"] * d.data["enroll"] / 100)))


def close(ours, theirs, rtol=RTOL):
    assert ours == pytest.approx(theirs, rel=rtol, abs=1e-14)


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("family", ["poisson", "quasipoisson"])
def test_count_model_with_offset_equals_svyglm(name, family):
    r = reference("models_more.csv")[f"{name}/{family}_offset"]
    fit = pc.glm(counts(name), "api_stu ~ stype + meals", family=family,
                 offset="log_enroll", na_rm=True)
    for term, row in fit.coefficients.iterrows():
        key = r_term(term)
        close(row["estimate"], r[f"{key}:est"])
        close(row["se"], r[f"{key}:se"])
        close(row["t"], r[f"{key}:t"])
        close(row["p"], r[f"{key}:p"], 1e-7)
        for other in fit.vcov.columns:
            close(fit.vcov.loc[term, other], r[f"vcov|{key}|{r_term(other)}"])
    assert fit.df_residual == r["df.residual"] and fit.n == r["n"]
    close(fit.deviance, r["deviance"])
    if name not in REPLICATE:  # R's dispersion of a replicate fit is not meaningful
        close(fit.dispersion, r["dispersion"])
    assert fit.link == "log" and fit.offset == "log_enroll"


@pytest.mark.parametrize("name", DESIGNS)
def test_binomial_with_trials_equals_svyglm(name):
    r = reference("models_more.csv")[f"{name}/binomial_trials"]
    fit = pc.glm(counts(name), "nmeals ~ stype + ell", family="binomial", trials="enroll",
                 na_rm=True)
    for term, row in fit.coefficients.iterrows():
        close(row["estimate"], r[f"{r_term(term)}:est"])
        close(row["se"], r[f"{r_term(term)}:se"])
    assert fit.df_residual == r["df.residual"]
    if name not in REPLICATE:
        close(fit.deviance, r["deviance"])
        close(fit.dispersion, r["dispersion"])
        close(fit.coefficients["p"].iloc[1], r["stypeH:p"], 1e-7)


def test_trials_are_the_binomial_of_the_expanded_rows():
    # a share of n trials weighs as n rows of 0/1 answers: same coefficients
    data = pd.DataFrame({"s": [1.0, 3, 2, 5, 0, 4], "n": [4.0, 5, 3, 6, 2, 5],
                         "x": [0.0, 1, 0, 1, 0, 1], "w": [1.0, 2, 1, 3, 2, 1],
                         "psu": [1, 2, 3, 4, 5, 6]})
    shares = pc.glm(pc.SurveyDesign(data, weights="w", psu="psu"), "s ~ x",
                    family="binomial", trials="n")
    rows = [(x, w, psu, float(k < s)) for s, n, x, w, psu in data[["s", "n", "x", "w", "psu"]]
            .itertuples(index=False) for k in range(int(n))]
    long = pd.DataFrame(rows, columns=["x", "w", "psu", "y"])
    expanded = pc.glm(pc.SurveyDesign(long, weights="w", psu="psu"), "y ~ x", family="binomial")
    np.testing.assert_allclose(shares.coefficients["estimate"],
                               expanded.coefficients["estimate"], rtol=1e-9)
    # the PSU totals of the scores are the same too, so are the SEs
    np.testing.assert_allclose(shares.coefficients["se"], expanded.coefficients["se"],
                               rtol=1e-7)


def test_probit_link():
    d = design("strat")
    fit = pc.glm(d.with_data(d.data.assign(yes=(d.data["sch_wide"] == "Yes").astype(float))),
                 "yes ~ ell + meals", family="binomial", link="probit")
    assert fit.link == "probit"
    # the probit coefficients are about the logit's / 1.6
    logit = pc.glm(d.with_data(d.data.assign(yes=(d.data["sch_wide"] == "Yes").astype(float))),
                   "yes ~ ell + meals", family="binomial")
    ratio = logit.coefficients["estimate"] / fit.coefficients["estimate"]
    assert ratio.between(1.4, 1.9).all()


def test_bad_count_and_trials_arguments():
    d = counts("strat")
    with pytest.raises(pc.EstimationError, match="trials= goes with family='binomial'"):
        pc.glm(d, "api_stu ~ meals", family="poisson", trials="enroll")
    with pytest.raises(pc.EstimationError, match="link='probit' does not go with"):
        pc.glm(d, "api_stu ~ meals", family="poisson", link="probit")
    with pytest.raises(pc.EstimationError, match="offset='nope' is not a column"):
        pc.glm(d, "api_stu ~ meals", family="poisson", offset="nope")
    negative = d.with_data(d.data.assign(api_stu=d.data["api_stu"] - 400))
    with pytest.raises(pc.EstimationError, match="counts or rates of 0 or more.*rows"):
        pc.glm(negative, "api_stu ~ meals", family="poisson")
    with pytest.raises(pc.EstimationError, match="exceed the trials in rows"):
        pc.glm(d, "api_stu ~ meals", family="binomial", trials="nmeals")
    with pytest.raises(pc.EstimationError, match="'log_enroll' \\(6\\)"):
        pc.glm(counts("clus2"), "api_stu ~ meals", family="poisson", offset="log_enroll")
