"""The estimation core against R's ``survey`` (4.1.1), number for number.

Reference values: ``tests/reference/reference_core.csv`` (``make_reference.R``: api
designs with and without fpc, two-stage ``apiclus2`` with weights derived from the fpc,
srs, one and two ``by`` columns, totals, ratios, the five proportion intervals, Woodruff
and score quantile intervals, the four lonely-PSU options, JK1, JKn, user-supplied
bootstrap weights, BRR and Fay) and ``tests/reference/core_extra.csv``
(``make_core_extra.R``: deff on replicate designs, ratio deff, proportion intervals and
quantiles inside domains, quantiles where p W hits a cumulative weight exactly, lonely
second-stage units, domains crossing strata under the lonely-PSU options).
Tolerances: ``_core_cases.EST_RTOL`` (estimates), ``SE_RTOL`` (SEs, bounds, deffs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _core_cases import (
    REFERENCE,
    Failed,
    estimates,
    extra_estimates,
    mismatches,
    read_reference,
    reference_data,
    replicate_design,
    taylor_design,
)

import perception as pc

CORE_FILE = REFERENCE / "reference_core.csv"
EXTRA_FILE = REFERENCE / "core_extra.csv"
# R records the Fay coefficient of its own replicate designs; ours are built from R's
# replicate weights (R's Hadamard matrices are precomputed tables), so there is no rho.
SKIPPED_KEYS = ("rho",)
# BRR with our (Sylvester) Hadamard matrix: totals and means of this data are linear in
# the replicate weights, so they equal R exactly; the ratio's variance depends on the
# matrix and agrees only approximately.
BRR_RATIO_RTOL = 0.02
TEXTBOOK_RTOL = 1e-10


def _cases(path):
    if not path.exists():
        return []
    return [pytest.param(case, values, id=case) for case, values in read_reference(path).items()]


def test_reference_files_are_present():
    assert CORE_FILE.exists(), f"{CORE_FILE} is missing: run tests/reference/make_reference.R"
    assert EXTRA_FILE.exists(), f"{EXTRA_FILE} is missing: run tests/reference/make_core_extra.R"


@pytest.mark.parametrize(("case", "expected"), _cases(CORE_FILE))
def test_reference_core(case, expected):
    computed = estimates(case.split("/")[0]).get(case)
    assert computed is not None, f"case {case} is not computed by tests/_core_cases.py"
    if isinstance(computed, Failed):
        raise computed.error
    problems = mismatches(computed, expected, skip=SKIPPED_KEYS)
    assert not problems, f"{case}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("case", "expected"), _cases(EXTRA_FILE))
def test_reference_core_extra(case, expected):
    problems = mismatches(extra_estimates(case), expected)
    assert not problems, f"{case}:\n" + "\n".join(problems)


# ----------------------------------------------------- replicate weights themselves --
def _our_weights(design: pc.ReplicateDesign) -> np.ndarray:
    return design.replicate_weights.to_numpy()


@pytest.mark.parametrize(("name", "file"), [("jk1_clus1", "jk1_clus1_repweights.csv"),
                                             ("jkn_strat", "jkn_strat_repweights.csv")])
def test_jackknife_weights_equal_r(name, file):
    theirs = reference_data(file)
    ours = replicate_design(name)
    assert (ours.data["cds"].to_numpy() == theirs["cds"].to_numpy()).all()
    expected = theirs[[c for c in theirs.columns if c.startswith("rep")]].to_numpy()
    np.testing.assert_allclose(_our_weights(ours), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours.weights.to_numpy(), theirs["pw"].to_numpy(), rtol=1e-15)


# ----------------------------------------------------------------- our own BRR/Fay --
@pytest.mark.parametrize(("method", "case"), [("brr", "brr"), ("fay", "fay03")])
def test_brr_hadamard_design(method, case):
    linear = taylor_design("brr_linearization")
    rep = linear.replicate(method, fay_rho=0.3)
    factors = rep.replicate_weights.to_numpy() / linear.weights.to_numpy()[:, None]
    rho = 0.0 if method == "brr" else 0.3
    # each half-sample: one PSU of every stratum up-weighted, the other down-weighted
    psu_factor = pd.DataFrame(factors).groupby(linear.data["psu"].to_numpy()).first()
    strata = linear.data.groupby("psu")["stratum"].first().loc[psu_factor.index]
    pair_sums = psu_factor.groupby(strata.to_numpy()).sum().to_numpy()
    np.testing.assert_allclose(pair_sums, 2.0, rtol=1e-14)
    assert set(np.unique(np.round(factors, 12))) == {rho, 2 - rho}
    # full orthogonal balance: the variance of totals is the textbook stratified variance
    reference = read_reference(CORE_FILE)
    ours_total = pc.total(rep, "enroll")
    assert abs(ours_total["se"].iloc[0] / reference["brr_linearization/total"]["enroll:se"]
               - 1) < TEXTBOOK_RTOL
    textbook = pc.total(linear, ["enroll", "api00"])["se"].to_numpy()
    np.testing.assert_allclose(pc.total(rep, ["enroll", "api00"])["se"], textbook,
                               rtol=TEXTBOOK_RTOL)
    # means: equal to R's BRR/Fay (the PSU weight totals are equal within strata)
    mean = pc.mean(rep, ["api00", "api99"])
    for variable, se in zip(mean["variable"], mean["se"], strict=True):
        expected = reference[f"{case}/mean"][f"{variable}:se"]
        assert abs(se / expected - 1) < TEXTBOOK_RTOL
    ratio_se = pc.ratio(rep, "api00", "api99")["se"].iloc[0]
    assert abs(ratio_se / reference[f"{case}/ratio"]["se"] - 1) < BRR_RATIO_RTOL
    assert rep.degf == reference[case]["degf"]


# ------------------------------------------------------------- fpc as fractions --
FRACTION_RTOL = 1e-12


def test_fpc_as_sampling_fractions_equals_population_sizes():
    strat = taylor_design("strat").data.copy()
    n_h = strat.groupby("stype")["stype"].transform("size")
    strat["f"] = n_h / strat["fpc"]
    as_fraction = pc.SurveyDesign(strat, weights="pw", strata="stype", fpc="f")
    as_size = taylor_design("strat")
    for estimator in (pc.mean, pc.total):
        a = estimator(as_fraction, ["api00", "api99"])
        b = estimator(as_size, ["api00", "api99"])
        np.testing.assert_allclose(a[["estimate", "se", "deff"]], b[["estimate", "se", "deff"]],
                                   rtol=FRACTION_RTOL)

    clus2 = taylor_design("clus2").data.copy()
    clus2["f1"] = clus2["dnum"].nunique() / clus2["fpc1"]
    clus2["f2"] = clus2.groupby("dnum")["snum"].transform("nunique") / clus2["fpc2"]
    as_fraction = pc.SurveyDesign(clus2, psu=["dnum", "snum"], fpc=["f1", "f2"])
    as_size = taylor_design("clus2")
    np.testing.assert_allclose(as_fraction.weights, as_size.weights, rtol=FRACTION_RTOL)
    a = pc.mean(as_fraction, ["api00", "api99"], by="stype")
    b = pc.mean(as_size, ["api00", "api99"], by="stype")
    np.testing.assert_allclose(a[["estimate", "se"]], b[["estimate", "se"]], rtol=FRACTION_RTOL)
    reference = read_reference(CORE_FILE)["clus2/mean"]
    whole = pc.mean(as_fraction, ["api00", "api99"])
    assert not mismatches(
        {f"{v}:{c}": x for v, e, s in zip(whole["variable"], whole["estimate"], whole["se"],
                                          strict=True) for c, x in (("est", e), ("se", s))},
        {k: v for k, v in reference.items() if k.endswith((":est", ":se"))
         and not k.startswith("vcov")},
    )


def test_lonely_psu_fail_names_the_stratum():
    # R: "Stratum (H) has only one PSU at stage 1" (r_refused.csv)
    design = taylor_design("lonely_average")
    strict = pc.SurveyDesign(design.data, weights="pw", strata="stype", psu="dnum", nest=True)
    with pytest.raises(pc.DesignError, match=r"stratum 'H' .*has only one PSU"):
        pc.mean(strict, "api00")


def test_jkn_needs_strata_as_in_r():
    # R: "Must use JK1 or bootstrap for an unstratified design" (r_refused.csv)
    with pytest.raises(pc.DesignError, match="jk1"):
        taylor_design("clus1_nofpc").replicate("jkn")


# ------------------------------------------------------------------------ bootstrap --
BOOTSTRAP_RTOL = 0.05  # 2000 replicates: the SE of a bootstrap SE is about 1.6%


@pytest.mark.parametrize("name", ["strat", "clus1", "clus1_nofpc"])
def test_bootstrap_agrees_with_linearisation(name):
    design = taylor_design(name)
    boot = design.replicate("bootstrap", replicates=2000, seed=3)
    linear = pc.mean(design, ["api00", "api99"])["se"].to_numpy()
    ours = pc.mean(boot, ["api00", "api99"])["se"].to_numpy()
    np.testing.assert_allclose(ours, linear, rtol=BOOTSTRAP_RTOL)
    assert boot.scale == pytest.approx(1 / 1999)
    # R's degf: rank of the replicate weights - 1; each stratum's factors sum to n_h
    assert boot.degf == design.degf


@pytest.mark.parametrize(("kind", "expected"), [("bootstrap", 1 / 14), ("jk1", 14 / 15),
                                                ("brr", 1 / 15), ("other", 1.0)])
def test_replicate_design_default_scale(kind, expected):
    # R's svrepdesign(type=) defaults: 1/(R-1), (R-1)/R, 1/R and 1
    weights = reference_data("jk1_clus1_repweights.csv")
    design = pc.ReplicateDesign(weights, weights="pw", replicate_weights="rep[0-9]+",
                                method=kind)
    assert design.scale == pytest.approx(expected, rel=1e-15)
    assert design.n_replicates == 15 and design.degf == 14
