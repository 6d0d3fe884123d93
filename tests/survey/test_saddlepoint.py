"""The tail probabilities behind the working likelihood-ratio test, against R's
pchisqsum and pFsum (tests/reference/make_models_more.R -> models_more.csv)."""

from __future__ import annotations

import numpy as np
import pytest
from _models_cases import reference
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from perception.survey.saddlepoint import chisq_sum_sf, f_sum_sf

# the R script's grid: (x, a)
SUMS = [(3, [1.5, 0.5]), (12, [2, 1, 0.5]), (0.4, [0.9, 0.3]), (25, [1, 1, 1, 1]),
        (60, [3.2, 0.7]), (2, [1.3])]
RTOL = 1e-7  # R finds the saddlepoint with uniroot(tol = 1e-8)


@pytest.mark.parametrize("method", ["satterthwaite", "saddlepoint"])
@pytest.mark.parametrize("i", range(len(SUMS)))
def test_equals_r(method, i):
    x, a = SUMS[i]
    r = reference("models_more.csv")
    assert r["pchisqsum"][f"x:{i + 1}"] == x
    assert chisq_sum_sf(x, a, method) == pytest.approx(
        r["pchisqsum"][f"{method}:{i + 1}"], rel=RTOL)
    for ddf in (10, 193):
        assert f_sum_sf(x, a, ddf, method) == pytest.approx(
            r[f"pFsum_{ddf}"][f"{method}:{i + 1}"], rel=RTOL)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 40), st.integers(1, 6))
def test_equal_weights_give_the_chi_squared_and_f_tails(x, k):
    # sum of k chi-squared(1) with weight 1 is chi-squared(k): Satterthwaite is exact
    a = np.ones(k)
    assert chisq_sum_sf(x, a, "satterthwaite") == pytest.approx(stats.chi2.sf(x, k), rel=1e-12)
    assert f_sum_sf(x, a, 30, "satterthwaite") == pytest.approx(
        stats.f.sf(x / k, k, 30), rel=1e-12)
    # the saddlepoint approximation of a chi-squared is close to it (within 15% in the
    # far tail of one chi-squared(1), closer with more terms)
    assert chisq_sum_sf(x, a) == pytest.approx(stats.chi2.sf(x, k), rel=0.15, abs=1e-6)


def test_zero_statistic_and_infinite_ddf():
    assert chisq_sum_sf(0.0, [1.0, 2.0]) == 1.0
    assert f_sum_sf(5.0, [1.0, 2.0], np.inf) == chisq_sum_sf(5.0, [1.0, 2.0])
