"""pc.ttest and pc.ranktest against R's svyttest and svyranktest
(tests/reference/make_models_more.R -> models_more.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models_cases import api, design, reference
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc

RTOL = 1e-9  # closed-form statistics: R's values to float noise
DESIGNS = ["strat", "clus1", "clus2", "jk1", "boot"]
TAYLOR = ["strat", "clus1", "clus2"]
TESTS = ["wilcoxon", "vanderWaerden", "median"]


def close(ours: float, theirs: float, rtol: float = RTOL) -> bool:
    return bool(np.isclose(ours, theirs, rtol=rtol, atol=0))


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize(("variable", "group", "case"), [
    ("enroll", "comp_imp", "ttest_enroll_compimp"),
    ("api00", "sch_wide", "ttest_api00_sch"),
])
def test_ttest_equals_svyttest(name, variable, group, case):
    r = reference("models_more.csv")[f"{name}/{case}"]
    row = pc.ttest(design(name), variable, group=group, na_rm=True).iloc[0]
    assert row["contrast"] == "Yes - No"
    assert close(row["estimate"], r["estimate"])
    assert close(row["t"], r["statistic"])
    assert row["df"] == r["parameter"]
    assert close(row["p"], r["p"])
    assert close(row["ci_low"], r["ci_low"]) and close(row["ci_high"], r["ci_high"])
    assert close(row["se"], r["estimate"] / r["statistic"])


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("test", TESTS)
def test_two_group_ranktest_equals_svyranktest(name, test):
    r = reference("models_more.csv")[f"{name}/ranktest_{test}"]
    row = pc.ranktest(design(name), "ell", group="comp_imp", test=test).iloc[0]
    assert close(row["estimate"], r["estimate"])
    assert close(row["statistic"], r["statistic"])
    assert row["df"] == r["parameter"] and row["ndf"] == 1
    assert close(row["p"], r["p"])
    assert row["n"] == len(design(name).data)


@pytest.mark.parametrize("name", TAYLOR)
@pytest.mark.parametrize("test", TESTS)
def test_k_group_ranktest_equals_multiranktest(name, test):
    r = reference("models_more.csv")[f"{name}/ranktest_k_{test}"]
    row = pc.ranktest(design(name), "ell", group="stype", test=test).iloc[0]
    assert row["ndf"] == r["ndf"] == 2
    assert row["df"] == r["ddf"]
    assert close(row["statistic"] * row["ndf"], r["chisq"])
    assert close(row["p"], r["p"])
    assert row["contrast"] == "E, H, M"
    assert np.isnan(row["estimate"]) and np.isnan(row["se"])


def test_ranktest_leaves_out_missing_values_as_r():
    r = reference("models_more.csv")["clus1/ranktest_na_wilcoxon"]
    d = design("clus1")
    row = pc.ranktest(d, "avg_ed", group="comp_imp", na_rm=True).iloc[0]
    assert close(row["estimate"], r["estimate"])
    assert close(row["statistic"], r["statistic"])
    assert row["df"] == r["parameter"]
    assert row["n"] == int(d.data["avg_ed"].notna().sum())


def test_k_group_ranktest_on_replicate_designs_uses_their_covariance():
    # R's k-group test needs a linearisation design; here the replicate covariance of
    # the same totals, whether the replicates are per-PSU factors or weight columns
    jk1 = design("jk1")
    columns = jk1.replicate_weights.add_prefix("rep_")
    given = pc.ReplicateDesign(
        pd.concat([jk1.data, columns], axis=1), weights="pw",
        replicate_weights=list(columns.columns), scale=jk1.scale, rscales=jk1.rscales,
    )
    from_factors = pc.ranktest(jk1, "ell", group="stype").iloc[0]
    from_columns = pc.ranktest(given, "ell", group="stype").iloc[0]
    assert np.isfinite(from_factors["statistic"]) and 0 < from_factors["p"] < 1
    assert from_factors["df"] == jk1.degf - 2
    assert from_columns["statistic"] == pytest.approx(from_factors["statistic"], rel=1e-10)


# ------------------------------------------------------------------------ errors --
def test_missing_values_need_na_rm():
    with pytest.raises(pc.EstimationError, match=r"'enroll' missing in rows .*na_rm=True"):
        pc.ttest(design("clus2"), "enroll", group="comp_imp")
    with pytest.raises(pc.EstimationError, match=r"'avg_ed' missing in rows"):
        pc.ranktest(design("clus1"), "avg_ed", group="comp_imp")


def test_group_must_have_two_values_for_a_t_test():
    with pytest.raises(pc.EstimationError, match="3 values.*E, H, M.*two groups"):
        pc.ttest(design("strat"), "api00", group="stype")
    one = design("strat").subset(design("strat").data["stype"] == "E")
    with pytest.raises(pc.EstimationError, match="1 value"):
        pc.ranktest(one, "api00", group="stype")


def test_bad_arguments_are_named():
    d = design("strat")
    with pytest.raises(pc.EstimationError, match="unknown column 'nope' given as variable"):
        pc.ttest(d, "nope", group="comp_imp")
    with pytest.raises(pc.EstimationError, match="'name' is not numeric"):
        pc.ttest(d, "name", group="comp_imp")
    with pytest.raises(pc.EstimationError, match="test='kruskal' is unknown"):
        pc.ranktest(d, "ell", group="comp_imp", test="kruskal")
    with pytest.raises(pc.EstimationError, match=r"design given to ttest\(\) must be"):
        pc.ttest(api("apistrat"), "ell", group="comp_imp")


def test_inputs_are_not_modified():
    data = api("apiclus2").copy()
    d = pc.SurveyDesign(data, psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    before = data.copy()
    pc.ttest(d, "enroll", group="comp_imp", na_rm=True)
    pc.ranktest(d, "enroll", group="stype", na_rm=True)
    pd.testing.assert_frame_equal(data, before)


def test_a_domain_is_tested_inside_the_full_design():
    d = design("strat")
    elementary = d.subset(d.data["stype"] == "E")
    inside = pc.ttest(elementary, "api00", group="sch_wide").iloc[0]
    by_hand = pc.contrast(pc.mean(elementary, "api00", by="sch_wide"), {"Yes": 1, "No": -1})
    assert inside["estimate"] == pytest.approx(by_hand["estimate"].iloc[0], rel=1e-12)
    assert inside["se"] == pytest.approx(by_hand["se"].iloc[0], rel=1e-12)
    assert inside["n"] == 100


# -------------------------------------------------------------------- properties --
@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 100), st.sampled_from(TESTS))
def test_rank_tests_ignore_the_scale_of_the_weights(factor, test):
    data = api("apistrat").assign(pw=lambda f: f["pw"] * factor)
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    ours = pc.ranktest(d, "ell", group="comp_imp", test=test).iloc[0]
    theirs = pc.ranktest(design("strat"), "ell", group="comp_imp", test=test).iloc[0]
    assert ours["statistic"] == pytest.approx(theirs["statistic"], rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(TESTS), st.sampled_from(["comp_imp", "stype"]))
def test_rank_tests_depend_only_on_the_order_of_the_values(test, group):
    # a strictly increasing transformation keeps every rank, hence the test
    data = api("apistrat").assign(ell=lambda f: np.exp(f["ell"] / 10) + 3)
    d = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    ours = pc.ranktest(d, "ell", group=group, test=test).iloc[0]
    theirs = pc.ranktest(design("strat"), "ell", group=group, test=test).iloc[0]
    assert ours["statistic"] == pytest.approx(theirs["statistic"], rel=1e-12)
    assert ours["p"] == pytest.approx(theirs["p"], rel=1e-9)
