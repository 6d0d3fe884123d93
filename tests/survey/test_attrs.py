"""Estimate tables carry covariances in attrs and still concatenate under pandas 3."""

import numpy as np
import pandas as pd

import perception as pc


def _design():
    data = pc.datasets.load("apiclus1")
    return pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")


def test_estimate_tables_concatenate():
    d = _design()
    a, b = pc.mean(d, "api00", by="stype"), pc.mean(d, "api99", by="stype")
    both = pd.concat([a, b], ignore_index=True)
    assert len(both) == 6
    assert both["estimate"].tolist() == [*a["estimate"], *b["estimate"]]


def test_change_tables_concatenate():
    data = pc.datasets.load("apiclus1").assign(half=lambda f: f.index % 2)
    d = pc.SurveyDesign(data, weights="pw", psu="dnum")
    c = pc.change(d, "api00", over="half")
    assert len(pd.concat([c, c])) == 2


def test_contrast_of_a_mean_table_uses_the_full_covariance():
    t = pc.mean(_design(), "api00", by="stype")
    v = pc.vcov(t).to_numpy()
    c = pc.contrast(t, {"E": 1, "H": -1})
    expected = np.sqrt(v[0, 0] + v[1, 1] - 2 * v[0, 1])
    assert np.isclose(c["se"].iloc[0], expected, rtol=1e-12)
    assert isinstance(np.asarray(t.attrs["vcov"]), np.ndarray)
