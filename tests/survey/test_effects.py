"""pc.predictive_margins against R's svypredmeans, pc.marginal_effects against R's
predict + svycontrast (variance="model") and the joint linearisation or replicate
refits (variance="design"), the DiD in percentage points from a logistic model, and
ordinal margins (make_models_more.R -> models_more.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models_cases import design, reference

import perception as pc

DESIGNS = ["strat", "clus1", "clus2", "jk1", "boot"]
RTOL = 1e-9  # closed-form averages of IRLS fits; derivatives by central differences


def prepared(name: str):
    d = design(name)
    band = pd.cut(d.data["api00"], [-np.inf, 600, 700, 800, np.inf], labels=[1, 2, 3, 4])
    return d.with_data(d.data.assign(
        apicat=band, sch_yes=(d.data["sch_wide"] == "Yes").astype(float),
        hi=(d.data["api00"] > 700).astype(float),
        mobhigh=pd.Categorical(np.where(d.data["mobility"] > 20, "Yes", "No"))))


def close(ours, theirs, rtol=RTOL):
    assert ours == pytest.approx(theirs, rel=rtol, abs=1e-14)


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize(("family", "formula"), [("gaussian", "api00 ~ ell + mobility"),
                                                 ("binomial", "sch_yes ~ ell + meals")])
def test_predictive_margins_equal_svypredmeans(name, family, formula):
    r = reference("models_more.csv")[f"{name}/predmeans_{family}"]
    margins = pc.predictive_margins(pc.glm(prepared(name), formula, family=family), "stype")
    assert list(margins["stype"]) == ["E", "H", "M"]
    for row in margins.itertuples():
        close(row.estimate, r[f"{row.stype}:est"])
        close(row.se, r[f"{row.stype}:se"])
    v = pc.vcov(margins)
    for a in "EHM":
        for b in "EHM":
            close(v.loc[a, a] if a == b else v.loc[a, b], r[f"vcov|{a}|{b}"], 1e-8)
    assert margins["n"].sum() == len(design(name).data)


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("variance", ["model", "design"])
def test_marginal_effects_of_a_factor_and_a_covariate(name, variance):
    r = reference("models_more.csv")[f"{name}/margins_stype"]
    fit = pc.glm(prepared(name), "sch_yes ~ stype + ell + meals", family="binomial")
    effects = pc.marginal_effects(fit, "stype", variance=variance)
    assert list(effects["contrast"]) == ["H - E", "M - E"]
    for row in effects.itertuples():  # percentage points
        key = row.contrast.replace(" ", "")
        close(row.estimate / 100, r[f"{variance}:{key}:est"])
        close(row.se / 100, r[f"{variance}:{key}:se"])
    slope = pc.marginal_effects(fit, "ell", variance=variance).iloc[0]
    assert slope["contrast"] == "dy/dx"
    close(slope["estimate"] / 100, r[f"{variance}:ell:est"], 1e-8)
    close(slope["se"] / 100, r[f"{variance}:ell:se"], 1e-8)


@pytest.mark.parametrize("name", ["strat", "clus1", "jk1", "jkn_strat"])
@pytest.mark.parametrize("variance", ["model", "design"])
def test_difference_in_differences_in_percentage_points(name, variance):
    r = reference("models_more.csv")[f"{name}/margins_did"]
    fit = pc.glm(prepared(name), "hi ~ comp_imp * mobhigh + ell", family="binomial")
    effects = pc.marginal_effects(fit, "comp_imp", by="mobhigh", variance=variance)
    assert list(effects["mobhigh"]) == ["No", "Yes"]
    # (YY - NY) - (YN - NN): the effect of comp_imp among mobhigh Yes minus among No
    did = pc.contrast(effects, {"Yes": 1, "No": -1})
    close(did["estimate"].iloc[0] / 100, r[f"{variance}:did:est"])
    close(did["se"].iloc[0] / 100, r[f"{variance}:did:se"])
    cells = pc.predictive_margins(fit, ["comp_imp", "mobhigh"])
    for row in cells.itertuples():
        key = row.comp_imp[0] + row.mobhigh[0]
        close(row.estimate, r[f"design:{key}:est"])


@pytest.mark.parametrize("name", ["strat", "clus1", "clus2"])
def test_ordinal_marginal_effects_equal_the_r_computation(name):
    r = reference("models_more.csv")[f"{name}/olr_margins_stype"]
    fit = pc.olr(prepared(name), "apicat ~ ell + meals + stype")
    effects = pc.marginal_effects(fit, "stype", variance="model")
    assert len(effects) == 8 and set(effects["category"]) == {"1", "2", "3", "4"}
    for row in effects.itertuples():
        key = f"{row.contrast.replace(' ', '')}:{row.category}"
        close(row.estimate / 100, r[f"model:{key}:est"], 1e-6)
        close(row.se / 100, r[f"model:{key}:se"], 1e-6)
    # the effects on the four probabilities add up to zero
    sums = effects.groupby("contrast")["estimate"].sum()
    np.testing.assert_allclose(sums, 0, atol=1e-10)
    margins = pc.predictive_margins(fit, "stype")
    for row in margins.itertuples():
        close(row.estimate, r[f"model:{row.stype}:{row.category}:est"], 1e-6)


def test_margins_of_a_variable_in_the_model_need_no_refit():
    d = prepared("strat")
    inside = pc.glm(d, "api00 ~ ell + mobility + stype")
    outside = pc.glm(d, "api00 ~ ell + mobility")
    a = pc.predictive_margins(inside, "stype")
    b = pc.predictive_margins(outside, "stype")
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-10)


def test_design_variance_of_a_linear_model_effect_is_the_coefficient():
    # in a linear model without interactions the effect of a level is its coefficient
    d = prepared("clus2")
    fit = pc.glm(d, "api00 ~ stype + ell")
    effects = pc.marginal_effects(fit, "stype", variance="model")
    np.testing.assert_allclose(effects["estimate"],
                               fit.coefficients.loc[["stype[T.H]", "stype[T.M]"], "estimate"])
    np.testing.assert_allclose(effects["se"],
                               fit.coefficients.loc[["stype[T.H]", "stype[T.M]"], "se"])


def test_bad_arguments():
    d = prepared("strat")
    fit = pc.glm(d, "sch_yes ~ ell + meals", family="binomial")
    with pytest.raises(pc.EstimationError, match="'stype' not in the model"):
        pc.marginal_effects(fit, "stype")
    with pytest.raises(pc.EstimationError, match="variance='robust' is unknown"):
        pc.marginal_effects(fit, "ell", variance="robust")
    with pytest.raises(pc.EstimationError, match="unknown column.*'nope'"):
        pc.predictive_margins(fit, "nope")
    with pytest.raises(pc.EstimationError, match="model fitted by pc.glm or pc.olr"):
        pc.predictive_margins(pc.mean(d, "api00"), "stype")
