"""``pc.select_pps`` and ``pc.joint_inclusion``: PPS selection with certainty units and a
reserve list; Sampford's exact joint probabilities.

Exact checks enumerate every sample of small frames (Sampford's design from its
probability function, systematic PPS over every list order and start); seeded Monte Carlo
checks (a few thousand draws) compare the drawn frequencies with the probabilities the
draw reports, within a tolerance set by the Monte Carlo standard error.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perception as pc
from perception.errors import SamplingError
from perception.sampling.pps import pps_probabilities, systematic_draw
from perception.sampling.sampford import sampford_draw, sampford_joint

EXACT_ATOL = 1e-12  # enumeration vs the polynomial formulas (float sums)
MC_Z = 4.5  # largest |frequency - probability| / MC SE accepted (about 1e-5 per check)
CHI2_P = 1e-4  # smallest p-value accepted for a chi-square of sample frequencies


# ------------------------------------------------------------------ enumeration --
def sampford_design(pi: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every Sampford sample with its probability, p(s) ~ prod lambda * sum (1 - pi)."""
    n = int(round(pi.sum()))
    lam = pi / (1 - pi)
    weights = {s: float(np.prod(lam[list(s)]) * np.sum(1 - pi[list(s)]))
               for s in itertools.combinations(range(pi.size), n)}
    total = sum(weights.values())
    return {s: w / total for s, w in weights.items()}


def systematic_design(x: np.ndarray, n: int) -> dict[tuple[int, ...], float]:
    """Every systematic PPS sample with its probability, over all list orders (equally
    likely) and the uniform start (exact lengths of the start's intervals)."""
    X, N = float(x.sum()), x.size
    step = X / n
    design: dict[tuple[int, ...], float] = {}
    orders = list(itertools.permutations(range(N)))
    for order in orders:
        cum = np.cumsum(x[list(order)])
        cuts = np.unique(np.concatenate([[0.0, step], np.mod(cum, step)]))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            if hi - lo <= 1e-15:
                continue
            points = (lo + hi) / 2 + step * np.arange(n)
            chosen = tuple(sorted(order[i] for i in np.searchsorted(cum, points, side="right")))
            design[chosen] = design.get(chosen, 0.0) + (hi - lo) / step / len(orders)
    return design


def inclusion(design: dict[tuple[int, ...], float], N: int) -> np.ndarray:
    out = np.zeros((N, N))
    for s, p in design.items():
        out[np.ix_(s, s)] += p
    return out


FRAMES = [
    np.array([0.2, 0.7, 0.8, 0.5, 0.4, 0.4]),
    np.array([0.05, 0.15, 0.3, 0.5, 0.9, 0.6, 0.5]),
    np.array([0.95, 0.9, 0.85, 0.1, 0.1, 0.15, 0.95]),  # n/N large, pi near 1
]


@pytest.mark.parametrize("pi", FRAMES)
def test_sampford_joint_equals_enumeration(pi):
    exact = inclusion(sampford_design(pi), pi.size)
    np.testing.assert_allclose(np.diag(exact), pi, atol=EXACT_ATOL)  # Sampford's theorem
    np.testing.assert_allclose(sampford_joint(pi), exact, atol=EXACT_ATOL)
    units = [4, 1, 3]
    np.testing.assert_allclose(sampford_joint(pi, units), exact[np.ix_(units, units)],
                               atol=EXACT_ATOL)


def test_sampford_joint_of_one_unit_samples_is_zero():
    pi = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(sampford_joint(pi), np.diag(pi))


@pytest.mark.parametrize("pi", FRAMES[:2])
def test_sampford_draws_follow_the_design(pi):
    design = sampford_design(pi)
    rng = np.random.default_rng(20240205)
    draws = 4000
    counts = {s: 0 for s in design}
    for _ in range(draws):
        counts[tuple(sampford_draw(rng, pi).tolist())] += 1
    observed = np.array([counts[s] for s in design])
    expected = np.array([design[s] for s in design]) * draws
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    from scipy import stats

    assert stats.chi2.sf(chi2, len(design) - 1) > CHI2_P


