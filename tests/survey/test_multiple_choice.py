"""Select-multiple questions of a labelled design: one row per option, the share of the
respondents asked who chose it, equal to a hand count and to R's svymean on the 0/1
indicators (tests/reference/make_multiple.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.errors import EstimationError, QuestionnaireError
from perception.questionnaire import Questionnaire

REF = Path(__file__).resolve().parents[1] / "reference"
OPTIONS = [1, 2, 3, 4, 0]

QUESTIONNAIRE = {
    "id": "mc", "languages": ["en", "fr"],
    "variables": [
        {"name": "aware", "type": "categorical", "label": {"en": "Aware", "fr": "Au courant"},
         "codes": {0: {"en": "No", "fr": "Non"}, 1: {"en": "Yes", "fr": "Oui"}},
         "missing": {9: {"en": "Don't know", "fr": "Ne sait pas"}}},
        {"name": "ca", "type": "select_multiple", "relevant": "${aware} = 1",
         "label": {"en": "Which actions?", "fr": "Quelles actions ?"},
         "codes": {1: {"en": "Water", "fr": "Eau"}, 2: {"en": "School", "fr": "École"},
                   3: {"en": "Health", "fr": "Santé"}, 4: {"en": "Market", "fr": "Marché"},
                   0: {"en": "None", "fr": "Aucune"}},
         "missing": {98: {"en": "Refused", "fr": "Refus"},
                     99: {"en": "Don't know", "fr": "Ne sait pas"}}},
    ],
}


@pytest.fixture(scope="module")
def q():
    return Questionnaire.from_dict(QUESTIONNAIRE)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "multiple_data.csv", dtype={"ca": str})


@pytest.fixture(scope="module")
def ref():
    table = pd.read_csv(REF / "multiple_reference.csv")
    return {(c, k): v for c, k, v in table.itertuples(index=False)}


def design(data, q, **kwargs):
    return pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", questionnaire=q,
                           **kwargs)


def option_frame(data: pd.DataFrame, sep: str = "/") -> pd.DataFrame:
    """The Kobo form: one 0/1 column per option (blank where the question is blank)."""
    out = data.drop(columns="ca")
    tokens = data["ca"].map(lambda t: t.split(), na_action="ignore")
    for code in [*OPTIONS, 98, 99]:
        chosen = tokens.map(lambda row, c=str(code): float(c in row), na_action="ignore")
        out[f"ca{sep}{code}"] = chosen.astype(float)
    return out


def hand_count(data: pd.DataFrame) -> dict[int, float]:
    answered = ((data["aware"] == 1) & data["ca"].notna()
                & ~data["ca"].isin(["98", "99"])).to_numpy()
    w = data["w"].to_numpy()[answered]
    tokens = [t.split() for t in data["ca"][answered]]
    return {k: float(np.sum(w * np.array([str(k) in t for t in tokens])) / w.sum())
            for k in OPTIONS}


def test_one_row_per_option_equal_to_a_hand_count(data, q):
    t = pc.proportion(design(data, q), "ca", na_rm=True)
    assert t["category"].tolist() == OPTIONS  # the "none" option is a row like the others
    assert (t["variable"] == "ca").all()
    expected = hand_count(data)
    np.testing.assert_allclose(t["estimate"], [expected[k] for k in OPTIONS], rtol=1e-12)
    assert list(t.columns)[-4:] == ["n_excluded", "excluded", "variable_label", "category_label"]
    answered = int(((data["aware"] == 1) & data["ca"].notna()
                    & ~data["ca"].isin(["98", "99"])).sum())
    assert (t["n"] == answered).all()
    assert (t["n_excluded"] == len(data) - answered).all()


def test_excluded_says_why_in_the_design_language(data, q):
    counts = {"98": int((data["ca"] == "98").sum()), "99": int((data["ca"] == "99").sum()),
              "blank": int(((data["aware"] == 1) & data["ca"].isna()).sum()),
              "not asked": int((data["aware"] != 1).sum())}
    en = pc.proportion(design(data, q, lang="en"), "ca", na_rm=True)["excluded"].iloc[0]
    assert en == (f"98 Refused: {counts['98']}; 99 Don't know: {counts['99']}; "
                  f"no answer: {counts['blank']}; not asked: {counts['not asked']}")
    fr = pc.proportion(design(data, q, lang="fr"), "ca", na_rm=True)["excluded"].iloc[0]
    assert fr.endswith(f"non posée: {counts['not asked']}") and "98 Refus:" in fr


def test_equal_to_r_svymean_on_the_indicators(data, q, ref):
    t = pc.proportion(design(data, q), "ca", na_rm=True)
    for row in t.itertuples():
        k = row.category
        assert row.estimate == pytest.approx(ref["overall", f"{k}:est"], rel=1e-10)
        assert row.se == pytest.approx(ref["overall", f"{k}:se"], rel=1e-8)
        assert row.deff == pytest.approx(ref["overall", f"{k}:deff"], rel=1e-8)
    v = pc.vcov(t).to_numpy()
    assert v[0, 1] == pytest.approx(ref["overall", "cov_1_2"], rel=1e-8)
    assert v[2, 4] == pytest.approx(ref["overall", "cov_3_0"], rel=1e-8)


@pytest.mark.parametrize("method", ["logit", "beta"])
def test_intervals_equal_r_svyciprop(data, q, ref, method):
    t = pc.proportion(design(data, q), "ca", na_rm=True, method=method).set_index("category")
    for k in (1, 0):
        assert t.loc[k, "ci_low"] == pytest.approx(ref[f"ciprop_{method}", f"{k}:low"],
                                                   rel=1e-7)
        assert t.loc[k, "ci_high"] == pytest.approx(ref[f"ciprop_{method}", f"{k}:high"],
                                                    rel=1e-7)


def test_domains_equal_r_svyby(data, q, ref):
    t = pc.proportion(design(data, q), "ca", by="g", na_rm=True)
    assert len(t) == 2 * len(OPTIONS)
    for row in t.itertuples():
        assert row.estimate == pytest.approx(ref["by_g", f"{row.g}:{row.category}:est"],
                                             rel=1e-10)
        assert row.se == pytest.approx(ref["by_g", f"{row.g}:{row.category}:se"], rel=1e-8)
    for g, rows in t.groupby("g"):
        in_g = data[data["g"] == g]
        assert (rows["n_excluded"] + rows["n"] == len(in_g)).all()
        np.testing.assert_allclose(rows["estimate"], list(hand_count(in_g).values()),
                                   rtol=1e-12)


@pytest.mark.parametrize("sep", ["/", "."])
def test_option_columns_give_the_same_table(data, q, sep):
    spaced = pc.proportion(design(data, q), "ca", by="g", na_rm=True)
    kobo = pc.proportion(design(option_frame(data, sep), q), "ca", by="g", na_rm=True)
    pd.testing.assert_frame_equal(spaced, kobo)
    np.testing.assert_allclose(pc.vcov(spaced), pc.vcov(kobo))


def test_nullable_and_numeric_columns_read_the_same(data, q):
    t = pc.proportion(design(data, q), "ca", na_rm=True)
    nullable = data.assign(ca=data["ca"].astype("string"))
    pd.testing.assert_frame_equal(t, pc.proportion(design(nullable, q), "ca", na_rm=True))
    single = data[~data["ca"].str.contains(" ", na=False)]  # one code each: read as numbers
    numeric = single.assign(ca=pd.to_numeric(single["ca"]))
    assert numeric["ca"].dtype == float
    pd.testing.assert_frame_equal(pc.proportion(design(single, q), "ca", na_rm=True),
                                  pc.proportion(design(numeric, q), "ca", na_rm=True))


def test_both_forms_must_agree(data, q):
    both = option_frame(data).assign(ca=data["ca"])
    same = pc.proportion(design(both, q), "ca", na_rm=True)
    pd.testing.assert_frame_equal(same, pc.proportion(design(data, q), "ca", na_rm=True))
    row = int(np.flatnonzero(data["ca"] == "1 2")[0])
    both.loc[row, "ca/2"] = 0.0
    with pytest.raises(QuestionnaireError, match=f"disagree on rows {row}"):
        pc.proportion(design(both, q), "ca", na_rm=True)


def test_blank_answers_need_na_rm(data, q):
    with pytest.raises(EstimationError, match="blank in .* where it was asked.*na_rm=True"):
        pc.proportion(design(data, q), "ca")
    asked_and_answered = data[~((data["aware"] == 1) & data["ca"].isna())]
    d = pc.SurveyDesign(asked_and_answered, weights="w", strata="stratum", psu="psu",
                        questionnaire=q)
    t = pc.proportion(d, "ca")  # not asked and missing codes: left out whatever na_rm
    assert "no answer" not in t["excluded"].iloc[0]


def test_missing_codes_keep_gives_them_rows(data, q):
    t = pc.proportion(design(data, q, missing_codes="keep"), "ca", na_rm=True)
    assert t["category"].tolist() == [*OPTIONS, 98, 99]
    kept = (data["aware"] == 1) & data["ca"].notna()
    w = data["w"][kept]
    share_98 = float(w[data["ca"][kept] == "98"].sum() / w.sum())
    assert t.set_index("category").loc[98, "estimate"] == pytest.approx(share_98, rel=1e-12)
    assert "98" not in t["excluded"].iloc[0]


def test_missing_codes_per_call_override_the_design(data, q):
    from perception.survey.multiple_choice import option_design

    keep = option_design(design(data, q), "ca", na_rm=True, missing_codes="keep")
    assert "ca/98" in keep.columns
    with pytest.raises(pc.DesignError, match="'exclude'"):
        option_design(design(data, q), "ca", missing_codes="drop")
    # pc.proportion's own missing_codes= reaches the options, either way
    per_call = pc.proportion(design(data, q), "ca", na_rm=True, missing_codes="keep")
    on_design = pc.proportion(design(data, q, missing_codes="keep"), "ca", na_rm=True)
    assert per_call["category"].tolist() == [*OPTIONS, 98, 99]
    np.testing.assert_allclose(per_call["estimate"], on_design["estimate"], rtol=1e-12)
    dropped = pc.proportion(design(data, q, missing_codes="keep"), "ca", na_rm=True,
                            missing_codes="exclude")
    assert dropped["category"].tolist() == OPTIONS


def test_answer_where_not_asked_is_an_error(data, q):
    bad = data.copy()
    row = int(np.flatnonzero(bad["aware"] == 0)[0])
    bad.loc[row, "ca"] = "1"
    with pytest.raises(QuestionnaireError, match=f"rows {row} although the question was not"):
        pc.proportion(design(bad, q), "ca", na_rm=True)


def test_unknown_code_is_an_error(data, q):
    bad = data.copy()
    row = int(np.flatnonzero(bad["ca"] == "1 2")[0])
    bad.loc[row, "ca"] = "1 7"
    with pytest.raises(QuestionnaireError, match="'7'"):
        pc.proportion(design(bad, q), "ca", na_rm=True)


def test_unlabelled_design_is_unchanged(data):
    d = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    t = pc.proportion(d, "ca", na_rm=True)
    assert "1 2" in set(t["category"]) and "n_excluded" not in t.columns


def test_change_has_a_category_and_equals_r(data, q, ref):
    c = pc.change(design(data, q), "ca", over="wave", na_rm=True)
    assert list(c.columns[:4]) == ["variable", "category", "from", "to"]
    for row in c.itertuples():
        assert row.estimate == pytest.approx(ref["change", f"{row.category}:est"], rel=1e-9)
        assert row.se == pytest.approx(ref["change", f"{row.category}:se"], rel=1e-8)
    assert pc.vcov(c).shape == (len(OPTIONS), len(OPTIONS))


def test_did_has_a_category_and_equals_r(data, q, ref):
    res = pc.did(design(data, q), "ca", treated="treated", period="wave", na_rm=True)
    e = res.effects
    assert list(e.columns[:3]) == ["variable", "category", "period"]
    for row in e.itertuples():
        assert row.estimate == pytest.approx(ref["did", f"{row.category}:est"], rel=1e-9)
        assert row.se == pytest.approx(ref["did", f"{row.category}:se"], rel=1e-8)
    assert set(res.cells["category"]) == set(OPTIONS)


def test_demo_design_gives_the_option_shares():
    demo = pc.demo_survey(seed=1, n_per_wave=400)
    t = pc.proportion(demo.design(), "ca_type")
    v = demo.questionnaire.variable("ca_type")
    assert t["category"].tolist() == list(v.codes)
    data = demo.waves
    asked = data["ca_aware"] == 1
    tokens = data.loc[asked, "ca_type"].str.split()
    w = data.loc[asked, "w_final"]
    expected = [float((w * tokens.map(lambda row, c=str(c): c in row)).sum() / w.sum())
                for c in v.codes]
    np.testing.assert_allclose(t["estimate"], expected, rtol=1e-12)
