"""Answers given by few respondents (``min_count``): suppressed with the cells that would
let them be recomputed, on tables built by hand and on random tables (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perception as pc
from perception.disclosure.suppression import (
    DEFAULT_MIN_CELL,
    DEFAULT_MIN_COUNT,
    publishable,
)
from perception.outputs.readable import readable_table

VALUES = ["estimate", "se", "ci_low", "ci_high"]


def _answers(counts: dict[tuple, list[int]], by: list[str]) -> pd.DataFrame:
    """A proportion table: one group per key of ``counts`` (the ``by`` values), one row
    per answer with its respondents ``n_category``; shares are the counts' (unweighted)."""
    rows = []
    for key, cells in counts.items():
        n = sum(cells)
        for category, count in enumerate(cells):
            share = count / n if n else np.nan
            rows.append({**dict(zip(by, key, strict=True)), "variable": "trust",
                         "category": category, "estimate": share, "se": 0.01,
                         "ci_low": share - 0.02, "ci_high": share + 0.02, "n": n,
                         "n_category": count})
    return pd.DataFrame(rows)


def test_a_share_of_one_respondent_is_hidden_with_the_next_smallest():
    # the case: 0.0036 of n = 207 is about one respondent
    t = _answers({(): [120, 86, 1]}, [])
    out = publishable(t)
    assert out["suppressed"].tolist() == [False, True, True]
    assert out["suppression"].tolist() == ["", "complementary", f"count < {DEFAULT_MIN_COUNT}"]
    assert out.loc[out["suppressed"], [*VALUES, "n_category"]].isna().all().all()
    assert out["n"].tolist() == [207] * 3  # the group's size stays (it is >= 30)
    assert t["estimate"].notna().all()  # the input is untouched


def test_a_zero_is_published_and_never_chosen_while_another_cell_is_left():
    t = _answers({(): [150, 40, 5, 0]}, [])
    out = publishable(t)
    assert out["suppressed"].tolist() == [False, True, True, False]


def test_the_margin_protects_a_small_answer_in_another_domain():
    # region 1 has 4 respondents answering 2; the same answer in region 2 is hidden (the
    # margin over regions minus region 2 would tell it), then one more answer of region 2
    t = _answers({(1,): [60, 50, 4], (2,): [70, 45, 30]}, ["region"])
    out = publishable(t)
    hidden = out.loc[out["suppressed"], ["region", "category"]].values.tolist()
    assert hidden == [[1, 1], [1, 2], [2, 1], [2, 2]]


def test_min_count_none_keeps_the_group_rule_alone():
    t = _answers({(1,): [60, 50, 4], (2,): [10, 8, 2]}, ["region"])
    out = publishable(t, min_count=None)
    assert out["suppressed"].tolist() == [False] * 3 + [True] * 3


def test_a_top_box_share_protects_both_answers():
    # one answer of two kept: 97% of 207 leaves 6 respondents outside the box
    t = pd.DataFrame({"wave": [0, 1], "variable": "trust_police", "estimate": [0.971, 0.6],
                      "se": 0.02, "n": [207, 300], "n_category": [201, 180]})
    out = publishable(t)
    assert out["suppression"].tolist() == [f"count < {DEFAULT_MIN_COUNT}", "complementary"]


def test_the_options_of_a_select_multiple_question_are_shares_of_their_own(demo):
    t = pc.proportion(demo.design(), "ca_type", by="wave", na_rm=True)
    out = publishable(t)
    counts = np.minimum(t["n_category"], t["n"] - t["n_category"])
    small = ((counts > 0) & (counts < DEFAULT_MIN_COUNT)).to_numpy()
    assert out["suppressed"].to_numpy()[small].all()
    # the options do not sum to 1: no option is hidden for another of its wave alone
    assert not out["suppression"].eq("complementary").any() or small.any()
    for option, rows in out.groupby("category"):
        hidden = rows["suppressed"].to_numpy()
        assert hidden.sum() != 1 or not small[rows.index[hidden]].any(), option


def test_already_published_tables_stay_as_they_are():
    t = _answers({(): [120, 86, 1]}, [])
    once = publishable(t)
    assert publishable(once) is once
    assert pc.suppress_small_cells(once)["suppressed"].tolist() == once["suppressed"].tolist()


def test_margins_must_be_known():
    with pytest.raises(pc.DisclosureError, match="margins must be"):
        pc.protect_table(_answers({(): [50, 50]}, []), margins="all")


