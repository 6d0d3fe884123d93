"""Models on designs on a Dask DataFrame: ``pc.glm`` and ``pc.olr`` give the in-memory
fit, with every sum made on the partitions of a Parquet dataset by a LocalCluster of
two worker processes.

The fits are compared with the in-memory ones column by column: coefficients, their
standard errors, t, p and intervals to 1e-8 relative (1e-10 absolute), the covariance to
1e-8, the deviance and dispersion to 1e-10, the degrees of freedom, rows and
iterations exactly. The partitions' sums are added in another order and each IRLS
step's least squares is solved from the stacked triangular factors of the partitions
(a tall-skinny QR) rather than one QR of all rows: the coefficients agree to about
1e-12 relative (measured), the bound leaves room for ill-conditioned model matrices.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import DesignError, EstimationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from test_distributed import _api as api_with_lonely_strata  # noqa: E402  (after dask)
from test_distributed import api_parquet  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


#: rows of apistrat given a missing 'ell_na' (in the first and the last partition)
MISSING_ROWS = [3, 197]


def _api(name: str) -> pd.DataFrame:
    data = api_with_lonely_strata(name)
    data["y01"] = (data["sch_wide"] == "Yes").astype(float)
    data["log_enroll"] = np.log(data["enroll"].astype(float))
    data["n_trials"] = 10.0
    data["successes"] = np.round(data["meals"] / 10.0)
    data["band"] = pd.cut(data["api00"], [0, 600, 700, 800, 1000], labels=[1, 2, 3, 4])
    data["nband"] = data["band"].astype(int)
    data["ell_na"] = data["ell"].astype(float)
    if name == "apistrat":
        data.loc[data.index[MISSING_ROWS], "ell_na"] = np.nan
    if name == "apiclus1":
        weights = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").replicate(
            "jk1").replicate_weights
        for i, column in enumerate(weights.columns):
            data[f"rw{i}"] = weights[column].to_numpy()
    return data


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("models"), _api)


def _frames(parquet, name: str) -> tuple[pd.DataFrame, object]:
    # persisted on the workers, as one would for an iterative fit: each IRLS or Newton
    # step then sums the partitions without reading the files again
    ddf = dd.read_parquet(parquet[name]).persist()
    return ddf.compute().reset_index(drop=True), ddf


def assert_same_fit(got, want) -> None:
    assert type(got) is type(want)
    assert list(got.coefficients.columns) == list(want.coefficients.columns)
    assert list(got.coefficients.index) == list(want.coefficients.index)
    for column in want.coefficients.columns:
        np.testing.assert_allclose(got.coefficients[column].to_numpy(float),
                                   want.coefficients[column].to_numpy(float), rtol=1e-8,
                                   atol=1e-10, err_msg=column)
    np.testing.assert_allclose(got.vcov.to_numpy(), want.vcov.to_numpy(), rtol=1e-8,
                               atol=1e-12 * np.abs(want.vcov.to_numpy()).max())
    assert list(got.vcov.index) == list(want.vcov.index)
    assert got.df_residual == want.df_residual
    assert got.n == want.n
    assert got.iterations == want.iterations
    np.testing.assert_allclose(got.deviance, want.deviance, rtol=1e-10)
    if hasattr(want, "dispersion"):
        np.testing.assert_allclose(got.dispersion, want.dispersion, rtol=1e-10)
        assert (got.family, got.link, got.offset, got.trials) == (
            want.family, want.link, want.offset, want.trials)
    else:
        assert got.categories == want.categories


DESIGNS = [
    ("apistrat", {"weights": "pw", "strata": "stype", "fpc": "fpc"}),  # rows as PSUs
    ("apistrat", {"weights": "pw"}),  # no strata, no clusters
    ("apistrat", {"weights": "pw", "strata": "stype", "psu": "dnum", "nest": True}),
    ("apiclus1", {"weights": "pw", "psu": "dnum", "fpc": "fpc"}),
    ("apiclus2", {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}),
]
MODELS = [
    ("api00 ~ ell + meals + stype", {}),
    ("y01 ~ ell + meals + stype", {"family": "binomial"}),
    ("y01 ~ ell + meals", {"family": "binomial", "link": "probit"}),
    ("successes ~ ell + stype", {"family": "binomial", "trials": "n_trials"}),
    ("api_stu ~ stype + meals", {"family": "quasipoisson", "offset": "log_enroll",
                                 "na_rm": True}),
    ("api00 ~ ell + mobility", {"family": "poisson", "na_rm": True}),
    ("api00 ~ ell + meals", {"family": "gaussian", "offset": "log_enroll", "na_rm": True}),
]


@pytest.mark.parametrize(("name", "arguments"), DESIGNS)
def test_glm_equals_in_memory(client, parquet, name, arguments):
    data, ddf = _frames(parquet, name)
    memory = pc.SurveyDesign(data, **arguments)
    spread = pc.SurveyDesign(ddf, **arguments)
    # every family on the design without clusters; the others (whose variance is the
    # same group design's) with two of them
    every = (name, arguments) == DESIGNS[0]
    for formula, options in MODELS if every else [MODELS[1], MODELS[4]]:
        assert_same_fit(pc.glm(spread, formula, **options),
                        pc.glm(memory, formula, **options))


@pytest.mark.parametrize(("name", "arguments", "formula", "options"), [
    (*DESIGNS[0], "band ~ ell + meals + stype", {}),
    (*DESIGNS[3], "nband ~ ell + mobility", {"link": "probit", "na_rm": True}),
    (*DESIGNS[4], "band ~ ell + meals", {}),
])
def test_olr_equals_in_memory(client, parquet, name, arguments, formula, options):
    data, ddf = _frames(parquet, name)
    assert_same_fit(pc.olr(pc.SurveyDesign(ddf, **arguments), formula, **options),
                    pc.olr(pc.SurveyDesign(data, **arguments), formula, **options))


@pytest.mark.parametrize(("strata", "psu", "lonely"), [
    ("st_row", None, "remove"), ("st_row", None, "certainty"), ("st_row", None, "adjust"),
    ("st_row", None, "average"), ("st_lonely", "dnum", "adjust"),
    ("st_lonely", "dnum", "average")])
def test_lonely_psu_options(client, parquet, strata, psu, lonely):
    # rows left out of the fit (na_rm): the variance of the design cut to the rows of
    # the fit, with its lonely strata
    data, ddf = _frames(parquet, "apistrat")
    arguments = {"weights": "pw", "strata": strata, "psu": psu, "lonely_psu": lonely,
                 "nest": True}
    formula = "y01 ~ ell_na + meals"
    assert_same_fit(pc.glm(pc.SurveyDesign(ddf, **arguments), formula, family="binomial",
                           na_rm=True),
                    pc.glm(pc.SurveyDesign(data, **arguments), formula, family="binomial",
                           na_rm=True))


@pytest.mark.parametrize("options", [{"method": "jk1"},
                                     {"method": "bootstrap", "replicates": 20, "seed": 3}])
def test_replicates_of_a_design(client, parquet, options):
    # every replicate refitted from the full-sample fit, all in the same passes; the
    # bootstrap draws the same replicates as in memory (PSUs in the order of the data)
    data, ddf = _frames(parquet, "apiclus1")
    arguments = {"weights": "pw", "psu": "dnum", "fpc": "fpc"}
    memory = pc.SurveyDesign(data, **arguments).replicate(**options)
    spread = pc.SurveyDesign(ddf, **arguments).replicate(**options)
    if options["method"] == "jk1":
        models = [("y01 ~ ell + meals + stype", {"family": "binomial"}),
                  ("api00 ~ ell + meals", {})]
        assert_same_fit(pc.olr(spread, "band ~ ell + meals"),
                        pc.olr(memory, "band ~ ell + meals"))
    else:
        models = [("api_stu ~ meals", {"family": "quasipoisson", "offset": "log_enroll",
                                       "na_rm": True})]
    for formula, model in models:
        assert_same_fit(pc.glm(spread, formula, **model), pc.glm(memory, formula, **model))


@pytest.mark.parametrize("options", [{"method": "jk1", "scale": 14 / 15},
                                     {"method": "other", "scale": 0.9, "mse": True,
                                      "degf": 10}])
def test_replicate_weight_columns(client, parquet, options):
    data, ddf = _frames(parquet, "apiclus1")
    memory = pc.ReplicateDesign(data, weights="pw", replicate_weights="rw[0-9]+", **options)
    spread = pc.ReplicateDesign(ddf, weights="pw", replicate_weights="rw[0-9]+", **options)
    assert type(spread).__name__ == "DaskReplicateDesign"
    formula = "y01 ~ ell + meals"
    assert_same_fit(pc.glm(spread, formula, family="binomial", link="probit"),
                    pc.glm(memory, formula, family="binomial", link="probit"))
    if options["method"] == "jk1":
        assert_same_fit(pc.olr(spread, "nband ~ ell + meals"),
                        pc.olr(memory, "nband ~ ell + meals"))
    else:
        assert_same_fit(pc.glm(spread, "api00 ~ ell + stype"),
                        pc.glm(memory, "api00 ~ ell + stype"))


def test_missing_values_name_global_rows(client, parquet):
    data, ddf = _frames(parquet, "apistrat")
    spread = pc.SurveyDesign(ddf, weights="pw", strata="stype", fpc="fpc")
    memory = pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc")
    for fit in (lambda d, **k: pc.glm(d, "api00 ~ ell_na + meals", **k),
                lambda d, **k: pc.olr(d, "band ~ ell_na + meals", **k)):
        with pytest.raises(EstimationError, match=r"'ell_na'.* 2 missing .* rows 3, 197 .*"
                                                  r"na_rm=True"):
            fit(spread)
        assert_same_fit(fit(spread, na_rm=True), fit(memory, na_rm=True))


def test_what_needs_the_rows_is_refused_and_the_rest_works(client, parquet):
    data, ddf = _frames(parquet, "apiclus1")
    arguments = {"weights": "pw", "psu": "dnum", "fpc": "fpc"}
    spread = pc.glm(pc.SurveyDesign(ddf, **arguments), "api00 ~ ell + meals + stype")
    memory = pc.glm(pc.SurveyDesign(data, **arguments), "api00 ~ ell + meals + stype")
    # what needs only the coefficients, their covariance and the formula
    new = pd.DataFrame({"ell": [10.0, 30.0], "meals": [20.0, 60.0], "stype": ["E", "H"]})
    pd.testing.assert_frame_equal(spread.predict(new), memory.predict(new), rtol=1e-9)
    pd.testing.assert_frame_equal(pc.wald_test(spread, "stype"),
                                  pc.wald_test(memory, "stype"), rtol=1e-9)
    pd.testing.assert_frame_equal(pc.contrast(spread, {"ell": 1, "meals": -1}),
                                  pc.contrast(memory, {"ell": 1, "meals": -1}), rtol=1e-9)
    with pytest.raises(EstimationError, match="rows of the fit.*Dask"):
        spread.predict()
    with pytest.raises(EstimationError, match="rows of the fit"):
        pc.wald_test(spread, "stype", method="LRT")
    with pytest.raises(EstimationError, match="rows of the fit"):
        pc.predictive_margins(spread, "stype")
    ordinal = pc.olr(pc.SurveyDesign(ddf, **arguments), "band ~ ell + meals")
    with pytest.raises(EstimationError, match="rows of the fit"):
        ordinal.proportional_odds_test()


def test_bad_input_errors(client, parquet):
    _, ddf = _frames(parquet, "apistrat")
    design = pc.SurveyDesign(ddf, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(EstimationError, match=r"between 0 and 1.*'api00'.* rows 0, 1, 2"):
        pc.glm(design, "api00 ~ ell", family="binomial")
    with pytest.raises(EstimationError, match="unknown column 'elll'.*'ell'"):
        pc.glm(design, "api00 ~ elll")
    with pytest.raises(EstimationError, match="center.*Dask"):
        pc.glm(design, "api00 ~ center(ell)")
    with pytest.raises(EstimationError, match="'ell2'.*collinear"):
        pc.glm(design.__class__(ddf.assign(ell2=ddf["ell"] * 2), weights="pw",
                                strata="stype", fpc="fpc"), "api00 ~ ell + ell2")
    with pytest.raises(EstimationError, match="offset='nope' is not a column"):
        pc.glm(design, "api00 ~ ell", offset="nope")
    with pytest.raises(EstimationError, match="needs three or more"):
        pc.olr(design, "y01 ~ ell")
    with pytest.raises(DesignError, match="'pw'.*missing"):
        pc.glm(pc.SurveyDesign(ddf.assign(pw=ddf["pw"].where(ddf["ell"] > 1)),
                               weights="pw", strata="stype", fpc="fpc"), "api00 ~ ell")


def test_separation_is_an_error(client, parquet):
    data, ddf = _frames(parquet, "apistrat")
    ddf = ddf.assign(sep=(ddf["api00"] > 700).astype(float))
    data = data.assign(sep=(data["api00"] > 700).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EstimationError, match="perfect separation") as memory_error:
            pc.glm(pc.SurveyDesign(data, weights="pw"), "sep ~ api00", family="binomial")
        with pytest.raises(EstimationError, match="perfect separation") as dask_error:
            pc.glm(pc.SurveyDesign(ddf, weights="pw"), "sep ~ api00", family="binomial")
    assert str(dask_error.value) == str(memory_error.value)
