"""Post-stratification, raking and calibration of designs on a Dask DataFrame.

R's api samples are written as Parquet datasets of three files, read with dask and
weighted on a ``dask.distributed`` LocalCluster of two worker processes, to the
population margins of ``apipop``. The weighted Dask design must give every estimator's
table of the in-memory weighted design to 1e-10, standard errors included (the
adjustment's residuals are taken from group sums on Dask, row by row in memory).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import DesignError, WeightingError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from test_distributed import _frames, api_parquet, assert_same  # noqa: E402  (after dask)

from perception.survey.dask_weighting import ADJUSTED  # noqa: E402


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("weighting"), pc.datasets.load)


def _margins() -> dict:
    population = pc.datasets.load("apipop")
    count = {column: population[column].value_counts().to_dict()
             for column in ("stype", "sch_wide", "awards")}
    return {**count, "api99": float(population["api99"].sum())}


POP = _margins()

ADJUSTMENTS = {
    "poststratify": lambda d: pc.poststratify(d, "stype", POP["stype"]),
    "poststratify2": lambda d: pc.poststratify(
        d, ["stype", "sch_wide"],
        pd.DataFrame({"stype": ["E", "E", "H", "H", "M", "M"],
                      "sch_wide": ["No", "Yes"] * 3,
                      "Freq": [500, 3921, 300, 455, 272, 746]})),
    "rake": lambda d: pc.rake(d, {"stype": POP["stype"], "sch_wide": POP["sch_wide"],
                                  "awards": POP["awards"]}),
    "linear": lambda d: pc.calibrate(d, {"stype": POP["stype"], "api99": POP["api99"]}),
    "logit": lambda d: pc.calibrate(d, {"stype": POP["stype"], "api99": POP["api99"]},
                                    method="logit", bounds=(0.7, 1.7)),
    "raking": lambda d: pc.calibrate(d, {"stype": POP["stype"], "sch_wide": POP["sch_wide"]},
                                     method="raking"),
    "numeric": lambda d: pc.calibrate(d, {"(Intercept)": 6194.0, "api99": POP["api99"],
                                          "enroll": 3_811_472.0}, method="raking"),
    "bounded": lambda d: pc.calibrate(d, {"sch_wide": POP["sch_wide"],
                                          "api99": POP["api99"]}, bounds=(0.5, 2)),
}

DESIGNS = [
    ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    ("apistrat", {"weights": "pw", "strata": "stype", "psu": "snum", "fpc": "fpc"}),
    ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}),
]


# every adjustment on the cluster sample, a few on the stratified and two-stage ones
CASES = [(*DESIGNS[0], adjustment) for adjustment in ADJUSTMENTS] + [
    (*DESIGNS[1], adjustment) for adjustment in ("poststratify", "rake", "logit")] + [
    (*DESIGNS[2], adjustment) for adjustment in ("poststratify2", "rake", "linear")]


@pytest.mark.parametrize(("name", "arguments", "adjustment"), CASES)
def test_weighted_estimates_equal_in_memory(client, parquet, name, arguments, adjustment):
    data, ddf = _frames(parquet, name)
    adjust = ADJUSTMENTS[adjustment]
    memory = adjust(pc.SurveyDesign(data, **arguments))
    spread = adjust(pc.SurveyDesign(ddf, **arguments))
    assert type(spread).__name__ == "DaskWeightedDesign"
    # the weights: a lazy column of the Dask DataFrame, equal to the in-memory ones
    assert spread.data.npartitions == ddf.npartitions
    np.testing.assert_allclose(spread.data[ADJUSTED].compute().to_numpy(),
                               memory.weights.to_numpy(), rtol=1e-12)
    by = ["stype", "awards"]
    assert_same(pc.mean(spread, ["api00", "enroll"], na_rm=True),
                pc.mean(memory, ["api00", "enroll"], na_rm=True))
    assert_same(pc.mean(spread, "api00", by=by), pc.mean(memory, "api00", by=by))
    assert_same(pc.total(spread, ["enroll", "api00"], by="sch_wide", na_rm=True),
                pc.total(memory, ["enroll", "api00"], by="sch_wide", na_rm=True))
    assert_same(pc.ratio(spread, "api00", "enroll", by="stype", na_rm=True),
                pc.ratio(memory, "api00", "enroll", by="stype", na_rm=True))
    assert_same(pc.proportion(spread, ["sch_wide", "awards"], by="stype"),
                pc.proportion(memory, ["sch_wide", "awards"], by="stype"))
    if name == "apiclus1" and adjustment in ("rake", "logit"):
        assert_same(pc.quantile(spread, "api00", [0.25, 0.5], by="stype"),
                    pc.quantile(memory, "api00", [0.25, 0.5], by="stype"))


REPLICATES = [
    ("apiclus1", DESIGNS[0][1], "jk1", "rake"),
    ("apiclus1", DESIGNS[0][1], "bootstrap", "raking"),
    ("apistrat", DESIGNS[1][1], "jkn", "poststratify"),
]


@pytest.mark.parametrize(("name", "arguments", "method", "adjustment"), REPLICATES)
def test_weighted_replicates_equal_in_memory(client, parquet, name, arguments, method,
                                             adjustment):
    # every replicate adjusted as the full-sample weights (R's methods for svyrep.design)
    data, ddf = _frames(parquet, name)
    options = {"replicates": 30, "seed": 7} if method == "bootstrap" else {}
    adjust = ADJUSTMENTS[adjustment]
    memory = adjust(pc.SurveyDesign(data, **arguments).replicate(method, **options))
    spread = adjust(pc.SurveyDesign(ddf, **arguments).replicate(method, **options))
    assert type(spread).__name__ == "DaskWeightedReplicateDesign"
    assert_same(pc.mean(spread, ["api00", "enroll"], by="stype", na_rm=True),
                pc.mean(memory, ["api00", "enroll"], by="stype", na_rm=True))
    assert_same(pc.ratio(spread, "api00", "enroll"), pc.ratio(memory, "api00", "enroll"))
    assert_same(pc.proportion(spread, "awards", by="stype"),
                pc.proportion(memory, "awards", by="stype"))


def test_rows_as_psus_equal_the_design_without_clusters(client, parquet):
    # R's stratified sample: each school its own PSU, given as psu= on Dask
    data, ddf = _frames(parquet, "apistrat")
    memory = pc.rake(pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc"),
                     {"stype": POP["stype"], "awards": POP["awards"]})
    spread = pc.rake(pc.SurveyDesign(ddf, weights="pw", strata="stype", psu="snum",
                                     fpc="fpc"),
                     {"stype": POP["stype"], "awards": POP["awards"]})
    assert_same(pc.mean(spread, "api00", by="sch_wide"),
                pc.mean(memory, "api00", by="sch_wide"))


def test_zero_weights_and_a_single_cell(client, parquet):
    # rows of weight 0 (R's post-stratification residual gives them psw = 1), and a
    # margin of one level (a single cell)
    data, _ = _frames(parquet, "apiclus1")
    data = data.assign(everyone="all")
    data.loc[[3, 4, 120], "pw"] = 0.0
    ddf = dd.from_pandas(data, npartitions=3)
    arguments = {"weights": "pw", "psu": "dnum", "fpc": "fpc"}
    for adjust in (lambda d: pc.poststratify(d, "stype", POP["stype"]),
                   lambda d: pc.rake(d, {"everyone": {"all": 6194}, "stype": POP["stype"]}),
                   lambda d: pc.calibrate(d, {"everyone": {"all": 6194},
                                              "api99": POP["api99"]}, bounds=(0.5, 2))):
        memory = adjust(pc.SurveyDesign(data, **arguments))
        spread = adjust(pc.SurveyDesign(ddf, **arguments))
        assert_same(pc.mean(spread, "api00", by="sch_wide"),
                    pc.mean(memory, "api00", by="sch_wide"))


def test_input_untouched_and_weights_lazy(client, parquet):
    _, ddf = _frames(parquet, "apiclus1")
    design = pc.SurveyDesign(ddf, weights="pw", psu="dnum", fpc="fpc")
    columns = list(ddf.columns)
    raked = pc.rake(design, {"stype": POP["stype"], "sch_wide": POP["sch_wide"]})
    assert list(design.data.columns) == columns and design._weights == "pw"
    assert type(raked.data).__module__.split(".")[0] == "dask"
    assert "rake" in repr(raked)


def _replicate_columns(data: pd.DataFrame) -> pd.DataFrame:
    """The cluster sample with its jackknife replicate weights as columns rw1..rw15."""
    rep = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").replicate("jk1")
    weights = rep.replicate_weights.to_numpy()
    columns = {f"rw{r + 1}": weights[:, r] for r in range(weights.shape[1])}
    return data.assign(**columns)


COLUMN_ADJUSTMENTS = ["poststratify", "poststratify2", "rake", "raking"]


@pytest.mark.parametrize("adjustment", COLUMN_ADJUSTMENTS + ["categorical", "logit",
                                                            "chained"])
def test_replicate_weight_columns_weighted_as_in_memory(client, parquet, adjustment):
    # every weight column adjusted by cell as in memory (R: postStratify, rake and
    # calibrate of a svrep.design), degf recomputed where R recomputes it
    data, _ = _frames(parquet, "apiclus1")
    data = _replicate_columns(data)
    ddf = dd.from_pandas(data, npartitions=3)
    options = {"weights": "pw", "replicate_weights": "rw[0-9]+", "method": "jk1"}
    adjust = {
        **{name: ADJUSTMENTS[name] for name in COLUMN_ADJUSTMENTS},
        "categorical": lambda d: pc.calibrate(d, {"stype": POP["stype"],
                                                  "sch_wide": POP["sch_wide"]}),
        "logit": lambda d: pc.calibrate(d, {"stype": POP["stype"]}, method="logit",
                                        bounds=(0.5, 2.5)),
        "chained": lambda d: pc.poststratify(
            pc.rake(d, {"stype": POP["stype"], "awards": POP["awards"]}),
            "sch_wide", POP["sch_wide"]),
    }[adjustment]
    memory = adjust(pc.ReplicateDesign(data, **options))
    spread = adjust(pc.ReplicateDesign(ddf, **options))
    assert type(spread).__name__ == "DaskReplicateDesign"
    assert spread.data.npartitions == ddf.npartitions
    np.testing.assert_allclose(spread.data["pw"].compute().to_numpy(),
                               memory.weights.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(spread.data[[f"rw{r}" for r in range(1, 16)]].compute(),
                               memory.replicate_weights.to_numpy(), rtol=1e-12)
    assert spread.options["degf"] == memory._degf
    assert_same(pc.mean(spread, ["api00", "enroll"], na_rm=True),
                pc.mean(memory, ["api00", "enroll"], na_rm=True))
    assert_same(pc.mean(spread, "api00", by="stype"), pc.mean(memory, "api00", by="stype"))
    assert_same(pc.total(spread, "enroll", by="sch_wide", na_rm=True),
                pc.total(memory, "enroll", by="sch_wide", na_rm=True))
    assert_same(pc.ratio(spread, "api00", "enroll"), pc.ratio(memory, "api00", "enroll"))
    assert_same(pc.proportion(spread, "awards", by="stype"),
                pc.proportion(memory, "awards", by="stype"))
    assert list(ddf.columns) == list(data.columns)  # the input frame untouched


def test_replicate_weight_columns_refused_clearly(client, parquet):
    data, _ = _frames(parquet, "apiclus1")
    data = _replicate_columns(data)
    data.loc[[4, 150], "rw3"] = np.nan
    ddf = dd.from_pandas(data, npartitions=3)
    design = pc.ReplicateDesign(ddf, weights="pw", replicate_weights="rw[0-9]+",
                                method="jk1")
    with pytest.raises(WeightingError, match=r"replicate-weight column 'rw3' has missing "
                                             r"values in 2 row\(s\): 4, 150"):
        pc.poststratify(design, "stype", POP["stype"])
    with pytest.raises(WeightingError, match="categorical margins only.*api99"):
        pc.calibrate(design, {"stype": POP["stype"], "api99": POP["api99"]})


def test_refusals(client, parquet):
    _, ddf = _frames(parquet, "apiclus1")
    design = pc.SurveyDesign(ddf, weights="pw", psu="dnum", fpc="fpc")
    post = pc.poststratify(design, "stype", POP["stype"])
    with pytest.raises(WeightingError, match="takes one adjustment"):
        pc.rake(post, {"sch_wide": POP["sch_wide"]})
    with pytest.raises(DesignError, match="replicate\\(\\) of a weighted design"):
        post.replicate("jkn")
    with pytest.raises(WeightingError, match="categorical margins only"):
        pc.calibrate(design.replicate("jk1"), {"stype": POP["stype"], "api99": POP["api99"]})
    raked = pc.rake(design.replicate("jk1"), {"stype": POP["stype"]})
    with pytest.raises(WeightingError, match="already weighted"):
        pc.rake(raked, {"sch_wide": POP["sch_wide"]})
    without = pc.SurveyDesign(ddf, weights="pw", fpc="fpc")
    with pytest.raises(WeightingError, match="needs its PSU column"):
        pc.calibrate(without, {"stype": POP["stype"]})


def test_errors_name_rows_of_the_dask_frame(client, parquet):
    data, _ = _frames(parquet, "apiclus1")
    data = data.copy()
    data.loc[[5, 150], "stype"] = None
    data.loc[[7], "api99"] = np.nan
    ddf = dd.from_pandas(data, npartitions=3)
    design = pc.SurveyDesign(ddf, weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(WeightingError, match=r"'stype' \(margin\) has missing values in 2 "
                                             r"row\(s\): 5, 150"):
        pc.poststratify(design, "stype", POP["stype"])
    with pytest.raises(WeightingError, match=r"'api99' \(calibration total\) has 1 missing"
                                             r".* rows 7 "):
        pc.calibrate(design, {"sch_wide": POP["sch_wide"], "api99": POP["api99"]})
    clean = pc.SurveyDesign(dd.from_pandas(pc.datasets.load("apiclus1"), npartitions=3),
                            weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(WeightingError, match="level\\(s\\) 'M'"):
        pc.poststratify(clean, "stype", {"E": 4421, "H": 755})
    with pytest.raises(WeightingError, match="cannot meet the bounds"):
        pc.calibrate(clean, {"stype": POP["stype"], "api99": POP["api99"]},
                     bounds=(0.99, 1.01), max_iter=3)


TRIMS = [{"upper": 60}, {"upper": 60, "lower": 12}, {"upper": 55, "lower": 12, "strict": True}]


@pytest.mark.parametrize("limits", TRIMS)
def test_trimmed_weights_equal_in_memory(client, parquet, limits):
    # R's trimWeights: cap, share the cut equally among the others (strict: repeat,
    # one pass over the partitions each); the weights and estimates of the in-memory
    # trimmed design, the input frame untouched
    data, _ = _frames(parquet, "apistrat")
    data = data.assign(w2=data["pw"] * np.random.default_rng(2).uniform(0.3, 2.5, len(data)))
    ddf = dd.from_pandas(data, npartitions=3)
    arguments = {"weights": "w2", "strata": "stype", "fpc": "fpc"}
    memory = pc.trim_weights(pc.SurveyDesign(data, **arguments), **limits)
    spread = pc.trim_weights(pc.SurveyDesign(ddf, **arguments), **limits)
    assert type(spread).__name__ == "DaskSurveyDesign"
    np.testing.assert_allclose(spread.data["w2"].compute().to_numpy(),
                               memory.weights.to_numpy(), rtol=1e-12)
    assert_same(pc.mean(spread, "api00", by="awards"), pc.mean(memory, "api00", by="awards"))
    assert_same(pc.total(spread, "enroll", na_rm=True), pc.total(memory, "enroll", na_rm=True))
    np.testing.assert_array_equal(ddf["w2"].compute().to_numpy(), data["w2"].to_numpy())


def test_trimmed_replicate_weight_columns_equal_in_memory(client, parquet):
    # each replicate column trimmed among its rows of positive weight, as in memory
    data, _ = _frames(parquet, "apiclus1")
    data = _replicate_columns(data.assign(
        pw=data["pw"] * np.random.default_rng(5).uniform(0.5, 2.0, len(data))))
    options = {"weights": "pw", "replicate_weights": "rw[0-9]+", "method": "jk1"}
    limits = {"upper": 80, "lower": 20, "strict": True}
    memory = pc.trim_weights(pc.ReplicateDesign(data, **options), **limits)
    spread = pc.trim_weights(pc.ReplicateDesign(dd.from_pandas(data, npartitions=3),
                                                **options), **limits)
    np.testing.assert_allclose(spread.data[[f"rw{r}" for r in range(1, 16)]].compute(),
                               memory.replicate_weights.to_numpy(), rtol=1e-12)
    assert_same(pc.mean(spread, "api00", by="stype"), pc.mean(memory, "api00", by="stype"))


def test_trimming_refused_clearly(client, parquet):
    data, ddf = _frames(parquet, "apistrat")
    design = pc.SurveyDesign(ddf, weights="pw", strata="stype", fpc="fpc")
    message = r"upper=5 is impossible for the weights: 200 rows capped at 5"
    with pytest.raises(WeightingError, match=message):
        pc.trim_weights(design, upper=5)
    with pytest.raises(WeightingError, match=message):  # the in-memory message
        pc.trim_weights(pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc"),
                        upper=5)
    with pytest.raises(WeightingError, match="Trim the design, then build its replicates"):
        pc.trim_weights(pc.SurveyDesign(ddf, weights="pw", psu="dnum").replicate("jk1"),
                        upper=40)
    with pytest.raises(WeightingError, match="trim the weights before the adjustment"):
        pc.trim_weights(pc.poststratify(pc.SurveyDesign(ddf, weights="pw", psu="snum"),
                                        "stype", POP["stype"]), upper=40)
    bad = dd.from_pandas(data.assign(pw=data["pw"].where(data.index != 7)), npartitions=3)
    with pytest.raises(WeightingError, match=r"'pw' has 1 missing, infinite or negative "
                                             r"value\(s\) in rows 7 "):
        pc.trim_weights(pc.SurveyDesign(bad, weights="pw", strata="stype"), upper=60)
