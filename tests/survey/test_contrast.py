"""pc.contrast against R's svycontrast, pc.adjust_pvalues against p.adjust.

References: tests/reference/reference_models.csv (make_reference.R) and
tests/reference/models_contrast.csv (make_models.R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models_cases import api, design, reference, relative_error
from scipy import stats

import perception as pc
from perception.errors import EstimationError

REL_TOL = 1e-6  # relative agreement with R
CONTRAST_COLUMNS = ["contrast", "estimate", "se", "ci_low", "ci_high", "df", "p", "n", "n_min"]


def _check(table, ref, case):
    for row in table.itertuples(index=False):
        for key, value in (("est", row.estimate), ("se", row.se)):
            theirs = ref[f"{row.contrast}:{key}"]
            assert relative_error(value, theirs) < REL_TOL, f"{case} {row.contrast} {key}"


def _core_cases():
    return sorted(c for c in reference("reference_models.csv") if "/contrast_" in c)


@pytest.mark.parametrize("case", _core_cases())
def test_contrast_equals_reference_models(case):
    name, what = case.split("/")
    d = design(name)
    if what == "contrast_by_stype_EminusH":
        table = pc.contrast(pc.mean(d, "api00", by="stype"), {"E": 1, "H": -1, "M": 0})
    else:
        table = pc.contrast(pc.mean(d, ["api00", "api99"]), [1, -1])
    ref = reference("reference_models.csv")[case]
    assert table["estimate"].iloc[0] == pytest.approx(ref["est"], rel=REL_TOL)
    assert table["se"].iloc[0] == pytest.approx(ref["se"], rel=REL_TOL)


def test_several_named_contrasts_and_their_covariance():
    ref = reference("models_contrast.csv")["clus2/by_stype_two"]
    by_type = pc.mean(design("clus2"), "api00", by="stype")
    table = pc.contrast(by_type, {"EminusH": {"E": 1, "H": -1}, "avg": [1 / 3, 1 / 3, 1 / 3]})
    assert list(table.columns) == CONTRAST_COLUMNS
    assert table["contrast"].tolist() == ["EminusH", "avg"]
    _check(table, ref, "clus2/by_stype_two")
    cov = pc.vcov(table)
    names = table["contrast"].tolist()
    for a in names:
        for b in names:
            assert relative_error(cov.loc[a, b], ref[f"vcov|{a}|{b}"]) < REL_TOL


def test_replicate_design_contrasts():
    ref = reference("models_contrast.csv")["jk1/by_stype_two"]
    table = pc.contrast(pc.mean(design("jk1"), "api00", by="stype"),
                        {"EminusH": [1, -1, 0], "MminusH": {"M": 1, "H": -1}})
    _check(table, ref, "jk1/by_stype_two")


def test_two_by_columns_labels():
    ref = reference("models_contrast.csv")["strat/by_two"]
    table_est = pc.mean(design("strat"), "api00", by=["stype", "sch_wide"])
    by_string = pc.contrast(table_est, {"E:Yes": 1, "E:No": -1})
    by_tuple = pc.contrast(table_est, {("E", "Yes"): 1, ("E", "No"): -1})
    by_full = pc.contrast(table_est, {"E:Yes:api00": 1, "E:No:api00": -1})
    _check(by_string, ref, "strat/by_two")
    pd.testing.assert_frame_equal(by_string, by_tuple)
    pd.testing.assert_frame_equal(by_string, by_full)


def test_proportion_total_and_glm_contrasts():
    ref = reference("models_contrast.csv")
    prop = pc.contrast(pc.proportion(design("clus1"), "stype"), {"E": 1, "H": -1})
    _check(prop, ref["clus1/prop_stype"], "clus1/prop_stype")
    tot = pc.contrast(pc.total(design("clus2"), ["api00", "api99"]), {"api00": 1, "api99": -1})
    _check(tot, ref["clus2/total_diff"], "clus2/total_diff")
    fit = pc.glm(design("strat"), "api00 ~ ell + meals + mobility")
    coef = pc.contrast(fit, {"ell": 1, "meals": -1})
    _check(coef, ref["strat/glm_ell_minus_meals"], "strat/glm_ell_minus_meals")
    assert coef["df"].iloc[0] == fit.df_residual


def test_interval_and_p_use_the_table_df():
    table_est = pc.mean(design("clus1"), "api00", by="stype")
    out = pc.contrast(table_est, {"E": 1, "M": -1}, level=0.9)
    row = out.iloc[0]
    df = table_est["df"].iloc[0]
    assert row["df"] == df
    q = stats.t.ppf(0.95, df)
    assert row["ci_low"] == pytest.approx(row["estimate"] - q * row["se"], rel=1e-12)
    assert row["ci_high"] == pytest.approx(row["estimate"] + q * row["se"], rel=1e-12)
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["estimate"] / row["se"]), df))


def test_input_table_not_mutated():
    table_est = pc.mean(design("strat"), "api00", by="stype")
    before = table_est.copy(deep=True)
    vcov = pc.vcov(table_est)
    pc.contrast(table_est, [1, -1, 0])
    pd.testing.assert_frame_equal(table_est, before)
    pd.testing.assert_frame_equal(pc.vcov(table_est), vcov)


# ------------------------------------------------------------------- errors --
def test_wrong_length():
    table_est = pc.mean(design("strat"), "api00", by="stype")
    with pytest.raises(EstimationError, match=r"2 weights but the estimates have 3 rows"):
        pc.contrast(table_est, [1, -1])


def test_unknown_label():
    table_est = pc.mean(design("strat"), "api00", by="stype")
    with pytest.raises(EstimationError, match=r"unknown row label 'X'.*'E', 'H', 'M'"):
        pc.contrast(table_est, {"E": 1, "X": -1})


def test_table_without_covariance():
    quantiles = pc.quantile(design("strat"), "api00", [0.5])
    with pytest.raises(EstimationError, match="no covariance"):
        pc.contrast(quantiles, [1])
    by_hand = pd.DataFrame({"variable": ["a", "b"], "estimate": [1.0, 2.0]})
    with pytest.raises(EstimationError, match="no covariance"):
        pc.contrast(by_hand, [1, -1])


def test_filtered_table_keeps_the_covariance_of_its_rows():
    table_est = pc.mean(design("strat"), "api00", by="stype")
    filtered = table_est[table_est["stype"] != "M"]
    whole = pc.contrast(table_est, {"E": 1, "H": -1})
    kept = pc.contrast(filtered, [1, -1])
    assert kept["se"].iloc[0] == pytest.approx(whole["se"].iloc[0], rel=1e-12)


def test_not_a_table():
    with pytest.raises(EstimationError, match="pc.mean"):
        pc.contrast(api("apistrat")["api00"], [1])


# ------------------------------------------------------------------ p values --
P_VALUES = [0.001, 0.004, 0.019, 0.03, 0.2, 0.6, 0.012]


@pytest.mark.parametrize("method", ["holm", "bonferroni", "hochberg", "hommel", "BH", "BY"])
def test_adjust_pvalues_equals_p_adjust(method):
    ref = reference("models_contrast.csv")["p.adjust"]
    out = pc.adjust_pvalues(P_VALUES, method)
    expected = [ref[f"{method}:{i + 1}"] for i in range(len(P_VALUES))]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_adjust_pvalues_keeps_series_and_missing():
    p = pd.Series([0.01, np.nan, 0.04], index=["a", "b", "c"], name="p")
    out = pc.adjust_pvalues(p, "fdr_bh")
    assert isinstance(out, pd.Series) and out.index.equals(p.index) and out.name == "p"
    assert np.isnan(out["b"])
    np.testing.assert_allclose(out[["a", "c"]], [0.02, 0.04])


@pytest.mark.parametrize(
    "p, method, pattern",
    [([0.1, 1.2], "holm", "between 0 and 1"), ([0.1], "tukey", "method='tukey'")],
)
def test_adjust_pvalues_errors(p, method, pattern):
    with pytest.raises(EstimationError, match=pattern):
        pc.adjust_pvalues(p, method)


def test_contrast_reports_the_rows_it_rests_on():
    """n: the rows behind the estimates combined (domains of by= do not overlap, so
    their n add up; the rows of one domain count once); n_min: the smallest of them.
    A GLM contrast rests on the rows of the fit."""
    d = design("clus2")
    by_type = pc.mean(d, "api00", by="stype")
    n = dict(zip(by_type["stype"], by_type["n"], strict=True))
    table = pc.contrast(by_type, {"EminusH": {"E": 1, "H": -1}, "E": {"E": 1}})
    assert table["n"].tolist() == [n["E"] + n["H"], n["E"]]
    assert table["n_min"].tolist() == [min(n["E"], n["H"]), n["E"]]
    shares = pc.proportion(d, "stype")
    both = pc.contrast(shares, [1, -1, 0])
    assert both["n"].iloc[0] == shares["n"].iloc[0] and both["n_min"].iloc[0] == shares["n"].iloc[0]
    fit = pc.glm(d, "api00 ~ ell")
    assert pc.contrast(fit, {"ell": 1})[["n", "n_min"]].iloc[0].tolist() == [fit.n, fit.n]
