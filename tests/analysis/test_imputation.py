"""pc.impute: weighted hot-deck and chained equations, never touching observed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc


def holes(seed: int = 0) -> pd.DataFrame:
    """apistrat with ell and mobility missing in some rows (some rows miss both)."""
    api = pc.datasets.load("apistrat")
    i = np.arange(len(api))
    return api.assign(ell=api["ell"].where(i % 6 != seed % 6),
                      mobility=api["mobility"].where(i % 4 != 0))


@pytest.mark.parametrize("method", ["hotdeck", "mice"])
def test_observed_values_stay_and_flags_mark_the_imputed(method):
    wave = holes()
    before = wave.copy()
    imp = pc.impute(wave, ["ell", "mobility"], method=method, classes="stype", weights="pw",
                    m=3, seed=2)
    pd.testing.assert_frame_equal(wave, before)  # the caller's frame is untouched
    assert imp.m == 3 and imp.variables == ("ell", "mobility")
    assert imp.missing.loc["ell", "n_missing"] == wave["ell"].isna().sum()
    for completed in imp.waves:
        for v in ("ell", "mobility"):
            flag = completed[f"imp_{v}"]
            assert flag.dtype == bool and (flag == wave[v].isna()).all()
            assert completed[v].notna().all()
            pd.testing.assert_series_equal(completed.loc[~flag, v], wave.loc[~flag, v])
        assert list(completed.columns[: len(wave.columns)]) == list(wave.columns)


@pytest.mark.parametrize("method", ["hotdeck", "mice"])
def test_imputed_values_are_observed_values(method):
    # hot-deck copies donors; mice matches predictive means: codes stay codes
    wave = holes()
    imp = pc.impute(wave, ["ell", "mobility"], method=method, classes="stype", m=2, seed=5)
    for completed in imp.waves:
        for v in ("ell", "mobility"):
            assert set(completed.loc[completed[f"imp_{v}"], v]) <= set(wave[v].dropna())


def test_the_same_seed_gives_the_same_imputations():
    wave = holes()
    for method in ("hotdeck", "mice"):
        a = pc.impute(wave, ["ell"], method=method, classes="stype", m=2, seed=11)
        b = pc.impute(wave, ["ell"], method=method, classes="stype", m=2,
                      seed=np.random.default_rng(11))
        c = pc.impute(wave, ["ell"], method=method, classes="stype", m=2, seed=12)
        for x, y in zip(a.waves, b.waves, strict=True):
            pd.testing.assert_frame_equal(x, y)
        assert not all(x["ell"].equals(z["ell"]) for x, z in zip(a.waves, c.waves, strict=True))
        assert not a.waves[0]["ell"].equals(a.waves[1]["ell"])  # imputations differ


def test_hotdeck_donors_come_from_the_class_and_give_all_missing_answers():
    wave = holes()
    imp = pc.impute(wave, ["ell", "mobility"], classes="stype", m=4, seed=3)
    observed = wave.dropna(subset=["ell", "mobility"])
    pairs = {s: set(zip(g["ell"], g["mobility"], strict=True))
             for s, g in observed.groupby("stype", observed=True)}
    both = wave["ell"].isna() & wave["mobility"].isna()
    assert both.sum() > 5
    for completed in imp.waves:
        for _, row in completed[both].iterrows():
            assert (row["ell"], row["mobility"]) in pairs[row["stype"]]
        only_ell = completed["imp_ell"] & ~completed["imp_mobility"]
        for _, row in completed[only_ell].iterrows():
            assert row["ell"] in set(wave.loc[wave["stype"] == row["stype"], "ell"].dropna())


def test_hotdeck_draws_donors_in_proportion_to_their_weight():
    # one class, two donors: the one with 9 times the weight gives ~90% of the values
    wave = pd.DataFrame({"y": [1.0, 2.0] + [np.nan] * 400, "w": [9.0, 1.0] + [1.0] * 400})
    imp = pc.impute(wave, "y", weights="w", m=200, seed=1)
    share = np.mean([(c["y"].iloc[2:] == 1).mean() for c in imp.waves])
    # the bootstrap of the two-donor pool keeps one donor only half of the time
    expected = 0.25 * 1 + 0.25 * 0 + 0.5 * 0.9
    assert share == pytest.approx(expected, abs=0.04)


def test_designs_of_the_completed_waves():
    imp = pc.impute(holes(), ["ell"], classes="stype", weights="pw", m=3, seed=1)
    designs = imp.designs(weights="pw", strata="stype", fpc="fpc")
    assert [d.n for d in designs] == [200] * 3
    assert all(d.data["imp_ell"].sum() == imp.missing.loc["ell", "n_missing"] for d in designs)
    combined = pc.mi_combine([pc.mean(d, "ell") for d in designs], df_complete=designs[0].degf)
    assert combined["fmi"].iloc[0] > 0 and np.isfinite(combined["df"].iloc[0])


def test_errors_name_the_column_and_the_fix():
    wave = holes()
    with pytest.raises(pc.EstimationError, match="unknown column.*'nope'.*variables"):
        pc.impute(wave, ["nope"])
    with pytest.raises(pc.EstimationError, match="class column 'stype' is missing in rows 3"):
        pc.impute(wave.assign(stype=wave["stype"].where(wave.index != 3)), "ell", classes="stype")
    with pytest.raises(pc.EstimationError, match="no donor for rows.*stype='H'.*broader classes"):
        lonely = wave.assign(ell=wave["ell"].where(wave["stype"] != "H"))
        pc.impute(lonely, "ell", classes="stype")
    with pytest.raises(pc.EstimationError, match="already has column.*imp_ell"):
        pc.impute(wave.assign(imp_ell=False), "ell")
    with pytest.raises(pc.EstimationError, match="mice' imputes numbers.*'name'"):
        pc.impute(wave.assign(name=wave["name"].where(wave.index != 0)), "name", method="mice")
    with pytest.raises(pc.EstimationError, match="method='knn' is unknown"):
        pc.impute(wave, "ell", method="knn")
    with pytest.raises(pc.EstimationError, match="weights 'api00' must be positive.*rows 5"):
        pc.impute(wave.assign(api00=wave["api00"].where(wave.index != 5, -1)), "ell",
                  weights="api00")
    with pytest.raises(pc.EstimationError, match="both imputed and used as a class"):
        pc.impute(wave, "ell", classes="ell")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.booleans(), min_size=30, max_size=30), st.integers(0, 2**32 - 1))
def test_any_pattern_of_missing_values_is_filled_and_nothing_else(missing, seed):
    values = np.arange(30, dtype=float)
    if all(missing):
        missing[0] = False
    wave = pd.DataFrame({"y": np.where(missing, np.nan, values), "g": ["a", "b"] * 15,
                         "w": np.linspace(1, 3, 30)})
    donors_in = {g: set(wave.loc[(wave["g"] == g) & wave["y"].notna(), "y"]) for g in "ab"}
    classes = "g" if all(donors_in.values()) else None
    imp = pc.impute(wave, "y", classes=classes, weights="w", m=2, seed=seed)
    for completed in imp.waves:
        assert completed["y"].notna().all()
        kept = ~np.array(missing)
        assert (completed["y"].to_numpy()[kept] == values[kept]).all()
        assert set(completed["y"]) <= set(values[kept])
