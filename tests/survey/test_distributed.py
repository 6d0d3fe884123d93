"""Designs on a Dask DataFrame: the same tables as in memory, summed on a cluster.

A small Parquet dataset (R's api data, in several files) is read with dask and every
estimator runs on a ``dask.distributed`` LocalCluster of two worker processes, so the
partitions really are reduced in other processes and added up on the client. Each
table must equal the in-memory one to 1e-10 (partitions are summed in another order).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import DesignError, EstimationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from same_tables import assert_same_columns  # noqa: E402  (after the importorskip)


def _api(name: str) -> pd.DataFrame:
    data = pc.datasets.load(name).copy()
    # a stratum with one PSU (lonely) and one with a single row, for the lonely options
    data["st_lonely"] = data["stype"].astype(str)
    data.loc[data["dnum"] == data["dnum"].iloc[0], "st_lonely"] = "alone"
    data["st_row"] = data["stype"].astype(str)
    data.loc[data.index[0], "st_row"] = "alone"
    return data


def api_parquet(root, make=_api) -> dict:
    """Each api data set (as ``make(name)`` gives it) as a Parquet dataset of three
    files in ``root``: their paths by name."""
    paths = {}
    for name in ("apistrat", "apiclus1", "apiclus2"):
        path = root / name
        dd.from_pandas(make(name), npartitions=3).to_parquet(path, write_index=False)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("waves"))


def _frames(parquet, name: str) -> tuple[pd.DataFrame, object]:
    ddf = dd.read_parquet(parquet[name])
    data = ddf.compute().reset_index(drop=True)
    return data, ddf


def design_pair(parquet, name: str, arguments: dict, kind: str, change=None):
    """The in-memory and the Dask design of data set ``name`` (``change`` alters its
    data): plain, their ``kind`` replicates ("jk1", "jkn"), or a design of the
    jackknife's weights as columns of the data ("columns")."""
    data, ddf = _frames(parquet, name)
    if change is not None:
        data = change(data)
        ddf = dd.from_pandas(data, npartitions=3)
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    if kind in ("jk1", "jkn"):
        return memory.replicate(kind), spread.replicate(kind)
    if kind == "columns":
        weights = memory.replicate("jk1").replicate_weights
        data = pd.concat([data, weights], axis=1)
        ddf = dd.from_pandas(data, npartitions=3)
        options = {"weights": "pw", "replicate_weights": "rep[0-9]+", "method": "jk1"}
        return pc.ReplicateDesign(data, **options), pc.ReplicateDesign(ddf, **options)
    return memory, spread


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert_same_columns(got, want)
    if "vcov" in want.attrs:
        expected = np.asarray(want.attrs["vcov"], float)
        # covariances near zero are compared on the scale of the table's variances
        finite = np.abs(expected[np.isfinite(expected)])
        scale = float(finite.max()) if finite.size else 0.0
        np.testing.assert_allclose(np.asarray(got.attrs["vcov"], float), expected,
                                   rtol=1e-9, atol=max(1e-12, 1e-11 * scale))
    assert got.attrs.get("method") == want.attrs.get("method")
    assert got.attrs.get("interval_type") == want.attrs.get("interval_type")


DESIGNS = [
    ("apistrat", {"weights": "pw", "strata": "stype", "fpc": "fpc"}),  # rows as PSUs
    ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum", "nest": True}),
    ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}),
    ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"]}),
    ("apistrat", {"weights": "pw"}),  # weights only: one group without domains
]


