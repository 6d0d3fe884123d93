"""Bad input gives a clear PerceptionError naming the column or argument, the rows and
the fix, never a traceback from deep inside numpy or pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _core_cases import api, reference_data

import perception as pc


@pytest.fixture
def strat() -> pd.DataFrame:
    return api("apistrat").copy()


@pytest.fixture
def design(strat) -> pc.SurveyDesign:
    return pc.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")


# ------------------------------------------------------------------------- designs --
def test_lonely_psu_fail_names_stratum_rows_and_options():
    lonely = reference_data("lonely_data.csv")
    d = pc.SurveyDesign(lonely, weights="pw", strata="stype", psu="dnum", nest=True)
    with pytest.raises(pc.DesignError) as error:
        pc.mean(d, "api00")
    message = str(error.value)
    row = int(np.flatnonzero(lonely["stype"] == "H")[0])
    assert "stratum 'H'" in message and "'stype'" in message
    assert f"rows {row}" in message
    assert "lonely_psu='adjust'" in message


def test_lonely_second_stage_unit_names_its_psu():
    data = reference_data("core_clus2_lonely_data.csv")
    d = pc.SurveyDesign(data, psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    with pytest.raises(pc.DesignError, match=r"'dnum=15'.*stage 2"):
        pc.mean(d, "api00")


@pytest.mark.parametrize(("value", "words"), [
    (-1.0, "negative values in rows 3, 7"),
    (np.nan, "2 missing value(s) in rows 3, 7"),
    (np.inf, "infinite values in rows 3, 7"),
])
def test_bad_weights_name_the_rows(strat, value, words):
    strat.loc[[3, 7], "pw"] = value
    with pytest.raises(pc.DesignError) as error:
        pc.SurveyDesign(strat, weights="pw", strata="stype")
    assert "'pw'" in str(error.value) and words in str(error.value)


def test_weights_summing_to_zero(strat):
    strat["pw"] = 0.0
    with pytest.raises(pc.DesignError, match="'pw' sums to zero"):
        pc.SurveyDesign(strat, weights="pw")


def test_non_numeric_weights_name_row_and_value(strat):
    strat["pw"] = strat["pw"].astype(str)
    strat.loc[2, "pw"] = "n/a"
    with pytest.raises(pc.DesignError, match=r"'pw' \(weights\) is not numeric.*rows 2.*'n/a'"):
        pc.SurveyDesign(strat, weights="pw")


def test_fpc_smaller_than_the_sample(strat):
    strat["fpc"] = np.where(strat["stype"] == "H", 20, strat["fpc"])
    with pytest.raises(pc.DesignError) as error:
        pc.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")
    message = str(error.value)
    assert "'fpc'" in message and "stratum 'H' has 50 units sampled" in message
    assert "population of 20" in message


def test_fpc_mixing_sizes_and_fractions(strat):
    strat["fpc"] = np.where(strat["stype"] == "E", 0.5, strat["fpc"])
    with pytest.raises(pc.DesignError, match=r"column 'fpc' has fractions in rows 0"):
        pc.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")


def test_fpc_zero(strat):
    strat.loc[[4], "fpc"] = 0
    with pytest.raises(pc.DesignError, match=r"'fpc' has zero, negative or infinite values in rows 4"):
        pc.SurveyDesign(strat, weights="pw", strata="stype", fpc="fpc")


def test_psu_in_two_strata_without_nest(strat):
    with pytest.raises(pc.DesignError) as error:
        pc.SurveyDesign(strat, weights="pw", strata="stype", psu="dnum")
    message = str(error.value)
    assert "PSU 401 of column 'dnum' appears in strata" in message
    assert "nest=True" in message
    # with nest=True the same columns are a valid design
    assert pc.SurveyDesign(strat, weights="pw", strata="stype", psu="dnum", nest=True).degf > 0


@pytest.mark.parametrize("argument", ["weights", "strata", "psu", "fpc"])
def test_unknown_design_column_suggests_the_closest(strat, argument):
    spec = {"weights": "pw", "strata": "stype", "psu": "dnum", "fpc": "fpc"}
    close = {"weights": "pww", "strata": "stpe", "psu": "dnun", "fpc": "fcp"}
    kwargs = {argument: close[argument]}
    if argument != "weights":
        kwargs["weights"] = "pw"
    with pytest.raises(pc.DesignError) as error:
        pc.SurveyDesign(strat, **kwargs)
    message = str(error.value)
    assert f"unknown column {close[argument]!r} given as {argument}" in message
    assert f"Did you mean {spec[argument]!r}" in message


def test_missing_psu_names_the_rows(strat):
    strat.loc[[5, 9], "dnum"] = np.nan
    with pytest.raises(pc.DesignError, match=r"'dnum' \(psu\) has 2 missing value\(s\) in rows 5, 9"):
        pc.SurveyDesign(strat, weights="pw", psu="dnum")


def test_bad_lonely_psu_option(strat):
    with pytest.raises(pc.DesignError, match="lonely_psu='merge'.*fail, remove, certainty"):
        pc.SurveyDesign(strat, weights="pw", lonely_psu="merge")


def test_bad_replicate_method(design):
    with pytest.raises(pc.DesignError, match="'jackknife'.*jk1, jkn, bootstrap, brr, fay"):
        design.replicate("jackknife")


def test_subset_needs_a_boolean_mask(design):
    with pytest.raises(pc.DesignError, match="boolean mask"):
        design.subset(design.data["stype"])
    with pytest.raises(pc.DesignError, match="has 3 values but the design has 200 rows"):
        design.subset(np.array([True, False, True]))


# ---------------------------------------------------------------------- estimates --
def test_unknown_variable_suggests_the_closest(design):
    with pytest.raises(pc.EstimationError, match=r"unknown column 'api0' given as variables.*'api00'"):
        pc.mean(design, "api0")
    with pytest.raises(pc.EstimationError, match=r"unknown column 'stpe' given as by.*'stype'"):
        pc.mean(design, "api00", by="stpe")


@pytest.mark.parametrize("estimator", [pc.mean, pc.total, pc.quantile, pc.proportion])
def test_missing_values_without_na_rm_name_column_and_count(strat, estimator):
    strat.loc[[1, 4, 8], "api00"] = np.nan
    d = pc.SurveyDesign(strat, weights="pw", strata="stype")
    with pytest.raises(pc.EstimationError) as error:
        estimator(d, "api00")
    message = str(error.value)
    assert "column 'api00'" in message and "3 missing value(s) in rows 1, 4, 8" in message
    assert "na_rm=True" in message
    assert estimator(d, "api00", na_rm=True)["n"].iloc[0] == 197


def test_non_numeric_variable_points_to_proportion(design):
    with pytest.raises(pc.EstimationError, match=r"'sch_wide' is not numeric.*'Yes'.*pc.proportion"):
        pc.mean(design, "sch_wide")


def test_empty_subset(design):
    empty = design.subset(design.data["stype"] == "X")
    for estimator in (pc.mean, pc.quantile):
        with pytest.raises(pc.EstimationError, match="domain is empty"):
            estimator(empty, "api00")


def test_domain_whose_weights_are_zero(strat):
    strat.loc[strat["stype"] == "H", "pw"] = 0.0
    d = pc.SurveyDesign(strat, weights="pw", strata="stype")
    with pytest.raises(pc.EstimationError, match=r"domain \{'stype': 'H'\} sum to zero"):
        pc.mean(d, "api00", by="stype")


def test_all_rows_missing(strat):
    strat["api00"] = np.nan
    d = pc.SurveyDesign(strat, weights="pw", strata="stype")
    with pytest.raises(pc.EstimationError, match="all 200 rows .* miss a value of 'api00'"):
        pc.mean(d, "api00", na_rm=True)


@pytest.mark.parametrize("level", [95, 0, 1, -0.5, "0.95"])
def test_bad_confidence_level(design, level):
    with pytest.raises(pc.EstimationError, match="level must be a number between 0 and 1"):
        pc.mean(design, "api00", level=level)


def test_bad_proportion_method(design):
    with pytest.raises(pc.EstimationError, match="method='wald'.*logit, beta, mean, xlogit, asin"):
        pc.proportion(design, "stype", method="wald")


def test_bad_quantile_interval_and_probabilities(design):
    with pytest.raises(pc.EstimationError, match="'quantile' is not available for this SurveyDesign"):
        pc.quantile(design, "api00", interval_type="quantile")
    replicate = design.replicate("jkn")
    with pytest.raises(pc.EstimationError, match="'score' is not available for this ReplicateDesign"):
        pc.quantile(replicate, "api00", interval_type="score")
    with pytest.raises(pc.EstimationError, match=r"between 0 and 1, got \[1.5\]"):
        pc.quantile(design, "api00", [0.5, 1.5])


def test_ratio_needs_matching_denominators(design):
    with pytest.raises(pc.EstimationError, match="2 numerator"):
        pc.ratio(design, ["api00", "api99"], ["enroll", "api99", "meals"])


def test_not_a_design():
    with pytest.raises(pc.EstimationError, match="must be a perception.SurveyDesign"):
        pc.mean(api("apistrat"), "api00")


def test_replicate_design_errors(strat):
    with pytest.raises(pc.DesignError, match="matches no column"):
        pc.ReplicateDesign(strat, weights="pw", replicate_weights="rw[0-9]+")
    strat["r1"], strat["r2"] = strat["pw"], strat["pw"]
    with pytest.raises(pc.DesignError, match="rscales has 3 values for 2"):
        pc.ReplicateDesign(strat, weights="pw", replicate_weights=["r1", "r2"],
                           rscales=[1, 1, 1])
    strat.loc[6, "r2"] = -1
    with pytest.raises(pc.DesignError, match="negative values in rows 6"):
        pc.ReplicateDesign(strat, weights="pw", replicate_weights=["r1", "r2"])


def test_errors_are_value_errors():
    assert issubclass(pc.DesignError, ValueError)
    assert issubclass(pc.EstimationError, pc.PerceptionError)


# ------------------------------------------------- arguments renamed from builtins --
def _replicate_frame() -> pd.DataFrame:
    return pd.DataFrame({"w": [1.0, 2.0, 3.0], "r1": [2.0, 0.0, 3.0], "r2": [0.0, 4.0, 3.0],
                         "y": [1.0, 2.0, 4.0]})


@pytest.mark.parametrize("data", [[1, 2], {"w": [1.0]}, None])
def test_replicate_design_not_a_frame_is_a_design_error(data):
    # the argument once named `type` shadowed the builtin used in this message
    with pytest.raises(pc.DesignError, match="must be a pandas DataFrame, got"):
        pc.ReplicateDesign(data, weights="w", replicate_weights=["r1", "r2"])


def test_replicate_design_type_is_the_old_name_of_method():
    frame = _replicate_frame()
    new = pc.ReplicateDesign(frame, weights="w", replicate_weights=["r1", "r2"],
                             method="bootstrap")
    with pytest.warns(DeprecationWarning, match="type= is renamed method="):
        old = pc.ReplicateDesign(frame, weights="w", replicate_weights=["r1", "r2"],
                                 type="bootstrap")
    assert new.method == old.method == "bootstrap"
    assert new.scale == old.scale == 1.0      # bootstrap default 1/(R-1), R = 2
    with pytest.warns(DeprecationWarning, match="renamed ReplicateDesign.method"):
        assert old.type == "bootstrap"
    with pytest.raises(TypeError, match="both type= and method="):
        pc.ReplicateDesign(frame, weights="w", replicate_weights=["r1", "r2"],
                           type="jk1", method="jk1")


def test_psu_crossing_strata_is_named_with_its_strata():
    data = pd.DataFrame({"s": [1, 1, 2, 2, 2, 3], "p": [1, 2, 2, 3, 4, 4],
                         "w": 1.0, "y": [1.0, 2, 3, 4, 5, 6]})
    with pytest.raises(pc.DesignError,
                       match=r"PSU 2 of column 'p' appears in strata 1, 2 of column 's' "
                             r"\(2 PSU id\(s\) cross strata\).*nest=True"):
        pc.SurveyDesign(data, weights="w", strata="s", psu="p")
    # PSU ids reused across strata are distinct PSUs under nest=True
    design = pc.SurveyDesign(data, weights="w", strata="s", psu="p", nest=True)
    assert "6 PSUs" in repr(design)


def test_second_stage_units_reusing_ids_across_psus():
    # second-stage ids 1, 2 reused in every PSU: the stage's strata are the PSUs, its
    # sample sizes 2, 2, 2, 3; R 4.2 survey 4.1:
    # svymean(~y, svydesign(ids=~p+ssu, strata=~s, fpc=~f1+f2, weights=~w, data=d))
    data = pd.DataFrame({"s": ["a"] * 4 + ["b"] * 5, "p": [1, 1, 2, 2, 3, 3, 4, 4, 4],
                         "ssu": [1, 2, 1, 2, 1, 2, 1, 2, 3], "w": 2.0,
                         "y": [1.0, 2, 3, 4, 5, 6, 7, 8, 10],
                         "f1": [5.0] * 4 + [6.0] * 5, "f2": [4.0, 4, 3, 3, 5, 5, 6, 6, 6]})
    design = pc.SurveyDesign(data, weights="w", strata="s", psu=["p", "ssu"],
                             fpc=["f1", "f2"])
    got = pc.mean(design, "y")
    np.testing.assert_allclose(got["estimate"], 5.111111111111, rtol=1e-11)
    np.testing.assert_allclose(got["se"], 0.888714546231, rtol=1e-10)
