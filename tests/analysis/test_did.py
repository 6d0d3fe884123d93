"""pc.did: difference-in-differences and event studies against R's svyglm."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _change_cases import (
    close,
    panel_data,
    panel_design,
    ref,
    ref2,
    respondent_design,
)

import perception as pc

EFFECT_COLUMNS = ["variable", "period", "estimate", "se", "ci_low", "ci_high", "df", "p", "n",
                  "n_min"]
# R's term names -> perception's (patsy-style)
TERMS_2 = {"(Intercept)": "Intercept", "treated": "treated", "fwave2": "wave[T.2]",
           "treated:fwave2": "treated:wave[T.2]"}
TERMS_3 = {"(Intercept)": "Intercept", "treated": "treated", "fwave1": "wave[T.1]",
           "fwave2": "wave[T.2]", "treated:fwave1": "treated:wave[T.1]",
           "treated:fwave2": "treated:wave[T.2]"}

# Monte Carlo (fast, seeded): 60 survey pairs; loose bands for a 60-draw estimate
MC_PAIRS = 60
MC_COVERAGE_MIN = 0.85
MC_SE_RATIO_BAND = (0.75, 1.33)


def _coefficients(result: pc.DiDResult, variable: str) -> pd.DataFrame:
    table = result.coefficients
    return table[table["variable"] == variable].set_index("term")


# ------------------------------------------------------------------ R reference --
@pytest.mark.parametrize("y", ["trust", "score"])
def test_two_wave_did_equals_svyglm(y):
    result = pc.did(panel_design(2), y, treated="treated", period="wave")
    case = f"panel/{y}/glm_did"
    coefs = _coefficients(result, y)
    for r_term, term in TERMS_2.items():
        row = coefs.loc[term]
        assert close(row["estimate"], ref(case, f"{r_term}:est")), term
        assert close(row["se"], ref(case, f"{r_term}:se")), term
        assert close(row["t"], ref(case, f"{r_term}:t")), term
        assert close(row["p"], ref(case, f"{r_term}:p")), term
        for r_other, other in TERMS_2.items():
            assert close(result.vcov[y].loc[term, other],
                         ref(case, f"vcov|{r_term}|{r_other}")), (term, other)
    assert list(result.effects.columns) == EFFECT_COLUMNS
    effect = result.effects.iloc[0]
    assert effect["period"] == 2
    assert effect["df"] == ref(case, "df.residual")
    assert close(effect["estimate"], ref(case, "treated:fwave2:est"))
    assert close(effect["se"], ref(case, "treated:fwave2:se"))
    assert close(effect["p"], ref(case, "treated:fwave2:p"))
    # no covariates: the saturated model's interaction is the DiD of the cell means
    assert close(effect["estimate"], ref(f"panel/{y}/did_cells", "est"))
    assert close(effect["se"], ref(f"panel/{y}/did_cells", "se"))


@pytest.mark.parametrize("y", ["trust", "score"])
def test_cells_equal_svyby(y):
    result = pc.did(panel_design(2), y)
    cells = result.cells
    assert list(cells.columns[:3]) == ["treated", "wave", "variable"]
    for _, row in cells.iterrows():
        label = f"{row['wave']}.{row['treated']}"
        assert close(row["estimate"], ref(f"panel/{y}/by_wave_treated", f"{label}:est"))
        assert close(row["se"], ref(f"panel/{y}/by_wave_treated", f"{label}:se"))


@pytest.mark.parametrize("y", ["trust", "score"])
def test_event_study_and_pretrend_equal_r(y):
    result = pc.did(panel_design(3), y, post_periods=[2])
    case = f"panel3/{y}/glm_event"
    coefs = _coefficients(result, y)
    for r_term, term in TERMS_3.items():
        assert close(coefs.loc[term, "estimate"], ref(case, f"{r_term}:est")), term
        assert close(coefs.loc[term, "se"], ref(case, f"{r_term}:se")), term
        assert close(coefs.loc[term, "p"], ref(case, f"{r_term}:p")), term
    assert result.effects["period"].tolist() == [1, 2]
    assert (result.effects["df"] == ref(case, "df.residual")).all()
    # pre-trend: the wave-1 interaction (R: regTermTest(fit, ~tw1))
    pre = result.pretrend.iloc[0]
    assert pre["periods"] == "1"
    for key, column in (("F", "statistic"), ("ndf", "ndf"), ("ddf", "ddf"), ("p", "p")):
        assert close(pre[column], ref(f"panel3/{y}/regtermtest_pretrend", key)), key
    # joint test of both interactions from the returned covariance (regTermTest)
    terms = ["treated:wave[T.1]", "treated:wave[T.2]"]
    b = coefs.loc[terms, "estimate"].to_numpy()
    V = result.vcov[y].loc[terms, terms].to_numpy()
    F = b @ np.linalg.solve(V, b) / 2
    assert close(F, ref(f"panel3/{y}/regtermtest_interactions", "F"))


def test_single_post_period_may_be_a_scalar():
    design = panel_design(3)
    scalar = pc.did(design, "trust", post_periods=2)
    listed = pc.did(design, "trust", post_periods=[2])
    assert scalar.post_periods == (2,)
    pd.testing.assert_frame_equal(scalar.pretrend, listed.pretrend)


def test_no_pretrend_without_two_pre_periods():
    design = panel_design(3)
    assert pc.did(design, "trust").pretrend is None
    assert pc.did(design, "trust", post_periods=[1, 2]).pretrend is None


@pytest.mark.parametrize("y", ["trust", "score"])
def test_subgroup_effects_and_heterogeneity_equal_r(y):
    result = pc.did(panel_design(3), y, by="region")
    case = f"hetero/{y}"
    effects = result.effects.set_index(["region", "period"])
    assert list(result.effects.columns) == ["region", *EFFECT_COLUMNS]
    for k in (1, 2):
        a = effects.loc[("A", k)]
        assert close(a["estimate"], ref2(case, f"treated:fwave{k}:est"))
        assert close(a["se"], ref2(case, f"treated:fwave{k}:se"))
        assert close(a["p"], ref2(case, f"treated:fwave{k}:p"))
        b = effects.loc[("B", k)]
        assert close(b["estimate"], ref2(f"{case}/effectB{k}", "est"))
        assert close(b["se"], ref2(f"{case}/effectB{k}", "se"))
        assert close(b["p"], ref2(f"{case}/effectB{k}", "p"))
        assert b["df"] == ref2(case, "df.residual")
    joint = result.heterogeneity.iloc[0]
    assert joint["periods"] == "1, 2"
    for key, column in (("F", "statistic"), ("ndf", "ndf"), ("ddf", "ddf"), ("p", "p")):
        assert close(joint[column], ref2(f"{case}/all", key)), key
    assert result.heterogeneity["periods"].tolist() == ["1, 2", "1", "2"]
    # only the post period is tested once post_periods is given
    post = pc.did(panel_design(3), y, by="region", post_periods=[2])
    assert post.heterogeneity["periods"].tolist() == ["2"]
    row = post.heterogeneity.iloc[0]
    assert close(row["statistic"], ref2(f"{case}/period2", "F"))
    assert close(row["p"], ref2(f"{case}/period2", "p"))
    assert post.pretrend["region"].tolist() == ["A", "B"]


@pytest.mark.parametrize("y", ["trust", "score"])
def test_additive_covariates_equal_r(y):
    data = panel_data(3)
    data["sex"] = data["sex"].astype("category")
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    result = pc.did(design, y, covariates=["x", "sex"])
    coefs = _coefficients(result, y)
    case = f"covariates/{y}"
    for r_term, term in (("treated:fwave1", "treated:wave[T.1]"),
                         ("treated:fwave2", "treated:wave[T.2]"), ("x", "x"),
                         ("fsex2", "sex[T.2]")):
        assert close(coefs.loc[term, "estimate"], ref2(case, f"{r_term}:est")), term
        assert close(coefs.loc[term, "se"], ref2(case, f"{r_term}:se")), term
        assert close(coefs.loc[term, "p"], ref2(case, f"{r_term}:p")), term
    assert result.effects["df"].iloc[0] == ref2(case, "df.residual")


def test_missing_outcome_with_na_rm_equals_r():
    design = panel_design(3)
    with pytest.raises(pc.EstimationError, match="trust_na.*5 missing"):
        pc.did(design, "trust_na")
    result = pc.did(design, "trust_na", na_rm=True)
    effects = result.effects.set_index("period")
    for k in (1, 2):
        assert close(effects.loc[k, "estimate"], ref2("missing/trust_na", f"treated:fwave{k}:est"))
        assert close(effects.loc[k, "se"], ref2("missing/trust_na", f"treated:fwave{k}:se"))
    assert effects["df"].iloc[0] == ref2("missing/trust_na", "df.residual")
    assert result.cells["n"].sum() == len(design.data) - 5


def test_effect_counts_are_the_rows_of_its_four_cells():
    """n: rows with a value in the four treated x period cells of an effect (counted by
    hand), n_min: the smallest of them."""
    data = panel_data(3)
    used = data[data["trust_na"].notna()]
    first = min(used["wave"])
    result = pc.did(panel_design(3), "trust_na", na_rm=True)
    cell = used.groupby(["treated", "wave"]).size()
    for _, row in result.effects.iterrows():
        four = [cell[(arm, wave)] for arm in (0, 1) for wave in (first, row["period"])]
        assert row["n"] == sum(four)
        assert row["n_min"] == min(four)
    # per subgroup: the four cells of that subgroup
    result = pc.did(panel_design(3), "trust_na", by="region", na_rm=True)
    cell = used.groupby(["region", "treated", "wave"]).size()
    assert len(result.effects) == 4
    for _, row in result.effects.iterrows():
        four = [cell[(row["region"], arm, wave)] for arm in (0, 1)
                for wave in (first, row["period"])]
        assert row["n"] == sum(four)
        assert row["n_min"] == min(four)


def test_domain_subset_equals_r():
    design = panel_design(3)
    sub = design.subset(design.data["stratum"] != "S4")
    effects = pc.did(sub, "score").effects.set_index("period")
    for k in (1, 2):
        assert close(effects.loc[k, "estimate"], ref2("subset/score", f"treated:fwave{k}:est"))
        assert close(effects.loc[k, "se"], ref2("subset/score", f"treated:fwave{k}:se"))
        assert close(effects.loc[k, "p"], ref2("subset/score", f"treated:fwave{k}:p"))


@pytest.mark.parametrize("y", ["trust", "score"])
def test_replicate_design_equals_r(y):
    rep = panel_design(2).replicate("jkn")
    effect = pc.did(rep, y).effects.iloc[0]
    case = f"jkn/{y}/glm_did"
    assert close(effect["estimate"], ref2(case, "treated:factor(wave)2:est"))
    assert close(effect["se"], ref2(case, "treated:factor(wave)2:se"))
    assert close(effect["p"], ref2(case, "treated:factor(wave)2:p"))
    assert effect["df"] == ref2(case, "df.residual")


@pytest.mark.parametrize("y", ["y", "score"])
def test_reinterviewed_respondents_equal_r(y):
    effect = pc.did(respondent_design(), y).effects.iloc[0]
    case = f"panel_resp/{y}/glm_did"
    assert close(effect["estimate"], ref2(case, "treated:factor(wave)2:est"))
    assert close(effect["se"], ref2(case, "treated:factor(wave)2:se"))
    assert close(effect["p"], ref2(case, "treated:factor(wave)2:p"))


def test_several_outcomes_summary_and_no_mutation():
    data = panel_data(3)
    before = data.copy()
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    result = pc.did(design, ["trust", "score"], post_periods=[2], level=0.9)
    pd.testing.assert_frame_equal(data, before)
    assert result.effects["variable"].tolist() == ["trust", "trust", "score", "score"]
    assert set(result.cells["variable"]) == {"trust", "score"}
    text = result.summary()
    assert "ci90_low" in text and "Pre-trend" in text and "placebo" in text
    assert str(result) == text
    # 90% interval from the t(df.residual) quantile
    row = result.effects.iloc[1]
    from scipy import stats

    half = stats.t.ppf(0.95, row["df"]) * row["se"]
    assert np.isclose(row["ci_high"] - row["estimate"], half, rtol=1e-12)


def test_row_order_and_weight_scale_do_not_matter():
    data = panel_data(3)
    data["w10"] = data["w"] * 10
    base = pc.did(pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu"), "score",
                  by="region")
    shuffled = data.sample(frac=1.0, random_state=5)
    other = pc.did(pc.SurveyDesign(shuffled, weights="w10", strata="stratum", psu="psu"),
                   "score", by="region")
    pd.testing.assert_frame_equal(base.effects, other.effects, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(base.heterogeneity, other.heterogeneity,
                                  check_exact=False, rtol=1e-9)


# ------------------------------------------------------------------------ errors --
def test_single_period_is_an_error():
    design = panel_design(2)
    with pytest.raises(pc.EstimationError, match="'wave' \\(period\\) has a single value"):
        pc.did(design.subset(design.data["wave"] == 2), "trust")


def test_treated_group_absent_from_a_wave_is_an_error():
    design = panel_design(2)
    keep = ~((design.data["wave"] == 2) & (design.data["treated"] == 1))
    with pytest.raises(pc.EstimationError, match="no treated respondents.*wave=2"):
        pc.did(design.subset(keep), "trust")


def test_cell_with_one_psu_is_an_error():
    data = panel_data(2)
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu", nest=True)
    treated_psus = data.loc[data["treated"] == 1, "psu"].unique()
    keep = ~((data["treated"] == 1) & (data["wave"] == 2) & (data["psu"] != treated_psus[0]))
    with pytest.raises(pc.EstimationError, match="treated=1, wave=2.*1 PSU.*at least two"):
        pc.did(design.subset(keep.to_numpy()), "trust")


def test_treated_not_binary_is_an_error():
    data = panel_data(2)
    data["treated"] = data["treated"] * 2
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    with pytest.raises(pc.EstimationError, match="'treated' \\(treated\\) must be 0/1"):
        pc.did(design, "trust")


def test_treated_varying_within_psu_warns_with_the_psus():
    data = panel_data(2)
    data.loc[data.index[:2], "treated"] = 0  # two rows of village S1V01 (treated)
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    with pytest.warns(UserWarning, match="not constant within 1 PSU.*'S1V01'"):
        pc.did(design, "trust")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pc.did(panel_design(2), "trust")  # constant: no warning


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"post_periods": [5]}, "post_periods \\[5\\] are not values"),
        ({"post_periods": [0, 2]}, "includes the first period"),
        ({"covariates": ["treated"]}, "more than one of"),
        ({"by": "wave"}, "more than one of"),
        ({"covariates": ["stratum"]}, "collinear"),
        ({"treated": "arm"}, "unknown column 'arm'"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    data = panel_data(3)
    data["const"] = 1.0
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    if kwargs.get("covariates") == ["stratum"]:
        kwargs = {"covariates": ["const"]}
    with pytest.raises(pc.EstimationError, match=pattern):
        pc.did(design, "trust", **kwargs)


# ------------------------------------------------------------------- Monte Carlo --
def _village_population(rng: np.random.Generator):
    """A finite population of villages in 4 strata (2 regions x treated), 2 waves.

    Village effects persist across waves (correlation 0.6 on the latent scale); the
    treated villages gain 0.5 on the latent scale at wave 1.
    """
    strata, treated, size, latent_u = [], [], [], []
    for h, (region_shift, arm) in enumerate([(0.0, 0), (0.0, 1), (0.4, 0), (0.4, 1)]):
        n_v = 150
        strata.append(np.full(n_v, h))
        treated.append(np.full(n_v, arm))
        size.append(rng.integers(40, 160, n_v))
        latent_u.append(region_shift + rng.normal(0, 0.6, n_v))
    strata, treated = np.concatenate(strata), np.concatenate(treated)
    size, u = np.concatenate(size), np.concatenate(latent_u)
    person_village = np.repeat(np.arange(size.shape[0]), size)
    y = np.empty((2, person_village.shape[0]))
    for t in (0, 1):
        shock = 0.6 * u + 0.8 * rng.normal(0, 0.6, size.shape[0])
        eta = -0.2 + shock[person_village] + 0.3 * t + 0.5 * t * treated[person_village]
        y[t] = (rng.random(person_village.shape[0]) < 1 / (1 + np.exp(-eta))).astype(float)
    arm = treated[person_village]
    truth = (y[1][arm == 1].mean() - y[0][arm == 1].mean()) - (
        y[1][arm == 0].mean() - y[0][arm == 0].mean())
    return strata, treated, size, person_village, y, truth


def _draw_pair(rng, population, n_villages: int = 12, per_village: int = 15) -> pd.DataFrame:
    strata, treated, size, person_village, y, _ = population
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    frames = []
    for h in np.unique(strata):
        villages = np.flatnonzero(strata == h)
        chosen = rng.choice(villages, n_villages, replace=False)
        for v in chosen:
            for t in (0, 1):  # revisited village, new respondents
                people = starts[v] + rng.choice(size[v], per_village, replace=False)
                frames.append(pd.DataFrame({
                    "stratum": h, "village": v, "wave": t, "treated": treated[v],
                    "y": y[t][people],
                    "w": (villages.shape[0] / n_villages) * size[v] / per_village}))
    return pd.concat(frames, ignore_index=True)


def test_monte_carlo_did_coverage_fast():
    rng = np.random.default_rng(20240611)
    population = _village_population(rng)
    truth = population[-1]
    estimates, ses, covered = [], [], []
    for _ in range(MC_PAIRS):
        sample = _draw_pair(rng, population)
        design = pc.SurveyDesign(sample, weights="w", strata="stratum", psu="village")
        effect = pc.did(design, "y").effects.iloc[0]
        estimates.append(effect["estimate"])
        ses.append(effect["se"])
        covered.append(effect["ci_low"] <= truth <= effect["ci_high"])
    coverage = float(np.mean(covered))
    ratio = float(np.mean(ses) / np.std(estimates, ddof=1))
    assert coverage >= MC_COVERAGE_MIN, coverage
    assert MC_SE_RATIO_BAND[0] <= ratio <= MC_SE_RATIO_BAND[1], ratio
    assert abs(np.mean(estimates) - truth) < 3 * np.std(estimates, ddof=1) / np.sqrt(MC_PAIRS)


def test_demo_survey_did_is_near_the_truth():
    demo = pc.demo_survey(seed=11, n_per_wave=3000)
    waves = demo.waves.copy()
    item = waves["trust_police"]
    waves["trust_police_high"] = np.where(item.isin([2, 3]), 1.0,
                                          np.where(item.isin([0, 1]), 0.0, np.nan))
    design = pc.SurveyDesign(waves, weights="w_final", strata="stratum", psu="psu_id")
    effect = pc.did(design, "trust_police_high", na_rm=True).effects.iloc[0]
    truth = demo.truth.set_index(["quantity", "variable", "group"])["value"]
    true_did = truth["did", "trust_police", "treated=1 - treated=0"]
    assert abs(effect["estimate"] - true_did) < 3 * effect["se"]


@pytest.mark.parametrize("case", ["two waves", "three waves by region, missing", "subset"])
def test_saturated_did_from_cell_totals_equals_the_row_fit(case, monkeypatch):
    """Without covariates the DiD is fitted from per-(PSU, cell) totals; it equals the
    weighted least squares on the rows (the path of models with covariates)."""
    from perception.analysis import diff_in_diff

    if case == "two waves":
        design, kwargs = panel_design(2), {}
    elif case == "subset":
        design = panel_design(3)
        design, kwargs = design.subset(design.data["sex"] == 1), {}
    else:
        design, kwargs = panel_design(3), {"by": "region", "na_rm": True}
    variable = "trust_na" if kwargs.get("na_rm") else "trust"
    fast = pc.did(design, variable, treated="treated", period="wave", **kwargs)
    monkeypatch.setattr(diff_in_diff, "_fit_cells", lambda *args, **kw: None)
    rows = pc.did(design, variable, treated="treated", period="wave", **kwargs)
    for name in ("effects", "coefficients"):
        ours, theirs = getattr(fast, name), getattr(rows, name)
        pd.testing.assert_frame_equal(ours.select_dtypes(exclude="number"),
                                      theirs.select_dtypes(exclude="number"))
        np.testing.assert_allclose(ours.select_dtypes("number").to_numpy(float),
                                   theirs.select_dtypes("number").to_numpy(float),
                                   rtol=1e-9, atol=1e-12)


def test_labelled_categorical_covariate_enters_as_dummies():
    # a categorical question coded by numbers (sex 1/2) is a factor: the DiD equals the
    # interaction of the labelled glm with C(sex); a text question is refused
    demo = pc.demo_survey(seed=1)
    design = demo.design()
    effect = pc.did(design, "trust_police", covariates=["sex", "age"]).effects
    fit = pc.glm(design, "trust_police ~ treated * C(wave) + C(sex) + age")
    row = fit.coefficients.loc["treated:C(wave)[T.1]"]
    np.testing.assert_allclose(effect["estimate"].iloc[0], row["estimate"], rtol=1e-10)
    np.testing.assert_allclose(effect["se"].iloc[0], row["se"], rtol=1e-8)
    assert effect["n_excluded"].iloc[0] > 0  # the codes of sex and the outcome left out
    with pytest.raises(pc.PerceptionError, match="'commune' is a text variable.*cannot "
                                                 "adjust a DiD"):
        pc.did(design, "trust_police", covariates=["commune"])


def test_select_multiple_did_keeps_the_labels_of_the_other_roles():
    # each option's DiD with covariates equals the labelled glm of its 0/1 indicator:
    # the covariates' missing codes left out (displaced and educ 8/9), the categorical
    # displaced as dummies; the rows carry the question's wording and the option's label
    from perception.survey.multiple_choice import option_design
    from perception.survey.valid_values import value_label

    design = pc.demo_survey(seed=1).design()
    result = pc.did(design, "ca_type", covariates=["displaced", "educ"])
    effects = result.effects
    options = option_design(design, "ca_type")
    assert len(effects) == len(options.columns)
    q = design.questionnaire
    for (column, code), (_, row) in zip(options.columns.items(), effects.iterrows(),
                                        strict=True):
        labelled = design.with_data(options.design.data.assign(option=lambda d, c=column:
                                                                   d[c]))
        fit = pc.glm(labelled, "option ~ treated * C(wave) + C(displaced) + educ",
                     na_rm=True)
        want = fit.coefficients.loc["treated:C(wave)[T.1]"]
        assert (row["variable"], row["category"]) == ("ca_type", code)
        np.testing.assert_allclose(row["estimate"], want["estimate"], rtol=1e-10)
        np.testing.assert_allclose(row["se"], want["se"], rtol=1e-8)
        assert row["category_label"] == value_label(q, "ca_type", code, design.lang)
    assert (effects["n_excluded"] > 0).all()  # the covariates' codes, counted
    assert set(effects["variable_label"]) == {q.label("ca_type", design.lang)}
    assert "category_label" in result.cells and "wave_label" in result.cells