@pytest.mark.parametrize(("name", "arguments"), DESIGNS)
def test_estimators_equal_in_memory(client, parquet, name, arguments):
    data, ddf = _frames(parquet, name)
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    assert type(spread).__name__ == "DaskSurveyDesign"
    for by in (None, ["stype", "awards"]):
        assert_same(pc.mean(spread, ["api00", "api99"], by=by),
                    pc.mean(memory, ["api00", "api99"], by=by))
        assert_same(pc.total(spread, "enroll", by=by, na_rm=True),
                    pc.total(memory, "enroll", by=by, na_rm=True))
        assert_same(pc.ratio(spread, ["api00", "api99"], "enroll", by=by, na_rm=True),
                    pc.ratio(memory, ["api00", "api99"], "enroll", by=by, na_rm=True))
        assert_same(pc.proportion(spread, ["sch_wide", "awards"], by=by, method="beta"),
                    pc.proportion(memory, ["sch_wide", "awards"], by=by, method="beta"))


@pytest.mark.parametrize("lonely", ["remove", "certainty", "adjust", "average"])
@pytest.mark.parametrize(("strata", "psu"), [("st_lonely", "dnum"), ("st_row", None)])
def test_lonely_psu_options(client, parquet, lonely, strata, psu):
    data, ddf = _frames(parquet, "apistrat")
    arguments = {"weights": "pw", "strata": strata, "psu": psu, "lonely_psu": lonely,
                 "nest": True}
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    assert_same(pc.mean(spread, "api00", by="stype"), pc.mean(memory, "api00", by="stype"))
    assert_same(pc.proportion(spread, "sch_wide"), pc.proportion(memory, "sch_wide"))


@pytest.mark.parametrize(("strata", "psu"), [("st_lonely", "dnum"), ("st_row", None)])
def test_lonely_psu_fails_by_default(client, parquet, strata, psu):
    _, ddf = _frames(parquet, "apistrat")
    design = pc.SurveyDesign(ddf, weights="pw", strata=strata, psu=psu, nest=True)
    with pytest.raises(DesignError, match="alone"):
        pc.mean(design, "api00")


def test_missing_values_global_rows(client, parquet):
    data, ddf = _frames(parquet, "apistrat")
    # enroll has no missing value in apistrat: make some, in the last partition
    rows = [len(data) - 3, len(data) - 1]
    data.loc[rows, "api00"] = np.nan
    ddf = dd.from_pandas(data, npartitions=3)
    memory = pc.SurveyDesign(data, weights="pw", strata="stype", psu="dnum", nest=True)
    spread = pc.SurveyDesign(ddf, weights="pw", strata="stype", psu="dnum", nest=True)
    with pytest.raises(EstimationError, match=f"2 missing value.*{rows[0]}, {rows[1]}"):
        pc.mean(spread, "api00")
    assert_same(pc.mean(spread, ["api00", "api99"], by="stype", na_rm=True),
                pc.mean(memory, ["api00", "api99"], by="stype", na_rm=True))
    assert_same(pc.proportion(spread, "awards", by="stype", na_rm=True),
                pc.proportion(memory, "awards", by="stype", na_rm=True))


def test_design_column_errors(client, parquet):
    data, _ = _frames(parquet, "apistrat")
    data.loc[[5, 150], "pw"] = -1.0
    design = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), weights="pw",
                             strata="stype")
    with pytest.raises(DesignError, match="negative values in 2 row.*5, 150"):
        pc.mean(design, "api00")
    with pytest.raises(DesignError, match="psu"):
        pc.SurveyDesign(dd.from_pandas(data, npartitions=3), weights="pw", psu="village")


def test_dask_not_imported_with_perception():
    code = "import sys, perception; perception.mean; assert 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


REPLICATES = [
    ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum", "nest": True,
                  "lonely_psu": "adjust"}, {"method": "jkn"}),
    ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"},
     {"method": "bootstrap", "replicates": 20, "seed": 3}),
    ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]},
     {"method": "jk1", "mse": True}),
]


def _all_estimators(spread, memory, by) -> None:
    assert_same(pc.mean(spread, ["api00", "api99"], by=by),
                pc.mean(memory, ["api00", "api99"], by=by))
    assert_same(pc.total(spread, "enroll", by=by, na_rm=True),
                pc.total(memory, "enroll", by=by, na_rm=True))
    assert_same(pc.ratio(spread, ["api00", "api99"], "enroll", by=by, na_rm=True),
                pc.ratio(memory, ["api00", "api99"], "enroll", by=by, na_rm=True))
    for method in ("logit", "beta"):
        assert_same(pc.proportion(spread, ["sch_wide", "awards"], by=by, method=method),
                    pc.proportion(memory, ["sch_wide", "awards"], by=by, method=method))


