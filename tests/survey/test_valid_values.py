"""A labelled design's estimates: missing codes and skipped questions left out of every
estimator, nominal columns refused, tables labelled (survey/valid_values.py)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import EstimationError


@pytest.fixture(scope="module")
def demo():
    return pc.demo_survey(seed=1)


@pytest.fixture(scope="module")
def design(demo):
    return demo.design()


def _valid_mean(data, weights, column, rows):
    values = data[column].to_numpy(dtype=float, na_value=np.nan)
    ok = rows & np.isin(values, [0, 1, 2, 3])
    return np.sum(weights[ok] * values[ok]) / np.sum(weights[ok]), int(ok.sum())


def test_mean_is_the_mean_of_valid_codes(design):
    table = pc.mean(design, "trust_police", by="wave")
    data, w = design.data, design.weight_array
    for _, row in table.iterrows():
        rows = (data["wave"] == row["wave"]).to_numpy()
        expected, n = _valid_mean(data, w, "trust_police", rows)
        assert row["estimate"] == pytest.approx(expected, rel=1e-12)
        assert row["n"] == n
        coded = int((rows & data["trust_police"].isin([8, 9]).to_numpy()).sum())
        assert row["n_excluded"] == coded
        refused = int((rows & (data["trust_police"] == 8).to_numpy()).sum())
        assert f"8 Refus: {refused}" in row["excluded"]


def test_na_rm_false_does_not_bring_the_codes_back(design):
    both = [pc.mean(design, "trust_police", na_rm=flag)["estimate"].iloc[0]
            for flag in (False, True)]
    assert both[0] == both[1]
    assert both[0] < 2  # 8 and 9 averaged in would lift the mean above 1.8


def test_keep_analyses_the_codes(design):
    kept = pc.proportion(design, "trust_police", missing_codes="keep")
    assert {8, 9} <= set(kept["category"])
    assert kept["n_excluded"].eq(0).all()
    on_design = pc.proportion(design.with_labels(design.questionnaire,
                                                 missing_codes="keep"), "trust_police")
    np.testing.assert_allclose(on_design["estimate"], kept["estimate"])
    excluded = pc.proportion(design, "trust_police")
    assert not {8, 9} & set(excluded["category"])
    assert excluded["estimate"].sum() == pytest.approx(1.0)


def test_skipped_questions_are_not_asked(design, demo):
    lang_en = design.with_labels(demo.questionnaire, lang="en")
    table = pc.proportion(lang_en, "vict_reported")
    blank = int(design.data["vict_reported"].isna().sum())
    assert "not asked: " in table["excluded"].iloc[0]
    assert table["n_excluded"].iloc[0] >= blank
    fr = pc.proportion(design, "vict_reported")
    assert "non posée" in fr["excluded"].iloc[0]


@pytest.mark.parametrize("function", [pc.mean, pc.total])
def test_nominal_columns_are_refused(design, function):
    with pytest.raises(EstimationError, match=r"'commune' is a text variable.*pc.proportion"):
        function(design, "commune")
    with pytest.raises(EstimationError, match="'cercle' is a categorical variable"):
        function(design, "cercle")
    with pytest.raises(EstimationError, match="identifier"):
        function(design, "resp_id")


def test_quantile_and_model_outcome_refuse_nominal(design):
    with pytest.raises(EstimationError, match="categorical"):
        pc.quantile(design, "cercle", 0.5)
    with pytest.raises(EstimationError, match="categorical"):
        pc.glm(design, "cercle ~ treated")


def test_labels_in_the_design_language(design, demo):
    en = design.with_labels(demo.questionnaire, lang="en")
    table = pc.proportion(en, "trust_police", by="cercle")
    assert list(table.columns[-5:]) == ["n_excluded", "excluded", "variable_label",
                                        "category_label", "cercle_label"]
    first = table.iloc[0]
    assert first["cercle_label"] == "Mopti"
    assert first["variable_label"] == demo.questionnaire.label("trust_police", "en")
    assert first["category_label"] == demo.questionnaire.labels("trust_police", "en")[0]
    # the columns of api.md section 3 come first, in their order, then the answer count,
    # then what the labelled design adds
    assert list(table.columns[:12]) == ["cercle", "variable", "category", "estimate", "se",
                                        "ci_low", "ci_high", "df", "deff", "n", "n_category",
                                        "n_excluded"]


def test_unlabelled_design_tables_unchanged(design):
    plain = design.with_labels(None)
    table = pc.mean(plain, "age")
    assert "n_excluded" not in table.columns
    assert pc.mean(plain, "trust_police")["estimate"].iloc[0] > 1.8  # codes averaged


def test_models_and_changes_leave_codes_out(design):
    data, w = design.data, design.weight_array
    fit = pc.glm(design, "trust_police ~ 1")
    expected, n = _valid_mean(data, w, "trust_police", np.ones(len(data), bool))
    assert fit.coefficients["estimate"].iloc[0] == pytest.approx(expected, rel=1e-10)
    assert fit.n == n
    assert fit.coefficients.attrs["n_excluded"] == len(data) - n
    change = pc.change(design, "trust_police", over="wave")
    by_wave = pc.mean(design, "trust_police", by="wave")
    assert change["estimate"].iloc[0] == pytest.approx(
        by_wave["estimate"].iloc[1] - by_wave["estimate"].iloc[0])
    assert change["n_excluded"].iloc[0] == by_wave["n_excluded"].sum()


def test_index_reads_valid_items(design):
    items = ["trust_police", "trust_gend"]
    table = pc.index(design, items)
    plain = pc.index(design.with_labels(None), items, missing=(8, 9))
    assert table["estimate"].iloc[0] == pytest.approx(plain["estimate"].iloc[0])


def test_caller_frame_untouched(design):
    before = design.data["trust_police"].copy()
    pc.mean(design, "trust_police")
    pd.testing.assert_series_equal(design.data["trust_police"], before)


def test_excluded_and_used_rows_add_up(design):
    """Every row of a domain is used, left out by the questionnaire, or missing."""
    table = pc.proportion(design, "vict_reported", by="wave", na_rm=True)
    first = table.drop_duplicates("wave")
    for _, row in first.iterrows():
        rows = int((design.data["wave"] == row["wave"]).sum())
        assert row["n"] + row["n_excluded"] <= rows
        counts = [int(part.rsplit(": ", 1)[1]) for part in row["excluded"].split("; ")]
        assert sum(counts) == row["n_excluded"]


@settings(max_examples=25, deadline=None)
@given(codes=st.lists(st.sampled_from([0, 1, 2, 3, 8, 9]), min_size=12, max_size=40),
       weights=st.lists(st.floats(0.5, 5.0), min_size=40, max_size=40))
def test_labelled_mean_is_the_mean_of_valid_codes(demo, codes, weights):
    """Whatever the answers, the labelled mean is the weighted mean of the codes 0-3,
    and n_excluded counts the 8s and 9s."""
    if not any(c <= 3 for c in codes):
        codes = [*codes, 1]
    n = len(codes)
    frame = pd.DataFrame({"trust_police": pd.array(codes, dtype="Int64"),
                          "w": weights[:n]})
    d = pc.SurveyDesign(frame, weights="w", questionnaire=demo.questionnaire)
    table = pc.mean(d, "trust_police")
    values, w = np.array(codes, dtype=float), np.array(weights[:n])
    ok = values <= 3
    assert table["estimate"].iloc[0] == pytest.approx(np.average(values[ok], weights=w[ok]))
    assert table["n_excluded"].iloc[0] == int((~ok).sum())
    assert table["n"].iloc[0] == int(ok.sum())
