"""pc.icc, pc.mde and pc.sample_size: ANOVA ICC against R, planning formulas against the
Central Mali study's planning scenario (written out below) and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _change_cases import close, panel_design, ref2
from statsmodels.stats.power import NormalIndPower

import perception as pc
from perception.analysis.power import PLAN_COLUMNS

# the domain note's planning claims (two-wave DiD, binary item p = 0.5, ICC 0.10,
# weighting deff 1.3): 40 villages per arm x 15 -> MDE ~ 20 points (~17 revisited);
# 60 villages x 20 -> 11-13 points
NOTE = dict(icc=0.10, p=0.5, deff_weighting=1.3, design="did")
NOTE_MDE_40x15 = (0.19, 0.21)
NOTE_MDE_40x15_REVISITED = (0.16, 0.18)
NOTE_MDE_60x20 = (0.11, 0.13)
# numerical agreement of two closed forms
FORMULA_RTOL = 1e-12
# statsmodels solves for the effect numerically and counts the (negligible) opposite tail
SOLVER_RTOL = 1e-4


def _mde(**kwargs) -> float:
    return float(pc.mde(**kwargs)["mde"].iloc[0])


# -------------------------------------------------------------- domain note --
def test_domain_note_40_villages_per_arm():
    plain = _mde(n_clusters=40, cluster_size=15, **NOTE)
    assert NOTE_MDE_40x15[0] <= plain <= NOTE_MDE_40x15[1], plain
    revisited = _mde(n_clusters=40, cluster_size=15, revisited=True, r_cluster=0.5, **NOTE)
    assert NOTE_MDE_40x15_REVISITED[0] <= revisited <= NOTE_MDE_40x15_REVISITED[1], revisited


def test_domain_note_60_villages_of_20():
    revisited = _mde(n_clusters=60, cluster_size=20, revisited=True, **NOTE)
    assert NOTE_MDE_60x20[0] <= revisited <= NOTE_MDE_60x20[1], revisited
    # without revisiting the same sample detects only ~16 points
    assert _mde(n_clusters=60, cluster_size=20, **NOTE) > NOTE_MDE_60x20[1]


def test_design_effects_reported():
    row = pc.mde(n_clusters=40, cluster_size=15, revisited=True, **NOTE).iloc[0]
    assert list(pc.mde(40, 15, 0.1, p=0.5).columns) == PLAN_COLUMNS
    assert np.isclose(row["deff_cluster"], 1 + 14 * 0.10)
    assert np.isclose(row["deff_change"], (2.4 - 15 * 0.10 * 0.5) * 1.3)
    assert row["n_interviews"] == 2 * 2 * 40 * 15
    assert np.isclose(row["se"], np.sqrt(4 * 0.25 * row["deff_change"] / 600))


# ---------------------------------------------------------- cross-checks --
@pytest.mark.parametrize("n", [30, 200])
def test_srs_change_equals_two_sample_z_test(n):
    """ICC 0, no weighting, independent waves: the two-sample z test (statsmodels)."""
    sd = 0.8
    ours = _mde(n_clusters=n, cluster_size=1, icc=0.0, sd=sd, design="change")
    effect_size = NormalIndPower().solve_power(nobs1=n, alpha=0.05, power=0.8, ratio=1.0)
    assert np.isclose(ours, effect_size * sd, rtol=SOLVER_RTOL)


def test_did_variance_is_twice_the_change_variance():
    change = pc.mde(30, 12, 0.08, p=0.4, design="change").iloc[0]
    did = pc.mde(30, 12, 0.08, p=0.4, design="did").iloc[0]
    assert np.isclose(did["se"], np.sqrt(2) * change["se"], rtol=FORMULA_RTOL)


def test_revisiting_without_persistence_changes_nothing():
    base = _mde(n_clusters=40, cluster_size=15, **NOTE)
    assert np.isclose(_mde(n_clusters=40, cluster_size=15, revisited=True, r_cluster=0.0,
                           **NOTE), base, rtol=FORMULA_RTOL)
    full = _mde(n_clusters=40, cluster_size=15, revisited=True, r_cluster=1.0, **NOTE)
    # fully persistent village effects cancel: deff_change = (1 - ICC) * deff_weighting
    plain = _mde(n_clusters=40, cluster_size=15, icc=0.0, p=0.5, design="did")
    assert np.isclose(full, plain * np.sqrt(0.9 * 1.3), rtol=FORMULA_RTOL)


def test_sample_size_inverts_mde():
    table = pc.sample_size([0.10, 0.15, 0.20], cluster_size=15, revisited=True, **NOTE)
    assert list(table.columns) == ["effect", *PLAN_COLUMNS]
    for _, row in table.iterrows():
        k = row["n_clusters"]
        assert row["mde"] <= row["effect"]
        fewer = _mde(n_clusters=k - 1, cluster_size=15, revisited=True, **NOTE)
        assert fewer > row["effect"]
    assert table["n_clusters"].is_monotonic_decreasing


def test_grid_has_one_row_per_combination():
    table = pc.mde([20, 40, 60], [15, 20], [0.05, 0.10], p=[0.3, 0.5], design="did")
    assert len(table) == 3 * 2 * 2 * 2
    assert table["n_clusters"].dtype.kind == "i"
    # more villages, smaller detectable effects
    sub = table[(table["cluster_size"] == 15) & (table["icc"] == 0.10) & (table["sd"] == 0.5)]
    assert sub["mde"].is_monotonic_decreasing


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"p": 0.5, "sd": 1.0}, "exactly one of p="),
        ({}, "exactly one of p="),
        ({"p": 1.2}, "p must lie strictly between 0 and 1"),
        ({"p": 0.5, "design": "panel"}, "design='panel'"),
        ({"p": 0.5, "deff_weighting": 0.8}, "deff_weighting must be >= 1"),
        ({"p": 0.5, "r_cluster": 1.5}, "r_cluster"),
        ({"p": 0.5, "power": 80}, "power must lie between 0 and 1"),
    ],
)
def test_bad_plan_arguments(kwargs, pattern):
    with pytest.raises(pc.EstimationError, match=pattern):
        pc.mde(40, 15, 0.1, **kwargs)


def test_bad_sizes():
    with pytest.raises(pc.EstimationError, match="n_clusters must be >= 2"):
        pc.mde(1, 15, 0.1, p=0.5)
    with pytest.raises(pc.EstimationError, match="icc must be below 1"):
        pc.mde(40, 15, 1.0, p=0.5)
    with pytest.raises(pc.EstimationError, match="effect must be positive"):
        pc.sample_size(0.0, 15, 0.1, p=0.5)


# -------------------------------------------------------------------- ICC --
@pytest.mark.parametrize("y", ["trust", "score"])
@pytest.mark.parametrize(
    ("case", "kwargs"),
    [("strata", {}), ("pooled", {"within_strata": False}),
     ("strata_weighted", {"weighted": True})],
)
def test_icc_equals_r_anova(y, case, kwargs):
    design = panel_design(3)
    baseline = design.subset(design.data["wave"] == 0)
    row = pc.icc(baseline, y, **kwargs).iloc[0]
    for key in ("msb", "msw", "n0", "icc"):
        assert close(row[key], ref2(f"icc/{y}/{case}", key)), (case, key)
    assert row["n_clusters"] == 40
    assert row["n"] == (design.data["wave"] == 0).sum()


def test_icc_recovers_a_known_correlation():
    """Balanced one-way random effects, 400 clusters of 20: ICC 0.2 within sampling error."""
    rng = np.random.default_rng(5)
    clusters, m, rho = 400, 20, 0.2
    u = rng.normal(0, np.sqrt(rho), clusters)
    y = np.repeat(u, m) + rng.normal(0, np.sqrt(1 - rho), clusters * m)
    data = pd.DataFrame({"y": y, "v": np.repeat(np.arange(clusters), m)})
    row = pc.icc(pc.SurveyDesign(data, psu="v"), "y").iloc[0]
    assert row["n0"] == m
    assert abs(row["icc"] - rho) < 0.04  # SE of the estimate is about 0.013


def test_icc_errors():
    data = panel_design(2).data
    with pytest.raises(pc.EstimationError, match="no psu= column"):
        pc.icc(pc.SurveyDesign(data, weights="w"), "trust")
    with pytest.raises(pc.EstimationError, match="replicate design"):
        pc.icc(panel_design(2).replicate("jkn"), "trust")
    with pytest.raises(pc.EstimationError, match="unknown column 'trusts'"):
        pc.icc(panel_design(2), "trusts")
