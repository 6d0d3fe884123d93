"""``subset`` of a design on a Dask DataFrame: the tables of the in-memory subset.

R's api samples and the demo's labelled waves are written as Parquet datasets of three
files and read with dask; every estimator, analysis, model and weighting step of a
subset (rows outside it at weight zero, every PSU still in the variance) runs on a
``dask.distributed`` LocalCluster of two worker processes and must give the table of
the in-memory subset to 1e-10: estimates, standard errors, degrees of freedom, design
effects, counts, intervals and covariance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import DesignError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from test_distributed import (  # noqa: E402  (after dask)
    _frames,
    api_parquet,
    assert_same,
    design_pair,
)
from test_distributed_labelled import labelled_waves  # noqa: E402

from perception.survey.dask_design import SUBSET  # noqa: E402

#: the coefficients of a model fitted on Dask and in memory (a QR of other partitions)
MODEL_RTOL = 1e-8


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("subset"))


def _high(design):
    """The schools above 550 (some PSUs keep no row: they stay in the variance)."""
    return design.subset(design.data["api00"] > 550)


def _high_not_middle(design):
    """A subset of a subset: the rows inside both."""
    return _high(design).subset(design.data["stype"] != "M")


DESIGNS = {
    "clusters": ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    "rows": ("apistrat", {"weights": "pw", "strata": "stype", "fpc": "fpc"}),
    "two-stage": ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"],
                               "fpc": ["fpc1", "fpc2"]}),
    "jkn": ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum", "nest": True}),
    "columns": ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
}


def _designs(parquet, kind: str):
    """The in-memory and the Dask design of one kind."""
    name, arguments = DESIGNS[kind]
    return design_pair(parquet, name, arguments, kind)


ESTIMATES = {
    "mean": lambda d: pc.mean(d, ["api00", "api99"], by="sch_wide"),
    "total": lambda d: pc.total(d, "enroll", by="awards", na_rm=True),
    "ratio": lambda d: pc.ratio(d, "api00", "api99"),
    "proportion": lambda d: pc.proportion(d, "awards", by="sch_wide", method="beta"),
    "quantile": lambda d: pc.quantile(d, "api00", [0.25, 0.5], by="sch_wide"),
}


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_subset_estimates_equal_in_memory(client, parquet, kind):
    memory, spread = _designs(parquet, kind)
    for restrict in (_high, _high_not_middle):
        for name, estimate in ESTIMATES.items():
            if kind != "clusters" and name in ("ratio", "quantile"):
                continue  # one design for the paths without a domain of their own
            want = estimate(restrict(memory))
            assert_same(estimate(restrict(spread)), want)
    # the degrees of freedom are those of the subset's PSUs, as in memory
    table = ESTIMATES["mean"](_high_not_middle(spread))
    if kind != "columns":
        assert (table["df"] < ESTIMATES["mean"](spread)["df"]).any()


@pytest.mark.parametrize("kind", ["clusters", "rows", "jkn", "columns"])
def test_subset_models_equal_in_memory(client, parquet, kind):
    memory, spread = _designs(parquet, kind)
    for formula, family in (("api00 ~ ell + meals", "gaussian"),
                            ("I(sch_wide == 'Yes') ~ ell", "binomial")):
        want = pc.glm(_high(memory), formula, family=family)
        got = pc.glm(_high(spread), formula, family=family)
        np.testing.assert_allclose(got.coefficients[["estimate", "se"]].to_numpy(),
                                   want.coefficients[["estimate", "se"]].to_numpy(),
                                   rtol=MODEL_RTOL)
        assert got.df_residual == want.df_residual and got.n == want.n
        # the prior weights over their mean in the subset: the deviance and dispersion
        np.testing.assert_allclose([got.deviance, got.dispersion],
                                   [want.deviance, want.dispersion], rtol=1e-10)


POPULATION = pc.datasets.load("apipop")
STYPE = POPULATION["stype"].value_counts().to_dict()
SCH_WIDE = POPULATION["sch_wide"].value_counts().to_dict()
WEIGHTINGS = {
    "poststratify": lambda d: pc.poststratify(d, "stype", STYPE),
    "rake": lambda d: pc.rake(d, {"stype": STYPE, "sch_wide": SCH_WIDE}),
    "calibrate": lambda d: pc.calibrate(
        d, {"stype": STYPE, "api99": float(POPULATION["api99"].sum())}, method="logit",
        bounds=(0.5, 2.5)),
    "trim": lambda d: pc.trim_weights(d, upper=40, lower=20, strict=True),
}


@pytest.mark.parametrize("kind", ["clusters", "jkn", "columns"])
@pytest.mark.parametrize("weighting", list(WEIGHTINGS))
def test_weighting_a_subset_and_a_subset_of_a_weighted_design(client, parquet, kind,
                                                              weighting):
    # in memory: a subset is weighted on its own rows (the others at weight 0, outside
    # every post-stratum), a weighted design's subset keeps the adjustment's residuals
    if (kind, weighting) in (("jkn", "trim"), ("jkn", "calibrate"), ("columns", "calibrate")):
        pytest.skip("refused on a Dask DataFrame (numeric totals, trimmed PSU factors)")
    memory, spread = _designs(parquet, kind)
    adjust = WEIGHTINGS[weighting]
    orders = [lambda d: adjust(_high(d))]
    if weighting != "trim":
        orders.append(lambda d: _high(adjust(d)))
    for order in orders:
        want, got = order(memory), order(spread)
        assert_same(pc.mean(got, ["api00", "api99"], by="sch_wide"),
                    pc.mean(want, ["api00", "api99"], by="sch_wide"))
        assert_same(pc.total(got, "enroll", na_rm=True), pc.total(want, "enroll", na_rm=True))


def test_trimming_a_subset(client, parquet):
    memory, spread = _designs(parquet, "clusters")
    for strict in (False, True):
        want = pc.trim_weights(_high(memory), upper=40, lower=20, strict=strict)
        got = pc.trim_weights(_high(spread), upper=40, lower=20, strict=strict)
        assert_same(pc.mean(got, "api00", by="stype"), pc.mean(want, "api00", by="stype"))


# ------------------------------------------------------------ labelled designs --
LABELLED = {"weights": "w_final", "strata": "stratum", "psu": "psu_id"}


@pytest.fixture(scope="module")
def waves(tmp_path_factory, demo_factory):
    """The demo's waves (200 adults a wave) as a labelled Parquet dataset."""
    return labelled_waves(tmp_path_factory.mktemp("labelled"), demo_factory, 200)