def test_systematic_first_order_probabilities_are_exact():
    x = np.array([5.0, 1, 2, 3, 1])
    exact = inclusion(systematic_design(x, 2), x.size)
    np.testing.assert_allclose(np.diag(exact), 2 * x / x.sum(), atol=EXACT_ATOL)


def test_systematic_draws_follow_the_design():
    x = np.array([5.0, 1, 2, 3, 1])
    design = systematic_design(x, 2)
    rng = np.random.default_rng(7)
    draws = 4000
    counts = dict.fromkeys(design, 0)
    for _ in range(draws):
        counts[tuple(systematic_draw(rng, x, 2).tolist())] += 1
    keep = [s for s in design if design[s] > 0]
    observed = np.array([counts[s] for s in keep])
    expected = np.array([design[s] for s in keep]) * draws
    from scipy import stats

    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(chi2, len(keep) - 1) > CHI2_P
    assert sum(counts.values()) == draws  # no sample outside the design


def test_certainty_rule_is_iterative():
    # 60 >= 100/2 is certain; then 20 >= 40/1 is not, but with n = 3: 60 and 20 (20 >=
    # 40/2) are both certain
    pi, certain = pps_probabilities(np.array([60.0, 20, 10, 10]), 3)
    assert certain.tolist() == [True, True, False, False]
    np.testing.assert_allclose(pi, [1, 1, 0.5, 0.5])
    pi, certain = pps_probabilities(np.array([60.0, 20, 10, 10]), 2)
    assert certain.tolist() == [True, False, False, False]
    np.testing.assert_allclose(pi, [1, 0.5, 0.25, 0.25])


# ---------------------------------------------------------------------- frames --
def small_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "village": [f"v{i}" for i in range(14)],
        "cercle": ["Mopti"] * 8 + ["Ségou"] * 6,
        "population": [1000, 500, 400, 300, 300, 200, 200, 100, 1000, 100, 100, 200, 300, 100],
    }, index=pd.Index([f"r{i}" for i in range(14)], name="row"))


N_H = {"Mopti": 3, "Ségou": 2}


def test_result_holds_the_drawn_rows_with_their_probabilities():
    frame = small_frame()
    before = frame.copy()
    s = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="sampford",
                      seed=3, reserve=2)
    pd.testing.assert_frame_equal(frame, before)  # the frame is never modified
    assert list(s.columns) == [*frame.columns, "pi", "pi_draw", "certainty", "reserve",
                               "reserve_order"]
    pd.testing.assert_frame_equal(s[frame.columns], frame.loc[s.index])
    main = s[~s["reserve"]]
    assert main.groupby("cercle").size().to_dict() == N_H
    assert s.groupby("cercle")["reserve"].sum().to_dict() == {"Mopti": 2, "Ségou": 2}
    assert s.loc[s["reserve"], "reserve_order"].groupby(s["cercle"]).apply(
        lambda v: sorted(v.tolist())).to_dict() == {"Mopti": [1, 2], "Ségou": [1, 2]}
    assert s.loc[~s["reserve"], "reserve_order"].isna().all()
    # certainty: r0 (1000 >= 3000/3) and r8 (1000 >= 1800/2)
    assert set(s.index[s["certainty"]]) == {"r0", "r8"}
    assert (s.loc[s["certainty"], "pi"] == 1).all()
    assert not s.loc[s["certainty"], "reserve"].any()


def test_pi_is_pps_when_no_unit_is_certain_at_the_first_phase():
    frame = small_frame()
    s = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="systematic",
                      seed=11, reserve=1)
    record = s.attrs["selection"]
    assert record.summary()["phase1_certain"].tolist() == [0, 0]
    for cercle, part in s.groupby("cercle"):
        rest = frame[(frame["cercle"] == cercle) & ~frame.index.isin(s.index[s["certainty"]])]
        n_survey = N_H[cercle] - int(part["certainty"].sum())
        free = part[~part["certainty"]]
        np.testing.assert_allclose(free["pi"], n_survey * free["population"]
                                   / rest["population"].sum(), rtol=1e-12)
        np.testing.assert_allclose(free["pi_draw"], (n_survey + 1) * free["population"]
                                   / rest["population"].sum(), rtol=1e-12)


