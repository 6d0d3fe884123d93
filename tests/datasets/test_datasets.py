"""perception.datasets: R survey's api data, as R has them.

Reference: tests/reference/datasets_summary.csv, computed in R on ``data(api)`` by
perception/datasets/make_datasets.R (per column: R's type, NAs, sums, extremes, level
counts).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc

SUMMARY = Path(__file__).resolve().parents[1] / "reference" / "datasets_summary.csv"
NAMES = ["apiclus1", "apiclus1_boot50", "apiclus2", "apipop", "apisrs", "apistrat"]
SUM_RTOL = 1e-13  # sums: R adds in long double, numpy pairwise


def summary() -> pd.DataFrame:
    return pd.read_csv(SUMMARY, dtype={"value": str}, keep_default_na=False)


def test_names():
    assert pc.datasets.names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_columns_types_and_values_are_r_s(name):
    data = pc.datasets.load(name)
    expected = summary().query("dataset == @name")
    assert list(data.columns) == list(expected["column"])
    assert len(data) == expected["n"].iloc[0]
    for row in expected.itertuples(index=False):
        x = data[row.column]
        assert int(x.isna().sum()) == row.n_na, row.column
        if row.r_type == "factor":
            assert isinstance(x.dtype, pd.CategoricalDtype) and not x.cat.ordered
            counts = x.value_counts(sort=False)
            got = "|".join(f"{level}:{counts[level]}" for level in x.cat.categories)
            assert got == row.value, row.column  # levels in R's order, same counts
        elif row.r_type == "character":
            assert pd.api.types.is_string_dtype(x.dtype), row.column
            assert x.nunique() == int(row.value), row.column
        else:
            if row.r_type == "integer":
                assert x.dtype == ("Int64" if row.n_na else "int64"), row.column
            else:
                assert x.dtype == "float64", row.column
            if row.value:
                total, low, high = (float(v) for v in row.value.split("|"))
                values = x.dropna().to_numpy(dtype=float)
                assert values.min() == low and values.max() == high, row.column
                np.testing.assert_allclose(values.sum(), total, rtol=SUM_RTOL, err_msg=row.column)


def test_dots_become_underscores_and_levels_follow_r():
    api = pc.datasets.load("apistrat")
    assert {"sch_wide", "api_stu", "avg_ed", "comp_imp"} <= set(api.columns)
    assert not any("." in c for c in api.columns)
    assert api["stype"].cat.categories.tolist() == ["E", "H", "M"]
    assert api["sch_wide"].cat.categories.tolist() == ["No", "Yes"]
    assert api["cds"].iloc[0] == "19647336097927"  # an identifier, kept as text


def test_load_returns_a_fresh_copy():
    first = pc.datasets.load("apiclus1")
    first.loc[0, "api00"] = -1
    first["stype"] = "X"
    again = pc.datasets.load("apiclus1")
    assert again.loc[0, "api00"] != -1
    assert again["stype"].cat.categories.tolist() == ["E", "H", "M"]


def test_unknown_name_lists_the_data_sets():
    with pytest.raises(pc.PerceptionError, match=r"unknown data set 'apistrata'.*apistrat"):
        pc.datasets.load("apistrata")


def test_bootstrap_replicate_weights():
    boot = pc.datasets.load("apiclus1_boot50")
    clus1 = pc.datasets.load("apiclus1")
    pd.testing.assert_frame_equal(boot[clus1.columns], clus1)
    replicates = boot[[f"rw{r}" for r in range(1, 51)]].to_numpy()
    draws = replicates / boot["pw"].to_numpy()[:, None]
    np.testing.assert_allclose(draws, np.rint(draws), atol=1e-12)  # whole draws of pw
    per_district = pd.DataFrame(np.rint(draws)).groupby(boot["dnum"].to_numpy()).nunique()
    assert (per_district == 1).all().all()  # a district is drawn as a whole
    first = ~boot["dnum"].duplicated().to_numpy()
    assert (np.rint(draws[first]).sum(axis=0) == 15).all()  # 15 draws of 15 districts


def test_mean_equals_r():
    # R: svymean(~api00, svydesign(id=~1, strata=~stype, weights=~pw, fpc=~fpc,
    # data=apistrat)) -> 662.29, SE 9.4089 (tests/reference/r_survey_api.csv)
    d = pc.SurveyDesign(pc.datasets.load("apistrat"), weights="pw", strata="stype", fpc="fpc")
    table = pc.mean(d, "api00")
    assert table["estimate"].iloc[0] == pytest.approx(662.287363159321, rel=1e-12)
    assert table["se"].iloc[0] == pytest.approx(9.40894080278458, rel=1e-10)


def test_reachable_from_the_package_without_eager_import():
    code = ("import sys, perception as pc; assert 'perception.datasets' not in sys.modules; "
            "assert 'datasets' in dir(pc); print(pc.datasets.load('apisrs').shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(200, 39)"