@pytest.mark.parametrize(("name", "arguments", "options"), REPLICATES)
def test_replicates_of_a_design(client, parquet, name, arguments, options):
    # per-PSU factors times per-PSU totals; PSUs in the order of the data, so the
    # bootstrap's seed draws the same replicates as in memory
    data, ddf = _frames(parquet, name)
    memory = pc.SurveyDesign(data, **arguments).replicate(**options)
    spread = pc.SurveyDesign(ddf, **arguments).replicate(**options)
    for by in (None, "stype"):
        _all_estimators(spread, memory, by)


@pytest.mark.parametrize("options", [{"method": "jk1"},
                                     {"method": "other", "scale": 0.9, "mse": True},
                                     {"method": "jk1", "degf": 10}])
def test_replicate_weight_columns(client, parquet, tmp_path, options):
    data, _ = _frames(parquet, "apiclus1")
    weights = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").replicate(
        "jk1").replicate_weights
    weights.columns = [f"rw{i}" for i in range(weights.shape[1])]
    data = pd.concat([data, weights.reset_index(drop=True)], axis=1)
    dd.from_pandas(data, npartitions=3).to_parquet(tmp_path / "rw", write_index=False)
    memory = pc.ReplicateDesign(data, weights="pw", replicate_weights="rw[0-9]+", **options)
    spread = pc.ReplicateDesign(dd.read_parquet(tmp_path / "rw"), weights="pw",
                                replicate_weights="rw[0-9]+", **options)
    assert type(spread).__name__ == "DaskReplicateDesign"
    for by in (None, "stype"):
        _all_estimators(spread, memory, by)


def test_replicates_need_clusters(parquet):
    _, ddf = _frames(parquet, "apistrat")
    with pytest.raises(DesignError, match="one factor per row"):
        pc.SurveyDesign(ddf, weights="pw", strata="stype").replicate("jkn")


@pytest.mark.parametrize(("name", "arguments"), [DESIGNS[0], DESIGNS[3]])
def test_quantiles_equal_in_memory(client, parquet, name, arguments):
    # the grid pass, the exact values around each quantile, Woodruff's share and bounds
    data, ddf = _frames(parquet, name)
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    probs = [0, 0.1, 0.5, 0.9, 1]
    for by, interval in ((None, "mean"), ("stype", "beta")):
        assert_same(pc.quantile(spread, ["api00", "enroll"], probs, by=by, na_rm=True,
                                interval_type=interval),
                    pc.quantile(memory, ["api00", "enroll"], probs, by=by, na_rm=True,
                                interval_type=interval))
    if "psu" in arguments:
        assert_same(pc.quantile(spread.replicate("jk1"), "api00", by="stype"),
                    pc.quantile(memory.replicate("jk1"), "api00", by="stype"))
    with pytest.raises(EstimationError, match="not available on a Dask"):
        pc.quantile(spread, "api00", interval_type="score")


def test_functions_not_on_dask_say_so(parquet):
    _, ddf = _frames(parquet, "apiclus1")
    design = pc.SurveyDesign(ddf, weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(EstimationError, match="Dask DataFrame, which this function"):
        pc.chisq(design, "stype", "sch_wide")


def test_labelled_design_needs_a_questionnaire(parquet):
    # labelled designs on a Dask DataFrame: tests/survey/test_distributed_labelled.py
    _, ddf = _frames(parquet, "apiclus1")
    with pytest.raises(DesignError, match="must be a Questionnaire"):
        pc.SurveyDesign(ddf, weights="pw", psu="dnum", questionnaire=object())
