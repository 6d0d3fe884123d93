"""The chunked path (perception.survey.outofcore) equals the in-memory estimates.

A small stratified two-stage survey is written to Parquet in a temporary folder (several
row groups and files, read in batches smaller than a file); ``mean_from_parquet`` and
``total_from_parquet`` must give the table ``pc.mean``/``pc.total`` give on the frame in
memory, estimates and SEs equal to ``CHUNKED_RTOL`` (relative). Also: the Dask path, an
fpc design checked against R's numbers (``clus1`` of make_reference.R), and the errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow  # noqa: F401  (in the test extra: the Parquet path is always tested)
import pytest
from _core_cases import REFERENCE, api, read_reference

import perception as pc
from perception.survey.engine import RESULT_COLUMNS

CHUNKED_RTOL = 1e-12  # same sums taken batch by batch: only the rounding differs
R_EST_RTOL = 1e-8  # against R's printed values (as tests/survey/test_reference_core.py)
R_SE_RTOL = 1e-6
VALUES = ["estimate", "se", "ci_low", "ci_high", "deff"]


def _survey(seed: int = 3, n: int = 3000) -> pd.DataFrame:
    """Stratified cluster sample: 4 strata x 6 villages, 2 items (one with gaps), a
    numeric and a text domain, uneven weights."""
    rng = np.random.default_rng(seed)
    village = rng.integers(0, 24, n)
    effect = rng.normal(0, 1, 24)[village]
    frame = pd.DataFrame({
        "stratum": np.array(["Bandiagara", "Djenné", "Mopti", "Ségou"])[village // 6],
        "village": village,
        "w": rng.uniform(20, 200, n),
        "trust": 2.5 + effect + rng.normal(0, 1, n),
        "score": 40 + 5 * effect + rng.normal(0, 10, n),
        "region": rng.integers(1, 4, n),
        "sex": np.where(rng.random(n) < 0.5, "femme", "homme"),
    })
    frame.loc[rng.random(n) < 0.03, "score"] = np.nan
    return frame


@pytest.fixture(scope="module")
def survey() -> pd.DataFrame:
    return _survey()


@pytest.fixture(scope="module")
def parquet_file(survey, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("chunked") / "survey.parquet"
    survey.to_parquet(path, row_group_size=700)
    return str(path)


@pytest.fixture(scope="module")
def parquet_folder(survey, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("chunked_parts")
    for part, rows in enumerate(np.array_split(np.arange(len(survey)), 3)):
        survey.iloc[rows].to_parquet(folder / f"part{part}.parquet")
    return str(folder)


def _assert_same(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(ours.columns) == list(expected.columns)
    labels = [c for c in expected.columns if c not in RESULT_COLUMNS]
    pd.testing.assert_frame_equal(ours[labels], expected[labels])
    assert ours["df"].tolist() == expected["df"].tolist()
    assert ours["n"].tolist() == expected["n"].tolist()
    np.testing.assert_allclose(ours[VALUES].to_numpy(float), expected[VALUES].to_numpy(float),
                               rtol=CHUNKED_RTOL, atol=0)
    pd.testing.assert_frame_equal(pc.vcov(ours), pc.vcov(expected), check_exact=False,
                                  rtol=CHUNKED_RTOL,
                                  atol=1e-14 * np.abs(pc.vcov(expected).to_numpy()).max())


def _design(frame: pd.DataFrame) -> pc.SurveyDesign:
    return pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village")


DESIGN = {"weights": "w", "strata": "stratum", "psu": "village"}


# by= may repeat a design column (strata as domains)
@pytest.mark.parametrize("by", [None, "region", ["sex", "region"], "stratum",
                                ["region", "stratum"]])
@pytest.mark.parametrize("kind", ["mean", "total"])
def test_parquet_equals_in_memory(survey, parquet_file, kind, by):
    in_memory = getattr(pc, kind)(_design(survey), ["trust", "score"], by=by, na_rm=True)
    reader = pc.mean_from_parquet if kind == "mean" else pc.total_from_parquet
    chunked = reader(parquet_file, ["trust", "score"], by=by, na_rm=True, batch_size=500,
                     **DESIGN)
    _assert_same(chunked, in_memory)


def test_partitioned_folder_and_one_batch(survey, parquet_folder):
    expected = pc.mean(_design(survey), "trust", by="sex")
    for batch_size in (10**6, 333):
        chunked = pc.mean_from_parquet(parquet_folder, "trust", by="sex",
                                       batch_size=batch_size, **DESIGN)
        _assert_same(chunked, expected)


def test_pyarrow_dataset_object(survey, parquet_file):
    import pyarrow.dataset as ds

    chunked = pc.mean_from_parquet(ds.dataset(parquet_file), "trust", **DESIGN)
    _assert_same(chunked, pc.mean(_design(survey), "trust"))


def test_fpc_cluster_design_equals_r(tmp_path):
    """apiclus1 (one-stage cluster sample with fpc) against R's svymean and pc.mean."""
    frame = api("apiclus1")
    path = tmp_path / "apiclus1.parquet"
    frame.to_parquet(path, row_group_size=50)
    chunked = pc.mean_from_parquet(path, ["api00", "api99"], weights="pw", psu="dnum",
                                   fpc="fpc", batch_size=40)
    design = pc.SurveyDesign(frame, weights="pw", psu="dnum", fpc="fpc")
    _assert_same(chunked, pc.mean(design, ["api00", "api99"]))
    reference = read_reference(REFERENCE / "reference_core.csv")["clus1/mean"]
    for row in chunked.itertuples():
        assert row.estimate == pytest.approx(reference[f"{row.variable}:est"], rel=R_EST_RTOL)
        assert row.se == pytest.approx(reference[f"{row.variable}:se"], rel=R_SE_RTOL)
        assert row.deff == pytest.approx(reference[f"{row.variable}:deff"], rel=R_SE_RTOL)


