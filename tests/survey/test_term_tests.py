"""pc.wald_test against R's regTermTest (Wald F, the working likelihood-ratio test with
the saddlepoint or Satterthwaite p-value, chi-squared forms) for Gaussian, binomial,
quasi-Poisson and ordinal models (make_models_more.R -> models_more.csv)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _models_cases import design, reference

import perception as pc

DESIGNS = ["strat", "clus1", "clus2", "jk1", "boot"]
MODELS = {
    "gaussian": ("api00 ~ ell + meals + stype", "gaussian", {}, ["ell", "meals"]),
    "binomial": ("sch_yes ~ ell + meals + stype", "binomial", {}, ["ell", "meals"]),
    "quasipoisson": ("api_stu ~ stype + meals + mobility", "quasipoisson",
                     {"offset": "log_enroll", "na_rm": True}, ["meals", "mobility"]),
}
# R's saddlepoint root is found to uniroot(tol = 1e-8): LRT p-values agree to ~1e-7
RTOL = {"Wald": 1e-10, "LRT": 1e-6}


def prepared(name: str):
    d = design(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log of the missing enroll
        log_enroll = np.log(d.data["enroll"].astype(float))
    band = pd.cut(d.data["api00"], [-np.inf, 600, 700, 800, np.inf], labels=[1, 2, 3, 4])
    return d.with_data(d.data.assign(
        log_enroll=log_enroll, apicat=band, sch_yes=(d.data["sch_wide"] == "Yes").astype(float)))


def check(table: pd.DataFrame, r: dict, rtol: float) -> None:
    row = table.iloc[0]
    assert row["ndf"] == r["df"]
    if "Ftest" in r:
        assert row["statistic"] == pytest.approx(r["Ftest"], rel=rtol)
        assert row["ddf"] == r["ddf"]
    else:
        assert row["chisq"] == pytest.approx(r["chisq"], rel=max(rtol, 1e-10))
    assert row["p"] == pytest.approx(r["p"], rel=rtol, abs=1e-300)
    if "lambda:1" in r:
        lam = table.attrs["design_effects"]
        for i, value in enumerate(lam):
            assert value == pytest.approx(r[f"lambda:{i + 1}"], rel=max(rtol, 1e-9))


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("model", list(MODELS))
def test_glm_term_tests_equal_regtermtest(name, model):
    formula, family, kwargs, two = MODELS[model]
    fit = pc.glm(prepared(name), formula, family=family, **kwargs)
    ref = reference("models_more.csv")
    base = f"{name}/rtt_{model}"
    assert fit.deviance == pytest.approx(ref[base]["deviance"], rel=1e-10)
    check(pc.wald_test(fit, "stype"), ref[f"{base}/wald_stype"], RTOL["Wald"])
    check(pc.wald_test(fit, "stype", method="LRT"), ref[f"{base}/lrt_stype"], RTOL["LRT"])
    check(pc.wald_test(fit, "stype", method="LRT", approximation="satterthwaite"),
          ref[f"{base}/lrt_stype_satterthwaite"], RTOL["Wald"])
    check(pc.wald_test(fit, "stype", df=np.inf), ref[f"{base}/wald_stype_chisq"], RTOL["Wald"])
    check(pc.wald_test(fit, "stype", method="LRT", df=np.inf), ref[f"{base}/lrt_stype_chisq"],
          RTOL["LRT"])
    check(pc.wald_test(fit, two), ref[f"{base}/wald_two"], RTOL["Wald"])
    check(pc.wald_test(fit, " + ".join(two), method="LRT"), ref[f"{base}/lrt_two"],
          RTOL["LRT"])


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_term_tests_equal_regtermtest(name, link):
    fit = pc.olr(prepared(name), "apicat ~ ell + meals + stype", link=link)
    ref = reference("models_more.csv")
    base = f"{name}/olr_{link}"
    # the ordinal fits carry R's optimiser tolerance (test_ordinal.py), tiny p-values more
    rtol = 2e-5 if (name, link) == ("strat", "probit") else 1e-6
    check(pc.wald_test(fit, "stype"), ref[f"{base}/wald_stype"], rtol)
    check(pc.wald_test(fit, ["ell", "meals"]), ref[f"{base}/wald_ell_meals"], rtol)
    check(pc.wald_test(fit, "stype", method="LRT"), ref[f"{base}/lrt_stype"], rtol)


def test_r_own_ordinal_lrt_has_its_eigenvalues_mean_w_times_too_large():
    # regTermTest's LRT of an svyolr mixes the raw-weight Hessian with the mean-one
    # deviance (make_models_more.R); ours puts both on one scale
    d = prepared("strat")
    table = pc.wald_test(pc.olr(d, "apicat ~ ell + meals + stype"), "stype", method="LRT")
    r = reference("models_more.csv")["strat/olr_logit/lrt_stype_r"]
    scale = d.data["pw"].mean()
    for i, value in enumerate(table.attrs["design_effects"]):
        assert value * scale == pytest.approx(r[f"lambda:{i + 1}"], rel=1e-6)


def test_terms_are_found_by_their_names():
    d = prepared("strat")
    fit = pc.glm(d, "api00 ~ ell + C(stype) * meals")
    by_patsy = pc.wald_test(fit, "C(stype):meals")
    by_r = pc.wald_test(fit, "meals:stype")
    assert by_patsy["chisq"].iloc[0] == by_r["chisq"].iloc[0]
    assert by_r["ndf"].iloc[0] == 2
    assert pc.wald_test(fit, "stype")["ndf"].iloc[0] == 2
    with pytest.raises(pc.EstimationError, match="term 'mobility' is not in the model.*'ell'"):
        pc.wald_test(fit, "mobility")
    with pytest.raises(pc.EstimationError, match="method='score' is unknown"):
        pc.wald_test(fit, "ell", method="score")
    with pytest.raises(pc.EstimationError, match="fit of pc.glm or pc.olr"):
        pc.wald_test(pc.mean(d, "api00"), "ell")


def test_wald_f_of_one_coefficient_is_its_t_squared():
    fit = pc.glm(prepared("clus2"), "api00 ~ ell + meals")
    row = pc.wald_test(fit, "meals").iloc[0]
    t = fit.coefficients.loc["meals", "t"]
    assert row["statistic"] == pytest.approx(t**2, rel=1e-12)
    assert row["p"] == pytest.approx(fit.coefficients.loc["meals", "p"], rel=1e-10)
