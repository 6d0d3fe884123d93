"""A shareable wave is k-anonymous on the quasi-identifiers its questionnaire declares.

- The quasi-identifiers, identifiers and coarsening ladders come from the questionnaire
  (``role: quasi_identifier``, ``role: identifier``, ``coarsen:``), never from the code.
- Without ``resolve`` the records at risk are found, nothing is coarsened; with
  ``resolve`` every combination of quasi-identifiers is shared by at least ``k`` records
  or is entirely blank (property test on random waves), each change reported.
- Sensitive answers are dropped unless ``keep_sensitive``; identifiers are dropped or
  hashed as personal data are; the input frame is never modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perception as pc
from perception.disclosure.anonymise import anonymise_wave, k_anonymity
from perception.disclosure.ladders import coarsened, combination_sizes, resolve_k_anonymity
from perception.questionnaire.model import Coarsening

KEY = "a 32-byte secret for the tests.."
QI = ["region", "cercle", "sex", "age", "ethnic"]


def _questionnaire() -> pc.Questionnaire:
    return pc.Questionnaire.from_dict({"id": "mini", "languages": ["en"], "variables": [
        {"name": "resp_id", "type": "text", "label": "Id", "role": "id"},
        {"name": "hh_id", "type": "text", "label": "Household", "role": "identifier"},
        {"name": "region", "type": "categorical", "label": "Region",
         "codes": {1: "North", 2: "South"}, "role": "quasi_identifier"},
        {"name": "cercle", "type": "categorical", "label": "Cercle",
         "codes": {11: "a", 12: "b", 21: "c", 22: "d"}, "role": "quasi_identifier",
         "coarsen": [{"name": "region", "variable": "region"}]},
        {"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "M", 2: "F"},
         "role": "quasi_identifier"},
        {"name": "age", "type": "integer", "label": "Age", "range": {"min": 18, "max": 99},
         "missing": {999: "Don't know"}, "role": "quasi_identifier",
         "coarsen": [{"name": "age band", "bands": [18, 25, 35, 45, 55]},
                     {"name": "wide age band", "bands": [18, 40]}]},
        {"name": "ethnic", "type": "categorical", "label": "Ethnic group",
         "codes": {1: "A", 2: "B", 3: "C"}, "sensitive": True, "role": "quasi_identifier",
         "coarsen": [{"name": "A or other", "map": {1: "A", 2: "other", 3: "other"}}]},
        {"name": "trust", "type": "ordinal", "label": "Trust", "codes": {0: "no", 1: "yes"}},
        {"name": "other", "type": "text", "label": "Other, specify"},
    ]})


Q = _questionnaire()


def _wave(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cercle = rng.choice([11, 12, 21, 22], n)
    return pd.DataFrame({
        "resp_id": [f"R{i}" for i in range(n)],
        "hh_id": [f"H{i // 2}" for i in range(n)],
        "region": cercle // 10,
        "cercle": cercle,
        "sex": rng.choice([1, 2], n),
        "age": np.where(rng.random(n) < 0.05, 999, rng.integers(18, 90, n)),
        "ethnic": rng.choice([1, 2, 3], n, p=[0.8, 0.15, 0.05]),
        "trust": rng.choice([0, 1], n),
        "other": ["text that may name someone"] * n,
    })


def test_without_resolve_records_at_risk_are_found_and_nothing_coarsened():
    wave = _wave(300, 1)
    before = wave.copy()
    shared, report, rare = anonymise_wave(wave, Q, keep_sensitive=True)
    pd.testing.assert_frame_equal(wave, before)
    assert rare.attrs["quasi_identifiers"] == QI
    expected = int((combination_sizes(wave, QI) < 10).sum())
    assert rare.attrs["records_at_risk"] == expected > 0
    assert shared["age"].tolist() == wave["age"].tolist()
    assert "resolve" not in set(report["step"])
    assert report.iloc[-1]["action"] == "flagged" and report.iloc[-1]["rows"] == expected


def test_resolve_climbs_the_ladders_then_blanks_and_reports_each_change():
    wave = _wave(300, 2)
    before = wave.copy()
    shared, report, rare = anonymise_wave(wave, Q, resolve=True, keep_sensitive=True)
    pd.testing.assert_frame_equal(wave, before)  # the input is never modified
    assert rare.empty and report.iloc[-1]["action"] == "checked"
    assert (combination_sizes(shared, QI) >= 10).all()
    changes = report[report["step"] == "resolve"]
    assert changes.iloc[0]["action"] == "resolved"
    assert changes.iloc[0]["rows"] == int((combination_sizes(wave, QI) < 10).sum())
    age = changes[changes["column"] == "age"]
    assert age.iloc[0]["detail"] == "coarsened to level 'age band'"
    assert age.iloc[0]["rows"] == int((wave["age"] != 999).sum())  # missing codes stay
    assert set(shared["age"].dropna()) <= {
        "18-24", "25-34", "35-44", "45-54", "55+", "18-39", "40+", "999"}
    # every changed column is reported, with the number of records changed
    for column in QI:
        old = wave[column].map(str)
        new = shared[column].map(lambda v: "" if pd.isna(v) else str(v))
        if (old != new).any():
            assert column in set(changes["column"]), column
    blanked = changes[changes["action"] == "blanked"]
    for row in blanked.itertuples():
        assert row.rows > 0 and row.detail.startswith("blanked")


@given(n=st.integers(1, 120), seed=st.integers(0, 2**16), k=st.integers(2, 12),
       keep=st.booleans())
def test_after_resolve_every_combination_has_k_records_or_is_blank(n, seed, k, keep):
    wave = _wave(n, seed)
    before = wave.copy()
    shared, report, rare = anonymise_wave(wave, Q, k=k, resolve=True, keep_sensitive=keep)
    pd.testing.assert_frame_equal(wave, before)
    qi = [c for c in QI if c in shared]
    assert qi == (QI if keep else [c for c in QI if c != "ethnic"])
    counts = shared.groupby(qi, dropna=False, sort=False)[qi[0]].transform("size")
    blank = shared[qi].isna().all(axis=1)
    assert ((counts >= k) | blank).all()
    assert rare.empty and len(shared) == n
    assert k_anonymity(shared, qi, k=k).empty


def test_sensitive_answers_dropped_unless_kept():
    wave = _wave(50, 3)
    shared, report, _ = anonymise_wave(wave, Q)
    assert "ethnic" not in shared
    row = report[report["column"] == "ethnic"].iloc[0]
    assert (row["step"], row["action"]) == ("sensitive", "dropped")
    assert "restricted access" in row["detail"]
    kept, report, rare = anonymise_wave(wave, Q, keep_sensitive=True)
    assert kept["ethnic"].tolist() == wave["ethnic"].tolist()
    assert "ethnic" in rare.attrs["quasi_identifiers"]


def test_identifiers_are_dropped_or_hashed_never_free_text():
    wave = _wave(20, 4)
    shared, report, _ = anonymise_wave(wave, Q)
    assert "hh_id" not in shared and "other" not in shared and "resp_id" in shared
    steps = report.set_index("column")["step"]
    assert steps["hh_id"] == "pii" and steps["other"] == "free_text"
    hashed, report, _ = anonymise_wave(wave, Q, keep_pii="hash", hash_key=KEY)
    assert hashed["hh_id"].str.len().eq(64).all()
    assert hashed["hh_id"].iloc[0] == hashed["hh_id"].iloc[1]  # one household, one pseudonym
    assert report.set_index("column").loc["hh_id", "action"] == "hashed"


def test_a_questionnaire_without_quasi_identifiers_is_refused_with_the_fix():
    q = pc.Questionnaire.from_dict({"id": "bare", "languages": ["en"], "variables": [
        {"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "M", 2: "F"}}]})
    with pytest.raises(pc.DisclosureError, match="declares no quasi-identifier.*role: "
                       "quasi_identifier"):
        anonymise_wave(pd.DataFrame({"sex": [1, 2]}), q)
    shared, _, rare = anonymise_wave(pd.DataFrame({"sex": [1] * 3}), q, k=3,
                                     quasi_identifiers=["sex"])
    assert rare.empty and len(shared) == 3


def test_gps_centroid_needs_the_commune_to_be_shared():
    q = pc.Questionnaire.from_dict({"id": "g", "languages": ["en"], "variables": [
        {"name": "commune", "type": "text", "label": "Commune", "sensitive": True,
         "role": "quasi_identifier"},
        {"name": "gps_lat", "type": "numeric", "label": "Lat", "pii": True}]})
    wave = pd.DataFrame({"commune": ["a"] * 3 + ["b"], "gps_lat": [14.0, 14.2, 14.4, 15.0]})
    with pytest.raises(pc.DisclosureError, match="keep_sensitive=True"):
        anonymise_wave(wave, q, gps="commune", k=3)
    shared, _, _ = anonymise_wave(wave, q, gps="commune", keep_sensitive=True, k=3,
                                  resolve=True)
    assert shared["commune"].tolist()[:3] == ["a"] * 3 and pd.isna(shared["commune"].iloc[3])
    assert shared["gps_lat"].tolist()[:3] == [14.2] * 3 and pd.isna(shared["gps_lat"].iloc[3])


# ------------------------------------------------------------------ the ladders --


def test_coarsened_bands_map_and_variable_keep_missing_codes():
    bands = Coarsening("band", bands=(18, 25, 35))
    assert coarsened(pd.Series([17, 18, 24, 25, 80, 999, None]), bands, [999]).tolist() == [
        "<18", "18-24", "18-24", "25-34", "35+", "999", np.nan]
    mapping = Coarsening("group", mapping={1: "a", 2: "a", 3: "b"})
    assert coarsened(pd.Series([1, 3, 98, None]), mapping, [98]).tolist() == [
        "a", "b", "98", np.nan]
    assert coarsened(pd.Series(["x", "y"]), Coarsening("cercle", variable="cercle"),
                     []).isna().all()


def test_resolve_blanks_only_records_still_at_risk():
    df = pd.DataFrame({"sex": [1] * 10 + [2], "ethnic": [1] * 10 + [3]})
    before = df.copy()
    out, changes = resolve_k_anonymity(df, ["sex", "ethnic"], {}, {}, k=10)
    pd.testing.assert_frame_equal(df, before)
    assert out.iloc[:10].equals(df.iloc[:10].astype(out.dtypes.to_dict()))
    assert out.iloc[10].isna().all()
    assert [(c.column, c.action, c.rows) for c in changes] == [
        ("sex", "blanked", 1), ("ethnic", "blanked", 1)]