def test_same_seed_same_sample_and_no_global_state():
    frame = small_frame()
    args = dict(n=N_H, strata="cercle", method="sampford", reserve=1)
    a = pc.select_pps(frame, "population", seed=5, **args)
    np.random.seed(0)  # global state must not matter
    b = pc.select_pps(frame, "population", seed=5, **args)
    pd.testing.assert_frame_equal(a, b)
    c = pc.select_pps(frame, "population", seed=np.random.default_rng(5), **args)
    pd.testing.assert_frame_equal(a, c)
    assert c.attrs["selection"].seed is None and a.attrs["selection"].seed == 5
    others = {tuple(pc.select_pps(frame, "population", seed=k, **args).index)
              for k in range(20)}
    assert len(others) > 1


def test_a_draw_without_seed_records_one_that_repeats_it():
    frame = small_frame()
    a = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="sampford")
    seed = a.attrs["selection"].seed
    assert isinstance(seed, int)
    b = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="sampford",
                      seed=seed)
    pd.testing.assert_frame_equal(a, b)


def test_takes_the_allocation_and_one_number():
    frame = small_frame()
    alloc = pc.allocate(frame, 5, strata="cercle", size="population")
    s = pc.select_pps(frame, "population", n=alloc, strata="cercle", seed=1)
    assert s.groupby("cercle").size().to_dict() == alloc.n
    s = pc.select_pps(frame, "population", n=2, strata="cercle", seed=1)
    assert s.groupby("cercle").size().to_dict() == {"Mopti": 2, "Ségou": 2}


def test_several_strata_columns_take_tuple_keys():
    frame = small_frame().assign(arm=[0, 1] * 7)
    s = pc.select_pps(frame, "population", strata=["cercle", "arm"], seed=2,
                      n={("Mopti", 0): 1, ("Mopti", 1): 2, ("Ségou", 0): 1, ("Ségou", 1): 1})
    assert s.groupby(["cercle", "arm"]).size().to_dict() == {
        ("Mopti", 0): 1, ("Mopti", 1): 2, ("Ségou", 0): 1, ("Ségou", 1): 1}


def test_whole_stratum_and_small_reserve():
    frame = small_frame()
    s = pc.select_pps(frame, "population", n={"Mopti": 8, "Ségou": 5}, strata="cercle",
                      seed=1, reserve=3)
    mopti = s[s["cercle"] == "Mopti"]
    assert len(mopti) == 8 and mopti["certainty"].all() and (mopti["pi"] == 1).all()
    # Ségou: 1000, 300 and 200 are certain in turn; 2 of the three 100s are surveyed, the
    # third is the only reserve unit left (certain at phase 1: pi = 1 * 2/3)
    segou = s[s["cercle"] == "Ségou"]
    assert int(segou["certainty"].sum()) == 3
    assert int(segou["reserve"].sum()) == 1
    np.testing.assert_allclose(segou.loc[~segou["certainty"], "pi"], 2 / 3)
    assert s.attrs["selection"].summary()["phase1_certain"].tolist() == [0, 3]


def test_order_lists_units_for_systematic_sampling():
    frame = small_frame().assign(commune=[1, 1, 2, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 3])
    a = pc.select_pps(frame, "population", n=N_H, strata="cercle", seed=9, order="commune")
    assert len(a) == 5


# ----------------------------------------------------------- joint probabilities --
def test_joint_inclusion_equals_enumeration_with_reserve():
    # one stratum, no certainty: phase 1 is a Sampford draw of n + r, phase 2 random
    x = np.array([30.0, 25, 20, 15, 12, 10, 8, 5])
    frame = pd.DataFrame({"size": x})
    n, r = 2, 2
    s = pc.select_pps(frame, "size", n=n, method="sampford", seed=1, reserve=r)
    pij = pc.joint_inclusion(s, reserve=True)
    pi1 = (n + r) * x / x.sum()
    exact = inclusion(sampford_design(pi1), x.size) * n * (n - 1) / ((n + r) * (n + r - 1))
    np.fill_diagonal(exact, pi1 * n / (n + r))
    labels = list(pij.index)
    np.testing.assert_allclose(pij.to_numpy(), exact[np.ix_(labels, labels)], atol=EXACT_ATOL)
    main = pc.joint_inclusion(s)
    assert list(main.index) == list(s.index[~s["reserve"]])


