"""pc.chisq against R's svychisq (Rao–Scott F and chi-square, Wald), and its errors.

References: tests/reference/reference_models.csv (make_reference.R) and
tests/reference/models_chisq.csv (make_models.R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _models_cases import api, design, reference, relative_error

import perception as pc
from perception.errors import EstimationError

REL_TOL = 1e-6  # relative agreement with R
STATISTICS = ("F", "Chisq", "Wald", "adjWald")

# models_chisq.csv: case prefix -> (design, row, col, subset)
CHISQ_CASES = {
    "strat/mealcat_stype": ("strat", "mealcat", "stype", None),
    "clus2/mealcat_stype": ("clus2", "mealcat", "stype", None),
    "clus1/comp_awards": ("clus1", "comp_imp", "awards", None),
    "clus1/edcat_stype": ("clus1", "edcat", "stype", None),
    "clus2/subset_notH": ("clus2", "sch_wide", "mealcat", ("stype", "H")),
    "jk1/mealcat_stype": ("jk1", "mealcat", "stype", None),
    "boot/sch_stype": ("boot", "sch_wide", "stype", None),
    "ps/sch_awards": ("ps", "sch_wide", "awards", None),
    "ps/subset_notE": ("ps", "sch_wide", "awards", ("stype", "E")),
}


def _check(result, ref, case):
    fields = {"statistic": result.statistic, "p": result.p}
    if "df" in ref:  # R's "Chisq": statistic is Pearson's X2, p that of X2 / mean(delta)
        fields["df"] = result.ndf
        assert result.ndf == result.chisq_df
        assert result.statistic == result.pearson
        assert result.p == result.chisq_p
    else:
        fields["ndf"] = result.ndf
        fields["ddf"] = result.ddf
    for key, value in fields.items():
        assert relative_error(value, ref[key]) < REL_TOL, f"{case} {key}: {value!r} vs {ref[key]!r}"


def _core_cases():
    ref = reference("reference_models.csv")
    out = []
    for case in sorted(ref):
        name, _, what = case.partition("/")
        if what.startswith("chisq_") and what[6:] in STATISTICS:
            out.append(case)
    return out


@pytest.mark.parametrize("case", _core_cases())
def test_chisq_equals_reference_models(case):
    name, what = case.split("/")
    result = pc.chisq(design(name), "sch_wide", "stype", statistic=what[len("chisq_"):])
    _check(result, reference("reference_models.csv")[case], case)


@pytest.mark.parametrize("statistic", STATISTICS)
@pytest.mark.parametrize("case", sorted(CHISQ_CASES))
def test_chisq_equals_models_chisq(case, statistic):
    name, row, col, drop = CHISQ_CASES[case]
    d = design(name)
    if drop is not None:
        d = d.subset(d.data[drop[0]] != drop[1])
    result = pc.chisq(d, row, col, statistic=statistic, na_rm=True)
    _check(result, reference("models_chisq.csv")[f"{case}/{statistic}"], f"{case}/{statistic}")


def test_first_order_fields_do_not_depend_on_the_test():
    d = design("clus2")
    f = pc.chisq(d, "mealcat", "stype")
    c = pc.chisq(d, "mealcat", "stype", statistic="Chisq")
    assert (f.pearson, f.chisq, f.chisq_df, f.chisq_p) == (c.pearson, c.chisq, c.chisq_df,
                                                           c.chisq_p)
    # first-order statistic: X2 over the mean design effect
    assert f.chisq == pytest.approx(f.pearson / np.mean(f.design_effects), rel=1e-12)
    # second order: F = X2 / sum(delta), d0 = sum(delta)^2 / sum(delta^2)
    deltas = np.asarray(f.design_effects)
    assert f.statistic == pytest.approx(f.pearson / deltas.sum(), rel=1e-12)
    assert f.ndf == pytest.approx(deltas.sum() ** 2 / (deltas**2).sum(), rel=1e-10)


def test_result_frame_and_table():
    result = pc.chisq(design("strat"), "mealcat", "stype")
    frame = result.to_frame()
    assert len(frame) == 1
    assert list(frame.columns[:7]) == ["row", "col", "test", "statistic", "ndf", "ddf", "p"]
    assert {"chisq", "chisq_df", "chisq_p", "pearson", "n"} <= set(frame.columns)
    assert result.table.shape == (3, 3)
    assert result.table.to_numpy().sum() == pytest.approx(1.0)
    assert "Rao & Scott" in str(result)


def test_symmetric_in_row_and_col():
    d = design("clus1")
    a = pc.chisq(d, "sch_wide", "stype")
    b = pc.chisq(d, "stype", "sch_wide")
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10)
    assert a.ndf == pytest.approx(b.ndf, rel=1e-10)


def test_inputs_not_mutated():
    data = api("apiclus1")
    before = data.copy(deep=True)
    d = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    pc.chisq(d, "edcat", "stype", na_rm=True)
    pd.testing.assert_frame_equal(data, before)


# ------------------------------------------------------------------- errors --
def test_one_level_variable_names_the_variable_and_level():
    d = design("strat")
    sub = d.subset(d.data["stype"] == "E")
    with pytest.raises(EstimationError, match=r"'stype' has only the level 'E'"):
        pc.chisq(sub, "sch_wide", "stype")


def test_unknown_column():
    with pytest.raises(EstimationError, match="unknown column 'stpye'.*'stype'"):
        pc.chisq(design("strat"), "sch_wide", "stpye")


def test_missing_values_need_na_rm():
    with pytest.raises(EstimationError, match=r"'edcat' \(26\).*na_rm=True"):
        pc.chisq(design("clus1"), "edcat", "stype")


@pytest.mark.parametrize(
    "args, pattern",
    [
        (("sch_wide", "sch_wide"), "two different"),
        (("sch_wide", "stype", "lincom"), "statistic='lincom'"),
        ((["sch_wide"], "stype"), "column name"),
    ],
)
def test_bad_arguments(args, pattern):
    with pytest.raises(EstimationError, match=pattern):
        pc.chisq(design("strat"), *args)


def test_nullable_integer_codes_equal_labels():
    data = api("apiclus1")
    codes = data["edcat"].map({"low": 1, "high": 2}).astype("Int64")
    d = pc.SurveyDesign(data.assign(edcode=codes), weights="pw", psu="dnum", fpc="fpc")
    labelled = pc.chisq(d, "edcat", "stype", na_rm=True)
    coded = pc.chisq(d, "edcode", "stype", na_rm=True)
    assert coded.statistic == pytest.approx(labelled.statistic, rel=1e-12)
    assert coded.ddf == pytest.approx(labelled.ddf, rel=1e-12)
    assert coded.n == labelled.n == int(codes.notna().sum())