def _labelled(waves, kind: str):
    path, q = waves
    ddf = dd.read_parquet(path)
    data = ddf.compute().reset_index(drop=True)
    if kind == "columns":
        options = {"weights": "w_final", "replicate_weights": "rw[0-9]", "method": "jk1",
                   "questionnaire": q}
        return pc.ReplicateDesign(data, **options), pc.ReplicateDesign(ddf, **options)
    memory = pc.SurveyDesign(data, **LABELLED, questionnaire=q)
    spread = pc.SurveyDesign(ddf, **LABELLED, questionnaire=q)
    if kind == "jkn":
        return memory.replicate("jkn"), spread.replicate("jkn")
    return memory, spread


def _women(design):
    return design.subset(design.data["sex"] == 2)


LABELLED_CALLS = {
    # missing codes and skip logic of the subset's rows: counted in n_excluded
    "mean": lambda d: pc.mean(d, ["trust_police", "req_help_bribe"], by="wave"),
    "derived": lambda d: pc.total(d, "trust_police_high"),
    # a select-multiple question: its blanks and reasons counted among the subset's rows
    "proportion": lambda d: pc.proportion(d, ["trust_police", "ca_type"], by="wave",
                                          na_rm=True),
    "change": lambda d: pc.change(d, ["trust_police", "ca_type"], over="wave", by="region"),
    "did": lambda d: pc.did(d, "trust_police", treated="treated", period="wave"),
    "list_experiment": lambda d: pc.list_experiment(d, count="le_count",
                                                    treatment="le_list", by="educ"),
}
#: every analysis on the two-stage design; the paths each replicate design adds
LABELLED_KINDS = {"clusters": list(LABELLED_CALLS), "jkn": ["mean"],
                  "columns": ["proportion"]}


@pytest.mark.parametrize("kind", list(LABELLED_KINDS))
def test_labelled_subset_equal_in_memory(client, waves, kind):
    memory, spread = _labelled(waves, kind)
    for name in LABELLED_KINDS[kind]:
        want, got = LABELLED_CALLS[name](_women(memory)), LABELLED_CALLS[name](_women(spread))
        if name.startswith("did"):
            assert_same(got.cells, want.cells)
            want, got = want.effects, got.effects
        assert "n_excluded" in got.columns
        assert_same(got, want)
    # the rows outside the subset are not counted as left out
    whole = pc.mean(spread, "trust_police")["n_excluded"].iloc[0]
    assert 0 < pc.mean(_women(spread), "trust_police")["n_excluded"].iloc[0] < whole


