"""Designs sampled with probability proportional to size (``SurveyDesign(pps=)``): bad
inputs get clear errors, and the variance forms obey the identities they must (equal
probabilities give simple random sampling without replacement; the closed forms equal
the matrix ``D``; a design of rows equals the design of its PSU totals). The numbers
against R are in ``test_pps_reference.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _pps_cases import data, design, joint
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.survey.pps_variance import JointVariance, hartley_rao, overton

METHODS = ("brewer", "overton", "hartley-rao")


def _election() -> pd.DataFrame:
    return data("election").copy()


# ------------------------------------------------------------------- bad inputs --
@pytest.mark.parametrize("method", METHODS)
def test_pps_needs_the_probabilities_in_fpc(method):
    with pytest.raises(pc.DesignError, match=r"needs fpc: the column of each PSU's inclusion"):
        pc.SurveyDesign(_election(), pps=method)


@pytest.mark.parametrize("bad", [0.0, -0.2, np.inf])
def test_probabilities_outside_zero_one_are_refused(bad):
    e = _election()
    e.loc[[3, 7], "p"] = bad
    with pytest.raises(pc.DesignError,
                       match=r"fpc column 'p' has zero, negative or infinite values in rows "
                             r"3, 7: give inclusion probabilities \(between 0 and 1\)"):
        pc.SurveyDesign(e, fpc="p", pps="overton")


def test_probabilities_above_one_are_refused_as_r_does():
    e = _election()
    e.loc[5, "p"] = 1.5
    with pytest.raises(pc.DesignError, match=r"values above 1 in rows 5.*R: 'fpc must be "
                                             r"specified as sampling fraction"):
        pc.SurveyDesign(e, fpc="p", pps="brewer")


def test_missing_probability_is_refused():
    e = _election()
    e.loc[2, "p"] = np.nan
    with pytest.raises(pc.DesignError, match=r"column 'p' \(fpc\) has 1 missing value"):
        pc.SurveyDesign(e, fpc="p", pps="brewer")


def test_probability_varying_within_a_psu_is_refused():
    v = data("villages").copy()
    v.loc[v.index[1], "p1"] = 0.5
    with pytest.raises(pc.DesignError, match=r"fpc column 'p1' varies within the sampled unit "
                                             r"of rows 0, 1, .* at stage 1"):
        pc.SurveyDesign(v, strata="stratum", psu="village", fpc="p1", pps="brewer")


def test_unequal_probabilities_without_pps_point_to_it():
    with pytest.raises(pc.DesignError, match=r"varies within stratum 'all'.*pass "
                                             r"pps='brewer', 'overton' or 'hartley-rao'"):
        pc.SurveyDesign(_election(), fpc="p")


@pytest.mark.parametrize(("pps", "message"), [
    ("sampford", r"pps='sampford' is not a method; choose one of brewer, overton, hartley-rao"),
    (3, r"pps must be one of 'brewer', 'overton', 'hartley-rao' or a matrix"),
])
def test_unknown_pps_is_refused(pps, message):
    with pytest.raises(pc.DesignError, match=message):
        pc.SurveyDesign(_election(), fpc="p", pps=pps)


@pytest.mark.parametrize(("pps", "psum", "message"), [
    (None, 0.2, r"psum is Hartley-Rao's sum of squared probabilities: give it with "
                r"pps='hartley-rao'"),
    ("overton", 0.2, r"psum belongs to pps='hartley-rao', not pps='overton'"),
    ("hartley-rao", 1.5, r"psum of stratum 'all' is 1.5: psum is the sum over the stratum's "
                         r"population of the squared inclusion probabilities"),
    ("hartley-rao", -1.0, r"psum of stratum 'all' is -1.0"),
    ("hartley-rao", {"a": 0.1}, r"psum as a mapping gives one value per stratum, but the "
                                r"design has no strata"),
    ("hartley-rao", [0.1], r"psum must be a number, a column name or a mapping"),
])
def test_bad_psum_is_refused(pps, psum, message):
    with pytest.raises(pc.DesignError, match=message):
        pc.SurveyDesign(_election(), fpc="p", pps=pps, psum=psum)


def test_psum_per_stratum():
    v = data("villages")
    by_column = design("vil_hr_psum")
    values = v.groupby("stratum")["psum"].first().to_dict()
    by_mapping = pc.SurveyDesign(v, strata="stratum", psu="village", fpc="p1",
                                 pps="hartley-rao", psum=values)
    np.testing.assert_array_equal(pc.mean(by_mapping, "trust")["se"],
                                  pc.mean(by_column, "trust")["se"])
    with pytest.raises(pc.DesignError, match=r"no value for stratum 'Koro'"):
        pc.SurveyDesign(v, strata="stratum", psu="village", fpc="p1", pps="hartley-rao",
                        psum={k: x for k, x in values.items() if k != "Koro"})
    with pytest.raises(pc.DesignError, match=r"psum is one number but the design has strata"):
        pc.SurveyDesign(v, strata="stratum", psu="village", fpc="p1", pps="hartley-rao",
                        psum=0.2)
    varying = v.assign(psum=v["psum"].where(v.index != 3, 0.3))
    with pytest.raises(pc.DesignError, match=r"psum column 'psum' varies within stratum "
                                             r"'Bandiagara'"):
        pc.SurveyDesign(varying, strata="stratum", psu="village", fpc="p1",
                        pps="hartley-rao", psum="psum")


@pytest.mark.parametrize("method", ["overton", "hartley-rao"])
def test_several_stages_only_with_brewer_as_in_r(method):
    # R: "Multistage PPS sampling not supported with this method"
    with pytest.raises(pc.DesignError, match=r"supports one stage of sampling, as in R"):
        pc.SurveyDesign(data("villages"), strata="stratum", psu=["village", "hh"],
                        fpc=["p1", "f2"], pps=method)


def test_several_stages_need_an_fpc_each():
    # R stops ("non-conformable arrays")
    with pytest.raises(pc.DesignError, match=r"pps with 2 stages needs one fpc column per "
                                             r"stage"):
        pc.SurveyDesign(data("villages"), strata="stratum", psu=["village", "hh"],
                        fpc="p1", pps="brewer")


def test_later_stage_as_population_size_is_refused():
    v = data("villages").assign(M=lambda d: 12 / d["f2"])
    with pytest.raises(pc.DesignError, match=r"column 'M' has values above 1"):
        pc.SurveyDesign(v, strata="stratum", psu=["village", "hh"], fpc=["p1", "M"],
                        pps="brewer")


@pytest.mark.parametrize("name", ["el_brewer", "el_overton", "el_joint", "vil_brewer2"])
@pytest.mark.parametrize("method", ["jk1", "jkn", "bootstrap", "brr", "fay"])
def test_replicates_of_a_pps_design_are_refused(name, method):
    # R: as.svrepdesign stops for JK1, JKn, bootstrap and drops the pps for BRR/Fay
    with pytest.raises(pc.DesignError, match=r"replicate weights cannot carry the unequal "
                                             r"inclusion probabilities"):
        design(name).replicate(method)


# ------------------------------------------------------------ the joint matrix --
def _pij() -> np.ndarray:
    return joint("jointprob").copy()


def test_joint_matrix_of_the_wrong_size():
    with pytest.raises(pc.DesignError, match=r"is 39x39 but the design has 40 rows: give a "
                                             r"40 x 40 matrix"):
        pc.SurveyDesign(_election(), fpc="p", pps=_pij()[1:, 1:])


def test_joint_matrix_not_symmetric():
    pij = _pij()
    pij[0, 1] += 0.01
    with pytest.raises(pc.DesignError, match=r"not symmetric: pi_ij != pi_ji for rows \(0, 1\)"):
        pc.SurveyDesign(_election(), fpc="p", pps=pij)


def test_joint_diagonal_must_be_the_fpc():
    e = _election()
    e.loc[4, "p"] = e.loc[4, "p"] * 0.9
    with pytest.raises(pc.DesignError, match=r"diagonal of the joint probabilities differs from "
                                             r"the fpc .* for rows \[4\]"):
        pc.SurveyDesign(e, fpc="p", pps=_pij())


def test_joint_probability_zero_is_refused():
    pij = _pij()
    pij[2, 5] = pij[5, 2] = 0.0
    with pytest.raises(pc.DesignError, match=r"rows \(2, 5\) can never be sampled together "
                                             r"\(pi_ij = 0\).*use pps='brewer'"):
        pc.SurveyDesign(_election(), fpc="p", pps=pij)


def test_joint_probability_above_the_smaller_one_is_refused():
    pij = _pij()
    pij[2, 5] = pij[5, 2] = 0.99
    with pytest.raises(pc.DesignError, match=r"above the smaller of the two inclusion "
                                             r"probabilities for rows \(2, 5\)"):
        pc.SurveyDesign(_election(), fpc="p", pps=pij)


def test_joint_probability_below_the_frechet_bound_is_refused():
    pij = _pij()
    i, j = 0, 1  # Los Angeles (0.904) and Cook (0.287): together at least 0.19
    pij[i, j] = pij[j, i] = 0.1
    with pytest.raises(pc.DesignError, match=r"below pi_i \+ pi_j - 1 for rows \(0, 1\)"):
        pc.SurveyDesign(_election(), fpc="p", pps=pij)


def test_joint_matrix_not_numbers():
    pij = _pij().astype(object)
    pij[0, 3] = "x"
    with pytest.raises(pc.DesignError, match=r"the joint probabilities must be numbers"):
        pc.SurveyDesign(_election(), fpc="p", pps=pij)


def test_joint_dataframe_labels_must_match_the_psus():
    pij = joint("village_joint")
    level = data("village_level")
    args = {"strata": "stratum", "psu": "village", "fpc": "p1"}
    with pytest.raises(pc.DesignError, match=r"no row for PSU\(s\) \['BDG-01'\]"):
        pc.SurveyDesign(level, pps=pij.drop(index="BDG-01", columns="BDG-01"), **args)
    with pytest.raises(pc.DesignError, match=r"rows \['BDG-01'\] that are not PSUs of the "
                                             r"data \(select the surveyed ones"):
        pc.SurveyDesign(level[level["village"] != "BDG-01"], pps=pij, **args)
    # the order of the labels does not matter
    shuffled = pij.iloc[::-1, ::-1]
    np.testing.assert_array_equal(
        pc.mean(pc.SurveyDesign(level, pps=shuffled, **args), "incidents")["se"],
        pc.mean(pc.SurveyDesign(level, pps=pij, **args), "incidents")["se"])


def test_joint_dataframe_with_psu_ids_repeated_across_strata():
    level = data("village_level").assign(short=lambda d: d["village"].str[-2:])
    assert level["short"].duplicated().any()
    with pytest.raises(pc.DesignError, match=r"repeat across strata \(nest=True\).*give a "
                                             r"numpy array"):
        pc.SurveyDesign(level, strata="stratum", psu="short", fpc="p1", nest=True,
                        pps=joint("village_joint"))


def test_bad_tolerance():
    with pytest.raises(pc.DesignError, match=r"pps_tolerance must be a number >= 0"):
        pc.SurveyDesign(_election(), fpc="p", pps=_pij(), pps_tolerance=-1)


def test_negative_variance_warns_and_gives_nan():
    # Overton's approximation is not positive: the total of the size variable
    with pytest.warns(UserWarning, match=r"variance estimate is negative for 1 estimate.*NaN, "
                                         r"as in R"):
        t = pc.total(design("vl_overton"), ["incidents", "households"])
    assert np.isnan(t["se"].iloc[1]) and np.isfinite(t["se"].iloc[0])


# ---------------------------------------------------------------- identities --
def test_inputs_are_not_modified():
    e = _election()
    before = e.copy()
    pij = _pij()
    pij_before = pij.copy()
    d = pc.SurveyDesign(e, fpc="p", pps=pij)
    pc.mean(d, "Bush", by="big")
    pd.testing.assert_frame_equal(e, before)
    np.testing.assert_array_equal(pij, pij_before)


def test_repr_and_pps_property():
    d = design("el_joint")
    assert d.pps == "joint probabilities"
    assert repr(d).endswith("pps='joint probabilities')")
    assert design("vil_brewer2").pps == "brewer"
    assert pc.SurveyDesign(_election(), weights="wt").pps is None


def _srs_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = {"a": (6, 40), "b": (4, 25), "c": (9, 90)}  # sampled, population
    parts = []
    for stratum, (n, big_n) in sizes.items():
        parts.append(pd.DataFrame({"stratum": stratum, "y": rng.normal(size=n),
                                   "z": rng.integers(0, 2, n).astype(float),
                                   "f": n / big_n}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("method", [*METHODS, "joint"])
def test_equal_probabilities_give_simple_random_sampling(method):
    """With the same probability n_h / N_h for every unit of a stratum, Brewer's,
    Overton's, Hartley-Rao's (psum = mean probability) and the exact joint probabilities
    of simple random sampling all give the stratified SRSWOR variance."""
    frame = _srs_frame(1)
    srswor = pc.SurveyDesign(frame, strata="stratum", fpc="f")
    pps = method
    if method == "joint":
        n = frame.groupby("stratum")["f"].transform("size").to_numpy()
        f = frame["f"].to_numpy()
        same = frame["stratum"].to_numpy()[:, None] == frame["stratum"].to_numpy()[None, :]
        # SRSWOR: n (n - 1) / (N (N - 1)) within a stratum, independent across strata
        big_n = n / f
        pps = np.where(same, f[:, None] * (n[:, None] - 1) / (big_n[:, None] - 1),
                       f[:, None] * f[None, :])
        np.fill_diagonal(pps, f)
    d = pc.SurveyDesign(frame, strata="stratum", fpc="f", pps=pps, pps_tolerance=0.0)
    for estimator in (pc.mean, pc.total):
        a = estimator(d, ["y", "z"])
        b = estimator(srswor, ["y", "z"])
        np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-13)
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-11)
    np.testing.assert_allclose(pc.mean(d, "y", by="z")["se"],
                               pc.mean(srswor, "y", by="z")["se"], rtol=1e-11)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["overton", "hartley-rao"]))
def test_closed_forms_equal_the_matrix(seed, method):
    """The stratum-sum form of Overton's and Hartley-Rao's variance equals t' D t with
    R's Dcheck built in full (overton2Dcheck, HRDcheck), certainty units included."""
    rng = np.random.default_rng(seed)
    n_strata = int(rng.integers(1, 4))
    stratum = np.sort(rng.integers(0, n_strata, size=int(rng.integers(2, 25))))
    stratum = np.unique(stratum, return_inverse=True)[1]
    n_sampled = np.bincount(stratum).astype(float)
    prob = rng.uniform(0.01, 1.0, stratum.size)
    prob[rng.random(stratum.size) < 0.15] = 1.0
    if stratum.size > 3:
        prob[1] = 1.0 - prob[0]  # a pair R's HRDcheck sets to zero (when in one stratum)
    t = rng.normal(size=(stratum.size, 3))
    if method == "overton":
        jv = overton(prob, stratum, n_sampled)
        fbar = (prob[:, None] + prob[None, :]) / 2
        n = n_sampled[stratum][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            dense = 1 - (n - fbar) / (n - 1)
        dense[(stratum[:, None] != stratum[None, :]) | (fbar == 1)] = 0
        np.fill_diagonal(dense, 1 - prob)
    else:
        p2bar = np.bincount(stratum, weights=prob) / n_sampled
        jv = hartley_rao(prob, stratum, n_sampled, p2bar)
        fbar = prob[:, None] + prob[None, :]
        n = n_sampled[stratum][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            dense = 1 - (n - fbar + p2bar[stratum][:, None]) / (n - 1)
        dense[(stratum[:, None] != stratum[None, :]) | (fbar == 1)] = 0
        np.fill_diagonal(dense, 1 - prob)
    np.testing.assert_allclose(jv.matrix_form(), dense, rtol=1e-12, atol=1e-15)
    expected = t.T @ dense @ t
    ours = jv.quadratic_form(t)
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12 * np.abs(t).sum() ** 2)


def test_matrix_form_of_a_given_matrix():
    d = np.array([[0.5, -0.1], [-0.1, 0.4]])
    jv = JointVariance(prob=np.array([0.5, 0.6]), stratum=np.zeros(2, dtype=int),
                       n_sampled=np.array([2.0]), matrix=d)
    assert jv.matrix_form() is d
    np.testing.assert_allclose(jv.vcov(np.array([[1.0], [2.0]])), [[0.5 - 0.4 + 1.6]])


@pytest.mark.parametrize("pps", ["brewer", "overton", "joint"])
def test_rows_of_a_psu_equal_its_total(pps):
    """A design of respondents in villages gives the same totals as the design of one
    row per village holding the village totals (the variance is of PSU totals)."""
    level = data("village_level")
    rows = level.loc[level.index.repeat(3)].reset_index(drop=True)
    share = np.tile([0.5, 0.3, 0.2], len(level))
    rows["incidents"] = rows["incidents"] * share
    spec = joint("village_joint") if pps == "joint" else pps
    by_rows = pc.SurveyDesign(rows, strata="stratum", psu="village", fpc="p1", pps=spec)
    by_psu = pc.SurveyDesign(level, strata="stratum", psu="village", fpc="p1", pps=spec)
    a, b = pc.total(by_rows, "incidents"), pc.total(by_psu, "incidents")
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-13)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12)


