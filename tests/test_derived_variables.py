"""Derived variables used by name: a labelled design adds them (the demo's, equal to a
hand computation), read_wave adds them, the CLI estimates them and labels name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main
from perception.outputs.labelling import Labeller
from perception.questionnaire.derived import derived_values

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"



@pytest.fixture(scope="module")
def demo():
    return pc.demo_survey(seed=1)


def test_the_demo_design_knows_the_derived_variables_by_name(demo):
    waves = demo.waves
    before = waves.copy()
    d = demo.design()
    pd.testing.assert_frame_equal(waves, before)
    assert "trust_police_high" not in waves.columns
    for name in ("trust_police_high", "trust_gend_high", "trust_gn_high", "trust_fsi_any",
                 "trust_fsi_mean"):
        assert name in d.data.columns
    # equal to a hand computation over the valid codes 0-3 (8 and 9 left out)
    result = pc.mean(d, "trust_police_high", by="wave", na_rm=True)
    w = d.data["w_final"]
    for wave, row in zip(result["wave"], result.itertuples(), strict=True):
        rows = (waves["wave"] == wave) & waves["trust_police"].between(0, 3)
        hand = np.average(waves.loc[rows, "trust_police"] >= 2, weights=w[rows])
        assert row.estimate == pytest.approx(hand, rel=1e-12)
        assert row.n == rows.sum()
    fsi = ["trust_police", "trust_gend", "trust_gn"]
    valid = waves[fsi].apply(lambda s: s.between(0, 3)).all(axis=1)
    hand = np.average(waves.loc[valid, fsi].mean(axis=1), weights=w[valid])
    assert pc.mean(d, "trust_fsi_mean", na_rm=True)["estimate"].iloc[0] == pytest.approx(hand)


def test_age_group_is_computed_as_the_demo_draws_it(demo):
    q = demo.questionnaire
    assert q.variable("age_grp").derived and q.variable("age_grp").module == "demographics"
    waves = demo.waves
    computed = derived_values(waves, q, "age_grp")
    answered = waves["age"] < 998
    assert computed[answered].astype(int).tolist() == waves.loc[answered, "age_grp"].tolist()
    assert computed[~answered].isna().all()


def test_read_wave_adds_the_derived_columns():
    q = pc.load_questionnaire(QUESTIONNAIRE)
    wave = pc.read_wave(ROOT / "tests" / "data" / "centre_mali_wave_small.csv", q)
    assert set(q.derived) <= set(wave.columns)
    assert wave["trust_police_high"].dtype == "Int64"
    valid = wave["trust_police"].between(0, 3)
    assert (wave.loc[valid, "trust_police_high"] == (wave.loc[valid, "trust_police"] >= 2)
            ).all()
    assert wave.loc[~valid, "trust_police_high"].isna().all()


def test_labels_name_derived_variables(demo):
    q = demo.questionnaire
    assert Labeller(q, "en").variable("trust_police_high") == (
        "Trust in the National Police (somewhat or a lot)")
    assert q.labels("trust_police_high", "fr") == {0: "Non", 1: "Oui"}
    assert q.variables.set_index("name").loc["trust_fsi_mean", "expression"] == (
        "(${trust_police} + ${trust_gend} + ${trust_gn}) div 3")


def test_the_cli_estimates_a_derived_variable_under_its_label(wave_file, capsys):
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var",
                 "trust_police_high", "--lang", "en"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Trust in the National Police (somewhat or a lot)" in out
    assert "trust_police_high:" in err and "not computed" in err


def test_read_wave_recomputes_a_derived_column_of_the_file(tmp_path):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    source = pd.read_csv(ROOT / "tests" / "data" / "centre_mali_wave_small.csv")
    # the tablet's calculate gave 0 for "don't know" (ODK: 9 >= 2 is true, a blank false)
    source["trust_police_high"] = (source["trust_police"].between(2, 3)).astype(int)
    path = tmp_path / "wave.csv"
    source.to_csv(path, index=False)
    wave = pc.read_wave(path, q)
    dk = ~source["trust_police"].between(0, 3)
    assert dk.any() and wave.loc[dk.to_numpy(), "trust_police_high"].isna().all()
    record = {r["variable"]: r for r in wave.attrs["perception"]["derived"]}
    assert record["trust_police_high"] == {"variable": "trust_police_high", "in_file": True,
                                           "changed": int(dk.sum())}
    assert record["trust_fsi_any"]["in_file"] is False


def test_every_labelled_design_adds_them_and_only_a_labelled_one(demo):
    waves = demo.waves
    plain = pc.SurveyDesign(waves, weights="w_final", strata="stratum", psu="psu_id")
    assert "trust_fsi_any" not in plain.data.columns
    assert "trust_fsi_any" in plain.with_labels(demo.questionnaire).data.columns
    frame = waves.assign(r0=waves["w_final"], r1=waves["w_final"])
    rep = pc.ReplicateDesign(frame, weights="w_final", replicate_weights=["r0", "r1"],
                             questionnaire=demo.questionnaire)
    assert "trust_fsi_any" in rep.data.columns and "trust_fsi_any" not in frame.columns
    jkn = demo.design().replicate("jkn")
    assert pc.mean(jkn, "trust_fsi_any", na_rm=True)["estimate"].iloc[0] == pytest.approx(
        pc.mean(demo.design(), "trust_fsi_any", na_rm=True)["estimate"].iloc[0])


def test_labelled_design_leaves_out_blank_derived_values_without_na_rm():
    """A derived value left blank by a missing source is left out like the source's
    codes, whatever na_rm says, and counted."""
    import numpy as np

    import perception as pc

    d = pc.demo_survey(seed=1, n_per_wave=600).design()
    t = pc.mean(d, "trust_police_high", by="wave")
    data = d.data
    for _, row in t.iterrows():
        rows = (data["wave"] == row["wave"]) & data["trust_police"].isin([0, 1, 2, 3])
        hand = np.average((data.loc[rows, "trust_police"] >= 2).astype(float),
                          weights=data.loc[rows, "w_final"])
        assert abs(row["estimate"] - hand) < 1e-12
        blank = int(((data["wave"] == row["wave"]) & data["trust_police_high"].isna()).sum())
        assert row["n_excluded"] == blank > 0
        assert row["n"] == int(rows.sum())
