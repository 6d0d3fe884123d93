"""pc.olr against R's svyolr, its predicted probabilities against svycontrast, and the
proportional-odds test against the R computation from separate svyglm fits at each
cut-point (tests/reference/make_models_more.R -> models_more.csv)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _models_cases import api, design, r_term, reference

import perception as pc

DESIGNS = ["strat", "clus1", "clus2", "jk1", "boot"]
FORMULA = "apicat ~ ell + meals + stype"
#: R's maximiser (optim's BFGS with reltol 1e-15) stops where the log-likelihood is flat
#: to double precision: its logit estimates sit ~1e-8 from the maximum, its probit ones
#: up to ~1e-6 (gradient 0.02 there, 3e-11 at ours), and probabilities inherit that
RTOL = {"logit": 1e-6, "probit": 3e-6}
PROFILES = pd.DataFrame({"ell": [0, 10, 40], "meals": [10, 50, 90], "stype": ["E", "H", "M"]})


def banded(name: str):
    d = design(name)
    band = pd.cut(d.data["api00"], [-np.inf, 600, 700, 800, np.inf], labels=[1, 2, 3, 4])
    return d.with_data(d.data.assign(apicat=band))


@pytest.fixture(scope="module")
def fits():
    return {(name, link): pc.olr(banded(name), FORMULA, link=link)
            for name in DESIGNS for link in ("logit", "probit")}


def close(ours, theirs, rtol):
    assert ours == pytest.approx(theirs, rel=rtol, abs=1e-12)


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_coefficients_and_cutpoints_equal_svyolr(fits, name, link):
    r = reference("models_more.csv")[f"{name}/olr_{link}"]
    fit = fits[name, link]
    assert fit.cutpoints == ["1|2", "2|3", "3|4"] and fit.categories == ("1", "2", "3", "4")
    for term, row in fit.coefficients.iterrows():
        close(row["estimate"], r[f"{r_term(term)}:est"], RTOL[link])
        close(row["se"], r[f"{r_term(term)}:se"], RTOL[link])
        # R with optim's default control stops ~1e-5 short of the maximum
        close(row["estimate"], r[f"{r_term(term)}:default_est"], 2e-4)
    v = fit.vcov
    for a in v.index:
        for b in v.columns:  # on the scale of the SEs: covariances near zero cancel
            scale = np.sqrt(v.loc[a, a] * v.loc[b, b])
            assert abs(v.loc[a, b] - r[f"vcov|{r_term(a)}|{r_term(b)}"]) < 2 * RTOL[link] * scale
    assert fit.df_residual == r["df.residual"]
    close(fit.deviance, r["deviance"], 1e-10)
    fitted = fit.predict()
    for i in range(5):
        rows = fitted[fitted["row"] == fit.model_matrix().index[i]]
        for category, p in zip(rows["category"], rows["estimate"], strict=True):
            close(p, r[f"fitted:{i + 1}:{category}"], RTOL[link])


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_predicted_probabilities_equal_svycontrast(fits, name, link):
    r = reference("models_more.csv")[f"{name}/olr_{link}"]
    predicted = fits[name, link].predict(PROFILES)
    assert len(predicted) == 12
    np.testing.assert_allclose(predicted.groupby("row")["estimate"].sum(), 1)
    for row in predicted.itertuples():
        close(row.estimate, r[f"pred:{row.row + 1}:{row.category}:est"], RTOL[link])
        close(row.se, r[f"pred:{row.row + 1}:{row.category}:se"], RTOL[link])
        assert row.ci_low < row.estimate < row.ci_high


@pytest.mark.parametrize("name", DESIGNS)
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_proportional_odds_test_equals_the_r_computation(fits, name, link):
    r = reference("models_more.csv")[f"{name}/po_test_{link}"]
    with warnings.catch_warnings():
        # clus1 has no high school in the top band: R's fit of that cut-point separates
        warnings.simplefilter("ignore", UserWarning)
        table = fits[name, link].proportional_odds_test()
    assert sorted(table["term"]) == ["all", "ell", "meals", "stype[T.H]", "stype[T.M]"]
    assert table["term"].iloc[-1] == "all"
    for row in table.itertuples():
        key = "all" if row.term == "all" else r_term(row.term)
        close(row.chisq, r[f"{key}:chisq"], 1e-7)
        close(row.statistic, r[f"{key}:F"], 1e-7)
        close(row.p, r[f"{key}:p"], 1e-7)
        assert row.ndf == r[f"{key}:ndf"] and row.ddf == r[f"{key}:ddf"]


def test_the_outcome_may_be_numeric_codes_or_an_ordered_categorical():
    codes = banded("strat")
    numeric = codes.with_data(codes.data.assign(apicat=codes.data["apicat"].astype(int) - 1))
    a = pc.olr(codes, FORMULA)
    b = pc.olr(numeric, FORMULA)
    assert b.cutpoints == ["0|1", "1|2", "2|3"]
    np.testing.assert_allclose(a.coefficients["estimate"], b.coefficients["estimate"])


def test_missing_answers_and_domains():
    d = banded("strat")
    holes = d.with_data(d.data.assign(ell=d.data["ell"].where(d.data.index % 9 != 0)))
    with pytest.raises(pc.EstimationError, match="'ell' \\(23\\).*na_rm=True"):
        pc.olr(holes, FORMULA)
    fit = pc.olr(holes, FORMULA, na_rm=True)
    assert fit.n == 177
    elementary = d.subset(d.data["stype"] == "E")
    inside = pc.olr(elementary, "apicat ~ ell + meals")
    assert inside.n == 100 and inside.df_residual == elementary.degf - 2


def test_bad_arguments():
    d = banded("strat")
    with pytest.raises(pc.EstimationError, match="2 categories.*three or more"):
        pc.olr(d.with_data(d.data.assign(two=(d.data["api00"] > 650).astype(int))),
               "two ~ ell")
    with pytest.raises(pc.EstimationError, match="link='cloglog' is unknown"):
        pc.olr(d, FORMULA, link="cloglog")
    with pytest.raises(pc.EstimationError, match="'ell2'.*collinear"):
        pc.olr(d.with_data(d.data.assign(ell2=2 * d.data["ell"])), "apicat ~ ell + ell2")
    with pytest.raises(pc.EstimationError, match="design given to"):
        pc.olr(api("apistrat"), FORMULA)


def test_weights_scale_and_row_order_do_not_matter():
    d = banded("strat")
    base = pc.olr(d, FORMULA)
    data = d.data.assign(pw=d.data["pw"] * 7.5).iloc[::-1]
    other = pc.olr(pc.SurveyDesign(data, weights="pw", strata="stype", fpc="fpc"), FORMULA)
    np.testing.assert_allclose(other.coefficients[["estimate", "se"]],
                               base.coefficients[["estimate", "se"]], rtol=1e-9)