def test_lonely_psu_option_carried(tmp_path):
    frame = _survey(n=400)
    frame = frame[~((frame["stratum"] == "Mopti") & (frame["village"] != 12))]
    path = tmp_path / "lonely.parquet"
    frame.to_parquet(path)
    with pytest.raises(pc.DesignError, match="Mopti"):
        pc.mean_from_parquet(path, "trust", **DESIGN)
    chunked = pc.mean_from_parquet(path, "trust", by="sex", lonely_psu="adjust", **DESIGN)
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    _assert_same(chunked, pc.mean(design, "trust", by="sex"))


def test_dask_equals_in_memory(survey):
    import dask.dataframe as dd  # in the test extra: CI checks the Dask path too
    ddf = dd.from_pandas(survey, npartitions=4)
    design = _design(survey)
    _assert_same(pc.mean_from_dask(ddf, ["trust", "score"], by="region", na_rm=True, **DESIGN),
                 pc.mean(design, ["trust", "score"], by="region", na_rm=True))
    _assert_same(pc.total_from_dask(ddf, "trust", **DESIGN), pc.total(design, "trust"))


def test_missing_values_name_column_and_rows(parquet_file, survey):
    gaps = np.flatnonzero(survey["score"].isna().to_numpy())
    with pytest.raises(pc.EstimationError, match="na_rm=True") as error:
        pc.mean_from_parquet(parquet_file, ["trust", "score"], batch_size=500, **DESIGN)
    message = str(error.value)
    assert "'score'" in message and f"{gaps.size} row(s)" in message
    assert message.split(": ", 1)[1].startswith(", ".join(map(str, gaps[:3])))


def test_bad_arguments(parquet_file, tmp_path):
    with pytest.raises(pc.DesignError, match="psu"):
        pc.mean_from_parquet(parquet_file, "trust", weights="w", psu=None)
    with pytest.raises(pc.EstimationError, match="'trst'.*Did you mean 'trust'"):
        pc.mean_from_parquet(parquet_file, "trst", **DESIGN)
    with pytest.raises(pc.EstimationError, match="batch_size"):
        pc.mean_from_parquet(parquet_file, "trust", batch_size=0, **DESIGN)
    frame = _survey(n=200)
    frame.loc[[5, 9], "w"] = -1.0
    path = tmp_path / "negative.parquet"
    frame.to_parquet(path)
    with pytest.raises(pc.DesignError, match=r"'w' has negative values in 2 row\(s\): 5, 9"):
        pc.mean_from_parquet(path, "trust", **DESIGN)
