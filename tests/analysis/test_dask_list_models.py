"""``list_design_test``, ``list_floor_ceiling`` and ``list_regression`` of designs on a
Dask DataFrame: the same results as in memory, computed on a cluster.

R's apiclus2 with a list experiment drawn from Imai's model (and a design effect), and
the built-in example's waves with their questionnaire, are written as Parquet datasets
of three files and analysed on a ``dask.distributed`` LocalCluster of two worker
processes. Every table (estimates, SEs, statistics, p-values, df, counts) must equal
the in-memory one to 1e-10 (relative; the partitions are summed in another order).

The ML model's iterations are the in-memory ones (the same generator of requests; the
same EM iterations and Newton steps are asserted), so its estimates agree far below the
iteration's own tolerance (Newton stops when a step is below 1e-10: both fits are
within about 1e-10 of the optimum); measured, the coefficients, SEs and covariance agree
to about 1e-14 relative, and the same 1e-10 bound is checked.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.analysis import dask_list_models
from perception.errors import EstimationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from same_tables import assert_same_columns  # noqa: E402  (after the importorskip)
from test_distributed_analysis import _messages  # noqa: E402

J = 3
#: the Dask path's mark on row numbers (the rest of a message is the in-memory one)
ACROSS = " (row numbers in the whole Dask DataFrame)"


def _api() -> pd.DataFrame:
    """apiclus2 with a list experiment of J = 3 items (Imai's model: the sensitive item
    depends on ell, the control items on the school type; some treatment-list schools
    without it count one control item fewer, a design effect), three waves, a few
    counts and lists missing, and jackknife replicate weights of eight groups of
    districts as columns."""
    data = pc.datasets.load("apiclus2").copy()
    rng = np.random.default_rng(11)
    n = len(data)
    ell = data["ell"].to_numpy(dtype=float)
    z = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.04 * ell)))
    y0 = rng.binomial(J, np.where(data["stype"] == "E", 0.4, 0.6))
    data["arm"] = rng.integers(0, 2, n).astype(float)
    lower = (data["arm"] == 1) & ~z & (y0 > 0) & (rng.random(n) < 0.3)
    data["items"] = (y0 - lower + data["arm"] * z).astype(float)
    data["wave"] = rng.integers(0, 2, n)
    data["district_group"] = data["dnum"] % 8  # eight replicate-weight columns
    weights = pc.SurveyDesign(data, weights="pw", psu="district_group").replicate(
        "jk1").replicate_weights
    for i, column in enumerate(weights.columns):
        data[f"rw{i}"] = weights[column].to_numpy()
    data.loc[[3, 70], "items"] = np.nan
    data.loc[[40], "arm"] = np.nan
    return data


def _demo() -> pd.DataFrame:
    """The example survey's waves (labelled by its questionnaire): a few counts and
    ages are the "don't know" code, which the questionnaire leaves out."""
    data = pc.demo_survey(seed=1, n_per_wave=300).waves.reset_index(drop=True)
    data.loc[[5, 300, 500], "le_count"] = 9
    data.loc[[8, 400], "age"] = 999
    return data


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    root = tmp_path_factory.mktemp("list_models")
    paths = {}
    for name, make in (("api", _api), ("demo", _demo)):
        dd.from_pandas(make(), npartitions=3).to_parquet(root / name, write_index=False)
        paths[name] = root / name
    return paths


def _frames(parquet, name: str) -> tuple[pd.DataFrame, object]:
    ddf = dd.read_parquet(parquet[name])
    return ddf.compute().reset_index(drop=True), ddf


CLUSTERS = {"weights": "pw", "psu": ["dnum", "snum"], "fpc": ["fpc1", "fpc2"]}
COLUMNS = {"weights": "pw", "replicate_weights": "rw[0-9]+", "method": "jk1"}


def _designs(parquet, kind: str):
    """The in-memory and the Dask design of one kind."""
    data, ddf = _frames(parquet, "api")
    if kind.startswith("columns"):
        options = {**COLUMNS, "degf": 10} if kind == "columns degf" else COLUMNS
        return pc.ReplicateDesign(data, **options), pc.ReplicateDesign(ddf, **options)
    arguments = {"weights": "pw", "strata": "stype"} if kind == "rows" else CLUSTERS
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    if kind == "jk1":
        return memory.replicate("jk1", mse=True), spread.replicate("jk1", mse=True)
    return memory, spread


def assert_same_test(got, want) -> None:
    for part in ("proportions", "tests", "p"):
        assert_same_columns(getattr(got, part), getattr(want, part))
    for name in ("n_control_items", "by", "gms", "variable", "notes"):
        assert getattr(got, name) == getattr(want, name)


def assert_same_fit(got, want) -> None:
    for part in ("sensitive", "control"):
        assert list(getattr(got, part).index) == list(getattr(want, part).index)
        assert_same_columns(getattr(got, part), getattr(want, part))
    assert list(got.vcov.index) == list(want.vcov.index)
    scale = np.abs(want.vcov.to_numpy()).max()
    np.testing.assert_allclose(got.vcov.to_numpy(), want.vcov.to_numpy(), rtol=1e-10,
                               atol=1e-12 * scale)
    for name in ("method", "n", "df_residual", "n_control_items", "iterations"):
        assert getattr(got, name) == getattr(want, name), name
    if want.log_likelihood is None:
        assert got.log_likelihood is None
    else:
        np.testing.assert_allclose(got.log_likelihood, want.log_likelihood, rtol=1e-12)


# -------------------------------------------------------------------- the tables --
#: two-stage clusters with fpc, rows as PSUs (per-stratum moments), a jackknife of the
#: districts, replicate-weight columns (with the design's df given)
KINDS = ["clusters", "rows", "jk1", "columns degf"]


@pytest.mark.parametrize("kind", KINDS)
def test_diagnostics_equal_in_memory(client, parquet, kind):
    memory, spread = _designs(parquet, kind)
    options = {"count": "items", "treatment": "arm", "n_control_items": J, "na_rm": True}
    for by in ([None, "wave"] if kind == "clusters" else ["wave"]):
        got = pc.list_design_test(spread, by=by, **options)
        want = pc.list_design_test(memory, by=by, **options)
        assert_same_test(got, want)
        assert_same_columns(pc.list_floor_ceiling(spread, by=by, **options),
                            pc.list_floor_ceiling(memory, by=by, **options))
    assert (want.proportions["estimate"] < 0).any()  # the design effect shows


@pytest.mark.parametrize("kind", KINDS)
def test_regressions_equal_in_memory(client, parquet, kind):
    # rows missing the count or the list leave the fit (na_rm), their PSUs stay in the
    # design; a numeric and a categorical covariate
    memory, spread = _designs(parquet, kind)
    for method in ("linear", "ml"):
        options = {"treatment": "arm", "n_control_items": J, "method": method, "na_rm": True}
        got = pc.list_regression(spread, "items ~ ell + C(stype)", **options)
        want = pc.list_regression(memory, "items ~ ell + C(stype)", **options)
        assert_same_fit(got, want)
        assert got.summary() == want.summary()


def test_replicate_df_given_when_every_row_enters(client, parquet):
    # the design's df as given (10) when no row is left out; those of the rows used
    # (the rank of their replicate weights) otherwise, as in memory
    data, _ = _frames(parquet, "api")
    data = data.dropna(subset=["items", "arm"]).reset_index(drop=True)
    memory = pc.ReplicateDesign(data, **COLUMNS, degf=10)
    spread = pc.ReplicateDesign(dd.from_pandas(data, npartitions=3), **COLUMNS, degf=10)
    for method in ("linear", "ml"):
        got = pc.list_regression(spread, "items ~ ell", treatment="arm", n_control_items=J,
                                 method=method)
        assert got.df_residual == 10 + 1 - 4
        assert_same_fit(got, pc.list_regression(memory, "items ~ ell", treatment="arm",
                                                n_control_items=J, method=method))


def test_ml_groups_merged_across_many_partitions(client, parquet):
    # the partitions' groups of identical rows are merged eight at a time on the workers
    data, _ = _frames(parquet, "api")
    spread = pc.SurveyDesign(dd.from_pandas(data, npartitions=20), **CLUSTERS)
    options = {"treatment": "arm", "n_control_items": J, "na_rm": True}
    assert_same_fit(pc.list_regression(spread, "items ~ C(stype)", **options),
                    pc.list_regression(pc.SurveyDesign(data, **CLUSTERS), "items ~ C(stype)",
                                       **options))


def test_ml_one_pass_per_request(parquet, monkeypatch):
    # beyond MAX_PATTERNS distinct rows (here each partition has fewer, all of them
    # more) the iterations sum the partitions at every request; the replicates refit
    # in the same passes. Dask's own scheduler in this process: a hundred passes, each
    # partition still summed alone
    monkeypatch.setattr(dask_list_models, "MAX_PATTERNS", 60)
    data, _ = _frames(parquet, "api")
    ddf = dd.from_pandas(data, npartitions=3)
    options = {"treatment": "arm", "n_control_items": J, "na_rm": True}
    with dask.config.set(scheduler="sync"):
        assert_same_fit(pc.list_regression(pc.SurveyDesign(ddf, **CLUSTERS), "items ~ ell",
                                           **options),
                        pc.list_regression(pc.SurveyDesign(data, **CLUSTERS), "items ~ ell",
                                           **options))
        assert_same_fit(pc.list_regression(pc.ReplicateDesign(ddf, **COLUMNS), "items ~ 1",
                                           **options),
                        pc.list_regression(pc.ReplicateDesign(data, **COLUMNS), "items ~ 1",
                                           **options))


def test_labelled_design_leaves_the_codes_out(client, parquet):
    # the count's and the covariates' "don't know" codes and the by column's codes
    # (educ: 8, 9) leave their rows out, in memory and on Dask alike
    data, ddf = _frames(parquet, "demo")
    q = pc.demo_survey(seed=1, n_per_wave=300).questionnaire
    arguments = {"weights": "w_final", "strata": "stratum", "psu": "psu_id",
                 "questionnaire": q}
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    options = {"count": "le_count", "treatment": "le_list", "n_control_items": 4}
    want = pc.list_design_test(memory, by="educ", **options)
    assert_same_test(pc.list_design_test(spread, by="educ", **options), want)
    assert sorted(want.p["educ"]) == [0, 1, 2, 3, 4]
    floor = pc.list_floor_ceiling(memory, by="educ", **options)
    assert_same_columns(pc.list_floor_ceiling(spread, by="educ", **options), floor)
    used = data[~data["le_count"].isin([8, 9]) & ~data["educ"].isin([8, 9])]
    assert floor.groupby("list")["n"].first().sum() == (used["educ"] == 0).sum()
    for method in ("linear", "ml"):
        fit = pc.list_regression(memory, "le_count ~ C(region) + age", treatment="le_list",
                                 n_control_items=4, method=method)
        assert fit.n == len(data) - 5  # three counts and two ages are codes
        assert_same_fit(pc.list_regression(spread, "le_count ~ C(region) + age",
                                           treatment="le_list", n_control_items=4,
                                           method=method), fit)


def test_raked_design(client, parquet):
    # the diagnostics are domain means of the raked design (its residuals in their
    # variance, as in memory); the regressions of a raked design on Dask are refused,
    # since the Dask models leave the raking out of their SEs
    data, ddf = _frames(parquet, "api")
    margins = {"stype": {"E": 4000, "H": 800, "M": 1400}}
    memory = pc.rake(pc.SurveyDesign(data, **CLUSTERS), margins)
    spread = pc.rake(pc.SurveyDesign(ddf, **CLUSTERS), margins)
    options = {"count": "items", "treatment": "arm", "n_control_items": J, "na_rm": True}
    assert_same_test(pc.list_design_test(spread, **options),
                     pc.list_design_test(memory, **options))
    for replicates in (False, True):
        with pytest.raises(EstimationError, match="raked or calibrated design on a Dask"):
            pc.list_regression(pc.rake(pc.SurveyDesign(ddf, **CLUSTERS).replicate("jk1"),
                                       margins) if replicates else spread, "items ~ 1",
                               treatment="arm", n_control_items=J, na_rm=True)


# ------------------------------------------------------------------- the errors --
def test_errors_name_the_rows_across_partitions(client, parquet):
    data, _ = _frames(parquet, "api")
    control = data.index[data["arm"] == 0][[5, 50]]
    data.loc[control, "items"] = 7  # above J on the control list
    designs = [pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **CLUSTERS),
               pc.SurveyDesign(data, **CLUSTERS)]
    options = {"treatment": "arm", "n_control_items": J, "na_rm": True}
    for function, arguments in (
            (pc.list_design_test, {"count": "items", **options}),
            (pc.list_floor_ceiling, {"count": "items", **options}),
            (pc.list_regression, {"formula": "items ~ ell", **options})):
        on_dask, in_memory = _messages(function, *designs, **arguments)
        assert f"rows {control[0]}, {control[1]}{ACROSS} (value 7)" in on_dask
        assert on_dask.replace(ACROSS, "") == in_memory
    # missing lists without na_rm: named in the rows of the whole data
    data.loc[control, "items"] = 1
    designs[0] = pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **CLUSTERS)
    for function, arguments in (
            (pc.list_design_test, {"count": "items", "treatment": "arm", "n_control_items": J}),
            (pc.list_regression, {"formula": "items ~ 1", "treatment": "arm",
                                  "n_control_items": J, "method": "linear"})):
        on_dask, in_memory = _messages(function, *designs, **arguments)
        assert "column 'items' (list experiment) has 2 missing value(s) in rows 3, 70" \
            in on_dask
        assert on_dask.replace(ACROSS, "") == in_memory


def test_a_model_that_does_not_converge_is_refused(client):
    # the sensitive item is a step function of x1: its coefficient diverges; the
    # message gives the iterations done (a diverging fit's last steps depend on rounding)
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"x1": rng.normal(size=600), "t": rng.integers(0, 2, 600),
                         "psu": np.arange(600) % 30})
    data["y"] = rng.binomial(4, 0.5, 600) + data["t"] * (data["x1"] > 0)
    messages = _messages(pc.list_regression,
                         pc.SurveyDesign(dd.from_pandas(data, npartitions=3), psu="psu"),
                         pc.SurveyDesign(data, psu="psu"),
                         formula="y ~ x1", treatment="t", n_control_items=4)
    steps = re.compile(r"Newton \d+ steps")
    assert steps.sub("", messages[0]) == steps.sub("", messages[1])
    assert "did not converge (EM 85 iterations" in messages[0]


def test_a_domain_without_a_list_is_refused(client, parquet):
    data, _ = _frames(parquet, "api")
    data.loc[data["wave"] == 1, "arm"] = 1.0
    designs = [pc.SurveyDesign(dd.from_pandas(data, npartitions=3), **CLUSTERS),
               pc.SurveyDesign(data, **CLUSTERS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for function in (pc.list_design_test, pc.list_floor_ceiling):
            on_dask, in_memory = _messages(function, *designs, count="items", treatment="arm",
                                           n_control_items=J, by="wave", na_rm=True)
            assert "no respondent heard the control list (arm = 0, wave=1" in on_dask
            assert on_dask == in_memory
