"""Tests of the simulated Central Mali example (perception.demo) and its command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.demo.simulator import TRUST_ITEMS, demo_survey, questionnaire_path
from perception.errors import PerceptionError

# tolerances
TRUTH_EXACT = 1e-3  # configured vs finite-population truth (solved to one adult in an arm)
WEIGHT_TOTAL_REL = 0.05  # weights before post-stratification vs census adults
Z_MAX = 4.0  # sample estimate vs truth, in design-based standard errors
CENSUS_ADULTS = 2_063_790  # adults 18+ of the 15 cercles (sum of the census table)


@pytest.fixture(scope="module")
def panel():
    return demo_survey(seed=7, n_per_wave=1500, waves=3, panel=True)


def _truth(demo, quantity, variable, wave, group):
    t = demo.truth
    row = t[(t["quantity"] == quantity) & (t["variable"] == variable) & (t["wave"] == wave)
            & (t["group"] == group)]
    assert len(row) == 1, (quantity, variable, wave, group)
    return float(row["value"].iloc[0])


def _ratio_scores(df, y, x, weight="w_final"):
    """Estimate and linearised scores of the ratio sum(w y) / sum(w x)."""
    w = df[weight].to_numpy()
    total_x = (w * x).sum()
    r = (w * y).sum() / total_x
    return r, w * (y - r * x) / total_x


def _design_se(df, scores):
    """With-replacement standard error of a sum of scores: PSU totals within strata."""
    tot = pd.DataFrame({"h": df["stratum"].to_numpy(), "psu": df["psu_id"].to_numpy(), "z": scores})
    tot = tot.groupby(["h", "psu"], sort=False)["z"].sum().reset_index()
    g = tot.groupby("h")["z"]
    n_h = g.transform("size")
    dev = tot["z"] - g.transform("mean")
    return float(np.sqrt((n_h / (n_h - 1) * dev**2).sum()))


def _share_scores(df, item, mask):
    codes = pd.to_numeric(df[item]).to_numpy()
    substantive = np.isin(codes, [0, 1, 2, 3]) & mask
    return _ratio_scores(df, ((codes >= 2) & substantive).astype(float), substantive.astype(float))


# ------------------------------------------------------------------ reproducibility


def test_same_seed_gives_identical_frames(demo):
    again = demo_survey(seed=1)
    pd.testing.assert_frame_equal(demo.waves, again.waves)
    pd.testing.assert_frame_equal(demo.truth, again.truth)


def test_other_seed_and_parameters(demo):
    other = demo_survey(seed=2, n_per_wave=1000, effect=0.0, trend=-0.05)
    assert not demo.waves["resp_id"].head(100).equals(other.waves["resp_id"].head(100))
    assert not np.isclose(demo.waves["w_final"].mean(), other.waves["w_final"].mean())
    assert other.waves.groupby("wave").size().between(850, 1150).all()
    assert abs(_truth(other, "did", "trust_police", 1, "treated=1 - treated=0")) < TRUTH_EXACT
    assert abs(_truth(other, "change", "trust_police", 1, "all") + 0.05) < TRUTH_EXACT


def test_bad_arguments_name_the_argument():
    with pytest.raises(PerceptionError, match="waves must be 2"):
        demo_survey(waves=4)
    with pytest.raises(PerceptionError, match="n_per_wave"):
        demo_survey(n_per_wave=10)
    with pytest.raises(PerceptionError, match="effect"):
        demo_survey(effect="big")


# ------------------------------------------------------------------ design


def test_sizes_and_waves(demo):
    n = demo.waves.groupby("wave").size()
    assert n.index.tolist() == [0, 1]
    assert n.between(3600, 4400).all()
    per_psu = demo.waves.groupby(["wave", "psu_id"]).size()
    assert per_psu.max() <= demo.params["hh_per_village"]
    assert demo.waves["resp_id"].is_unique  # new respondents at each wave
    assert set(demo.wave_names.values()) == {"baseline", "endline"}


def test_weights_positive_finite_and_totals(demo):
    for col in ("w_base", "w_nr", "w_final"):
        w = demo.waves[col].to_numpy()
        assert np.isfinite(w).all() and (w > 0).all(), col
    sums = demo.waves.groupby("wave")[["w_nr", "w_final"]].sum()
    np.testing.assert_allclose(sums["w_final"], CENSUS_ADULTS, rtol=1e-9)
    np.testing.assert_allclose(sums["w_nr"], CENSUS_ADULTS, rtol=WEIGHT_TOTAL_REL)
    population = _truth(demo, "n_adults", "adults", 0, "all")
    assert abs(population / CENSUS_ADULTS - 1) < 1e-4
    # base weight = 1 / (pi_village * pi_household * 1 / n_eligible): linear in n_elig_adults
    per_adult = demo.waves["w_base"] / demo.waves["n_elig_adults"]
    spread = per_adult.groupby([demo.waves["wave"], demo.waves["psu_id"]]).agg(["min", "max"])
    np.testing.assert_allclose(spread["max"], spread["min"], rtol=1e-12)


def test_psus_in_one_stratum_and_revisited(demo):
    w = demo.waves
    assert (w.groupby("psu_id")["stratum"].nunique() == 1).all()
    assert (w.groupby("stratum")["treated"].nunique() == 1).all()
    assert (w["stratum"].str[:2].astype(int) == w["cercle"]).all()
    assert w["stratum"].nunique() == 30
    by_wave = w.groupby("wave")["psu_id"].apply(set)
    assert by_wave[0] == by_wave[1]
    # new households at each wave (every PSU has at least 3 x 15 households)
    assert not set(w.loc[w["wave"] == 0, "hh_id"]) & set(w.loc[w["wave"] == 1, "hh_id"])
    assert demo.population.groupby("village")["household"].nunique().min() >= 45


def test_design_uses_final_weights_strata_and_revisited_psus(demo):
    d = demo.design()
    w = demo.waves
    assert d.degf == w["psu_id"].nunique() - w["stratum"].nunique()
    np.testing.assert_array_equal(np.asarray(d.weights), w["w_final"].to_numpy())


def test_panel_reinterviews_with_attrition(panel):
    w = panel.waves
    n = w.groupby("wave").size()
    assert n[0] > n[1] > n[2] > 0.5 * n[0]
    ids = w.groupby("wave")["resp_id"].apply(set)
    assert ids[2] <= ids[1] <= ids[0]
    same = w.pivot_table(index="resp_id", columns="wave", values="sex")
    assert (same.dropna().nunique(axis=1) == 1).all()
    assert set(panel.wave_names.values()) == {"baseline", "midline", "endline"}
    np.testing.assert_allclose(w.groupby("wave")["w_final"].sum(), CENSUS_ADULTS, rtol=1e-9)


# ------------------------------------------------------------------ truth


def test_truth_layout(demo):
    t = demo.truth
    assert t.columns.tolist() == ["quantity", "variable", "wave", "group", "value"]
    assert {"share", "mean", "dk", "change", "did", "att", "icc", "n_adults"} <= set(t["quantity"])
    assert set(TRUST_ITEMS) <= set(t["variable"])
    assert np.isfinite(t["value"]).all()


def test_truth_holds_the_configured_effects(demo, panel):
    for name, mult in [("trust_police", 1.0), ("trust_gend", 1.0), ("trust_army", 0.5),
                       ("trust_trad", 0.0), ("trust_relig", 0.0)]:
        did = _truth(demo, "did", name, 1, "treated=1 - treated=0")
        assert abs(did - 0.08 * mult) < TRUTH_EXACT, name
        assert abs(_truth(demo, "att", name, 1, "treated=1") - 0.08 * mult) < TRUTH_EXACT, name
        assert abs(_truth(demo, "change", name, 1, "treated=0") - 0.03) < TRUTH_EXACT, name
    # three waves: half the effect and trend at the midline
    assert abs(_truth(panel, "did", "trust_police", 1, "treated=1 - treated=0") - 0.04) < TRUTH_EXACT
    assert abs(_truth(panel, "did", "trust_police", 2, "treated=1 - treated=0") - 0.08) < TRUTH_EXACT
    # clustering and differences between cercles
    assert 0.07 < _truth(demo, "icc", "trust_police", 0, "all") < 0.13
    t = demo.truth
    by_cercle = t[(t["quantity"] == "share") & (t["variable"] == "trust_police") & (t["wave"] == 0)
                  & t["group"].str.startswith("cercle=")]["value"]
    assert len(by_cercle) == 15 and by_cercle.max() - by_cercle.min() > 0.15


def test_truth_equals_shares_of_the_population_table(demo):
    pop = demo.population
    assert len(pop) * demo.params["scale"] == _truth(demo, "n_adults", "adults", 0, "all")
    for t in (0, 1):
        codes = pop[f"trust_police_w{t}"]
        treated = pop["treated"] == 1
        answered = codes.isin([0, 1, 2, 3]) & treated
        share = (codes[answered] >= 2).mean()
        assert share == pytest.approx(_truth(demo, "share", "trust_police", t, "treated=1"), abs=1e-12)
        safe = pop[f"safe_night_w{t}"]
        answered = safe.isin([1, 2, 3, 4, 5])
        assert (safe[answered] <= 2).mean() == pytest.approx(
            _truth(demo, "share", "safe_night", t, "all"), abs=1e-12)


# ------------------------------------------------------------------ estimates vs truth


@pytest.mark.parametrize("item", ["trust_police", "trust_gn", "trust_trad"])
def test_weighted_estimates_agree_with_truth(demo, item):
    w = demo.waves
    for t in (0, 1):
        part = w[w["wave"] == t]
        est, z = _share_scores(part, item, np.ones(len(part), dtype=bool))
        se = _design_se(part, z)
        assert abs(est - _truth(demo, "share", item, t, "all")) < Z_MAX * se
    # difference-in-differences, covariance between waves through the revisited PSUs
    scores = np.zeros(len(w))
    est = 0.0
    for t, sign_t in ((1, 1), (0, -1)):
        for arm, sign_a in ((1, 1), (0, -1)):
            r, z = _share_scores(w, item, ((w["wave"] == t) & (w["treated"] == arm)).to_numpy())
            est += sign_t * sign_a * r
            scores += sign_t * sign_a * z
    se = _design_se(w, scores)
    assert abs(est - _truth(demo, "did", item, 1, "treated=1 - treated=0")) < Z_MAX * se


# ------------------------------------------------------------------ questionnaire


def test_waves_follow_the_questionnaire(demo):
    q = demo.questionnaire
    assert questionnaire_path().is_file()
    # the waves hold every question; the derived variables are computed from them
    assert set(q.names) - set(q.derived) <= set(demo.waves.columns)
    data = q.derive(demo.waves)
    assert set(q.names) <= set(data.columns)
    assert set(q.pii) == {"resp_name", "phone", "gps_lat", "gps_lon"}
    report = pc.validate(data[q.names], q)
    assert report.ok, report.errors.head(20).to_string()


def test_waves_with_design_columns_validate(demo):
    report = pc.validate(demo.waves, demo.questionnaire)
    assert report.ok, report.errors.head(20).to_string()


def test_panel_validates(panel):
    q = panel.questionnaire
    report = pc.validate(q.derive(panel.waves)[q.names], q)
    assert report.ok, report.errors.head(20).to_string()


def test_skip_logic(demo):
    w = demo.waves
    victim = (w["vict_theft"] == 1) | (w["vict_attack"] == 1)
    assert (w["vict_reported"].notna() == victim).all()
    assert (w["vict_reported_to"].notna() == w["vict_reported"].isin([1, 2])).all()
    assert (w["req_help_bribe"].notna() == (w["req_help"] == 1)).all()
    aware = w["ca_aware"] == 1
    for col in ("ca_type", "ca_participated", "ca_benefit", "ca_satisf", "ca_local_labour",
                "ca_hh_employed"):
        assert (w[col].notna() == aware).all(), col
    # community actions are known mostly in treated communes after the baseline
    known = w[w["ca_aware"] != 9].groupby(["wave", "treated"])["ca_aware"].mean()
    assert known[(1, 1)] > 0.4 and known[(0, 1)] < 0.15 and known[(1, 0)] < 0.2
    # don't know / refused are present but rare
    codes = w[list(TRUST_ITEMS)]
    share_missing = codes.isin([8, 9]).to_numpy().mean()
    assert 0.01 < share_missing < 0.10


# ------------------------------------------------------------------ command line


def test_cli_writes_the_files(tmp_path, capsys):
    from perception.cli import main

    out = tmp_path / "waves"
    assert main(["simulate", "--out", str(out), "--seed", "3", "--n-per-wave", "600"]) == 0
    printed = capsys.readouterr().out
    for name in ("baseline.csv", "endline.csv", "waves.csv", "truth.csv", "README.txt"):
        assert (out / name).is_file(), name
        assert name in printed
    assert not (out / "midline.csv").exists()
    base = pd.read_csv(out / "baseline.csv")
    end = pd.read_csv(out / "endline.csv")
    stacked = pd.read_csv(out / "waves.csv")
    assert len(base) + len(end) == len(stacked)
    assert set(base["wave"]) == {0} and set(end["wave"]) == {1}
    assert base["survey_date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    truth = pd.read_csv(out / "truth.csv")
    assert truth.columns.tolist() == ["quantity", "variable", "wave", "group", "value"]
    q = pc.load_questionnaire(questionnaire_path())
    report = pc.validate(q.derive(stacked)[q.names], q)
    assert report.ok, report.errors.head(20).to_string()
    assert "truth.csv" in (out / "README.txt").read_text(encoding="utf-8")
