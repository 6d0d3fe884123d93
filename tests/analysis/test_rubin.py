"""pc.mi_combine against R's mitools::MIcombine (tests/reference/make_models_more.R ->
models_mi.csv, on the completed data sets of mi_apistrat.csv)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from _models_cases import REFERENCE, r_term, reference
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc

RTOL = 1e-10  # closed-form combination of closed-form estimates


@cache
def completed() -> tuple[pc.SurveyDesign, ...]:
    """The five completed copies of apistrat that R combined, as designs."""
    data = pd.read_csv(REFERENCE / "mi_apistrat.csv", dtype={"cds": str})
    return tuple(
        pc.SurveyDesign(copy.drop(columns="imp").reset_index(drop=True), weights="pw",
                        strata="stype", fpc="fpc")
        for _, copy in data.groupby("imp", sort=True)
    )


ESTIMATORS = {
    "mean": lambda d: pc.mean(d, ["ell", "mobility", "api00"]),
    "by_stype": lambda d: pc.mean(d, "ell", by="stype"),
    "glm": lambda d: pc.glm(d, "api00 ~ ell + meals + mobility"),
    "total": lambda d: pc.total(d, "ell"),
}


def r_key(row: pd.Series) -> str:
    if "term" in row:
        return r_term(row["term"])
    return str(row["stype"]) if "stype" in row else str(row["variable"])


@pytest.mark.parametrize("what", list(ESTIMATORS))
@pytest.mark.parametrize("df_complete", [None, 197])
def test_equals_micombine(what, df_complete):
    r = reference("models_mi.csv")[f"mi/{what}" + ("_df197" if df_complete else "")]
    out = pc.mi_combine([ESTIMATORS[what](d) for d in completed()], df_complete=df_complete)
    keys = [r_key(row) for _, row in out.iterrows()]
    for key, row in zip(keys, out.itertuples(), strict=True):
        assert row.estimate == pytest.approx(r[f"{key}:est"], rel=RTOL)
        assert row.se == pytest.approx(r[f"{key}:se"], rel=RTOL)
        assert row.df == pytest.approx(r[f"{key}:df"], rel=RTOL)  # inf == inf
        assert row.fmi == pytest.approx(r[f"{key}:missinfo"], rel=RTOL, abs=1e-15)
    v = pc.vcov(out).to_numpy()
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            assert v[i, j] == pytest.approx(r[f"vcov|{a}|{b}"], rel=1e-9, abs=1e-12)


def test_an_estimate_no_imputation_moved_has_infinite_df_and_no_missing_information():
    out = pc.mi_combine([pc.mean(d, "api00") for d in completed()])
    assert np.isinf(out["df"].iloc[0]) and out["fmi"].iloc[0] == 0 and out["riv"].iloc[0] == 0
    alone = pc.mean(completed()[0], "api00")
    assert out["se"].iloc[0] == pytest.approx(alone["se"].iloc[0], rel=1e-14)
    with_df = pc.mi_combine([pc.mean(d, "api00") for d in completed()], df_complete=197)
    # Barnard-Rubin: nu_obs = (nu + 1)/(nu + 3) nu when B = 0
    assert with_df["df"].iloc[0] == pytest.approx(198 / 200 * 197, rel=1e-14)


def test_rows_are_matched_by_identity_not_position():
    tables = [pc.mean(d, "ell", by="stype") for d in completed()]
    shuffled = [t.sort_values("estimate").reset_index(drop=True) if i % 2 else t
                for i, t in enumerate(tables)]
    expected = pc.mi_combine(tables)
    got = pc.mi_combine(shuffled)
    pd.testing.assert_frame_equal(got, expected)


def test_the_combined_table_carries_its_covariance():
    out = pc.mi_combine([pc.mean(d, "ell", by="stype") for d in completed()])
    diff = pc.contrast(out, {"E": 1, "H": -1})
    v = pc.vcov(out)
    assert diff["se"].iloc[0] == pytest.approx(
        np.sqrt(v.iloc[0, 0] + v.iloc[1, 1] - 2 * v.iloc[0, 1]), rel=1e-12)


def test_tables_without_covariance_combine_their_variances():
    tables = [pc.quantile(d, "ell", [0.5]) for d in completed()]
    out = pc.mi_combine(tables)
    estimates = np.array([t["estimate"].iloc[0] for t in tables])
    within = np.mean([t["se"].iloc[0] ** 2 for t in tables])
    assert out["estimate"].iloc[0] == pytest.approx(estimates.mean())
    assert out["se"].iloc[0] ** 2 == pytest.approx(within + 1.2 * estimates.var(ddof=1))
    assert list(out.columns[:2]) == ["variable", "quantile"]


def test_bad_inputs_are_refused():
    tables = [pc.mean(d, "ell", by="stype") for d in completed()]
    with pytest.raises(pc.EstimationError, match="two or more"):
        pc.mi_combine(tables[:1])
    with pytest.raises(pc.EstimationError, match=r"result 2 does not hold the same estimates.*H"):
        pc.mi_combine([tables[0], tables[1][tables[1]["stype"] != "H"]])
    with pytest.raises(pc.EstimationError, match="both fitted models and estimate tables"):
        pc.mi_combine([tables[0], pc.glm(completed()[1], "api00 ~ ell")])
    with pytest.raises(pc.EstimationError, match="df_complete must be a positive number"):
        pc.mi_combine(tables, df_complete=0)
    with pytest.raises(pc.EstimationError, match="result 1 is a str"):
        pc.mi_combine(["a", "b"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=8), st.floats(0.1, 3))
def test_rubins_rules_on_hand_made_results(shifts, se):
    # one estimate per data set with the same SE: T = se^2 + (1 + 1/m) var(estimates)
    tables = [pd.DataFrame({"variable": ["ell"], "estimate": [10 + shift], "se": [se]})
              for shift in shifts]
    out = pc.mi_combine(tables)
    m = len(shifts)
    b = np.var(shifts, ddof=1)
    assert out["estimate"].iloc[0] == pytest.approx(10 + np.mean(shifts))
    assert out["se"].iloc[0] ** 2 == pytest.approx(se**2 + (1 + 1 / m) * b)
    riv = (1 + 1 / m) * b / se**2
    assert out["riv"].iloc[0] == pytest.approx(riv)
    if riv > 0:
        assert out["df"].iloc[0] == pytest.approx((m - 1) * (1 + 1 / riv) ** 2)
