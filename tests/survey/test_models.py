"""pc.glm against R's svyglm, and its error cases.

References: tests/reference/reference_models.csv (make_reference.R),
tests/reference/models_glm.csv (make_models.R) and tests/reference/r_survey_api.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models_cases import api, design, r_term, reference, relative_error, survey_api_reference

import perception as pc
from perception.errors import EstimationError, PerceptionError

REL_TOL = 1e-6  # relative agreement with R
P_TOL = 1e-6  # p values: relative, or absolute below this
STRAT = "strat"

GAUSSIAN = "api00 ~ ell + meals + mobility"
BINOMIAL_Q = 'I(sch_wide == "Yes") ~ ell + meals + stype'
BINOMIAL = "sch_yes ~ ell + meals + stype"

# reference_models.csv: case suffix -> (formula, family)
CORE_MODELS = {
    "glm_gaussian": (GAUSSIAN, "gaussian"),
    "glm_quasibinomial": (BINOMIAL_Q, "binomial"),
    "glm_interaction": ("api00 ~ stype * meals", "gaussian"),
}

# models_glm.csv: case -> (design, formula, family, na_rm, subset)
MODEL_CASES = {
    "strat/gaussian": ("strat", GAUSSIAN, "gaussian", False, None),
    "clus1/gaussian": ("clus1", GAUSSIAN, "gaussian", False, None),
    "clus2/gaussian": ("clus2", GAUSSIAN, "gaussian", False, None),
    "strat/binomial": ("strat", BINOMIAL, "binomial", False, None),
    "clus1/binomial": ("clus1", BINOMIAL, "binomial", False, None),
    "clus2/binomial": ("clus2", BINOMIAL, "binomial", False, None),
    "clus2/interaction": ("clus2", "api00 ~ stype * meals", "gaussian", False, None),
    "clus2/binomial_interaction": ("clus2", "sch_yes ~ stype * meals", "binomial", False, None),
    "clus1/gaussian_na": ("clus1", 'api00 ~ ell + avg_ed', "gaussian", True, None),
    "clus2/gaussian_na": ("clus2", "api00 ~ enroll + meals", "gaussian", True, None),
    "clus2/binomial_na": ("clus2", "sch_yes ~ enroll + meals", "binomial", True, None),
    "strat/subset_notE": ("strat", "api00 ~ ell + meals", "gaussian", False, ("stype", "!=", "E")),
    "clus2/subset_E": ("clus2", "api00 ~ ell + meals", "gaussian", False, ("stype", "==", "E")),
    "clus1/subset_E_binomial": ("clus1", "sch_yes ~ ell + meals", "binomial", False,
                                ("stype", "==", "E")),
    "jk1/gaussian": ("jk1", GAUSSIAN, "gaussian", False, None),
    "jk1/gaussian_na": ("jk1", 'api00 ~ ell + avg_ed', "gaussian", True, None),
    "boot/gaussian": ("boot", GAUSSIAN, "gaussian", False, None),
    "boot/binomial": ("boot", "sch_yes ~ ell + meals", "binomial", False, None),
    "boot_mse/gaussian": ("boot_mse", GAUSSIAN, "gaussian", False, None),
    "lonely_adjust/gaussian": ("lonely_adjust", "api00 ~ ell + meals", "gaussian", False, None),
    "ps/gaussian": ("ps", GAUSSIAN, "gaussian", False, None),
    "ps/binomial": ("ps", BINOMIAL, "binomial", False, None),
    "ps/gaussian_na": ("ps", 'api00 ~ ell + avg_ed', "gaussian", True, None),
    "ps/subset_notE": ("ps", "api00 ~ ell + meals", "gaussian", False, ("stype", "!=", "E")),
    "cal/gaussian": ("cal", GAUSSIAN, "gaussian", False, None),
    "cal/binomial": ("cal", BINOMIAL, "binomial", False, None),
}

REPLICATE = ("jk1", "jk1_clus1", "jkn_strat", "boot", "boot_mse")


def _design_for(name, subset):
    d = design(name)
    if subset is not None:
        column, op, value = subset
        mask = d.data[column] == value if op == "==" else d.data[column] != value
        d = d.subset(mask)
    return d


def _close(ours, theirs, what, tol=REL_TOL):
    assert relative_error(ours, theirs) < tol, f"{what}: ours {ours!r}, R {theirs!r}"


def _close_p(ours, theirs, what):
    assert abs(ours - theirs) < P_TOL * max(theirs, 1e-300) or abs(ours - theirs) < 1e-14, (
        f"{what}: ours {ours!r}, R {theirs!r}"
    )


def _check_coefficients(fit, ref, case):
    table = fit.coefficients
    for term, row in table.iterrows():
        name = r_term(term)
        _close(row["estimate"], ref[f"{name}:est"], f"{case} {term} estimate")
        _close(row["se"], ref[f"{name}:se"], f"{case} {term} se")
        _close(row["t"], ref[f"{name}:t"], f"{case} {term} t")
        _close_p(row["p"], ref[f"{name}:p"], f"{case} {term} p")
    assert fit.df_residual == ref["df.residual"], case
    n_terms = sum(1 for k in ref if k.endswith(":est"))
    assert len(table) == n_terms, f"{case}: {len(table)} terms, R has {n_terms}"


# ------------------------------------------------------------ R equality --
@pytest.mark.parametrize(
    "case",
    sorted(c for c in reference("reference_models.csv") if "/glm_" in c),
)
def test_glm_equals_reference_models(case):
    name, model = case.split("/")
    formula, family = CORE_MODELS[model]
    ref = reference("reference_models.csv")[case]
    fit = pc.glm(design(name), formula, family=family)
    _check_coefficients(fit, ref, case)
    if name not in REPLICATE:
        # R's dispersion of a replicate-design svyglm is not meaningful (see models.py)
        _close(fit.dispersion, ref["dispersion"], f"{case} dispersion")


@pytest.mark.parametrize("case", ["strat/glm_gaussian", "clus1/glm_gaussian"])
def test_glm_equals_survey_api_reference(case):
    ref = survey_api_reference()[case]
    fit = pc.glm(design(case.split("/")[0]), GAUSSIAN)
    for term, row in fit.coefficients.iterrows():
        _close(row["estimate"], ref[f"{r_term(term)}:est"], f"{case} {term}")
        _close(row["se"], ref[f"{r_term(term)}:se"], f"{case} {term} se")


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_glm_equals_models_glm(case):
    name, formula, family, na_rm, subset = MODEL_CASES[case]
    ref = reference("models_glm.csv")[case]
    fit = pc.glm(_design_for(name, subset), formula, family=family, na_rm=na_rm)
    _check_coefficients(fit, ref, case)
    assert fit.n == ref["n"]
    for term, row in fit.coefficients.iterrows():
        _close(row["ci_low"], ref[f"{r_term(term)}:ci_low"], f"{case} {term} ci_low")
        _close(row["ci_high"], ref[f"{r_term(term)}:ci_high"], f"{case} {term} ci_high")
    for a in fit.vcov.index:
        for b in fit.vcov.columns:
            _close(fit.vcov.loc[a, b], ref[f"vcov|{r_term(a)}|{r_term(b)}"],
                   f"{case} vcov {a},{b}")
    if name not in ("jk1", "boot", "boot_mse"):
        _close(fit.dispersion, ref["dispersion"], f"{case} dispersion")


def test_replicate_dispersion_is_the_taylor_value():
    # R reports a meaningless dispersion for replicate designs; ours is the same
    # weighted variance of Pearson residuals as for the linearisation design
    taylor = pc.glm(design("clus1"), GAUSSIAN).dispersion
    replicate = pc.glm(design("jk1"), GAUSSIAN).dispersion
    assert relative_error(replicate, taylor) < 1e-12


NEWDATA = pd.DataFrame(
    {
        "ell": [0, 10, 30, 60],
        "meals": [10, 20, 60, 95],
        "mobility": [5, 15, 20, 40],
        "stype": ["E", "H", "M", "E"],
    }
)


@pytest.mark.parametrize(
    "case, name, formula, family",
    [
        ("strat/predict_gaussian", "strat", GAUSSIAN, "gaussian"),
        ("clus2/predict_binomial", "clus2", BINOMIAL, "binomial"),
        ("jk1/predict_gaussian", "jk1", GAUSSIAN, "gaussian"),
    ],
)
def test_predict_equals_r(case, name, formula, family):
    ref = reference("models_glm.csv")[case]
    fit = pc.glm(design(name), formula, family=family)
    for kind in ("link", "response"):
        pred = fit.predict(NEWDATA, scale=kind)
        assert list(pred.columns) == ["estimate", "se", "ci_low", "ci_high"]
        assert pred.index.equals(NEWDATA.index)
        for i in range(len(NEWDATA)):
            _close(pred["estimate"].iloc[i], ref[f"{kind}_est:{i + 1}"], f"{case} {kind} {i}")
            _close(pred["se"].iloc[i], ref[f"{kind}_se:{i + 1}"], f"{case} {kind} se {i}")
        assert (pred["ci_low"] < pred["estimate"]).all()
        assert (pred["estimate"] < pred["ci_high"]).all()


def test_predict_without_newdata_gives_the_fitted_rows():
    d = design("clus2")
    fit = pc.glm(d, "api00 ~ enroll + meals", na_rm=True)
    pred = fit.predict()
    complete = d.data["enroll"].notna()
    assert pred.index.equals(d.data.index[complete.to_numpy()])
    again = fit.predict(d.data[complete])
    np.testing.assert_allclose(pred["estimate"], again["estimate"], rtol=1e-12)
    np.testing.assert_allclose(pred["se"], again["se"], rtol=1e-12)


# ---------------------------------------------------------------- behaviour --
def test_result_shape_and_summary():
    fit = pc.glm(design(STRAT), "api00 ~ C(stype) * meals")
    assert list(fit.coefficients.columns) == ["estimate", "se", "t", "p", "ci_low", "ci_high"]
    assert fit.terms == list(fit.vcov.index) == list(fit.vcov.columns)
    assert "C(stype)[T.H]:meals" in fit.terms and fit.terms[0] == "Intercept"
    assert fit.family == "gaussian" and fit.formula == "api00 ~ C(stype) * meals"
    assert fit.n == 200
    text = fit.summary()
    assert "Coefficients:" in text and "C(stype)[T.H]:meals" in text
    assert f"Residual df: {fit.df_residual}" in text
    assert str(fit) == text


def test_two_level_outcome_equals_its_indicator():
    d = design("clus1")
    indicator = pc.glm(d, "sch_yes ~ ell + meals", family="binomial")
    factor = pc.glm(d, "sch_wide ~ ell + meals", family="binomial")
    comparison = pc.glm(d, 'I(sch_wide == "Yes") ~ ell + meals', family="binomial")
    for other in (factor, comparison):
        np.testing.assert_allclose(other.coefficients.to_numpy(),
                                   indicator.coefficients.to_numpy(), rtol=1e-12)


def test_weight_scale_and_row_order_do_not_matter():
    data = api("apistrat")
    base = pc.glm(pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc"), BINOMIAL,
                  family="binomial")
    scaled = data.assign(pw=data["pw"] * 7.5)
    shuffled = data.sample(frac=1.0, random_state=3)
    for other_data in (scaled, shuffled):
        fit = pc.glm(pc.SurveyDesign(other_data, weights="pw", strata="stype", fpc="fpc"),
                     BINOMIAL, family="binomial")
        np.testing.assert_allclose(fit.coefficients.to_numpy(),
                                   base.coefficients.to_numpy(), rtol=1e-7)


def test_inputs_not_mutated():
    data = api("apiclus2")
    before = data.copy(deep=True)
    d = pc.SurveyDesign(data, psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    weights = d.weights.copy()
    fit = pc.glm(d, "sch_yes ~ enroll + C(stype)", family="binomial", na_rm=True)
    fit.predict(NEWDATA.assign(enroll=[100, 200, 300, 400]), scale="response")
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_series_equal(d.weights, weights)
    assert d.in_domain.all()


def test_unused_categories_of_a_domain_are_dropped():
    data = api("apistrat").assign(stype=lambda f: f["stype"].astype("category"))
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    sub = d.subset(d.data["stype"] != "E")
    fit = pc.glm(sub, "api00 ~ ell + stype")
    assert fit.terms == ["Intercept", "stype[T.M]", "ell"]
    assert fit.n == int((data["stype"] != "E").sum())


# ------------------------------------------------------------------- errors --
def test_unknown_column_is_named():
    with pytest.raises(EstimationError, match="unknown column 'elll'.*Did you mean 'ell'"):
        pc.glm(design(STRAT), "api00 ~ elll + meals")


def test_dotted_column_needs_quoting_and_the_message_says_so():
    data = api("apistrat").rename(columns={"sch_wide": "sch.wide"})  # R's name
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(EstimationError, match=r"Q\(\"sch.wide\"\)"):
        pc.glm(d, "sch.wide ~ ell", family="binomial")
    quoted = pc.glm(d, 'Q("sch.wide") ~ ell', family="binomial")
    plain = pc.glm(design(STRAT), "sch_wide ~ ell", family="binomial")
    np.testing.assert_allclose(quoted.coefficients.to_numpy(),
                               plain.coefficients.to_numpy(), rtol=1e-12)


def test_missing_values_raise_unless_na_rm():
    with pytest.raises(EstimationError, match=r"'enroll' \(6\).*na_rm=True"):
        pc.glm(design("clus2"), "api00 ~ enroll + meals")
    assert pc.glm(design("clus2"), "api00 ~ enroll + meals", na_rm=True).n == 120


def test_binomial_outcome_outside_unit_interval():
    with pytest.raises(EstimationError, match=r"between 0 and 1.*'api00'.*rows"):
        pc.glm(design(STRAT), "api00 ~ ell", family="binomial")


def test_binomial_accepts_proportions():
    d = design(STRAT)
    fit = pc.glm(d, "I(meals / 100) ~ ell", family="binomial")
    assert np.isfinite(fit.coefficients.to_numpy()).all()


def test_perfect_separation_is_an_error_naming_the_cause():
    data = api("apistrat").assign(sep=lambda f: (f["api00"] > 650).astype(float))
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(EstimationError, match=r"perfect separation.*'api00'"):
        pc.glm(d, "sep ~ api00 + ell", family="binomial")


def test_collinear_terms_are_named():
    data = api("apistrat").assign(ell2=lambda f: 2 * f["ell"] + 1)
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(EstimationError, match="'ell2'.*linear combination"):
        pc.glm(d, "api00 ~ ell + ell2")


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"formula": "api00 ell"}, "outcome ~ terms"),
        ({"formula": GAUSSIAN, "family": "gamma"}, "family='gamma'"),
        ({"formula": GAUSSIAN, "level": 95}, "level"),
        ({"formula": "stype ~ ell"}, "categorical"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(PerceptionError, match=pattern):
        pc.glm(design(STRAT), **kwargs)


def test_not_a_design():
    with pytest.raises(EstimationError, match="SurveyDesign"):
        pc.glm(api("apistrat"), GAUSSIAN)


def test_predict_bad_type_and_unknown_level():
    fit = pc.glm(design(STRAT), "api00 ~ ell + stype")
    with pytest.raises(EstimationError, match="scale="):
        fit.predict(NEWDATA, scale="terms")
    with pytest.raises(EstimationError, match="formula"):
        fit.predict(NEWDATA.assign(stype=["E", "H", "X", "E"]))


def test_nullable_columns_and_missing_inside_expressions():
    # R turns NA == 1 into NA and drops the row; patsy alone would read it as False
    data = api("apiclus1")
    code = pd.array(np.where(data["avg_ed"] > 3, 1, 2), dtype="Int64")
    code[data["avg_ed"].isna().to_numpy()] = pd.NA
    data = data.assign(edcode=code, edhigh=(data["avg_ed"] > 3).astype(float).where(
        data["avg_ed"].notna()))
    d = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    expected = pc.glm(d, "edhigh ~ ell", family="binomial", na_rm=True)
    nullable = pc.glm(d, "I(edcode == 1) ~ ell", family="binomial", na_rm=True)
    assert nullable.n == expected.n == int(data["avg_ed"].notna().sum())
    np.testing.assert_allclose(nullable.coefficients.to_numpy(),
                               expected.coefficients.to_numpy(), rtol=1e-12)
    with pytest.raises(EstimationError, match=r"'edcode' \(26\)"):
        pc.glm(d, "I(edcode == 1) ~ ell", family="binomial")


def test_predict_type_is_the_old_name_of_scale():
    fit = pc.glm(design(STRAT), "api00 ~ ell + meals")
    with pytest.warns(DeprecationWarning, match="type= is renamed scale="):
        old = fit.predict(NEWDATA, type="response")
    pd.testing.assert_frame_equal(old, fit.predict(NEWDATA, scale="response"))


def test_predict_newdata_not_a_frame_is_an_estimation_error():
    # the argument once named `type` shadowed the builtin used in this message
    fit = pc.glm(design(STRAT), "api00 ~ ell + meals")
    with pytest.raises(EstimationError, match="newdata must be a pandas DataFrame, got list"):
        fit.predict([[10, 50]])


def test_coded_integer_factor_names_its_levels_as_integers():
    # a labelled design blanks the codes of educ (Int64 with NA); the rows of the fit
    # have none, so C(educ) names its levels 1, 2, ... as on the raw integer column
    design = pc.demo_survey(seed=1).design()
    fit = pc.glm(design, "trust_police ~ C(educ) + treated")
    assert [t for t in fit.coefficients.index if t.startswith("C(educ)")] == [
        f"C(educ)[T.{k}]" for k in range(1, 5)]
