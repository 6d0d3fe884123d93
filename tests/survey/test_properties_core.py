"""Properties every design-based estimate must have, on generated surveys.

- scaling all weights leaves means, proportions, ratios, quantiles and their SEs and
  deffs unchanged, and scales totals and their SEs;
- the order of the rows does not matter;
- domain totals add up to the overall total, and so do their covariances;
- a domain estimate equals the estimate on the design restricted to the domain
  (``subset``), and on a design whose weights are zero outside the domain;
- estimators never modify the data they are given.

Hypothesis runs derandomised (profile in ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc

RTOL = 1e-9  # relative: the same sums taken in another order or scale
ATOL = 1e-9  # absolute, relative to the size of the data, for SEs that are ~0
VALUES = ["estimate", "se", "ci_low", "ci_high", "deff"]


@st.composite
def surveys(draw) -> pd.DataFrame:
    """A small stratified two-stage sample: 1-3 strata, 2-4 villages each, 1-4 rows per
    village, positive weights, a score, a positive denominator, two categorical items."""
    stratum, village = [], []
    for h in range(draw(st.integers(1, 3))):
        for j in range(draw(st.integers(2, 4))):
            size = draw(st.integers(1, 4))
            stratum += [f"s{h}"] * size
            village += [j] * size
    n = len(stratum)

    def column(elements):
        return draw(st.lists(elements, min_size=n, max_size=n))

    return pd.DataFrame({
        "stratum": stratum,
        "village": village,
        "w": column(st.integers(1, 40).map(lambda v: v / 2)),
        "y": column(st.integers(-50, 50)),
        "x": column(st.integers(1, 30)),
        "trust": column(st.sampled_from(["low", "mid", "high"])),
        "wave": column(st.sampled_from(["baseline", "endline"])),
    }, index=pd.RangeIndex(100, 100 + n))


def _design(data: pd.DataFrame, replicate: bool = False, weights: str = "w"):
    design = pc.SurveyDesign(data, weights=weights, strata="stratum", psu="village",
                             nest=True)
    return design.replicate("jkn") if replicate else design


def _tables(design, by=None) -> dict[str, pd.DataFrame]:
    return {
        "mean": pc.mean(design, ["y", "x"], by=by),
        "total": pc.total(design, ["y", "x"], by=by),
        "ratio": pc.ratio(design, "y", "x", by=by),
        "proportion": pc.proportion(design, "trust", by=by),
        "quantile": pc.quantile(design, "y", [0.25, 0.5], by=by),
    }


def _close(a: pd.DataFrame, b: pd.DataFrame, scale: float = 1.0, columns=VALUES) -> None:
    size = max(1.0, float(np.nanmax(np.abs(a["estimate"].to_numpy(dtype=float)))))
    for column in columns:
        np.testing.assert_allclose(
            a[column].to_numpy(dtype=float) * scale, b[column].to_numpy(dtype=float),
            rtol=RTOL, atol=ATOL * size * scale, err_msg=column, equal_nan=True,
        )


@settings(max_examples=15)
@given(data=surveys(), factor=st.sampled_from([0.001, 3.7, 1000.0]), replicate=st.booleans())
def test_scaling_the_weights(data, factor, replicate):
    base = _tables(_design(data, replicate))
    scaled = _tables(_design(data.assign(w=data["w"] * factor), replicate))
    for name in ("mean", "ratio", "proportion", "quantile"):
        columns = ["estimate", "ci_low", "ci_high"] if name == "quantile" else VALUES
        _close(base[name], scaled[name], columns=columns)
    _close(base["total"], scaled["total"], scale=factor,
           columns=["estimate", "se", "ci_low", "ci_high"])
    np.testing.assert_allclose(base["total"]["deff"], scaled["total"]["deff"], rtol=RTOL)


@settings(max_examples=12)
@given(data=surveys(), seed=st.integers(0, 2**32 - 1), replicate=st.booleans())
def test_row_order_does_not_matter(data, seed, replicate):
    shuffled = data.sample(frac=1.0, random_state=np.random.RandomState(seed))
    for by in (None, "wave"):
        base = _tables(_design(data, replicate), by=by)
        other = _tables(_design(shuffled, replicate), by=by)
        for name in base:
            _close(base[name], other[name])
            assert (base[name]["n"].to_numpy() == other[name]["n"].to_numpy()).all()


@settings(max_examples=20)
@given(data=surveys(), replicate=st.booleans())
def test_domain_totals_add_up(data, replicate):
    design = _design(data, replicate)
    overall = pc.total(design, "y")
    by_wave = pc.total(design, "y", by="wave")
    by_two = pc.total(design, "y", by=["wave", "trust"])
    size = float(np.abs(data["y"] * data["w"]).sum()) + 1.0
    for parts in (by_wave, by_two):
        assert abs(parts["estimate"].sum() - overall["estimate"].iloc[0]) <= RTOL * size
        # the variance of the sum, from the covariance of the domain totals
        vcov = pc.vcov(parts).to_numpy()
        assert abs(vcov.sum() - overall["se"].iloc[0] ** 2) <= RTOL * size**2
        assert parts["n"].sum() == overall["n"].iloc[0]


@settings(max_examples=12)
@given(data=surveys(), replicate=st.booleans())
def test_domain_estimate_equals_restricted_design(data, replicate):
    design = _design(data, replicate)
    by_wave = _tables(design, by="wave")
    for level in by_wave["mean"]["wave"]:
        inside = (data["wave"] == level).to_numpy()
        restricted = _tables(design.subset(inside))
        for name, table in by_wave.items():
            part = table[table["wave"] == level].reset_index(drop=True)
            assert (part["n"].to_numpy() == restricted[name]["n"].to_numpy()).all()
            if name in ("proportion", "quantile"):
                # intervals on the domain's degrees of freedom, as R's svyciprop and
                # svyquantile on subset(design, ...)
                _close(part, restricted[name])
                assert (part["df"].to_numpy() == restricted[name]["df"].to_numpy()).all()
            else:
                # t intervals on the design's degrees of freedom (api.md), so only the
                # estimate, its SE and deff are those of the restricted design
                _close(part, restricted[name], columns=["estimate", "se", "deff"])
        if replicate:
            continue
        # a design whose weights are zero outside the domain: same estimates and SEs
        zeroed = _design(data.assign(w0=np.where(inside, data["w"], 0.0)), weights="w0")
        for name in ("mean", "total", "ratio"):
            other = getattr(pc, name)(zeroed, *(("y", "x") if name == "ratio" else (["y", "x"],)))
            part = by_wave[name][by_wave[name]["wave"] == level].reset_index(drop=True)
            _close(part, other, columns=["estimate", "se"])


@settings(max_examples=8)
@given(data=surveys(), replicate=st.booleans())
def test_inputs_are_never_modified(data, replicate):
    original = data.copy(deep=True)
    design = _design(data, replicate)
    weights_before = design.weights.copy()
    for by in (None, "wave"):
        _tables(design, by=by)
        pc.quantile(design, "y", 0.5, by=by, interval_type="quantile" if replicate else "score")
        pc.proportion(design, "trust", by=by, method="beta")
    design.subset((data["wave"] == "baseline").to_numpy())
    if not replicate:
        design.replicate("bootstrap", replicates=5, seed=1)
    pd.testing.assert_frame_equal(data, original)
    pd.testing.assert_series_equal(design.weights, weights_before)