@pytest.mark.parametrize("kind", ["clusters", "columns"])
def test_labelled_subset_models_equal_in_memory(client, waves, kind):
    memory, spread = _labelled(waves, kind)
    for fit in (lambda d: pc.glm(d, "trust_police ~ C(region) + treated + req_help_bribe",
                                 na_rm=True),
                lambda d: pc.olr(d, "trust_police ~ C(region) + treated")):
        want, got = fit(_women(memory)), fit(_women(spread))
        np.testing.assert_allclose(got.coefficients[["estimate", "se"]].to_numpy(),
                                   want.coefficients[["estimate", "se"]].to_numpy(),
                                   rtol=MODEL_RTOL)
        assert got.df_residual == want.df_residual and got.n == want.n
        np.testing.assert_allclose(got.deviance, want.deviance, rtol=1e-10)
        for key in ("n_excluded", "excluded"):
            assert got.coefficients.attrs[key] == want.coefficients.attrs[key]


def test_labelled_weighted_subset(client, waves):
    memory, spread = _labelled(waves, "clusters")
    adjust = [lambda d: pc.poststratify(_women(d), "region", {1: 1000, 2: 2000}),
              lambda d: _women(pc.rake(d, {"region": {1: 1000, 2: 2000},
                                           "sex": {1: 1500, 2: 1500}}))]
    for order in adjust:
        want, got = order(memory), order(spread)
        assert_same(pc.mean(got, "trust_police", by="wave"),
                    pc.mean(want, "trust_police", by="wave"))


# -------------------------------------------------------------------- the mask --
def test_subset_by_boolean_column_and_inputs_unchanged(client, parquet):
    data, ddf = _frames(parquet, "apiclus1")
    arguments = DESIGNS["clusters"][1]
    spread = pc.SurveyDesign(ddf.assign(high=ddf["api00"] > 550), **arguments)
    memory = pc.SurveyDesign(data, **arguments)
    before = pc.mean(spread, "api00")
    by_name = spread.subset(spread.data["high"])
    assert "subset" in repr(by_name) and "subset" not in repr(spread)
    assert_same(pc.mean(by_name, "api00"), pc.mean(_high(memory), "api00"))
    # the design it came from is unchanged: no column, no weight set to zero
    assert SUBSET not in spread.data.columns and spread.kept_column is None
    assert_same(pc.mean(spread, "api00"), before)
    # a nullable boolean without missing values is a mask
    nullable = spread.subset((spread.data["api00"] > 550).astype("boolean"))
    assert_same(pc.mean(nullable, "api00"), pc.mean(_high(memory), "api00"))


def test_subset_of_a_design_without_weights(client, parquet):
    data, ddf = _frames(parquet, "apiclus1")
    memory = _high(pc.SurveyDesign(data, psu="dnum"))
    spread = _high(pc.SurveyDesign(ddf, psu="dnum"))
    assert_same(pc.mean(spread, "api99", by="stype"), pc.mean(memory, "api99", by="stype"))
    want, got = (pc.poststratify(d, "stype", STYPE) for d in (memory, spread))
    assert_same(pc.mean(got, "api99"), pc.mean(want, "api99"))


def test_subset_mask_errors(client, parquet):
    data, ddf = _frames(parquet, "apiclus1")
    spread = pc.SurveyDesign(ddf, **DESIGNS["clusters"][1])
    with pytest.raises(DesignError, match="boolean Dask Series.*got a numpy.ndarray"):
        spread.subset(data["api00"].to_numpy() > 550)
    with pytest.raises(DesignError, match="got a pandas.Series.*no partitions"):
        spread.subset(data["api00"] > 550)
    other = dd.from_pandas(data, npartitions=3)
    with pytest.raises(DesignError, match="does not have the partitions of the design"):
        spread.subset(other["api00"] > 550)
    with pytest.raises(DesignError, match="does not have the partitions of the design"):
        spread.subset((ddf["api00"] > 550).repartition(npartitions=2))
    with pytest.raises(DesignError, match="needs a boolean mask, got dtype int64"):
        spread.subset(ddf["api00"])
    with pytest.raises(DesignError, match="boolean mask such as d.data\\['high'\\] == 2, "
                                          "not a string"):
        spread.subset("high")  # as in memory
    # missing values: the rows named across the partitions, as in memory's message
    gaps = data.assign(mask=(data["api00"] > 550).astype("boolean"))
    rows = [3, len(data) - 2]
    gaps.loc[rows, "mask"] = pd.NA
    design = pc.SurveyDesign(dd.from_pandas(gaps, npartitions=3),
                             **DESIGNS["clusters"][1])
    with pytest.raises(DesignError, match=rf"missing for 2 row\(s\): rows {rows[0]}, "
                                          rf"{rows[1]} \(row numbers in the whole Dask"):
        design.subset(design.data["mask"])