@pytest.mark.parametrize("name", ["el_brewer", "el_overton", "el_hr", "el_joint"])
def test_subset_equals_domain(name):
    d = design(name)
    by = pc.mean(d, "Kerry", by="big").set_index("big")
    sub = pc.mean(d.subset(d.data["big"] == "small"), "Kerry")
    np.testing.assert_allclose(sub[["estimate", "se"]].to_numpy()[0],
                               by.loc["small", ["estimate", "se"]].to_numpy(dtype=float),
                               rtol=1e-12)


def test_weights_override_the_probabilities_in_the_estimates_only():
    """Given weights are the analysis weights (as R's survey.design2 takes them); the
    probabilities in fpc still give the variance."""
    e = _election().assign(w=lambda x: 1 / x["p"] * 1.1)
    plain = pc.SurveyDesign(e, fpc="p", pps="overton")
    scaled = pc.SurveyDesign(e, weights="w", fpc="p", pps="overton")
    a, b = pc.total(plain, "Bush"), pc.total(scaled, "Bush")
    np.testing.assert_allclose(b["estimate"], 1.1 * a["estimate"], rtol=1e-13)
    np.testing.assert_allclose(b["se"], 1.1 * a["se"], rtol=1e-12)


def test_lonely_village_fails_but_not_the_town_alone():
    """A stratum holding only a village drawn with certainty has no variance (every
    fpc 1 - pi is 0): not lonely (R's onestrat returns 0 first); a village alone in its
    stratum is."""
    v = data("villages")
    d = pc.SurveyDesign(v, strata="stratum_l", psu=["village", "hh"], fpc=["p1", "f2"],
                        pps="brewer")
    with pytest.raises(pc.DesignError, match=r"stratum 'Koro-lone' \(stage 1.*has only one "
                                             r"PSU"):
        pc.mean(d, "trust")
    town = v[v["stratum_l"] != "Koro-lone"]
    d = pc.SurveyDesign(town, strata="stratum_l", psu=["village", "hh"], fpc=["p1", "f2"],
                        pps="brewer")
    assert np.isfinite(pc.mean(d, "trust")["se"]).all()
