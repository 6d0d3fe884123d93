"""Invariants of the design-based estimates on random valid designs (hypothesis).

The strategies draw what field surveys of Central Mali produce and the core property
tests (``test_properties_core.py``) leave out: strata with a single village (lonely PSUs,
under every ``lonely_psu`` option but "fail"), finite population corrections, missing
answers (``na_rm=True``), tiny and unbalanced domains (a domain may hold one
respondent), one stratum or several, and Taylor, jackknife and bootstrap designs.
On every draw:

- every estimate reports ``n``, the rows of its domain with an answer;
- estimates are finite, SEs are non-negative, intervals contain their estimate;
- the shares of a variable's levels add to 1 in every domain;
- domain totals add to the overall total (and so does their variance);
- a domain's estimate equals the estimate on ``design.subset(domain)``;
- weights times a constant change nothing but totals (scaled by it);
- the order of the rows does not matter;
- the lonely-PSU options keep their meaning: "certainty" equals "remove" in one-stage
  designs, "adjust" never gives a smaller variance, "average" scales "remove" by the
  share of strata with variance; and "fail" names the lonely stratum.

The profile (derandomised, same examples on every run) is in ``tests/conftest.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import DesignError, EstimationError

RTOL = 1e-9  # the same sums taken in another order, on another design, or scaled
ATOL = 1e-9  # absolute, times the size of the numbers, for SEs that are ~0
FACTOR = 7.25  # every weight times this constant
LONELY_OPTIONS = ("remove", "certainty", "adjust", "average")
DOMAINS = ("a", "b", "c")
EXAMPLES = 15  # per property (the lonely-PSU one: twice): keeps the file near 10 s


@dataclass(frozen=True)
class Survey:
    data: pd.DataFrame
    lonely_psu: str
    fpc: bool
    replicate: str | None  # None (Taylor), "jkn" or "bootstrap"

    def design(self, data: pd.DataFrame | None = None, lonely_psu: str | None = None):
        data = self.data if data is None else data
        design = pc.SurveyDesign(data, weights="w", strata="s", psu="v",
                                 fpc="N" if self.fpc else None, nest=True,
                                 lonely_psu=lonely_psu or self.lonely_psu)
        if self.replicate == "jkn":
            return design.replicate("jkn")
        if self.replicate == "bootstrap":
            return design.replicate("bootstrap", replicates=20, seed=5)
        return design


@st.composite
def surveys(draw, lonely: bool = True, replicate: bool = True) -> Survey:
    """A stratified cluster sample drawn by hypothesis (see the module docstring)."""
    n_strata = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1 if lonely else 2, 4)) for _ in range(n_strata)]
    if sum(sizes) < 2:  # a design needs two PSUs
        sizes[0] = 2
    with_fpc = draw(st.booleans())
    rows: list[dict] = []
    for h, n_psu in enumerate(sizes):
        population = n_psu + draw(st.integers(1, 20))  # never exhaustive: variance exists
        for j in range(n_psu):
            for _ in range(draw(st.integers(1, 4))):
                rows.append({"s": f"S{h}", "v": j, "N": population})
    n = len(rows)

    def column(elements):
        return draw(st.lists(elements, min_size=n, max_size=n))

    data = pd.DataFrame(rows, index=pd.RangeIndex(500, 500 + n))
    data["w"] = column(st.integers(1, 200).map(lambda v: v / 4))
    data["y"] = pd.array(column(st.one_of(st.none(), st.integers(-40, 40))),
                         dtype="Float64").astype(float)
    if data["y"].isna().all():
        data.loc[data.index[0], "y"] = 1.0
    data["x"] = column(st.integers(1, 30)).copy()
    data["item"] = column(st.sampled_from(["agree", "neutral", "disagree"]))
    # unbalanced domains: "c" is rare (it may hold a single row, or none)
    data["g"] = column(st.sampled_from(["a", "a", "a", "b", "b", "c"]))
    if draw(st.booleans()):
        data.loc[data.index[draw(st.integers(0, n - 1))], "g"] = "c"
    option = draw(st.sampled_from(LONELY_OPTIONS)) if lonely else "fail"
    kind = draw(st.sampled_from([None, "jkn", "bootstrap"])) if replicate else None
    if kind == "jkn" and max(sizes) < 2:  # no stratum to form a jackknife replicate
        kind = None
    return Survey(data, option, with_fpc, kind)


ESTIMATORS = {
    "mean": lambda d, by: pc.mean(d, "y", by=by, na_rm=True),
    "total": lambda d, by: pc.total(d, "y", by=by, na_rm=True),
    "ratio": lambda d, by: pc.ratio(d, "y", "x", by=by, na_rm=True),
    "proportion": lambda d, by: pc.proportion(d, "item", by=by),
}


def _tables(design, by: str | None) -> dict[str, pd.DataFrame]:
    return {name: estimator(design, by) for name, estimator in ESTIMATORS.items()}


def _close(a, b, scale: float = 1.0, err: str = "") -> None:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    finite = np.abs(a[np.isfinite(a)])
    size = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(b, a * scale, rtol=RTOL, atol=ATOL * size * scale,
                               equal_nan=True, err_msg=err)


def _answered(data: pd.DataFrame) -> pd.Series:
    return data["y"].notna().groupby(data["g"]).sum()


# ------------------------------------------------------------------ properties --
@settings(max_examples=EXAMPLES)
@given(surveys())
def test_estimates_are_sound_and_report_n(survey):
    data = survey.data
    tables = _tables(survey.design(), "g")
    answered = _answered(data)
    for name, table in tables.items():
        assert (table["estimate"].notna()).all(), (name, table)
        se = table["se"].to_numpy(dtype=float)
        if survey.lonely_psu != "average":  # "average" with no stratum left is NaN, as R
            assert np.isfinite(se).all(), (name, table)
        assert (se[np.isfinite(se)] >= 0).all()
        low, high, est = (table[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high",
                                                                      "estimate"))
        shown = np.isfinite(low) & np.isfinite(high)
        tol = 1e-12 * np.maximum(1.0, np.abs(est))
        assert (low[shown] <= est[shown] + tol[shown]).all()
        assert (est[shown] <= high[shown] + tol[shown]).all()
        assert pd.api.types.is_integer_dtype(table["n"])
    # n: the rows of each domain with an answer (y for mean/total/ratio, item: all)
    for name in ("mean", "total", "ratio"):
        reported = tables[name].set_index("g")["n"]
        assert reported.to_dict() == answered[answered > 0].astype(int).to_dict()
    shares = tables["proportion"]
    counts = data.groupby("g").size()
    assert shares.groupby("g")["n"].first().to_dict() == counts.astype(int).to_dict()
    _close(shares.groupby("g")["estimate"].sum().to_numpy(), np.ones(len(counts)))


@given(surveys())
def test_domain_totals_add_to_the_total(survey):
    design = survey.design()
    overall = pc.total(design, "y", na_rm=True)
    parts = pc.total(design, "y", by="g", na_rm=True)
    _close(overall["estimate"], [parts["estimate"].sum()])
    variance = float(np.sum(pc.vcov(parts).to_numpy()))
    # under "average" R scales each domain by its own count of strata with variance,
    # so domain variances do not add up to the overall one (tests/survey/test_reference_core.py
    # checks those values against R)
    if np.isfinite(variance) and survey.lonely_psu != "average":
        _close([overall["se"].iloc[0] ** 2], [variance])
    assert parts["n"].sum() == overall["n"].iloc[0] == survey.data["y"].notna().sum()


@settings(max_examples=EXAMPLES)
@given(surveys())
def test_domain_equals_subset(survey):
    design = survey.design()
    tables = _tables(design, "g")
    for value in DOMAINS:
        inside = (survey.data["g"] == value).to_numpy()
        if not inside.any():
            continue
        restricted = design.subset(inside)
        for name, table in tables.items():
            part = table[table["g"] == value].reset_index(drop=True)
            if part.empty:  # no answer in the domain: the subset has nothing either
                with pytest.raises(EstimationError, match="no rows"):
                    ESTIMATORS[name](restricted, None)
                continue
            sub = ESTIMATORS[name](restricted, None)
            if name == "proportion":  # levels absent from the domain: share 0 in by=
                part = part[part["category"].isin(sub["category"])].reset_index(drop=True)
            for column in ("estimate", "se"):
                _close(part[column], sub[column], err=f"{name} {value} {column}")
            assert part["n"].tolist() == sub["n"].tolist()


@settings(max_examples=EXAMPLES)
@given(surveys())
def test_scaling_the_weights(survey):
    base = _tables(survey.design(), "g")
    heavier = _tables(survey.design(survey.data.assign(w=survey.data["w"] * FACTOR)), "g")
    for name, table in base.items():
        scale = FACTOR if name == "total" else 1.0
        for column in ("estimate", "se", "ci_low", "ci_high"):
            _close(table[column], heavier[name][column], scale, f"{name} {column}")
        _close(table["deff"], heavier[name]["deff"], err=f"{name} deff")
        assert table["n"].tolist() == heavier[name]["n"].tolist()


@settings(max_examples=EXAMPLES)
@given(surveys(replicate=False), st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(survey, seed):
    shuffled = survey.data.sample(frac=1.0, random_state=np.random.RandomState(seed))
    base = _tables(survey.design(), "g")
    other = _tables(survey.design(shuffled), "g")
    for name, table in base.items():
        for column in ("estimate", "se", "ci_low", "ci_high", "deff", "df", "n"):
            _close(table[column], other[name][column], err=f"{name} {column}")


@settings(max_examples=2 * EXAMPLES)
@given(surveys(replicate=False))
def test_lonely_psu_options_keep_their_meaning(survey):
    data = survey.data
    if survey.fpc:  # the relations below are those of one-stage designs without fpc
        survey = Survey(data, survey.lonely_psu, False, None)
    se = {option: pc.total(survey.design(lonely_psu=option), "x")["se"].iloc[0]
          for option in LONELY_OPTIONS}
    psus = data.groupby("s")["v"].nunique()
    n_lonely, n_strata = int((psus == 1).sum()), len(psus)
    size = max(1.0, se["remove"])
    assert math.isclose(se["certainty"], se["remove"], rel_tol=RTOL, abs_tol=ATOL * size)
    assert se["adjust"] >= se["remove"] * (1 - RTOL)
    if n_lonely == n_strata:
        assert math.isnan(se["average"])  # no stratum with variance left (R: NaN)
    else:
        expected = se["remove"] * math.sqrt(n_strata / (n_strata - n_lonely))
        assert math.isclose(se["average"], expected, rel_tol=RTOL, abs_tol=ATOL * size)
    if n_lonely == 0:
        assert len({round(v / size, 9) for v in se.values()}) == 1  # no lonely PSU


@settings(max_examples=30)
@given(surveys(replicate=False))
def test_lonely_psu_fail_names_the_stratum(survey):
    psus = survey.data.groupby("s")["v"].nunique()
    lonely = psus.index[psus == 1]
    design = survey.design(lonely_psu="fail")
    if len(lonely) == 0:
        assert np.isfinite(pc.mean(design, "x")["se"].iloc[0])
        return
    with pytest.raises(DesignError) as info:
        pc.mean(design, "x")
    message = str(info.value)
    assert repr(lonely[0]) in message
    assert "only one PSU" in message and "lonely_psu=" in message and "Fix:" in message