def test_joint_inclusion_of_certainty_and_strata():
    frame = small_frame()
    s = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="sampford",
                      seed=4)
    pij = pc.joint_inclusion(s)
    pi = s["pi"]
    # certainty unit with any unit: the other's pi; across strata: independent
    for label in s.index[s["certainty"]]:
        np.testing.assert_allclose(pij.loc[label], pi.loc[pij.columns])
    mopti, segou = s.index[s["cercle"] == "Mopti"], s.index[s["cercle"] == "Ségou"]
    np.testing.assert_allclose(pij.loc[mopti, segou], np.outer(pi[mopti], pi[segou]))
    np.testing.assert_allclose(np.diag(pij), pi)
    np.testing.assert_allclose(pij, pij.T)
    # rows reordered or removed: matched by label
    sub = s.iloc[::-1].iloc[:3]
    np.testing.assert_allclose(pc.joint_inclusion(sub), pij.loc[sub.index, sub.index])


def test_monte_carlo_inclusion_frequencies_match_pi_and_pij():
    """Seeded Monte Carlo of the whole draw: certainty units always in, every unit's
    frequency of being surveyed equals pi, every pair's equals pi_ij (Sampford)."""
    frame = small_frame()
    rng = np.random.default_rng(2025)
    labels = list(frame.index)
    where = {lab: i for i, lab in enumerate(labels)}
    # Sampford's pairs need more draws than first-order frequencies
    for method, draws in (("sampford", 1500), ("systematic", 1000)):
        seen = np.zeros((len(labels), len(labels)))
        pi = np.full(len(labels), np.nan)
        pij = np.full((len(labels), len(labels)), np.nan)
        certain = set()
        for _ in range(draws):
            s = pc.select_pps(frame, "population", n=N_H, strata="cercle", method=method,
                              seed=rng, reserve=1)
            rows = np.array([where[lab] for lab in s.index.to_numpy(dtype=object)])
            main = rows[~s["reserve"].to_numpy()]
            seen[np.ix_(main, main)] += 1
            pi[rows] = s["pi"].to_numpy()
            certain |= {labels[i] for i in rows[s["certainty"].to_numpy()]}
            if method == "sampford" and _ < 200:
                j = pc.joint_inclusion(s, reserve=True)
                idx = [where[lab] for lab in j.index]
                pij[np.ix_(idx, idx)] = j.to_numpy()
        freq = np.diag(seen) / draws
        for lab in certain:
            assert freq[where[lab]] == 1.0  # certainty units are always selected
        drawn = ~np.isnan(pi)
        se = np.sqrt(pi[drawn] * (1 - pi[drawn]) / draws)
        z = np.abs(freq[drawn] - pi[drawn]) / np.where(se > 0, se, np.inf)
        assert z.max() < MC_Z, (method, z.max())
        if method == "sampford":
            known = ~np.isnan(pij)
            p = pij[known]
            f = (seen / draws)[known]
            se = np.sqrt(p * (1 - p) / draws)
            z = np.abs(f - p) / np.where(se > 0, se, np.inf)
            assert z.max() < MC_Z, z.max()
            assert known.sum() > 60  # most pairs were met and checked


# -------------------------------------------------------------------- properties --
@given(sizes=st.lists(st.integers(1, 1000), min_size=2, max_size=25),
       share=st.floats(0.05, 1.0), reserve=st.integers(0, 3), seed=st.integers(0, 2**32),
       method=st.sampled_from(["systematic", "sampford"]))
def test_invariants_of_a_draw(sizes, share, reserve, seed, method):
    frame = pd.DataFrame({"size": sizes})
    n = max(1, int(share * len(sizes)))
    s = pc.select_pps(frame, "size", n=n, method=method, seed=seed, reserve=reserve)
    main = s[~s["reserve"]]
    assert len(main) == n
    assert s.index.is_unique
    assert ((s["pi"] > 0) & (s["pi"] <= 1)).all()
    assert ((s["pi_draw"] >= s["pi"] - 1e-15) & (s["pi_draw"] <= 1)).all()
    _, certain = pps_probabilities(np.asarray(sizes, dtype=float), n)
    assert set(np.flatnonzero(certain)) <= set(main.index)  # certainty units are in
    assert set(main.index[main["certainty"]]) == set(np.flatnonzero(certain))
    expected_reserve = min(reserve, len(sizes) - n) if n > certain.sum() else 0
    assert int(s["reserve"].sum()) == expected_reserve


