"""List experiments: the prevalence against R's survey (svyby + svycontrast), over waves
(change, DiD), by domain and on replicate and calibrated designs; the checks of the
count and list columns; the invariants of the estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _core_cases import REFERENCE, api, read_reference, reference_data, taylor_design
from hypothesis import given
from hypothesis import strategies as st

import perception as pc
from perception.errors import EstimationError

EST_RTOL = 1e-9  # estimates vs R (relative)
SE_RTOL = 1e-7  # standard errors, covariances and design effects vs R
ZERO_ATOL = 1e-14  # covariances that are zero by design (independent strata)
EXACT_RTOL = 1e-12  # the same number computed two ways in perception
J_API = 3  # control items of the synthetic api list experiment
POP_TYPES = {"E": 4421, "H": 755, "M": 1018}


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, float]]:
    return read_reference(REFERENCE / "list_experiments_reference.csv")


def with_list(data: pd.DataFrame) -> pd.DataFrame:
    """The synthetic list experiment of make_list_experiments.R on api data."""
    le_list = ((data["snum"] * 37) % 11 < 5).astype(int)
    control = ((data["api00"] > 650).astype(int) + (data["meals"] < 40).astype(int)
               + (data["mobility"] > 15).astype(int))
    return data.assign(le_list=le_list, le_count=control + le_list * (data["ell"] > 25))


def api_design(name: str):
    """The designs of make_list_experiments.R, with the synthetic list experiment."""
    base = {"strat": "strat", "clus1": "clus1", "clus2": "clus2", "clus1_ps": "clus1",
            "jk1_clus1": "clus1"}[name]
    design = taylor_design(base)
    design = design.with_data(with_list(design.data))
    if name == "clus1_ps":
        return pc.poststratify(design, "stype", POP_TYPES)
    if name == "jk1_clus1":
        return design.replicate("jk1")
    return design


def panel_data() -> pd.DataFrame:
    p3 = reference_data("panel_villages3.csv")
    rnum = p3["respondent"].str.replace(r".*-r", "", regex=True).astype(int)
    le_list = (rnum + p3["wave"]) % 2
    control = (p3["trust"] + (p3["score"] > 1.5).astype(int) + (rnum % 3 == 0).astype(int))
    return p3.assign(le_list=le_list, le_count=control + le_list * (p3["score"] > 2.2))


def panel_design(name: str):
    design = pc.SurveyDesign(panel_data(), weights="w", strata="stratum", psu="psu",
                             nest=True)
    return design.replicate("jkn") if name == "panel_jkn" else design


def close(ours: float, theirs: float, rtol: float) -> bool:
    if abs(theirs) < ZERO_ATOL or abs(ours) < ZERO_ATOL:
        return abs(ours - theirs) < ZERO_ATOL * 100
    return abs(ours - theirs) <= rtol * abs(theirs)


# --------------------------------------------------------------------- against R --
DESIGNS = ("strat", "clus1", "clus2", "clus1_ps", "jk1_clus1")


@pytest.mark.parametrize("name", DESIGNS)
def test_prevalence_equals_svyby_svycontrast(name, reference):
    ref = reference[f"{name}/prevalence"]
    t = pc.list_experiment(api_design(name), count="le_count", treatment="le_list",
                           n_control_items=J_API)
    assert close(t["estimate"].iloc[0], ref["all:est"], EST_RTOL)
    assert close(t["se"].iloc[0], ref["all:se"], SE_RTOL)
    assert t["df"].iloc[0] == ref["degf"]
    if "all:deff" in ref:
        assert close(t["deff"].iloc[0], ref["all:deff"], SE_RTOL)


@pytest.mark.parametrize("name", DESIGNS)
def test_prevalence_by_domain_and_its_covariance_equal_r(name, reference):
    ref = reference[f"{name}/prevalence_by_stype"]
    t = pc.list_experiment(api_design(name), count="le_count", treatment="le_list",
                           by="stype", n_control_items=J_API)
    assert t["stype"].tolist() == ["E", "H", "M"]
    V = pc.vcov(t).to_numpy()
    for i, g in enumerate(["E", "H", "M"]):
        assert close(t["estimate"].iloc[i], ref[f"{g}:est"], EST_RTOL), g
        assert close(t["se"].iloc[i], ref[f"{g}:se"], SE_RTOL), g
        if f"{g}:deff" in ref:
            assert close(t["deff"].iloc[i], ref[f"{g}:deff"], SE_RTOL), g
        for j, h in enumerate(["E", "H", "M"]):
            assert close(V[i, j], ref[f"vcov:{g}:{h}"], SE_RTOL), (g, h)


@pytest.mark.parametrize("name", ("panel", "panel_jkn"))
def test_prevalence_over_waves_change_and_did_equal_r(name, reference):
    design = panel_design(name)
    by_wave = pc.list_experiment(design, count="le_count", treatment="le_list", by="wave",
                                 n_control_items=3)
    ref = reference[f"{name}/prevalence_by_wave"]
    for i, w in enumerate(["0", "1", "2"]):
        assert close(by_wave["estimate"].iloc[i], ref[f"{w}:est"], EST_RTOL)
        assert close(by_wave["se"].iloc[i], ref[f"{w}:se"], SE_RTOL)
        assert close(by_wave["deff"].iloc[i], ref[f"{w}:deff"], SE_RTOL)
    # the change of the prevalence, wave k minus wave 0 (villages revisited: correlated)
    changes = pc.change(by_wave, "le_count", over="wave")
    ref = reference[f"{name}/change"]
    assert changes["to"].tolist() == [1, 2]
    lists = by_wave.set_index("wave")[["n_control", "n_treatment"]].min(axis=1)
    for k in (1, 2):
        row = changes[changes["to"] == k].iloc[0]
        assert close(row["estimate"], ref[f"{k}:est"], EST_RTOL)
        assert close(row["se"], ref[f"{k}:se"], SE_RTOL)
        # the change rests on four lists: outputs suppress it on the smallest
        assert row["n_min"] == min(lists[0], lists[k])
    # the DiD of the prevalence, treated x wave
    cells = pc.list_experiment(design, count="le_count", treatment="le_list",
                               by=["treated", "wave"], n_control_items=3)
    result = pc.did(cells, "le_count", treated="treated", period="wave")
    ref = reference[f"{name}/did"]
    effects = result.effects
    assert effects["period"].tolist() == [1, 2]
    for k in (1, 2):
        row = effects[effects["period"] == k].iloc[0]
        assert close(row["estimate"], ref[f"{k}:est"], EST_RTOL)
        assert close(row["se"], ref[f"{k}:se"], SE_RTOL)
        assert row["df"] == ref["degf"]
    assert close(pc.vcov(effects).to_numpy()[0, 1], ref["cov:1:2"], SE_RTOL)


def test_types_of_blair_imai_equal_r(reference):
    for name in ("strat", "clus1", "jk1_clus1"):
        ref = reference[f"{name}/types"]
        res = pc.list_design_test(api_design(name), count="le_count", treatment="le_list",
                                  n_control_items=J_API)
        for row in res.proportions.itertuples(index=False):
            key = f"y{row.count}z{row.sensitive}"
            assert close(row.estimate, ref[f"{key}:est"], EST_RTOL), (name, key)
            assert close(row.se, np.sqrt(ref[f"vcov:{key}:{key}"]), SE_RTOL), (name, key)


def test_linear_list_model_equals_svyglm(reference):
    for name in ("strat", "clus1", "jk1_clus1"):
        ref = reference[f"{name}/linear"]
        fit = pc.list_regression(api_design(name), "le_count ~ ell", treatment="le_list",
                                 method="linear")
        pairs = {("control", "Intercept"): "(Intercept)", ("control", "ell"): "ell",
                 ("sensitive", "Intercept"): "le_list", ("sensitive", "ell"): "ell:le_list"}
        for (part, term), r_term in pairs.items():
            table = getattr(fit, part)
            assert close(table.loc[term, "estimate"], ref[f"{r_term}:est"], EST_RTOL)
            assert close(table.loc[term, "se"], ref[f"{r_term}:se"], SE_RTOL)
        assert fit.df_residual == ref["df.residual"]


# -------------------------------------------------------------- the estimator --
def test_prevalence_is_the_contrast_of_the_two_lists_means():
    design = api_design("clus1")
    t = pc.list_experiment(design, count="le_count", treatment="le_list", by="stype")
    means = pc.mean(design, "le_count", by=["stype", "le_list"])
    contrast = pc.contrast(means, {"E:1": 1, "E:0": -1})
    assert abs(t["estimate"].iloc[0] - contrast["estimate"].iloc[0]) < EXACT_RTOL
    assert abs(t["se"].iloc[0] - contrast["se"].iloc[0]) < EXACT_RTOL
    assert t.attrs["estimates"]["estimate"].tolist() == means["estimate"].tolist()
    assert list(t.columns) == ["stype", "variable", "estimate", "se", "ci_low", "ci_high",
                               "df", "deff", "n", "n_control", "n_treatment"]
    assert (t["n"] == t["n_control"] + t["n_treatment"]).all()


def test_linear_model_without_covariates_is_the_difference_in_means():
    design = api_design("clus2")
    t = pc.list_experiment(design, count="le_count", treatment="le_list")
    fit = pc.list_regression(design, "le_count ~ 1", treatment="le_list", method="linear")
    assert abs(fit.sensitive.loc["Intercept", "estimate"] - t["estimate"].iloc[0]) < 1e-10
    assert abs(fit.sensitive.loc["Intercept", "se"] - t["se"].iloc[0]) < 1e-10


def test_contrast_of_domains_and_boolean_lists():
    data = with_list(api("apistrat"))
    design = pc.SurveyDesign(data.assign(le_list=data["le_list"] == 1), weights="pw",
                             strata="stype", fpc="fpc")
    numeric = api_design("strat")
    a = pc.list_experiment(design, count="le_count", treatment="le_list", by="stype")
    b = pc.list_experiment(numeric, count="le_count", treatment="le_list", by="stype")
    assert np.allclose(a["estimate"], b["estimate"], rtol=EXACT_RTOL)
    difference = pc.contrast(a, {"E": 1, "M": -1})
    assert difference["n_min"].iloc[0] == min(a[["n_control", "n_treatment"]].min())


def test_suppression_reads_both_lists():
    t = pc.list_experiment(api_design("clus1"), count="le_count", treatment="le_list",
                           by="stype")
    published = pc.suppress_small_cells(t, min_cell=10)
    # stype H has 14 schools: 8 on one list, 6 on the other
    assert published.loc[t["stype"] == "H", "suppressed"].item()
    assert not published.loc[t["stype"] == "E", "suppressed"].item()


@pytest.mark.parametrize("scale", [0.001, 1000.0])
def test_weight_scale_and_row_order_do_not_matter(scale):
    data = with_list(api("apiclus1"))
    base = pc.list_experiment(pc.SurveyDesign(data, weights="pw", psu="dnum"),
                              count="le_count", treatment="le_list", by="stype")
    shuffled = data.assign(pw=data["pw"] * scale).sample(frac=1.0, random_state=3)
    other = pc.list_experiment(pc.SurveyDesign(shuffled, weights="pw", psu="dnum"),
                               count="le_count", treatment="le_list", by="stype")
    assert np.allclose(base["estimate"], other["estimate"], rtol=1e-10)
    assert np.allclose(base["se"], other["se"], rtol=1e-10)


@given(shift=st.integers(min_value=0, max_value=5), seed=st.integers(0, 10_000))
def test_swapping_the_lists_and_shifting_the_counts(shift, seed):
    """Adding the same number to every count leaves the prevalence; swapping which list
    is the treatment list changes its sign, never its SE."""
    rng = np.random.default_rng(seed)
    n = 120
    data = pd.DataFrame({"psu": rng.integers(0, 20, n), "w": rng.uniform(1, 3, n),
                         "t": rng.integers(0, 2, n), "c": rng.integers(0, 4, n)})
    data = data.assign(y=data["c"] + data["t"] * rng.integers(0, 2, n),
                       y_shift=lambda f: f["y"] + shift, t_swap=1 - data["t"])
    design = pc.SurveyDesign(data, weights="w", psu="psu")
    base = pc.list_experiment(design, count="y", treatment="t")
    shifted = pc.list_experiment(design, count="y_shift", treatment="t")
    swapped = pc.list_experiment(design, count="y", treatment="t_swap")
    assert np.isclose(base["estimate"].iloc[0], shifted["estimate"].iloc[0], atol=1e-12)
    assert np.isclose(base["se"].iloc[0], shifted["se"].iloc[0], rtol=1e-9)
    assert np.isclose(base["estimate"].iloc[0], -swapped["estimate"].iloc[0], atol=1e-12)
    assert np.isclose(base["se"].iloc[0], swapped["se"].iloc[0], rtol=1e-9)


def test_the_input_is_not_modified():
    design = api_design("clus1")
    before = design.data.copy()
    pc.list_experiment(design, count="le_count", treatment="le_list", by="stype")
    pc.list_design_test(design, count="le_count", treatment="le_list", n_control_items=3)
    pc.list_floor_ceiling(design, count="le_count", treatment="le_list", n_control_items=3)
    pc.list_regression(design, "le_count ~ 1", treatment="le_list", n_control_items=3)
    pd.testing.assert_frame_equal(design.data, before)


def test_rows_left_out_with_na_rm_keep_their_psu():
    data = with_list(api("apiclus1"))
    holes = data.assign(le_count=data["le_count"].astype(float).where(data.index % 7 != 0))
    design = pc.SurveyDesign(holes, weights="pw", psu="dnum", fpc="fpc")
    with pytest.raises(EstimationError, match="le_count.*missing"):
        pc.list_experiment(design, count="le_count", treatment="le_list")
    t = pc.list_experiment(design, count="le_count", treatment="le_list", na_rm=True)
    kept = np.asarray(data.index % 7 != 0)
    sub = pc.SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").subset(kept)
    expected = pc.list_experiment(sub, count="le_count", treatment="le_list")
    assert np.isclose(t["estimate"].iloc[0], expected["estimate"].iloc[0], rtol=EXACT_RTOL)
    assert np.isclose(t["se"].iloc[0], expected["se"].iloc[0], rtol=EXACT_RTOL)
    assert t["n"].iloc[0] == int(kept.sum())


# ------------------------------------------------------------------ bad input --
def _tiny(**columns) -> pc.SurveyDesign:
    data = {"y": [0, 1, 2, 3, 1, 2], "t": [0, 1, 0, 1, 0, 1], "g": list("aabbab")}
    data.update(columns)
    return pc.SurveyDesign(pd.DataFrame(data))


@pytest.mark.parametrize("columns, arguments, fragments", [
    ({"t": [0, 1, 2, 1, 0, 1]}, {}, ["'t' (treatment)", "rows 2", "0/1"]),
    ({"t": ["A", "B", "A", "B", "A", "B"]}, {}, ["'t' (treatment)", "'A'"]),
    ({"y": [0, -1, 2, 3, 1, 2]}, {}, ["'y' (count)", "rows 1", "whole numbers"]),
    ({"y": [0, 1.5, 2, 3, 1, 2]}, {}, ["rows 1", "1.5"]),
    ({"y": [0, 1, 4, 3, 1, 2]}, {"n_control_items": 3},
     ["above J = 3 on the control list", "rows 2", "pc.recode_missing"]),
    ({"y": [0, 1, 2, 5, 1, 2]}, {"n_control_items": 3},
     ["above J + 1 = 4 on the treatment list", "rows 3"]),
    ({"y": [0, 1, None, 3, 1, 2]}, {}, ["'y'", "missing", "na_rm=True"]),
    ({}, {"by": "t"}, ["by= holds the count or the list column"]),
    ({}, {"n_control_items": 0}, ["n_control_items", "got 0"]),
    ({"g": list("aaaabb")}, {"by": "g"}, []),
])
def test_bad_input_is_refused_with_the_column_rows_and_fix(columns, arguments, fragments):
    design = _tiny(**columns)
    if not fragments:  # g = b has rows 4 (control) and 5 (treatment): fine
        t = pc.list_experiment(design, count="y", treatment="t", **arguments)
        assert t["g"].tolist() == ["a", "b"]
        return
    with pytest.raises(EstimationError) as info:
        pc.list_experiment(design, count="y", treatment="t", **arguments)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_a_domain_without_one_list_is_refused():
    design = _tiny(g=list("ababbb"), t=[0, 0, 0, 1, 0, 1])
    with pytest.raises(EstimationError, match="no respondent heard the treatment list.*g='a'"):
        pc.list_experiment(design, count="y", treatment="t", by="g")


def test_change_and_did_of_a_table_refuse_what_they_cannot_do():
    design = panel_design("panel")
    overall = pc.list_experiment(design, count="le_count", treatment="le_list")
    with pytest.raises(EstimationError, match="without the wave column 'wave'"):
        pc.change(overall, "le_count", over="wave")
    by_wave = pc.list_experiment(design, count="le_count", treatment="le_list", by="wave")
    with pytest.raises(EstimationError, match="the table has the variables"):
        pc.change(by_wave, "trust", over="wave")
    with pytest.raises(EstimationError, match="does not match the table"):
        pc.change(by_wave, "le_count", over="wave", by="treated")
    with pytest.raises(EstimationError, match="treated='treated' is not a column"):
        pc.did(by_wave, "le_count", treated="treated", period="wave")
    cells = pc.list_experiment(design, count="le_count", treatment="le_list",
                               by=["treated", "wave"])
    with pytest.raises(EstimationError, match="covariates= needs the rows of a design"):
        pc.did(cells, "le_count", covariates="score")


def test_change_and_did_of_mean_tables_equal_the_design_path():
    design = panel_design("panel")
    by_wave = pc.mean(design, "score", by=["wave"])
    from_table = pc.change(by_wave.sort_values("wave", ascending=False), "score", over="wave")
    from_design = pc.change(design, "score", over="wave")
    assert np.allclose(from_table["estimate"], from_design["estimate"], rtol=EXACT_RTOL)
    assert np.allclose(from_table["se"], from_design["se"], rtol=EXACT_RTOL)
    cells = pc.mean(design, "score", by=["treated", "wave"])
    table_did = pc.did(cells, "score", treated="treated", period="wave", post_periods=[2])
    design_did = pc.did(design, "score", treated="treated", period="wave", post_periods=[2])
    # the saturated model: the same coefficients and SEs (df: the design's, not residual)
    assert np.allclose(table_did.coefficients["estimate"],
                       design_did.coefficients["estimate"], rtol=1e-9)
    assert np.allclose(table_did.coefficients["se"], design_did.coefficients["se"],
                       rtol=1e-9)
    assert table_did.coefficients["term"].tolist() == design_did.coefficients["term"].tolist()
    assert table_did.pretrend is not None and design_did.pretrend is not None
    assert np.isclose(table_did.pretrend["statistic"].iloc[0],
                      design_did.pretrend["statistic"].iloc[0], rtol=1e-9)