def test_the_proportion_counts_sum_to_n(demo):
    t = pc.proportion(demo.design(), "trust_police", by=["wave", "region"])
    sums = t.groupby(["wave", "region", "variable"])["n_category"].sum()
    sizes = t.groupby(["wave", "region", "variable"])["n"].first()
    assert (sums == sizes).all()
    data = demo.waves
    first = t.iloc[0]
    rows = data[(data["wave"] == first["wave"]) & (data["region"] == first["region"])]
    assert first["n_category"] == int((rows["trust_police"] == first["category"]).sum())


# --------------------------------------------------------------- random tables --
@st.composite
def answer_tables(draw):
    regions = draw(st.integers(1, 4))
    sexes = draw(st.integers(1, 2))
    categories = draw(st.integers(2, 5))
    count = st.one_of(st.integers(0, 12), st.integers(0, 200))
    counts = {(r, s): draw(st.lists(count, min_size=categories, max_size=categories))
              for r in range(regions) for s in range(sexes)}
    counts = {k: v if sum(v) else [1, *v[1:]] for k, v in counts.items()}
    min_cell = draw(st.integers(1, 60))
    min_count = draw(st.integers(1, 15))
    return _answers(counts, ["region", "sex"]), min_cell, min_count


def _lines(table: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    return [np.asarray(i) for i in table.groupby(columns, sort=False).indices.values()]


@given(answer_tables())
def test_no_small_answer_is_published_nor_recomputable(case):
    t, min_cell, min_count = case
    before = t.copy()
    out = publishable(t, min_cell, min_count)
    pd.testing.assert_frame_equal(t, before)
    hidden = out["suppressed"].to_numpy()
    counts = t["n_category"].to_numpy()
    secret = (counts > 0) & (counts < min_count)
    # every small answer and every small group is hidden; what is shown is big enough
    assert hidden[secret].all() and hidden[(t["n"] < min_cell).to_numpy()].all()
    shown = out.loc[~hidden]
    assert ((shown["n_category"] == 0) | (shown["n_category"] >= min_count)).all()
    # a hidden cell shows nothing but its group's size
    assert out.loc[hidden, [*VALUES, "n_category"]].isna().all().all()
    # the answers of a group sum to 1 (and their counts to n): none has a single hidden
    for idx in _lines(t, ["region", "sex", "variable"]):
        assert hidden[idx].sum() != 1
    # the same answer across the domains of a by column adds up to the margin: a line
    # with a hidden small answer (or a cell hidden for one) has a second hidden cell
    for columns in (["sex", "category"], ["region", "category"]):
        for idx in _lines(t, columns):
            if len(idx) > 1 and hidden[idx].sum() == 1:
                assert not secret[idx].any()
                assert not (out["suppression"].to_numpy()[idx] == "complementary").any()
    # published once: the same again
    assert publishable(out, min_cell, min_count) is out


@given(answer_tables())
def test_readable_tables_show_nothing_of_a_hidden_answer(case):
    t, min_cell, min_count = case
    rt = readable_table(t, min_cell=min_cell, min_count=min_count, lang="en")
    hidden = rt.data["suppressed"].to_numpy()
    assert (rt.text.loc[hidden, "estimate"] == "suppressed").all()
    assert rt.cells.loc[hidden, "estimate"].isna().all()
    assert (rt.data.loc[hidden, "reliability"] == "suppressed").all()
    assert rt.data.loc[hidden, "n_category"].isna().all()


def test_defaults():
    assert DEFAULT_MIN_COUNT == 10 and DEFAULT_MIN_CELL == 30


def test_a_labelled_single_choice_table_keeps_its_complements(demo):
    """The answers of a labelled design's single-choice question sum to 1 like any other
    (its n_excluded and label columns do not make it a select-multiple table): a group
    never has exactly one hidden answer, and the label columns are not keys."""
    d = demo.design()
    t = pc.proportion(d.subset(d.data["wave"] == 0), "trust_police", by="cercle", na_rm=True)
    assert {"n_excluded", "cercle_label", "category_label"} <= set(t.columns)
    out = publishable(t)
    assert out["suppressed"].any()
    for _, rows in out.groupby("cercle"):
        assert rows["suppressed"].sum() != 1
    # the margin across cercles: an answer hidden for its count never stands alone
    for _, rows in out.groupby("category"):
        assert rows["suppressed"].sum() != 1