# ------------------------------------------------------------------------ errors --
@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(size="pop"), "no column 'pop'"),
    (dict(size="village"), "not numeric"),
    (dict(n={"Mopti": 3}), "no value for stratum 'Ségou'"),
    (dict(n={"Mopti": 3, "Ségou": 2, "Kayes": 1}), "'Kayes' name no stratum"),
    (dict(n={"Mopti": 9, "Ségou": 2}), "'Mopti': n=9 > 8 units"),
    (dict(n=2.5), "whole number"),
    (dict(method="srs"), "choose 'systematic'"),
    (dict(reserve=-1), "reserve must be >= 0"),
    (dict(strata="region"), "no column 'region'"),
    (dict(order="commune"), "no column 'commune'"),
    (dict(method="sampford", order="cercle"), "does not depend on the order"),
    (dict(seed="one"), "seed must be"),
    (dict(n=0), "nothing to draw"),
])
def test_clear_errors(kwargs, message):
    args = dict(size="population", n=N_H, strata="cercle", seed=1)
    args.update(kwargs)
    with pytest.raises(SamplingError, match=message):
        pc.select_pps(small_frame(), args.pop("size"), **args)


@pytest.mark.parametrize(("values", "problem"), [
    ([1.0, np.nan, 3.0], "is missing in rows 1"),
    ([1.0, 0.0, 3.0], "is zero in rows 1"),
    ([1.0, -2.0, 3.0], "is negative in rows 1"),
    ([1.0, np.inf, 3.0], "is infinite in rows 1"),
])
def test_bad_sizes_are_named_with_their_rows(values, problem):
    with pytest.raises(SamplingError, match=problem):
        pc.select_pps(pd.DataFrame({"size": values}), "size", n=1, seed=1)


def test_missing_stratum_and_clashing_columns_and_labels():
    frame = small_frame()
    bad = frame.assign(cercle=frame["cercle"].where(frame.index != "r3"))
    with pytest.raises(SamplingError, match="missing in rows r3"):
        pc.select_pps(bad, "population", n=1, strata="cercle", seed=1)
    with pytest.raises(SamplingError, match="already has column"):
        pc.select_pps(frame.assign(pi=1.0), "population", n=1, seed=1)
    with pytest.raises(SamplingError, match="row labels repeat"):
        pc.select_pps(frame.set_index("cercle"), "population", n=1, seed=1)
    with pytest.raises(SamplingError, match="DataFrame"):
        pc.select_pps(frame.to_dict(), "population", n=1, seed=1)


def test_joint_inclusion_errors():
    frame = small_frame()
    with pytest.raises(SamplingError, match="returned by pc.select_pps"):
        pc.joint_inclusion(frame)
    s = pc.select_pps(frame, "population", n=N_H, strata="cercle", seed=1)
    with pytest.raises(SamplingError, match="systematic PPS in random order"):
        pc.joint_inclusion(s)
    s = pc.select_pps(frame, "population", n=N_H, strata="cercle", method="sampford", seed=1)
    outside = next(lab for lab in frame.index if lab not in s.index)
    extra = pd.concat([s, frame.loc[[outside]]])
    extra.attrs = s.attrs
    with pytest.raises(SamplingError, match="not drawn"):
        pc.joint_inclusion(extra)


@pytest.mark.parametrize("pi", [[0.5, 1.0, 0.5], [0.5, 0.6], [0.0, 0.5, 0.5]])
def test_sampford_joint_refuses_bad_probabilities(pi):
    with pytest.raises(SamplingError):
        sampford_joint(pi)


def test_large_strata_are_exact_too():
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, 300)
    pi, certain = pps_probabilities(x, 25)
    free = pi[~certain]
    n = int(round(free.sum()))
    pij = sampford_joint(free)
    np.testing.assert_allclose(pij.sum(1) - free, (n - 1) * free, rtol=1e-9)
    assert math.isclose(float(np.triu(pij, 1).sum()), n * (n - 1) / 2, rel_tol=1e-9)
