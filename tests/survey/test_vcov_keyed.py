"""Estimate tables keep their covariance whatever pandas does to their rows.

The covariance in ``table.attrs["vcov"]`` is keyed by each row's identity (``by`` values,
``variable``, ``category``; ``from``/``to`` of a change; ``contrast``), so a table that
was sorted, filtered (rows kept), reset or concatenated from pieces of itself gives the
same ``pc.vcov`` and ``pc.contrast`` as the table as estimated -- R's ``svycontrast``
(reference: tests/reference/vcov_keyed.csv, written by make_vcov_keyed.R) -- and a
table whose rows or estimates are not those of its covariance is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _change_cases import panel_design
from _models_cases import design, reference
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import EstimationError

#: agreement with R (linearisation: closed form)
R_RTOL = 1e-9
#: the same contrast computed on a reordered or smaller matrix (sums in another order)
SAME_RTOL = 1e-10
SAME_ATOL = 1e-12

REFERENCE_FILE = "vcov_keyed.csv"


# ----------------------------------------------------------------- R cases --
def _by_type() -> dict[str, dict]:
    return {
        "H-M": {("H", "api00"): 1, ("M", "api00"): -1},
        "E-H": {("E", "api00"): 1, ("H", "api00"): -1},
        "E-HM": {("E", "api00"): 1, ("H", "api00"): -0.5, ("M", "api00"): -0.5},
    }


# case -> (table, contrasts by row identity, R's coefficient name of a row identity)
R_CASES: dict[str, tuple[Callable[[], pd.DataFrame], dict[str, dict], Callable]] = {
    "strat/api00_by_stype": (
        lambda: pc.mean(design("strat"), "api00", by="stype"), _by_type(),
        lambda key: key[0],
    ),
    "clus1/api00_by_stype": (
        lambda: pc.mean(design("clus1"), "api00", by="stype"), _by_type(),
        lambda key: key[0],
    ),
    "clus1/api00_api99_by_stype": (
        lambda: pc.mean(design("clus1"), ["api00", "api99"], by="stype"),
        {"growth_E-H": {("E", "api00"): 1, ("E", "api99"): -1, ("H", "api00"): -1,
                        ("H", "api99"): 1},
         "api00_M-E": {("M", "api00"): 1, ("E", "api00"): -1}},
        lambda key: f"{key[0]}:{key[1]}",
    ),
    "clus1/mealcat_by_stype": (
        lambda: pc.proportion(design("clus1"), "mealcat", by="stype"),
        {"high_E-H": {("E", "mealcat", "high"): 1, ("H", "mealcat", "high"): -1},
         "M_low-high": {("M", "mealcat", "low"): 1, ("M", "mealcat", "high"): -1}},
        lambda key: f"{key[0]}:mealcat{key[2]}",
    ),
    "clus1/api00_by_stype_awards": (
        lambda: pc.mean(design("clus1"), "api00", by=["stype", "awards"]),
        {"awards_E": {("E", "Yes", "api00"): 1, ("E", "No", "api00"): -1},
         "awards_H-E": {("H", "Yes", "api00"): 1, ("H", "No", "api00"): -1,
                        ("E", "Yes", "api00"): -1, ("E", "No", "api00"): 1}},
        lambda key: f"{key[0]}.{key[1]}",
    ),
}


@cache
def _estimated(case: str) -> pd.DataFrame:
    return R_CASES[case][0]()


def _pieces(table: pd.DataFrame) -> pd.DataFrame:
    """The table cut by its first column and put back together in another order."""
    first = table.columns[0]
    parts = [table[table[first] == value] for value in pd.unique(table[first])]
    return pd.concat(parts[::-1])


VIEWS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "as estimated": lambda t: t,
    "sorted by estimate": lambda t: t.sort_values("estimate"),
    "sorted descending, index reset": lambda t: t.sort_values(
        "estimate", ascending=False).reset_index(drop=True),
    "reversed, old index as a column": lambda t: t.iloc[::-1].reset_index(),
    "concatenated from pieces": _pieces,
    "identity as the index": lambda t: t.set_index(list(t.columns[:2])).sort_index(),
}


def _used_rows(table: pd.DataFrame, weights: dict) -> pd.DataFrame:
    """The rows a contrast uses, in a new order (a filter that keeps rows)."""
    identity = list(pc.vcov(table).index)
    keep = [key in weights for key in identity]
    return table[keep].sort_values("se")


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("case", list(R_CASES))
def test_contrasts_equal_svycontrast_on_every_view(case, view):
    ref = reference(REFERENCE_FILE)[case]
    contrasts = R_CASES[case][1]
    table = VIEWS[view](_estimated(case))
    for name, weights in contrasts.items():
        for rows in (table, _used_rows(table, weights)):
            result = pc.contrast(rows, weights)
            assert result["estimate"].iloc[0] == pytest.approx(ref[f"{name}:est"],
                                                               rel=R_RTOL), name
            assert result["se"].iloc[0] == pytest.approx(ref[f"{name}:se"], rel=R_RTOL), name


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("case", list(R_CASES))
def test_vcov_is_labelled_by_row_and_equals_svyby(case, view):
    ref = reference(REFERENCE_FILE)[case]
    r_name = R_CASES[case][2]
    table = VIEWS[view](_estimated(case))
    vcov = pc.vcov(table)
    assert len(vcov) == len(table)
    assert list(vcov.index) == _identity(table, list(vcov.index.names))  # the table's order
    for a in vcov.index:
        for b in vcov.columns:
            expected = ref[f"row|{r_name(a)}|{r_name(b)}"]
            assert vcov.loc[a, b] == pytest.approx(expected, rel=R_RTOL, abs=1e-12), (a, b)


@pytest.mark.parametrize("case", list(R_CASES))
def test_contrast_tables_keep_their_covariance(case):
    ref = reference(REFERENCE_FILE)[case]
    contrasts = R_CASES[case][1]
    table = pc.contrast(_estimated(case).sort_values("estimate"), contrasts)
    shuffled = table.sort_values("se", ascending=False)
    vcov = pc.vcov(shuffled)
    assert list(vcov.index) == shuffled["contrast"].tolist()
    for a in contrasts:
        for b in contrasts:
            assert vcov.loc[a, b] == pytest.approx(ref[f"vcov|{a}|{b}"], rel=R_RTOL)
    # a contrast of contrasts, on the reordered table
    names = list(contrasts)
    twice = pc.contrast(shuffled, {names[0]: 1, names[1]: -1})
    variance = (ref[f"vcov|{names[0]}|{names[0]}"] + ref[f"vcov|{names[1]}|{names[1]}"]
                - 2 * ref[f"vcov|{names[0]}|{names[1]}"])
    assert twice["se"].iloc[0] == pytest.approx(np.sqrt(variance), rel=R_RTOL)


def _identity(table: pd.DataFrame, columns: list[str]) -> list:
    frame = table.reset_index() if set(columns) - set(table.columns) else table
    values = [frame[c].tolist() for c in columns]
    return list(zip(*values, strict=True)) if len(columns) > 1 else values[0]


# ------------------------------------------------------------ every table kind --
@cache
def _indices_design() -> pc.SurveyDesign:
    data = pd.read_csv(Path(__file__).resolve().parents[1] / "reference" / "indices_data.csv")
    return pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")


KINDS: dict[str, Callable[[], pd.DataFrame]] = {
    "mean by two columns": lambda: _estimated("clus1/api00_by_stype_awards"),
    "two variables by domain": lambda: _estimated("clus1/api00_api99_by_stype"),
    "proportion by domain": lambda: _estimated("clus1/mealcat_by_stype"),
    "total by domain": lambda: pc.total(design("clus1"), ["enroll", "api00"], by="stype"),
    "ratio by domain": lambda: pc.ratio(design("clus1"), "api00", "api99", by="awards"),
    "replicate design": lambda: pc.mean(design("jk1"), ["api00", "api99"], by="stype"),
    "change": lambda: pc.change(panel_design(3), ["trust", "score"], over="wave",
                                by="treated"),
    "contrast": lambda: pc.contrast(
        _estimated("clus1/api00_by_stype_awards"),
        {f"c{i}": w for i, w in enumerate(np.eye(6)[[0, 2, 3, 5]] - 0.25)}),
    "likert, one item": lambda: pc.likert(_indices_design(), "a", by="g", missing=(8, 9)),
    "top box, one item": lambda: pc.top_box(_indices_design(), "a", by="g",
                                            missing=(8, 9)),
    "did effects, one variable": lambda: pc.did(panel_design(3), "trust", treated="treated",
                                                period="wave", by="region").effects,
}


@cache
def _kind(name: str) -> pd.DataFrame:
    return KINDS[name]()


@st.composite
def _views(draw, table: pd.DataFrame):
    """A view of ``table``: rows permuted, a subset kept, index reset or not, and
    possibly cut in two pieces concatenated again; with a weight for each of its rows."""
    order = draw(st.permutations(range(len(table))))
    keep = draw(st.lists(st.booleans(), min_size=len(table), max_size=len(table)).filter(any))
    view = table.iloc[list(order)][[keep[i] for i in order]]
    reset = draw(st.sampled_from(["none", "drop", "column"]))
    if reset != "none":
        view = view.reset_index(drop=reset == "drop")
    cut = draw(st.integers(0, len(view)))
    if 0 < cut < len(view):
        view = pd.concat([view.iloc[cut:], view.iloc[:cut]])
    weights = draw(st.lists(st.integers(-3, 3), min_size=len(view), max_size=len(view)))
    return view, weights


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=15)
@given(data=st.data())
def test_vcov_of_a_view_is_the_original_matched_by_identity(kind, data):
    view, _ = data.draw(_views(_kind(kind)))
    original = pc.vcov(_kind(kind))
    ours = pc.vcov(view)
    assert ours.index.names == original.index.names
    assert list(ours.index) == _identity(view, list(original.index.names))
    expected = original.loc[ours.index, ours.columns]
    np.testing.assert_array_equal(ours.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=15)
@given(data=st.data())
def test_contrast_of_a_view_equals_the_original(kind, data):
    view, weights = data.draw(_views(_kind(kind)))
    keys = list(pc.vcov(view).index)
    by_identity = {key: w for key, w in zip(keys, weights, strict=True)}
    ours = pc.contrast(view, by_identity)
    theirs = pc.contrast(_kind(kind), by_identity)
    for column in ("estimate", "se"):
        assert ours[column].iloc[0] == pytest.approx(theirs[column].iloc[0], rel=SAME_RTOL,
                                                     abs=SAME_ATOL), column
    # the rows behind it: per domain (identity before variable), whatever the order
    np.testing.assert_array_equal(ours[["n", "n_min"]].to_numpy(float),
                                  theirs[["n", "n_min"]].to_numpy(float))
    # weights given in the view's order are the same contrast
    positional = pc.contrast(view, np.asarray(weights, dtype=float))
    assert positional["se"].iloc[0] == pytest.approx(theirs["se"].iloc[0], rel=SAME_RTOL,
                                                     abs=SAME_ATOL)


# ------------------------------------------------------------------- refusals --
def test_a_hand_built_table_has_no_covariance():
    table = _estimated("strat/api00_by_stype")
    by_hand = pd.DataFrame(table.to_dict("list"))  # same values, no attrs
    for reader in (pc.vcov, lambda t: pc.contrast(t, {"H": 1, "M": -1})):
        with pytest.raises(EstimationError, match="carries no covariance.*built by hand"):
            reader(by_hand)
    with_matrix = by_hand.copy()
    with_matrix.attrs["vcov"] = np.asarray(table.attrs["vcov"])  # a bare matrix
    with pytest.raises(EstimationError, match="holds a ndarray, not the covariance keyed"):
        pc.vcov(with_matrix)


def test_two_estimates_concatenated_have_no_covariance():
    a = pc.mean(design("clus1"), "api00", by="stype")
    b = pc.mean(design("clus1"), "api99", by="stype")
    both = pd.concat([a, b], ignore_index=True)  # pandas keeps attrs only when equal
    assert "vcov" not in both.attrs
    with pytest.raises(EstimationError, match="pd.concat of tables from different estimates"):
        pc.contrast(both, {"E:api00": 1, "E:api99": -1})


def test_rows_of_another_estimate_are_refused():
    a = pc.mean(design("clus1"), "api00", by="stype")
    b = pc.mean(design("clus1"), "api99", by="stype")
    moved = b.copy()
    moved.attrs = a.attrs  # rows of api99 under the covariance of api00
    with pytest.raises(EstimationError, match=r"rows 0 \(stype='E', variable='api99'\).*"
                                              "not estimates of the covariance"):
        pc.vcov(moved)
    relabelled = a.assign(variable="api99")
    relabelled.attrs = a.attrs
    relabelled["variable"] = "api00"
    relabelled.loc[1, "estimate"] = b.loc[1, "estimate"]  # one row's estimate replaced
    with pytest.raises(EstimationError, match=r"rows 1 \(stype='H', variable='api00'\)"):
        pc.contrast(relabelled, {"E": 1, "H": -1})


def test_a_rescaled_estimate_column_is_refused():
    table = _estimated("strat/api00_by_stype")
    percent = table.assign(estimate=table["estimate"] * 100)
    with pytest.raises(EstimationError, match=r"'estimate' column no longer holds the "
                                              r"estimates.*rescaled or edited.*rescale"):
        pc.contrast(percent, {"H": 1, "M": -1})
    with pytest.raises(EstimationError, match="no longer holds"):
        pc.vcov(percent.sort_values("estimate"))


def test_a_row_twice_is_refused():
    table = _estimated("strat/api00_by_stype")
    twice = pd.concat([table, table.iloc[[1]]])  # equal attrs: pandas keeps them
    with pytest.raises(EstimationError, match=r"same estimate more than once \(stype='H', "
                                              r"variable='api00' in rows 1, 1;"):
        pc.vcov(twice)


def test_a_dropped_identity_column_is_named():
    table = _estimated("clus1/api00_by_stype_awards")
    with pytest.raises(EstimationError, match=r"column\(s\) 'awards' are gone"):
        pc.vcov(table.drop(columns="awards"))
    renamed = table.rename(columns={"stype": "school_type"})
    with pytest.raises(EstimationError, match=r"'stype' are gone \(renamed or dropped\)"):
        pc.contrast(renamed, [1, -1, 0, 0, 0, 0])


def test_change_reads_the_keyed_covariance_of_its_per_wave_table():
    change = pc.change(panel_design(3), "trust", over="wave", by="treated")
    per_wave = change.attrs["estimates"]
    shuffled = per_wave.sample(frac=1.0, random_state=3)
    v = pc.vcov(shuffled)
    for _, row in change.iterrows():
        start = (row["treated"], row["from"], "trust")
        end = (row["treated"], row["to"], "trust")
        variance = v.loc[start, start] + v.loc[end, end] - 2 * v.loc[start, end]
        assert row["se"] == pytest.approx(np.sqrt(variance), rel=SAME_RTOL)


def test_glm_contrasts_follow_the_term_names():
    fit = pc.glm(design("clus1"), "api00 ~ ell + meals")
    assert pc.vcov(fit).equals(fit.vcov)
    result = pc.contrast(fit, {"ell": 1, "meals": -1})
    v = fit.vcov
    expected = np.sqrt(v.loc["ell", "ell"] + v.loc["meals", "meals"]
                       - 2 * v.loc["ell", "meals"])
    assert result["se"].iloc[0] == pytest.approx(expected, rel=SAME_RTOL)
