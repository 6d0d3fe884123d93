"""``pc.allocate``: proportional, Neyman, optimal and detectable-effect allocation, whole
numbers that sum exactly, minimums, take-all strata, errors; and the examples of the
sampling modules (doctests)."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perception as pc
from perception.errors import SamplingError
from perception.sampling.rounding import bounded_allocation, largest_remainder

ALLOC_ATOL = 1e-9  # continuous allocations against hand formulas


def frame_of(counts: dict, **columns) -> pd.DataFrame:
    """A frame with ``counts[stratum]`` units per stratum and per-stratum columns."""
    rows = []
    for stratum, k in counts.items():
        for i in range(k):
            rows.append({"cercle": stratum, "unit": f"{stratum}{i}",
                         **{c: v[stratum] if isinstance(v, dict) else v[i % len(v)]
                            for c, v in columns.items()}})
    return pd.DataFrame(rows)


COUNTS = {"Mopti": 40, "Bandiagara": 25, "Ségou": 60, "Youwarou": 3}


def test_proportional_to_units_and_to_size():
    frame = frame_of(COUNTS, population={"Mopti": 100, "Bandiagara": 300, "Ségou": 50,
                                         "Youwarou": 400})
    a = pc.allocate(frame, 20, strata="cercle", minimum=0)
    assert a.total == 20
    units = pd.Series(COUNTS)
    exact = a.table.set_index("cercle")["n_exact"]
    np.testing.assert_allclose(exact[units.index], 20 * units / units.sum(), atol=ALLOC_ATOL)
    b = pc.allocate(frame, 20, strata="cercle", size="population", minimum=0)
    sizes = pd.Series({"Mopti": 4000, "Bandiagara": 7500, "Ségou": 3000, "Youwarou": 1200})
    table = b.table.set_index("cercle")
    np.testing.assert_allclose(table.loc[sizes.index, "X_h"], sizes)
    np.testing.assert_allclose(table.loc[sizes.index, "n_exact"], 20 * sizes / sizes.sum(),
                               atol=ALLOC_ATOL)
    assert b.n == {"Bandiagara": 10, "Mopti": 5, "Ségou": 4, "Youwarou": 1}


def test_minimum_and_take_all():
    frame = frame_of(COUNTS)
    a = pc.allocate(frame, 12, strata="cercle")  # Youwarou: 3 units, share 0.33 -> 2
    table = a.table.set_index("cercle")
    assert table.loc["Youwarou", "n_h"] == 2 and table.loc["Youwarou", "at_minimum"]
    assert a.total == 12
    b = pc.allocate(frame, 20, strata="cercle", minimum=4)  # Youwarou taken whole
    table = b.table.set_index("cercle")
    assert table.loc["Youwarou", "n_h"] == 3 and table.loc["Youwarou", "take_all"]
    assert any("take-all" in note for note in b.notes)
    assert (table["n_h"] >= np.minimum(4, table["N_h"])).all()
    assert b.total == 20


def test_neyman_with_a_column_or_a_mapping():
    sd = {"Mopti": 0.5, "Bandiagara": 0.2, "Ségou": 0.4, "Youwarou": 0.45}
    frame = frame_of(COUNTS, sd=sd)
    a = pc.allocate(frame, 30, strata="cercle", method="neyman", sd="sd", minimum=0)
    b = pc.allocate(frame, 30, strata="cercle", method="neyman", sd=sd, minimum=0)
    assert a.n == b.n
    share = pd.Series(COUNTS) * pd.Series(sd)
    np.testing.assert_allclose(a.table.set_index("cercle").loc[share.index, "n_exact"],
                               30 * share / share.sum(), atol=ALLOC_ATOL)
    assert a.total == 30


def test_neyman_gives_zero_sd_strata_the_minimum():
    sd = {"Mopti": 0.5, "Bandiagara": 0.0, "Ségou": 0.4, "Youwarou": 0.45}
    a = pc.allocate(frame_of(COUNTS), 30, strata="cercle", method="neyman", sd=sd)
    assert a.n["Bandiagara"] == 2 and a.total == 30


def test_optimal_with_costs_for_n_and_for_a_budget():
    sd = {"Mopti": 0.5, "Bandiagara": 0.3, "Ségou": 0.4, "Youwarou": 0.45}
    cost = {"Mopti": 4.0, "Bandiagara": 1.0, "Ségou": 2.0, "Youwarou": 9.0}
    frame = frame_of(COUNTS)
    a = pc.allocate(frame, 30, strata="cercle", method="optimal", sd=sd, cost=cost, minimum=0)
    N, S, C = pd.Series(COUNTS), pd.Series(sd), pd.Series(cost)
    share = N * S / np.sqrt(C)
    np.testing.assert_allclose(a.table.set_index("cercle").loc[share.index, "n_exact"],
                               30 * share / share.sum(), atol=ALLOC_ATOL)
    budget = 100.0
    b = pc.allocate(frame, strata="cercle", method="optimal", sd=sd, cost=cost,
                    budget=budget, minimum=0)
    table = b.table.set_index("cercle")
    n_budget = budget * share.sum() / (N * S * np.sqrt(C)).sum()  # Cochran 5.24
    np.testing.assert_allclose(table["n_exact"].sum(), n_budget, rtol=1e-12)
    assert table["total_cost"].sum() <= budget
    # rounding within the budget moves each stratum by less than one unit
    assert (table["n_exact"] - table["n_h"]).abs().max() < 1
    # equal costs: optimal is Neyman
    c = pc.allocate(frame, 30, strata="cercle", method="optimal", sd=sd, cost=3.0)
    d = pc.allocate(frame, 30, strata="cercle", method="neyman", sd=sd)
    assert c.n == d.n


def test_count_column_allocates_from_a_table_of_strata():
    strata = pd.DataFrame({"cercle": list(COUNTS), "villages": list(COUNTS.values())})
    a = pc.allocate(strata, 20, strata="cercle", count="villages")
    b = pc.allocate(frame_of(COUNTS), 20, strata="cercle")
    assert a.n == b.n
    pd.testing.assert_frame_equal(a.table, b.table)


def test_mde_allocation_uses_sample_size_per_arm():
    frame = pd.DataFrame({
        "cercle": np.repeat(["Mopti", "Bandiagara", "Ségou"], 100),
        "treated": np.tile(np.repeat([0, 1], 50), 3),
        "population": np.arange(300) % 7 + 5,
    })
    a = pc.allocate(frame, strata=["cercle", "treated"], method="mde", effect=0.12,
                    cluster_size=15, icc=0.1, p=0.5, deff_weighting=1.3, arm="treated",
                    size="population")
    plan = pc.sample_size(0.12, 15, 0.1, p=0.5, deff_weighting=1.3, design="did")
    k = int(plan["n_clusters"].iloc[0])
    per_arm = a.table.groupby("treated")["n_h"].sum()
    assert per_arm.tolist() == [k, k]
    assert int(a.plan["n_clusters"].iloc[0]) == k
    assert a.plan["n_clusters_allocated"].iloc[0] == k
    assert a.plan["mde_allocated"].iloc[0] <= 0.12
    assert (a.table["n_interviews"] == a.table["n_h"] * 15).all()
    assert (a.plan[["icc_source", "cluster_size_source"]] == "given").all(axis=None)
    change = pc.allocate(frame, strata="cercle", method="mde", effect=0.12, cluster_size=15,
                         icc=0.1, p=0.5, design="change")
    k_change = int(pc.sample_size(0.12, 15, 0.1, p=0.5)["n_clusters"].iloc[0])
    assert change.total == k_change


def test_mde_allocation_measures_the_last_wave():
    demo = pc.demo_survey(seed=2, n_per_wave=1500)
    waves = demo.waves.assign(high=lambda d: d["trust_police"].where(
        d["trust_police"] <= 3).isin([2, 3]).astype(float).where(d["trust_police"] <= 3))
    design = pc.SurveyDesign(waves, weights="w_final", strata="stratum", psu="psu_id")
    last = design.subset(waves["wave"] == 1)
    frame = pc.demo_village_frame(demo)
    a = pc.allocate(frame, strata="stratum", method="mde", effect=0.15, last_wave=last,
                    variable="high", arm="treated", size="adults")
    icc = float(pc.icc(last, "high", na_rm=True)["icc"].iloc[0])
    assert a.plan["icc"].iloc[0] == pytest.approx(icc, rel=1e-12)
    w = waves.loc[(waves["wave"] == 1) & waves["high"].notna(), "w_final"]
    assert a.plan["deff_weighting"].iloc[0] == pytest.approx(
        len(w) * (w**2).sum() / w.sum() ** 2, rel=1e-12)
    assert (a.plan.filter(like="_source") == "last wave").all(axis=None)
    assert any("ICC" in note for note in a.notes)


@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=12),
       sizes=st.lists(st.integers(1, 10_000), min_size=12, max_size=12),
       share=st.floats(0.0, 1.0), minimum=st.integers(0, 4))
def test_whole_numbers_sum_exactly_within_bounds(counts, sizes, share, minimum):
    frame = pd.DataFrame({"h": np.repeat(np.arange(len(counts)), counts),
                          "x": np.repeat(sizes[:len(counts)], counts)})
    lo = np.minimum(minimum, counts)
    n = int(lo.sum() + round(share * (sum(counts) - lo.sum())))
    if n == 0:
        return
    a = pc.allocate(frame, n, strata="h", size="x", minimum=minimum)
    t = a.table
    assert t["n_h"].sum() == n
    assert (t["n_h"] >= lo).all() and (t["n_h"] <= t["N_h"]).all()
    assert ((t["n_h"] - t["n_exact"]).abs() < 1).all()  # a rounding, never more
    assert t["n_exact"].sum() == pytest.approx(n, rel=1e-9)


def test_largest_remainder_order_and_ties():
    x = np.array([2.5, 2.5, 3.0])
    assert largest_remainder(x, np.zeros(3), np.full(3, 10), total=8).tolist() == [3, 2, 3]
    x, lam = bounded_allocation(np.array([1.0, 3.0]), np.array([0.0, 0.0]),
                                np.array([10.0, 2.0]), 6.0)
    assert x.tolist() == [4.0, 2.0] and lam == 4.0


def test_allocation_feeds_select_pps():
    frame = frame_of(COUNTS, population=[10, 20, 30, 40, 50])
    a = pc.allocate(frame, 15, strata="cercle", size="population")
    s = pc.select_pps(frame, "population", n=a, strata="cercle", seed=1)
    assert s.groupby("cercle").size().to_dict() == a.n


def test_inputs_are_not_modified():
    frame = frame_of(COUNTS, sd={"Mopti": 0.5, "Bandiagara": 0.2, "Ségou": 0.4,
                                 "Youwarou": 0.45})
    before = frame.copy()
    pc.allocate(frame, 20, strata="cercle", method="neyman", sd="sd")
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(method="equal"), "not an allocation method"),
    (dict(strata=None), "give strata="),
    (dict(strata="region"), "no column 'region'"),
    (dict(n=None), "needs n="),
    (dict(n=7), "below what the minimum of 2"),
    (dict(n=500), "more than the frame can give"),
    (dict(n=12.5), "whole number"),
    (dict(method="neyman"), "needs sd="),
    (dict(method="neyman", sd="unit"), "not numeric"),
    (dict(method="neyman", sd={"Mopti": 1}), "no value for stratum"),
    (dict(method="neyman", sd=0.0), "sd is 0 in every stratum"),
    (dict(method="optimal", sd=1.0), "needs cost="),
    (dict(method="optimal", cost=1.0, budget=10), "exactly one of n= .* or budget="),
    (dict(method="optimal", cost={"Mopti": 0, "Bandiagara": 1, "Ségou": 1, "Youwarou": 1}),
     "cost must be positive"),
    (dict(cost=2.0), "apply to method='optimal'"),
    (dict(effect=0.1), "apply to method='mde'"),
    (dict(n=None, method="mde"), "needs effect="),
    (dict(n=None, method="mde", effect=0.1), "needs icc, cluster_size, p \\(or sd\\)"),
    (dict(method="mde", effect=0.1), "leave n out"),
    (dict(n=None, method="mde", effect=0.1, icc=0.1, cluster_size=10, p=0.5,
          deff_weighting=1.0), "give arm="),
    (dict(n=None, method="mde", effect=0.1, icc=0.1, cluster_size=10, p=0.5,
          deff_weighting=1.0, arm="unit"), "varies within stratum"),
    (dict(minimum=-1), "minimum must be >= 0"),
])
def test_clear_errors(kwargs, message):
    args = dict(n=20, strata="cercle")
    args.update(kwargs)
    with pytest.raises(SamplingError, match=message):
        pc.allocate(frame_of(COUNTS), **args)


def test_missing_strata_and_sizes_name_their_rows():
    frame = frame_of(COUNTS, population=[10, 20])
    bad = frame.assign(cercle=frame["cercle"].where(frame.index != 5))
    with pytest.raises(SamplingError, match="missing in rows 5"):
        pc.allocate(bad, 20, strata="cercle")
    bad = frame.assign(population=frame["population"].where(frame.index != 7))
    with pytest.raises(SamplingError, match="'population' is missing in rows 7"):
        pc.allocate(bad, 20, strata="cercle", size="population")
    with pytest.raises(SamplingError, match="varies within stratum"):
        pc.allocate(frame, 20, strata="cercle", method="neyman", sd="population")


def test_last_wave_must_be_a_design_with_the_variable():
    frame = frame_of(COUNTS)
    with pytest.raises(SamplingError, match="last_wave must be a pc.SurveyDesign"):
        pc.allocate(frame, strata="cercle", method="mde", effect=0.1, design="change",
                    last_wave=frame, variable="x")


@pytest.mark.parametrize("module", [
    "perception.sampling.allocation", "perception.sampling.rounding",
    "perception.sampling.selection", "perception.sampling.pps",
    "perception.sampling.sampford",
])
def test_module_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"pc": pc},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
