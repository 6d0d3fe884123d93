"""``change``, ``did`` and ``list_experiment`` of designs on a Dask DataFrame: the same
tables as in memory, computed on a cluster.

Small Parquet datasets (the built-in example's two waves, R's api data with a
synthetic treated area, three waves and a list experiment) are read with dask, and the
analyses run on a ``dask.distributed`` LocalCluster of two worker processes. Every
table (all columns, the covariance, the per-wave or per-cell estimates) must equal the
in-memory one to 1e-10; the errors name the same rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import EstimationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from same_tables import assert_same_columns  # noqa: E402  (after the importorskip)


def _demo() -> pd.DataFrame:
    """Two waves of the example survey, unlabelled; the trust score without its
    missing codes, a population size per stratum, sex as text, a few ages missing."""
    waves = pc.demo_survey(seed=1, n_per_wave=800).waves
    data = waves[["wave", "treated", "region", "stratum", "psu_id", "w_final",
                  "trust_police", "le_count", "le_list", "age", "sex"]].copy()
    data["sex"] = data["sex"].map({1: "man", 2: "woman"})
    data.loc[[3, 50, 900], "age"] = np.nan
    data["y"] = data["trust_police"].where(data["trust_police"] < 8).astype(float)
    data["pop"] = data.groupby("stratum")["w_final"].transform("size") * 40.0
    return data


def _api() -> pd.DataFrame:
    """R's apiclus2 with a treated district (by its number), three waves and a list
    experiment; replicate weights of its districts as columns."""
    data = pc.datasets.load("apiclus2").copy()
    rng = np.random.default_rng(7)
    data["treated"] = (data["dnum"] % 2).astype(np.int64)
    data["wave"] = rng.integers(0, 3, len(data))
    data["arm"] = rng.integers(0, 2, len(data))
    data["items"] = rng.integers(0, 4, len(data)) + data["arm"] * rng.integers(0, 2, len(data))
    weights = pc.SurveyDesign(data, weights="pw", psu="dnum").replicate("jk1").replicate_weights
    weights.columns = [f"rw{i}" for i in range(weights.shape[1])]
    return pd.concat([data, weights.reset_index(drop=True)], axis=1)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    paths = {}
    for name, data in (("demo", _demo()), ("api", _api())):
        dd.from_pandas(data, npartitions=3).to_parquet(root / name, write_index=False)
        paths[name] = root / name
    return paths


def _frames(parquet, name: str) -> tuple[pd.DataFrame, object]:
    ddf = dd.read_parquet(parquet[name])
    return ddf.compute().reset_index(drop=True), ddf


def _same_matrix(got: np.ndarray, want: np.ndarray) -> None:
    # 1e-10 of the largest entry: covariances near zero are sums that cancel
    scale = float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10 * scale + 1e-15)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert_same_columns(got, want)
    assert set(got.attrs) == set(want.attrs)
    if want.attrs.get("vcov") is not None:
        _same_matrix(np.asarray(got.attrs["vcov"], float), np.asarray(want.attrs["vcov"], float))
        keys, wanted = pc.vcov(got).index, pc.vcov(want).index
        assert keys.names == wanted.names
        assert list(map(str, keys)) == list(map(str, wanted))
    assert got.attrs.get("method") == want.attrs.get("method")
    assert got.attrs.get("level") == want.attrs.get("level")
    if "estimates" in want.attrs:
        assert_same(got.attrs["estimates"], want.attrs["estimates"])


def assert_same_did(got, want) -> None:
    for name in ("effects", "cells", "coefficients", "pretrend", "heterogeneity"):
        if getattr(want, name) is None:
            assert getattr(got, name) is None
        else:
            assert_same(getattr(got, name), getattr(want, name))
    assert got.vcov.keys() == want.vcov.keys()
    for name, matrix in want.vcov.items():
        assert list(got.vcov[name].index) == list(matrix.index)
        _same_matrix(got.vcov[name].to_numpy(), matrix.to_numpy())
    for name in ("treated", "period", "by", "covariates", "periods", "post_periods", "level"):
        assert getattr(got, name) == getattr(want, name)


DEMO_DESIGNS = [
    {"weights": "w_final", "strata": "stratum", "psu": "psu_id"},  # stratified clusters
    {"weights": "w_final", "strata": "stratum", "fpc": "pop"},  # rows as PSUs, with fpc
]


@pytest.mark.parametrize("arguments", DEMO_DESIGNS)
def test_demo_designs(client, parquet, arguments):
    # y misses the answers 8 and 9: na_rm leaves rows out, whose degrees of freedom
    # the cells and the DiD then use (as the in-memory design cut to the rows used)
    data, ddf = _frames(parquet, "demo")
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    for by in (None, "region"):
        assert_same(pc.change(spread, ["y", "le_count"], over="wave", by=by, na_rm=True,
                              relative=True),
                    pc.change(memory, ["y", "le_count"], over="wave", by=by, na_rm=True,
                              relative=True))
        assert_same_did(pc.did(spread, ["y", "trust_police"], by=by, na_rm=True),
                        pc.did(memory, ["y", "trust_police"], by=by, na_rm=True))
        assert_same(pc.list_experiment(spread, count="le_count", treatment="le_list",
                                       by=by, n_control_items=4),
                    pc.list_experiment(memory, count="le_count", treatment="le_list",
                                       by=by, n_control_items=4))


@pytest.mark.parametrize("replicates", [None, "jkn"])
def test_did_with_covariates(client, parquet, replicates):
    # the regression of the Dask glm on the in-memory design matrix (a numeric and a
    # text covariate, subgroups); rows missing a covariate out of the fit and the cells
    data, ddf = _frames(parquet, "demo")
    arguments = DEMO_DESIGNS[0]
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    if replicates:
        memory, spread = memory.replicate(replicates), spread.replicate(replicates)
    options = {"covariates": ["age", "sex"], "by": "region", "na_rm": True}
    assert_same_did(pc.did(spread, "y", **options), pc.did(memory, "y", **options))
    # a covariate that repeats the treatment: the error names the model's terms
    data["again"] = data["treated"]
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **arguments)
    with pytest.raises(EstimationError) as caught:
        pc.did(spread, "y", covariates="again", na_rm=True)
    assert "again" in str(caught.value) and "__pc_did" not in str(caught.value)


def test_multistage_with_fpc(client, parquet):
    # two stages with fpc (the group design's recursion), three waves: an event study
    # with a pre-trend test, consecutive changes
    data, ddf = _frames(parquet, "api")
    arguments = {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    assert_same(pc.change(spread, "api00", over="wave", by="stype", reference="consecutive"),
                pc.change(memory, "api00", over="wave", by="stype", reference="consecutive"))
    assert_same_did(pc.did(spread, "api00", post_periods=[2]),
                    pc.did(memory, "api00", post_periods=[2]))
    assert_same_did(pc.did(spread, "api00", by="sch_wide", level=0.9),
                    pc.did(memory, "api00", by="sch_wide", level=0.9))
    assert_same(pc.list_experiment(spread, count="items", treatment="arm", by="wave"),
                pc.list_experiment(memory, count="items", treatment="arm", by="wave"))


REPLICATES = [
    ("demo", {"weights": "w_final", "strata": "stratum", "psu": "psu_id"}, {"method": "jkn"}),
    ("demo", {"weights": "w_final", "strata": "stratum", "psu": "psu_id"},
     {"method": "bootstrap", "replicates": 20, "seed": 3}),
    ("api", {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]},
     {"method": "jk1", "mse": True}),
]


@pytest.mark.parametrize(("name", "arguments", "options"), REPLICATES)
def test_replicates_of_a_design(client, parquet, name, arguments, options):
    data, ddf = _frames(parquet, name)
    memory = pc.SurveyDesign(data, **arguments).replicate(**options)
    spread = pc.SurveyDesign(ddf, **arguments).replicate(**options)
    y, count, arm = ("y", "le_count", "le_list") if name == "demo" else ("api00", "items",
                                                                        "arm")
    assert_same(pc.change(spread, y, over="wave", na_rm=True),
                pc.change(memory, y, over="wave", na_rm=True))
    assert_same_did(pc.did(spread, y, na_rm=True), pc.did(memory, y, na_rm=True))
    assert_same(pc.list_experiment(spread, count=count, treatment=arm),
                pc.list_experiment(memory, count=count, treatment=arm))


@pytest.mark.parametrize("options", [{"method": "jk1", "degf": 10}])  # degf: the design's, given
def test_replicate_weight_columns(client, parquet, options):
    data, ddf = _frames(parquet, "api")
    data.loc[[3, 50, 97], "api00"] = np.nan  # rows left out: the rank of the rows used
    ddf = dd.from_pandas(data, npartitions=3)
    memory = pc.ReplicateDesign(data, weights="pw", replicate_weights="rw[0-9]+", **options)
    spread = pc.ReplicateDesign(ddf, weights="pw", replicate_weights="rw[0-9]+", **options)
    assert_same(pc.change(spread, "api00", over="wave", by="stype", na_rm=True),
                pc.change(memory, "api00", over="wave", by="stype", na_rm=True))
    assert_same_did(pc.did(spread, "api00", na_rm=True, post_periods=[2]),
                    pc.did(memory, "api00", na_rm=True, post_periods=[2]))
    data.loc[[4, 60], "arm"] = np.nan
    memory = pc.ReplicateDesign(data, weights="pw", replicate_weights="rw[0-9]+", **options)
    spread = pc.ReplicateDesign(dd.from_pandas(data, npartitions=3), weights="pw",
                                replicate_weights="rw[0-9]+", **options)
    assert_same(pc.list_experiment(spread, count="items", treatment="arm", na_rm=True),
                pc.list_experiment(memory, count="items", treatment="arm", na_rm=True))


def _messages(function, *designs, **arguments) -> list[str]:
    messages = []
    for design in designs:
        with pytest.raises(EstimationError) as caught:
            function(design, **arguments)
        messages.append(str(caught.value))
    return messages


def test_errors_name_the_rows(client, parquet):
    data, _ = _frames(parquet, "demo")
    control = data.index[data["le_list"] == 0][[5, 700]]
    data.loc[control, "le_count"] = 7  # above J = 4
    data.loc[[11], "treated"] = 2
    arguments = {"weights": "w_final", "strata": "stratum", "psu": "psu_id"}
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **arguments)
    on_dask, in_memory = _messages(pc.list_experiment, spread, memory, count="le_count",
                                   treatment="le_list", n_control_items=4)
    assert f"rows {control[0]}, {control[1]} (row numbers in the whole Dask DataFrame) (value 7)" \
        in on_dask
    assert on_dask.replace(" (row numbers in the whole Dask DataFrame)", "") == in_memory
    on_dask, in_memory = _messages(pc.did, spread, memory, variables="y")
    assert "column 'y' (did) has 75 missing value(s)" in on_dask
    on_dask, in_memory = _messages(pc.did, spread, memory, variables="y", na_rm=True)
    assert on_dask.replace(" (row numbers in the whole Dask DataFrame)", "") == in_memory
    assert "rows 11 " in on_dask
    data["round"] = 1
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **arguments)
    on_dask, in_memory = _messages(pc.change, spread, pc.SurveyDesign(data, **arguments),
                                   variables="y", over="round", na_rm=True)
    assert "has a single value (1)" in on_dask
    assert on_dask == in_memory
    with pytest.raises(EstimationError, match="unknown column 'wav'"):
        pc.change(spread, "y", over="wav")


def test_cells_and_psus_checked_as_in_memory(client, parquet):
    data, _ = _frames(parquet, "api")
    arguments = {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}
    # one school of a comparison district marked treated: the warning names its district
    mixed = data.index[data["treated"] == 0][0]
    data.loc[mixed, "treated"] = 1
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **arguments)
    with warnings.catch_warnings(record=True) as on_dask:
        warnings.simplefilter("always")
        got = pc.did(spread, "api00")
    with warnings.catch_warnings(record=True) as in_memory:
        warnings.simplefilter("always")
        want = pc.did(memory, "api00")
    assert [str(w.message) for w in on_dask] == [str(w.message) for w in in_memory]
    assert "not constant within 1 PSU(s)" in str(on_dask[0].message)
    assert on_dask[0].filename == in_memory[0].filename == __file__  # at the caller
    assert_same_did(got, want)
    # a subgroup whose cell has a single district: the same refusal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mixed PSU, as above
        on_dask, in_memory = _messages(pc.did, spread, memory, variables="api00", by="stype")
    assert "has 1 PSU" in on_dask
    assert on_dask == in_memory


def test_categorical_waves(client, parquet):
    # waves as an ordered categorical whose order is not the sorted one: the changes,
    # the cells and the periods follow the categories, as in memory
    data, _ = _frames(parquet, "api")
    data["round"] = pd.Categorical(data["wave"].map({0: "start", 1: "middle", 2: "end"}),
                                   categories=["start", "middle", "end"], ordered=True)
    arguments = {"weights": "pw", "psu": "dnum"}
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **arguments)
    got = pc.change(spread, "api00", over="round", reference="consecutive")
    assert got["from"].tolist() == ["start", "middle"]
    assert_same(got, pc.change(memory, "api00", over="round", reference="consecutive"))
    assert_same_did(pc.did(spread, "api00", period="round", post_periods="end"),
                    pc.did(memory, "api00", period="round", post_periods="end"))


def test_lonely_psu_options(client):
    # a stratum with a single district: every option but "average" gives the in-memory
    # DiD; "average" scales the fit's variance by the strata of the whole fit, which
    # the cells' covariance cannot give, so it is refused (changes are domain means: kept)
    data = pc.datasets.load("apistrat").copy()
    data["st_lonely"] = data["stype"].astype(str)
    data.loc[data["dnum"] == data["dnum"].iloc[0], "st_lonely"] = "alone"
    data["treated"] = (data["dnum"] % 2).astype(np.int64)
    data["wave"] = np.random.default_rng(3).integers(0, 2, len(data))
    ddf = dd.from_pandas(data, npartitions=3)
    for lonely in ("remove", "certainty", "adjust", "average"):
        arguments = {"weights": "pw", "strata": "st_lonely", "psu": "dnum", "nest": True,
                     "lonely_psu": lonely}
        memory = pc.SurveyDesign(data, **arguments)
        spread = pc.SurveyDesign(ddf, **arguments)
        assert_same(pc.change(spread, "api00", over="wave", by="awards"),
                    pc.change(memory, "api00", over="wave", by="awards"))
        if lonely == "average":
            with pytest.raises(EstimationError, match="lonely_psu='average' with a stratum"):
                pc.did(spread, "api00")
        else:
            assert_same_did(pc.did(spread, "api00"), pc.did(memory, "api00"))
