"""Models of weighted designs on a Dask DataFrame.

A design of replicate-weight columns is weighted column by column, so the models refit
on its adjusted columns and equal the in-memory fit; a post-stratified, raked or
calibrated design built from a design (or its replicates) is refused with the way round
(the adjustment's residuals are summed for the estimators only).
"""

from __future__ import annotations

import numpy as np
import pytest

import perception as pc
from perception.errors import EstimationError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

STYPE = {"E": 4421, "H": 755, "M": 1018}


def _with_replicates():
    api = pc.datasets.load("apiclus1")
    rng = np.random.default_rng(1)
    for r in range(5):
        api[f"rw{r}"] = api["pw"] * rng.uniform(0.5, 1.5, len(api))
    return api, dd.from_pandas(api, npartitions=3)


def test_models_of_weighted_replicate_columns_equal_in_memory(client):
    data, ddf = _with_replicates()
    arguments = {"weights": "pw", "replicate_weights": "rw[0-9]", "method": "jk1"}
    memory = pc.poststratify(pc.ReplicateDesign(data, **arguments), "stype", STYPE)
    spread = pc.poststratify(pc.ReplicateDesign(ddf, **arguments), "stype", STYPE)
    want = pc.glm(memory, "api00 ~ ell + meals")
    got = pc.glm(spread, "api00 ~ ell + meals")
    np.testing.assert_allclose(got.coefficients[["estimate", "se"]].to_numpy(float),
                               want.coefficients[["estimate", "se"]].to_numpy(float),
                               rtol=1e-10)
    assert got.df_residual == want.df_residual


@pytest.mark.parametrize("call", ["glm", "olr", "did", "replicates", "nonresponse"])
def test_models_of_weighted_designs_are_refused(client, call):
    data, ddf = _with_replicates()
    design = pc.SurveyDesign(ddf.assign(wave=ddf["snum"] % 2, treated=ddf["dnum"] % 2),
                             weights="pw", psu="dnum", fpc="fpc")
    weighted = pc.poststratify(design, "stype", STYPE)
    calls = {
        "glm": lambda: pc.glm(weighted, "api00 ~ ell"),
        "olr": lambda: pc.olr(weighted, "stype ~ ell"),
        "did": lambda: pc.did(weighted, "api00", treated="treated", period="wave",
                              covariates=["ell"]),
        "replicates": lambda: pc.glm(pc.rake(design.replicate("jkn"), {"stype": STYPE}),
                                     "api00 ~ ell"),
        "nonresponse": lambda: pc.glm(pc.adjust_nonresponse(
            design, design.data["api00"] > 500, "stype"), "api00 ~ ell"),
    }
    with pytest.raises(EstimationError, match="post-stratified, raked, calibrated or "
                                              "nonresponse-adjusted design on a Dask "
                                              "DataFrame.*ddf.compute"):
        calls[call]()
