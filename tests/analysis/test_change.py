"""pc.change and pc.attrition: changes between waves against R's svyby + svycontrast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _change_cases import (
    close,
    panel_data,
    panel_design,
    ref,
    ref2,
    respondent_design,
    respondent_panel,
)
from scipy import stats

import perception as pc
from perception.analysis.changes import CHANGE_COLUMNS, RELATIVE_COLUMNS

# paired-difference identity: floating-point agreement only
IDENTITY_RTOL = 1e-10


def _row(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= (table[column] == value).to_numpy()
    assert mask.sum() == 1, f"expected one row for {where}, found {mask.sum()}"
    return table[mask].iloc[0]


def _check(row: pd.Series, case: str, reader=ref) -> None:
    assert close(row["estimate"], reader(case, "est")), (case, row["estimate"])
    assert close(row["se"], reader(case, "se")), (case, row["se"])
    assert close(row["p"], reader(case, "p")), (case, row["p"])


# ------------------------------------------------------------------ R reference --
@pytest.mark.parametrize("y", ["trust", "score"])
def test_two_waves_revisited_villages_equal_r(y):
    table = pc.change(panel_design(2), y, over="wave")
    assert list(table.columns) == CHANGE_COLUMNS
    row = _row(table, variable=y)
    assert (row["from"], row["to"]) == (1, 2)
    _check(row, f"panel/{y}/change_2_minus_1")
    assert row["df"] == ref("panel", "degf")
    # the per-wave covariance (villages revisited) is R's svyby(covmat = TRUE)
    V = pc.vcov(table.attrs["estimates"])
    assert close(V.loc[(1, y), (2, y)], ref(f"panel/{y}/by_wave", "vcov:1:2"))
    assert V.loc[(1, y), (2, y)] > 0


@pytest.mark.parametrize("y", ["trust", "score"])
def test_three_waves_first_and_consecutive_equal_r(y):
    design = panel_design(3)
    first = pc.change(design, y, over="wave", reference="first")
    assert [(r["from"], r["to"]) for _, r in first.iterrows()] == [(0, 1), (0, 2)]
    _check(_row(first, to=1), f"panel3/{y}/change_1_minus_0")
    _check(_row(first, to=2), f"panel3/{y}/change_2_minus_0")
    consecutive = pc.change(design, y, over="wave", reference="consecutive")
    assert [(r["from"], r["to"]) for _, r in consecutive.iterrows()] == [(0, 1), (1, 2)]
    _check(_row(consecutive, to=2), f"panel3/{y}/change_2_minus_1")


@pytest.mark.parametrize("y", ["trust", "score"])
def test_by_treated_equal_r(y):
    table = pc.change(panel_design(2), y, over="wave", by="treated")
    assert list(table.columns) == ["treated", *CHANGE_COLUMNS]
    for arm in (0, 1):
        _check(_row(table, treated=arm), f"panel/{y}/change_2_minus_1_treated{arm}")
    # covariance between the arms' changes: the DiD of the cells is their contrast
    did = np.array([-1.0, 1.0]) @ table["estimate"].to_numpy()
    var = np.array([-1.0, 1.0]) @ pc.vcov(table).to_numpy() @ np.array([-1.0, 1.0])
    assert close(did, ref(f"panel/{y}/did_cells", "est"))
    assert close(np.sqrt(var), ref(f"panel/{y}/did_cells", "se"))


@pytest.mark.parametrize("y", ["trust", "score"])
def test_relative_change_delta_method_equals_r(y):
    table = pc.change(panel_design(2), y, over="wave", relative=True)
    assert list(table.columns) == [*CHANGE_COLUMNS, *RELATIVE_COLUMNS]
    row = table.iloc[0]
    assert close(row["relative"], ref2(f"relative/{y}", "est"))
    assert close(row["relative_se"], ref2(f"relative/{y}", "se"))
    crit = stats.t.ppf(0.975, row["df"])
    assert close(row["relative_ci_high"], row["relative"] + crit * row["relative_se"])
    by = pc.change(panel_design(2), y, over="wave", by="treated", relative=True)
    treated = _row(by, treated=1)
    assert close(treated["relative"], ref2(f"relative/{y}/treated1", "est"))
    assert close(treated["relative_se"], ref2(f"relative/{y}/treated1", "se"))


def test_two_by_columns_consecutive_equal_r():
    table = pc.change(panel_design(3), "score", over="wave", by=["treated", "region"],
                      reference="consecutive")
    assert list(table.columns[:2]) == ["treated", "region"]
    assert len(table) == 4 * 2
    for arm, region in ((0, "A"), (1, "B")):
        for k in (1, 2):
            row = _row(table, treated=arm, region=region, to=k)
            _check(row, f"byby/score/{arm}.{region}/{k}_minus_{k - 1}", ref2)


def test_missing_values_with_na_rm_equal_r():
    design = panel_design(3)
    with pytest.raises(pc.EstimationError, match="trust_na.*5 missing"):
        pc.change(design, "trust_na", over="wave")
    table = pc.change(design, "trust_na", over="wave", na_rm=True)
    _check(_row(table, to=2), "missing/trust_na/change_2_minus_0", ref2)


def test_counts_are_the_rows_with_a_value_at_each_wave():
    """n_from/n_to: rows of the earlier/later wave with a value (counted by hand here,
    the 5 missing values left out); n their sum."""
    data = panel_data(3)
    table = pc.change(panel_design(3), "trust_na", over="wave", na_rm=True)
    per_wave = data.loc[data["trust_na"].notna(), "wave"].value_counts()
    assert per_wave.sum() == len(data) - 5
    for _, row in table.iterrows():
        assert row["n_from"] == per_wave[row["from"]]
        assert row["n_to"] == per_wave[row["to"]]
        assert row["n"] == per_wave[row["from"]] + per_wave[row["to"]]


@pytest.mark.parametrize("y", ["trust", "score"])
def test_replicate_design_equals_r(y):
    rep = panel_design(2).replicate("jkn")
    table = pc.change(rep, y, over="wave")
    assert table["df"].iloc[0] == ref2("jkn", "degf")
    _check(table.iloc[0], f"jkn/{y}/change_2_minus_1", ref2)


@pytest.mark.parametrize("y", ["y", "score"])
def test_reinterviewed_respondents_equal_r(y):
    table = pc.change(respondent_design(), y, over="wave")
    assert table["df"].iloc[0] == ref2("panel_resp", "degf")
    _check(table.iloc[0], f"panel_resp/{y}/change", ref2)


# ------------------------------------------------------------------- properties --
def test_respondent_as_cluster_gives_the_paired_t_test():
    """Balanced panel, equal weights, PSU = respondent: the SE is the paired-t SE."""
    rng = np.random.default_rng(7)
    n = 40
    person = rng.normal(size=n)
    y1 = person + rng.normal(size=n)
    y2 = person + 0.3 + rng.normal(size=n)
    data = pd.DataFrame({"id": np.tile(np.arange(n), 2), "wave": np.repeat([1, 2], n),
                         "y": np.concatenate([y1, y2])})
    table = pc.change(pc.SurveyDesign(data, psu="id"), "y", over="wave")
    d = y2 - y1
    assert np.isclose(table["estimate"].iloc[0], d.mean(), rtol=IDENTITY_RTOL)
    assert np.isclose(table["se"].iloc[0], d.std(ddof=1) / np.sqrt(n), rtol=IDENTITY_RTOL)
    assert np.isclose(table["p"].iloc[0], stats.ttest_rel(y2, y1).pvalue, rtol=1e-8)
    # ignoring the pairing (every row its own PSU) gives the wrong, larger SE here
    unpaired = pc.change(pc.SurveyDesign(data), "y", over="wave")
    assert unpaired["se"].iloc[0] > 1.2 * table["se"].iloc[0]


def test_independent_cross_sections_have_zero_covariance():
    data = panel_data(2)
    # new villages each wave, drawn in each wave's own strata
    data["psu"] = data["psu"] + "-w" + data["wave"].astype(str)
    data["stratum"] = data["stratum"] + "-w" + data["wave"].astype(str)
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    table = pc.change(design, "trust", over="wave")
    per_wave = pc.mean(design, "trust", by="wave")
    V = pc.vcov(table.attrs["estimates"]).to_numpy()
    assert V[0, 1] == 0.0
    assert np.isclose(table["se"].iloc[0] ** 2, (per_wave["se"] ** 2).sum(), rtol=1e-12)


def test_several_variables_and_ordered_categorical_waves():
    data = panel_data(3)
    names = {0: "pre", 1: "baseline", 2: "endline"}
    data["round"] = pd.Categorical(data["wave"].map(names),
                                   categories=["pre", "baseline", "endline"], ordered=True)
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    table = pc.change(design, ["trust", "score"], over="round", reference="consecutive")
    assert table[["variable", "from", "to"]].values.tolist() == [
        ["trust", "pre", "baseline"], ["trust", "baseline", "endline"],
        ["score", "pre", "baseline"], ["score", "baseline", "endline"]]
    _check(_row(table, variable="score", to="endline"), "panel3/score/change_2_minus_1")


def test_inputs_not_mutated_and_row_order_irrelevant():
    data = panel_data(2)
    before = data.copy()
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    table = pc.change(design, "trust", over="wave", by="treated", relative=True)
    pd.testing.assert_frame_equal(data, before)
    shuffled = data.sample(frac=1.0, random_state=3)
    design2 = pc.SurveyDesign(shuffled, weights="w", strata="stratum", psu="psu", nest=True)
    table2 = pc.change(design2, "trust", over="wave", by="treated", relative=True)
    pd.testing.assert_frame_equal(table, table2, check_exact=False, rtol=1e-12)


def test_weight_scale_invariance():
    data = panel_data(2)
    data["w10"] = data["w"] * 10
    a = pc.change(pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu"), "score")
    b = pc.change(pc.SurveyDesign(data, weights="w10", strata="stratum", psu="psu"), "score")
    assert np.allclose(a[["estimate", "se", "p"]], b[["estimate", "se", "p"]], rtol=1e-12)


# ------------------------------------------------------------------------ errors --
def test_single_wave_is_an_error():
    design = panel_design(2)
    one = design.subset(design.data["wave"] == 1)
    with pytest.raises(pc.EstimationError, match="'wave'.*single value"):
        pc.change(one, "trust", over="wave")


def test_subgroup_seen_at_one_wave_is_an_error():
    data = panel_data(2)
    data.loc[(data["wave"] == 1) & (data["region"] == "B"), "region"] = "A"
    data.loc[(data["wave"] == 2) & (data["stratum"] == "S4"), "region"] = "C"
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    with pytest.raises(pc.EstimationError, match="region='B'.*one wave only \\(wave=2\\)"):
        pc.change(design, "trust", over="wave", by="region")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"reference": "last"}, "reference='last'"),
        ({"over": "round"}, "unknown column 'round'"),
        ({"by": "wave"}, "both over= and in by="),
        ({"level": 95}, "level"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(pc.EstimationError, match=pattern):
        pc.change(panel_design(2), "trust", **kwargs)


def test_text_outcome_is_an_error():
    with pytest.raises(pc.EstimationError, match="'psu' is not numeric"):
        pc.change(panel_design(2), "psu")


# --------------------------------------------------------------------- attrition --
def test_attrition_counts():
    data = respondent_panel()
    table = pc.attrition(data, respondent="resp_id", over="wave", psu="psu")
    assert list(table.columns) == ["from", "to", "n_from", "n_to", "n_reinterviewed",
                                   "retention", "n_new"]
    ids1 = set(data.loc[data["wave"] == 1, "resp_id"])
    ids2 = set(data.loc[data["wave"] == 2, "resp_id"])
    row = table.iloc[0]
    assert (row["from"], row["to"]) == (1, 2)
    assert row["n_from"] == len(ids1) == 144
    assert row["n_reinterviewed"] == len(ids1 & ids2)
    assert row["n_new"] == len(ids2 - ids1)
    assert np.isclose(row["retention"], len(ids1 & ids2) / len(ids1))
    # a design works too (its data in the domain)
    assert pc.attrition(respondent_design()).equals(pc.attrition(data))


def test_attrition_three_waves_consecutive_pairs():
    data = pd.DataFrame({"resp_id": list("abcd") + list("abe") + list("ae"),
                         "wave": [0] * 4 + [1] * 3 + [2] * 2})
    table = pc.attrition(data)
    assert table[["from", "to", "n_reinterviewed", "n_new"]].values.tolist() == [
        [0, 1, 2, 1], [1, 2, 2, 0]]


def test_attrition_errors():
    data = respondent_panel()
    dup = pd.concat([data, data.iloc[[0]]], ignore_index=True)
    with pytest.raises(pc.EstimationError, match="repeat within a wave"):
        pc.attrition(dup)
    moved = data.copy()
    first = moved.index[(moved["wave"] == 2) & (moved["resp_id"] == moved["resp_id"].iloc[0])]
    moved.loc[first, "psu"] = "H3V8"
    with pytest.raises(pc.EstimationError, match="several PSUs.*H1V1-p01"):
        pc.attrition(moved, psu="psu")
    with pytest.raises(pc.EstimationError, match="unknown column 'person'"):
        pc.attrition(data, respondent="person")
    with pytest.raises(pc.EstimationError, match="single value"):
        pc.attrition(data[data["wave"] == 1])


def test_pc_change_stays_the_function_whatever_the_import_order():
    """Importing the module of pc.change must not hide the function pc.change."""
    import subprocess
    import sys

    code = ("import perception.analysis.changes\nimport perception as pc\npc.did\n"
            "from perception.analysis.changes import CHANGE_COLUMNS\n"
            "print(pc.change.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "change"


def test_attrition_id_is_the_old_name_of_respondent():
    data = respondent_panel()
    with pytest.warns(DeprecationWarning, match="id= is renamed respondent="):
        old = pc.attrition(data, id="resp_id")
    pd.testing.assert_frame_equal(old, pc.attrition(data, respondent="resp_id"))
    with pytest.raises(pc.EstimationError, match="given as respondent"):
        pc.attrition(data, respondent="person")
