"""``adjust_nonresponse`` of a design on a Dask DataFrame: the in-memory adjusted design.

R's api samples, with one school in five as a nonrespondent, are written as Parquet
datasets of three files and read with dask; the adjusted design (weighting classes,
nonrespondents out of the domain, the class totals' step in the variance) runs on a
``dask.distributed`` LocalCluster of two worker processes and must give the weights
and every estimator's table of the in-memory adjusted design to 1e-10, for designs with
a weights column, replicates built from them and replicate-weight columns; its errors
are the in-memory ones, rows numbered in the whole Dask DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import EstimationError, WeightingError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from test_distributed import api_parquet, assert_same, design_pair  # noqa: E402

from perception.survey.dask_nonresponse import ADJUSTED  # noqa: E402

#: weights compared with the in-memory ones (relative)
WEIGHT_RTOL = 1e-12


def _api(name: str) -> pd.DataFrame:
    data = pc.datasets.load(name).copy()
    data["responded"] = (data["snum"] % 5 != 0).astype(int)
    return data


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("nonresponse"), _api)


DESIGNS = {
    "clusters": ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    "strata": ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum",
                            "nest": True}),
    "two-stage": ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"],
                               "fpc": ["fpc1", "fpc2"]}),
    "jk1": ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    "jkn": ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum",
                         "nest": True}),
    "columns": ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
}


def _designs(parquet, kind: str, change=None):
    """The in-memory and the Dask design of one kind (``change`` alters the data)."""
    name, arguments = DESIGNS[kind]
    return design_pair(parquet, name, arguments, kind, change)


ESTIMATES = {
    "mean": lambda d: pc.mean(d, ["api00", "api99"], by="sch_wide"),
    "total": lambda d: pc.total(d, "enroll", na_rm=True),
    "ratio": lambda d: pc.ratio(d, "api00", "api99", by="stype"),
    "proportion": lambda d: pc.proportion(d, "awards", by="stype"),
    "quantile": lambda d: pc.quantile(d, "api00", [0.5], by="sch_wide"),
}


def _weights(design) -> np.ndarray:
    """The adjusted full-sample weights of a Dask design."""
    column = ADJUSTED if ADJUSTED in design.data.columns else "pw"
    return design.data[column].compute().to_numpy(dtype=float)


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_adjusted_design_equals_in_memory(client, parquet, kind):
    memory, spread = _designs(parquet, kind)
    for classes in (["stype"], ["stype", "sch_wide"]):
        want = pc.adjust_nonresponse(memory, "responded", classes)
        got = pc.adjust_nonresponse(spread, "responded", classes)
        np.testing.assert_allclose(_weights(got), want.weights.to_numpy(), rtol=WEIGHT_RTOL)
        for name, estimate in ESTIMATES.items():
            if classes != ["stype"] and name in ("ratio", "quantile"):
                continue  # the paths without a domain of their own: one set of classes
            assert_same(estimate(got), estimate(want))
    assert_same(pc.weight_diagnostics(got, by="stype"), pc.weight_diagnostics(want, by="stype"))


@pytest.mark.parametrize("kind", ["clusters", "jkn", "columns"])
def test_adjusted_subsets(client, parquet, kind):
    # a subset adjusted (its rows are the sampled units), and an adjusted design's subset
    memory, spread = _designs(parquet, kind)
    orders = {
        "subset, then adjusted": lambda d: pc.adjust_nonresponse(
            d.subset(d.data["api00"] > 550), "responded", "stype"),
        "adjusted, then subset": lambda d: pc.adjust_nonresponse(
            d, "responded", "stype").subset(d.data["sch_wide"] == "Yes"),
    }
    for order in orders.values():
        want, got = order(memory), order(spread)
        assert_same(ESTIMATES["mean"](got), ESTIMATES["mean"](want))
        assert_same(ESTIMATES["proportion"](got), ESTIMATES["proportion"](want))


def test_responded_as_a_dask_series(client, parquet):
    memory, spread = _designs(parquet, "clusters")
    want = pc.adjust_nonresponse(memory, memory.data["responded"] == 1, ["stype"])
    got = pc.adjust_nonresponse(spread, spread.data["responded"] == 1, ["stype"])
    np.testing.assert_allclose(_weights(got), want.weights.to_numpy(), rtol=WEIGHT_RTOL)
    assert_same(ESTIMATES["mean"](got), ESTIMATES["mean"](want))
    # the design it came from is unchanged
    assert ADJUSTED not in spread.data.columns
    assert_same(pc.mean(spread, "api00"), pc.mean(memory, "api00"))


def test_labelled_design_adjusted(client, tmp_path, demo_factory):
    demo = demo_factory(seed=1, n_per_wave=200)
    data = demo.waves.assign(responded=(demo.waves["resp_id"].rank() % 4 != 0))
    dd.from_pandas(data, npartitions=3).to_parquet(tmp_path / "waves", write_index=False)
    ddf = dd.read_parquet(tmp_path / "waves")
    data = ddf.compute().reset_index(drop=True)
    arguments = {"weights": "w_final", "strata": "stratum", "psu": "psu_id",
                 "questionnaire": demo.questionnaire}
    want = pc.adjust_nonresponse(pc.SurveyDesign(data, **arguments), "responded", "region")
    got = pc.adjust_nonresponse(pc.SurveyDesign(ddf, **arguments), "responded", "region")
    assert got.questionnaire is demo.questionnaire
    for table in (lambda d: pc.mean(d, ["trust_police", "req_help_bribe"], by="wave"),
                  lambda d: pc.proportion(d, ["trust_police", "ca_type"], na_rm=True)):
        assert_same(table(got), table(want))
        assert table(got)["n_excluded"].sum() > 0


# ------------------------------------------------------------------ errors --
def _set(rows, column, value):
    def change(data):
        data = data.copy()
        if value is pd.NA:
            data[column] = data[column].astype("Int64" if column == "responded" else object)
        data.loc[rows, column] = value
        return data
    return change


def _same_error(memory, spread, match_memory: str, match_dask: str, *args) -> None:
    with pytest.raises(WeightingError, match=match_memory):
        pc.adjust_nonresponse(memory, *args)
    with pytest.raises(WeightingError, match=match_dask):
        pc.adjust_nonresponse(spread, *args)


def test_errors_as_in_memory_with_global_rows(client, parquet):
    n = len(pc.datasets.load("apiclus1"))
    rows = [3, n - 3]
    where = rf"{rows[0]}, {rows[1]} \(row numbers in the whole Dask DataFrame\)"
    memory, spread = _designs(parquet, "clusters", _set(rows, "responded", pd.NA))
    _same_error(memory, spread, f"'responded' \\(responded\\) is missing in rows {rows[0]}",
                f"'responded' \\(responded\\) is missing in rows {where}", "responded",
                "stype")
    memory, spread = _designs(parquet, "clusters", _set(rows, "responded", 2))
    _same_error(memory, spread, "must hold 0/1 or True/False, but rows .* e.g. 2",
                f"must hold 0/1 or True/False, but rows {where} hold other values, e.g. 2",
                "responded", "stype")
    memory, spread = _designs(parquet, "clusters", _set(rows, "stype", pd.NA))
    _same_error(memory, spread, "classes column\\(s\\) stype have missing values",
                f"classes column\\(s\\) stype have missing values in rows {where}",
                "responded", "stype")
    # a class without respondent: named, with its sampled units of positive weight
    memory, spread = _designs(parquet, "clusters", lambda d: d.assign(
        responded=np.where(d["stype"] == "H", 0, d["responded"])))
    message = r"class stype='H' has no respondent \(14 sampled with positive weight\)"
    _same_error(memory, spread, message, message, "responded", "stype")
    memory, spread = _designs(parquet, "clusters", lambda d: d.assign(responded=0))
    _same_error(memory, spread, "no row is a respondent", "no row is a respondent",
                "responded", "stype")


@pytest.mark.parametrize("kind", ["jk1", "columns"])
def test_class_without_respondent_in_a_replicate(client, parquet, kind):
    # the class "few" answers in one PSU only: the replicate without it has no respondent
    def few(data):
        first = data["dnum"].iloc[0]
        psus = data["dnum"].drop_duplicates().iloc[:3]
        return data.assign(
            cls=np.where(data["dnum"].isin(psus), "few", "many"),
            responded=np.where(data["dnum"].isin(psus) & (data["dnum"] != first), 0, 1))

    memory, spread = _designs(parquet, "jk1", few)
    if kind == "columns":
        weights = memory.replicate_weights
        data = pd.concat([memory.data, weights], axis=1)
        options = {"weights": "pw", "replicate_weights": "rep[0-9]+", "method": "jk1"}
        memory = pc.ReplicateDesign(data, **options)
        spread = pc.ReplicateDesign(dd.from_pandas(data, npartitions=3), **options)
    with pytest.raises(WeightingError, match="class cls='few' has no respondent in "
                                             "replicate") as error:
        pc.adjust_nonresponse(memory, "responded", "cls")
    with pytest.raises(WeightingError) as got:
        pc.adjust_nonresponse(spread, "responded", "cls")
    assert str(got.value) == str(error.value)


def test_designs_and_masks_refused(client, parquet):
    memory, spread = _designs(parquet, "clusters")
    data = memory.data
    with pytest.raises(WeightingError, match="a Dask Series of the design's data.*got a "
                                             "numpy.ndarray, which has no partitions"):
        pc.adjust_nonresponse(spread, data["responded"].to_numpy(), "stype")
    other = dd.from_pandas(data.assign(responded=1), npartitions=2)["responded"] == 1
    with pytest.raises(WeightingError, match="does not have the partitions of the design"):
        pc.adjust_nonresponse(spread, other, "stype")
    with pytest.raises(WeightingError, match="unknown column 'stpe' given as classes"):
        pc.adjust_nonresponse(spread, "responded", "stpe")
    # one adjustment per Dask design (in memory they chain)
    weighted = pc.poststratify(spread, "stype", {"E": 4421, "H": 755, "M": 1018})
    with pytest.raises(WeightingError, match="already weighted.*one adjustment"):
        pc.adjust_nonresponse(weighted, "responded", "stype")
    adjusted = pc.adjust_nonresponse(spread, "responded", "stype")
    with pytest.raises(WeightingError, match="already nonresponse-adjusted: a Dask design "
                                             "takes one adjustment"):
        pc.rake(adjusted, {"stype": {"E": 4421, "H": 755, "M": 1018}})
    with pytest.raises(EstimationError, match="would leave out the adjustment"):
        pc.glm(adjusted, "api00 ~ ell")
    rows_as_psus = pc.SurveyDesign(spread.data, weights="pw")
    with pytest.raises(WeightingError, match="needs its PSU column"):
        pc.adjust_nonresponse(rows_as_psus, "responded", "stype")


def test_domain_degrees_of_freedom_of_adjusted_replicate_columns(client, parquet):
    # R's degf of a domain: the rank of its rows' adjusted replicate weights (here ~150
    # jackknife columns on 41 rows), from their cross-products summed on Dask, as in
    # memory from the rows
    data = dd.read_parquet(parquet["apistrat"]).compute().reset_index(drop=True)
    design = pc.SurveyDesign(data, **DESIGNS["strata"][1])
    data = pd.concat([data, design.replicate("jkn").replicate_weights], axis=1)
    options = {"weights": "pw", "replicate_weights": "rep[0-9]+", "method": "jkn"}
    want = pc.adjust_nonresponse(pc.ReplicateDesign(data, **options), "responded", "stype")
    got = pc.adjust_nonresponse(
        pc.ReplicateDesign(dd.from_pandas(data, npartitions=3), **options), "responded",
        "stype")
    table = ESTIMATES["quantile"](got)
    assert_same(table, ESTIMATES["quantile"](want))
    assert table["df"].tolist() == [37, 102]
