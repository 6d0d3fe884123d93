"""``pc.weight_diagnostics`` of designs on a Dask DataFrame: the in-memory table.

R's api samples as Parquet datasets of three files, summed on a LocalCluster of two
worker processes: plain, weighted (the final weights), replicate and replicate-weight
designs, by the default stratum and by other columns; missing values named by row.
"""

from __future__ import annotations

import numpy as np
import pytest

import perception as pc
from perception.errors import WeightingError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from same_tables import assert_same_columns  # noqa: E402
from test_distributed import _frames, api_parquet  # noqa: E402  (after dask)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory):
    return api_parquet(tmp_path_factory.mktemp("diagnostics"), pc.datasets.load)


RAKE = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch_wide": {"No": 1072, "Yes": 5122}}


def _pairs(parquet) -> dict:
    data, ddf = _frames(parquet, "apistrat")
    arguments = {"weights": "pw", "strata": "stype", "psu": "snum", "fpc": "fpc"}
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    clus, clus_ddf = _frames(parquet, "apiclus1")
    columns = {"weights": "pw", "replicate_weights": "rw[0-9]+", "method": "jk1"}
    rng = np.random.default_rng(5)
    factors = {f"rw{r}": rng.uniform(0.5, 1.5, len(clus)) for r in range(4)}
    with_columns = clus.assign(**{k: clus["pw"] * v for k, v in factors.items()})
    return {
        "stratified": (memory, spread),
        "raked": (pc.rake(memory, RAKE), pc.rake(spread, RAKE)),
        "jkn": (memory.replicate("jkn"), spread.replicate("jkn")),
        "clusters": (pc.SurveyDesign(clus, weights="pw", psu="dnum", fpc="fpc"),
                     pc.SurveyDesign(clus_ddf, weights="pw", psu="dnum", fpc="fpc")),
        "replicate columns": (
            pc.ReplicateDesign(with_columns, **columns),
            pc.ReplicateDesign(dd.from_pandas(with_columns, npartitions=3), **columns)),
    }


@pytest.mark.parametrize("kind", ["stratified", "raked", "jkn", "clusters",
                                  "replicate columns"])
def test_weight_diagnostics_equal_in_memory(client, parquet, kind):
    memory, spread = _pairs(parquet)[kind]
    for by in (None, "sch_wide", ["sch_wide", "stype"]):
        got = pc.weight_diagnostics(spread, by=by)
        want = pc.weight_diagnostics(memory, by=by)
        assert_same_columns(got, want)
    if kind == "raked":  # the adjusted weights, not the design's column
        assert not np.isclose(pc.weight_diagnostics(spread)["cv"].iloc[0],
                              pc.weight_diagnostics(_pairs(parquet)["stratified"][1])
                              ["cv"].iloc[0])


def test_weight_diagnostics_name_the_rows_across_partitions(client, parquet):
    data, _ = _frames(parquet, "apistrat")
    gaps = data.copy()
    gaps.loc[[3, len(gaps) - 2], "sch_wide"] = None
    design = pc.SurveyDesign(dd.from_pandas(gaps, npartitions=3), weights="pw",
                             strata="stype", psu="snum", fpc="fpc")
    with pytest.raises(WeightingError, match=f"sch_wide have missing values in rows "
                                             f"3, {len(gaps) - 2}"):
        pc.weight_diagnostics(design, by="sch_wide")
    with pytest.raises(WeightingError, match="unknown column 'region'"):
        pc.weight_diagnostics(design, by="region")
    gaps = data.copy()
    gaps.loc[[len(gaps) - 1], "pw"] = np.nan  # the design reads its weights only now
    design = pc.SurveyDesign(dd.from_pandas(gaps, npartitions=3), weights="pw",
                             strata="stype", psu="snum", fpc="fpc")
    with pytest.raises(WeightingError, match=f"'pw' \\(weights\\) has 1 missing value.*"
                                             f"rows {len(gaps) - 1}"):
        pc.weight_diagnostics(design)
