"""Scales and indices (perception/analysis/scales.py): R's survey values, hand computations,
invariances and errors.

Reference: tests/reference/indices_reference.csv, written by
``Rscript tests/reference/make_indices.R`` from tests/reference/indices_data.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.analysis import scales as indices
from perception.errors import EstimationError

HERE = Path(__file__).resolve().parents[1]
REFERENCE = HERE / "reference"

#: relative tolerance against R for closed-form estimates and linearised SEs
RTOL = 1e-9
#: svyciprop's logit interval goes through R's glm (IRLS): its convergence tolerance
RTOL_LOGIT_CI = 1e-6
#: shares of one item must add to one up to rounding
SUM_TOL = 1e-12
#: hand computations on a few numbers
HAND_TOL = 1e-12


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    frame = pd.read_csv(REFERENCE / "indices_data.csv")
    frame["c"] = frame["c"].astype("Int64")
    return frame


@pytest.fixture(scope="module")
def design(data):
    return pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")


@pytest.fixture(scope="module")
def ref() -> pd.Series:
    table = pd.read_csv(REFERENCE / "indices_reference.csv")
    return table.set_index(["case", "key"])["value"]


def _close(actual, expected, rtol):
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(expected, dtype=float), rtol=rtol, atol=0)


# --------------------------------------------------------------------------- likert --
def test_likert_separate_equals_r(design, ref):
    table = indices.likert(design, ["a", "b", "c"], missing=(8, 9))
    for item in ["a", "b", "c"]:
        rows = table[table["variable"] == item]
        case = f"likert_separate/{item}"
        expected = ref[case]
        codes = [int(k.split(":")[0]) for k in expected.index if k.endswith(":est")]
        assert sorted(rows["category"].tolist()) == sorted(codes)
        for _, row in rows.iterrows():
            k = int(row["category"])
            _close(row["estimate"], expected[f"{k}:est"], RTOL)
            _close(row["se"], expected[f"{k}:se"], RTOL)
    # item c has not-asked rows: they are category -1, a missing code
    c = table[table["variable"] == "c"].set_index("category")
    assert bool(c.loc[-1, "missing_code"]) and bool(c.loc[9, "missing_code"])
    assert not c.loc[0:3, "missing_code"].any()


def test_likert_separate_by_domain_equals_r(design, ref):
    table = indices.likert(design, "a", by="g", missing=(8, 9))
    expected = ref["likert_separate_by_g/a"]
    for _, row in table.iterrows():
        key = f"{row['g']}:{row['category']}"
        _close(row["estimate"], expected[f"{key}:est"], RTOL)
        _close(row["se"], expected[f"{key}:se"], RTOL)


def test_likert_exclude_equals_r(design, ref):
    table = indices.likert(design, ["a", "b", "c"], dont_know="exclude", missing=(8, 9))
    for item in ["a", "b", "c"]:
        rows = table[table["variable"] == item].set_index("category")
        expected = ref[f"likert_exclude/{item}"]
        assert rows.index.tolist() == [0, 1, 2, 3]
        assert not rows["missing_code"].any()
        for k in range(4):
            _close(rows.loc[k, "estimate"], expected[f"{k}:est"], RTOL)
            _close(rows.loc[k, "se"], expected[f"{k}:se"], RTOL)


@pytest.mark.parametrize("dont_know", ["separate", "exclude"])
def test_likert_shares_add_to_one(design, dont_know):
    table = indices.likert(design, ["a", "b", "c"], by="g", dont_know=dont_know,
                           missing=(8, 9))
    sums = table.groupby(["g", "variable"])["estimate"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=SUM_TOL)
    # n: everyone in the domain (separate), or the substantive answers only (exclude)
    n = table.groupby(["g", "variable"])["n"].first()
    counts = design.data.groupby("g").size()
    if dont_know == "separate":
        assert (n.xs("a", level="variable") == counts).all()
    else:
        valid = design.data.assign(ok=~design.data["a"].isin([8, 9])).groupby("g")["ok"].sum()
        assert (n.xs("a", level="variable") == valid).all()


def test_likert_with_questionnaire_shows_every_code(design):
    q = pc.Questionnaire.from_dict({"id": "t", "languages": ["en"], "variables": [
        {"name": n, "type": "ordinal", "label": n,
         "codes": {0: "no", 1: "little", 2: "some", 3: "a lot", 4: "unused"},
         "missing": {8: "refused", 9: "dk"}} for n in ["a", "b"]]})
    table = indices.likert(design, "a", q=q, dont_know="exclude")
    assert table["category"].tolist() == [0, 1, 2, 3, 4]
    assert table.set_index("category").loc[4, "estimate"] == 0.0


def test_likert_one_item_keeps_its_covariance(design):
    table = indices.likert(design, "a", missing=(8, 9))
    vcov = pc.vcov(table)
    assert vcov.shape == (len(table), len(table))
    assert vcov.index.tolist() == list(zip(table["variable"], table["category"], strict=True))
    np.testing.assert_allclose(np.sqrt(np.diag(vcov)), table["se"], rtol=RTOL)


# -------------------------------------------------------------------------- top box --
def test_top_box_equals_svyciprop(design, ref):
    table = indices.top_box(design, ["a", "b", "c"], top=(2, 3), missing=(8, 9))
    for _, row in table.iterrows():
        expected = ref[f"top_box/{row['variable']}"]
        _close(row["estimate"], expected["est"], RTOL)
        _close(row["se"], expected["se"], RTOL)
        _close([row["ci_low"], row["ci_high"]], [expected["lo"], expected["hi"]],
               RTOL_LOGIT_CI)


def test_top_box_by_domain_equals_svyby(design, ref):
    table = indices.top_box(design, "a", by="g", missing=(8, 9))
    expected = ref["top_box_by_g/a"]
    for _, row in table.iterrows():
        g = row["g"]
        _close(row["estimate"], expected[f"{g}:est"], RTOL)
        _close(row["se"], expected[f"{g}:se"], RTOL)
        _close([row["ci_low"], row["ci_high"]], [expected[f"{g}:lo"], expected[f"{g}:hi"]],
               RTOL_LOGIT_CI)


def test_top_box_separate_counts_dont_know_as_not_top(data, design):
    table = indices.top_box(design, "a", dont_know="separate", missing=(8, 9))
    w = data["w"].to_numpy()
    hand = w[data["a"].isin([2, 3]).to_numpy()].sum() / w.sum()
    assert abs(table["estimate"].iloc[0] - hand) < HAND_TOL
    assert table["n"].iloc[0] == len(data)


def test_top_box_scores_by_hand():
    frame = pd.DataFrame({"x": [0, 1, 2, 3, 8, 9, None]})
    scores = indices.top_box_scores(frame, "x", top=(2, 3), missing=(8, 9))
    assert scores.tolist()[:4] == [0.0, 0.0, 1.0, 1.0]
    assert scores.iloc[4:].isna().all()
    separate = indices.top_box_scores(frame, "x", top=(2, 3), dont_know="separate",
                                      missing=(8, 9))
    assert separate.tolist()[:6] == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]


# ---------------------------------------------------------------------------- index --
def test_index_equals_r(design, ref):
    table = indices.index(design, ["a", "b", "c"], min_items=2, scale=(0, 3), missing=(8, 9))
    _close(table["estimate"], ref["index", "est"], RTOL)
    _close(table["se"], ref["index", "se"], RTOL)
    assert table["n"].iloc[0] == ref["index", "n"]
    by = indices.index(design, ["a", "b", "c"], by="g", min_items=2, missing=(8, 9))
    for _, row in by.iterrows():
        _close(row["estimate"], ref["index_by_g", f"{row['g']}:est"], RTOL)
        _close(row["se"], ref["index_by_g", f"{row['g']}:se"], RTOL)


def test_index_equals_hand_computation():
    frame = pd.DataFrame({
        "x": [0, 3, 9, 2, 8], "y": [3, 3, 1, None, 8], "z": [1, 9, 2, 2, 8],
        "w": [1.0, 2.0, 1.0, 3.0, 1.0], "psu": [1, 2, 3, 4, 5],
    })
    # respondent scores: mean of valid items rescaled to 0-100, NaN with < 2 valid
    expected_scores = np.array([
        100 * (0 + 3 + 1) / 3 / 3,
        100 * (3 + 3) / 2 / 3,
        100 * (1 + 2) / 2 / 3,
        100 * (2 + 2) / 2 / 3,
        np.nan,
    ])
    scores = indices.index_scores(frame, ["x", "y", "z"], min_items=2, missing=(8, 9))
    np.testing.assert_allclose(scores.to_numpy(), expected_scores, rtol=0, atol=HAND_TOL)
    design = pc.SurveyDesign(frame, weights="w", psu="psu")
    table = indices.index(design, ["x", "y", "z"], min_items=2, missing=(8, 9))
    ok = ~np.isnan(expected_scores)
    hand = np.sum(frame["w"][ok] * expected_scores[ok]) / frame["w"][ok].sum()
    assert abs(table["estimate"].iloc[0] - hand) < HAND_TOL
    assert table["n"].iloc[0] == 4
    assert table["variable"].iloc[0] == "index"


def test_index_reverse_items():
    frame = pd.DataFrame({"x": [0, 3], "y": [3, 0]})
    scores = indices.index_scores(frame, ["x", "y"], reverse=["y"], missing=(9,))
    assert scores.tolist() == [0.0, 100.0]


# ------------------------------------------------------------------- Cronbach alpha --
def _hand_alpha(x: np.ndarray) -> float:
    k = x.shape[1]
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    return k / (k - 1) * (1 - item_var / total_var)


def test_alpha_equals_hand_formula_with_equal_weights():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=200)
    frame = pd.DataFrame({f"i{j}": np.clip(np.round(1.5 + latent + rng.normal(0, 0.9, 200)),
                                           0, 3) for j in range(4)})
    frame["w"] = 5.0
    frame["psu"] = np.arange(200)
    hand = _hand_alpha(frame[["i0", "i1", "i2", "i3"]].to_numpy())
    from_frame = indices.cronbach_alpha(frame, ["i0", "i1", "i2", "i3"])
    design = pc.SurveyDesign(frame, weights="w", psu="psu")
    from_design = indices.cronbach_alpha(design, ["i0", "i1", "i2", "i3"])
    assert abs(from_frame["alpha"].iloc[0] - hand) < HAND_TOL
    assert abs(from_design["alpha"].iloc[0] - hand) < HAND_TOL
    # alpha if an item is dropped: the hand formula on the other three
    dropped = from_frame.set_index("variable").loc["i2", "alpha"]
    assert abs(dropped - _hand_alpha(frame[["i0", "i1", "i3"]].to_numpy())) < HAND_TOL


def test_alpha_is_weight_scale_invariant(data, design):
    base = indices.cronbach_alpha(design, ["a", "b", "c"], missing=(8, 9))
    scaled = pc.SurveyDesign(data.assign(w=data["w"] * 1234.5), weights="w",
                             strata="stratum", psu="psu")
    other = indices.cronbach_alpha(scaled, ["a", "b", "c"], missing=(8, 9))
    np.testing.assert_allclose(other["alpha"], base["alpha"], rtol=1e-12)


def test_alpha_equals_r_cov_wt(design, ref):
    table = indices.cronbach_alpha(design, ["a", "b", "c"], missing=(8, 9)).set_index("variable")
    _close(table.loc["a+b+c", "alpha"], ref["alpha_weighted", "alpha"], RTOL)
    assert table.loc["a+b+c", "n"] == ref["alpha_weighted", "n"]
    for item in ["a", "b", "c"]:
        _close(table.loc[item, "alpha"], ref["alpha_weighted", f"{item}:alpha_dropped"], RTOL)
        _close(table.loc[item, "item_rest_corr"],
               ref["alpha_weighted", f"{item}:item_rest_corr"], RTOL)
    unweighted = indices.cronbach_alpha(design.data, ["a", "b", "c"], missing=(8, 9))
    _close(unweighted["alpha"].iloc[0], ref["alpha_unweighted", "alpha"], RTOL)


# --------------------------------------------------------------- item nonresponse --
def test_item_nonresponse_equals_weighted_shares(design, ref):
    table = indices.item_nonresponse(design, ["a", "b", "c"], missing=(8, 9))
    shares = table.set_index(["variable", "category"])["estimate"]
    for item in ["a", "b", "c"]:
        for reason in ["dont_know", "refused", "missing"]:
            _close(shares[item, reason], ref[f"nonresponse/{item}", reason], RTOL)
        total = sum(shares[item, r] for r in ["dont_know", "refused", "missing"])
        assert abs(shares[item, "any"] - total) < SUM_TOL


def test_item_nonresponse_of_a_frame_is_unweighted():
    frame = pd.DataFrame({"x": [0, 9, 8, 97, 1, None]})
    table = indices.item_nonresponse(frame, "x", missing=(8, 9, 97))
    shares = table.set_index("category")["estimate"]
    assert shares["dont_know"] == pytest.approx(1 / 6, abs=HAND_TOL)
    assert shares["refused"] == pytest.approx(1 / 6, abs=HAND_TOL)
    assert shares["not_applicable"] == pytest.approx(1 / 6, abs=HAND_TOL)
    assert shares["missing"] == pytest.approx(1 / 6, abs=HAND_TOL)
    assert shares["any"] == pytest.approx(4 / 6, abs=HAND_TOL)


# --------------------------------------------------------------- questionnaire codes --
def test_questionnaire_missing_codes_are_used():
    q = pc.load_questionnaire(HERE.parent / "questionnaires" / "centre_mali_trust.yaml")
    frame = pd.DataFrame({"trust_police": [0, 3, 8, 9], "w": 1.0, "psu": [1, 2, 3, 4]})
    design = pc.SurveyDesign(frame, weights="w", psu="psu")
    table = indices.likert(design, "trust_police", q=q)
    assert table["category"].tolist() == [0, 1, 2, 3, 8, 9]
    assert table["missing_code"].tolist() == [False] * 4 + [True] * 2
    box = indices.top_box(design, "trust_police", q=q)
    assert box["estimate"].iloc[0] == pytest.approx(0.5, abs=HAND_TOL)


# --------------------------------------------------------------------- no mutation --
def test_inputs_are_not_modified(data, design):
    before = data.copy(deep=True)
    indices.likert(design, ["a", "c"], by="g", missing=(8, 9))
    indices.top_box(design, "c", missing=(8, 9))
    indices.index(design, ["a", "b", "c"], missing=(8, 9))
    indices.cronbach_alpha(data, ["a", "b"], missing=(8, 9))
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_frame_equal(design.data, before)


# -------------------------------------------------------------------------- errors --
def test_errors_name_the_column_rows_and_fix(design, data):
    with pytest.raises(EstimationError, match="unknown column 'trust_polce'"):
        indices.likert(design, "trust_polce")
    with pytest.raises(EstimationError, match="dont_know='maybe'"):
        indices.likert(design, "a", dont_know="maybe")
    bad = pc.SurveyDesign(data.assign(a=data["a"].replace({3: 5})), weights="w",
                          strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match=r"column 'a' has \d+ answer\(s\) outside the "
                                              r"scale 0–3 in rows .*missing codes"):
        indices.index(bad, ["a", "b"], missing=(8, 9))
    with pytest.raises(EstimationError, match="top=.*missing code"):
        indices.top_box(design, "a", top=(3, 9), missing=(8, 9))
    with pytest.raises(EstimationError, match="min_items"):
        indices.index(design, ["a", "b"], min_items=3, missing=(8, 9))
    text = pc.SurveyDesign(data.assign(a=data["a"].astype(str).replace({"3": "a lot"})),
                           weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="numeric answer codes.*'a lot'"):
        indices.likert(text, "a")
    with pytest.raises(EstimationError, match="at least two items"):
        indices.cronbach_alpha(design, ["a"])
    with_missing_by = pc.SurveyDesign(data.assign(g=data["g"].where(data.index > 2)),
                                      weights="w", strata="stratum", psu="psu")
    with pytest.raises(EstimationError, match="by column 'g' has 3 missing value.*rows 0, 1, 2"):
        indices.likert(with_missing_by, "a", by="g")
