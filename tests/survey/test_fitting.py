"""The model core's pieces: families (links and their derivatives as R defines them),
weighted least squares, IRLS and the rank check. The models built on them are checked
against R in test_glm*.py, test_ordinal.py and the DiD tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perception.survey import families, fitting

ALL = [families.family(name, link) for name, links in families.LINKS.items() for link in links]


@pytest.mark.parametrize("fam", ALL, ids=lambda f: f"{f.name}-{f.link}")
def test_links_invert_and_differentiate(fam):
    eta = np.linspace(-3, 3, 13) if fam.link != "identity" else np.linspace(-50, 50, 13)
    mu = fam.linkinv(eta)
    np.testing.assert_allclose(fam.linkfun(mu), eta, rtol=1e-10, atol=1e-10)
    h = 1e-6
    numeric = (fam.linkinv(eta + h) - fam.linkinv(eta - h)) / (2 * h)
    np.testing.assert_allclose(fam.mu_eta(eta), numeric, rtol=1e-6)


def test_r_clamps_of_the_links():
    logit, probit, log = (families.family("binomial"), families.family("binomial", "probit"),
                          families.family("poisson"))
    eps = np.finfo(float).eps
    assert logit.linkinv(np.array([-40.0]))[0] == pytest.approx(eps / (1 + eps))
    assert logit.mu_eta(np.array([40.0]))[0] == eps
    assert 0 < probit.linkinv(np.array([-40.0]))[0] < 1e-15
    assert log.linkinv(np.array([-800.0]))[0] == eps


def test_deviance_residuals_are_zero_at_a_perfect_fit_and_positive_elsewhere():
    y = np.array([0.1, 0.3, 0.6, 0.9])
    for fam in ALL:
        assert np.all(np.abs(fam.dev_resids(y, y, np.ones(4))) < 1e-14)
        assert np.all(fam.dev_resids(y, y[::-1], np.ones(4)) > 0)


def simulated(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    w = rng.uniform(0.5, 3, n)
    return rng, x, w


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_the_linear_fast_path_is_the_gaussian_irls(seed):
    rng, x, w = simulated(seed)
    y = x @ [1.0, 2.0, -1.0] + rng.normal(size=len(w))
    fast = fitting.linear(x, y, w)
    slow = fitting.irls(x, y, w, families.family("gaussian"))
    np.testing.assert_allclose(fast.coef, slow.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.bread, slow.bread, rtol=1e-10)
    np.testing.assert_allclose(fast.estfun(x), slow.estfun(x), rtol=1e-8, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["poisson", "binomial"]))
def test_irls_solves_the_weighted_score_equations(seed, name):
    rng, x, w = simulated(seed)
    if name == "poisson":
        y = rng.poisson(np.exp(x @ [0.5, 0.3, -0.2])).astype(float)
    else:
        y = (rng.uniform(size=len(w)) < 1 / (1 + np.exp(-(x @ [0.2, 1.0, -0.5])))).astype(float)
    fit = fitting.irls(x, y, w, families.family(name))
    assert fit.converged
    # the canonical links' score is X'W(y - mu)
    np.testing.assert_allclose(x.T @ (w * (y - fit.mu)), 0, atol=1e-6 * w.sum())
    # the estimating functions use the last iteration's working weights (as R's)
    np.testing.assert_allclose(fit.estfun(x).sum(axis=0), 0, atol=1e-6 * w.sum())


def test_rows_without_weight_take_no_part():
    rng, x, w = simulated(3)
    y = x @ [1.0, 2.0, -1.0] + rng.normal(size=len(w))
    w0 = w.copy()
    w0[:50] = 0
    y0 = y.copy()
    y0[:50] = 1e9  # would dominate if used
    a = fitting.irls(x, y0, w0, families.family("gaussian"))
    b = fitting.irls(x[50:], y[50:], w[50:], families.family("gaussian"))
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-10)
    assert np.all(a.estfun(x)[:50] == 0)


def test_the_rank_check_names_aliased_terms():
    _, x, w = simulated(1)
    collinear = np.column_stack([x, 2 * x[:, 1] - x[:, 2], np.zeros(len(w))])
    assert fitting.aliased(collinear, w).tolist() == [3, 4]
    with pytest.raises(Exception, match=r"term\(s\) 'd', 'e' of the model are constant or collinear"):
        fitting.check_rank(collinear, w, list("abcde"), "the model")
    assert fitting.aliased(x, w).size == 0
    # only the rows with weight count
    only_zeros = x.copy()
    w2 = w.copy()
    w2[only_zeros[:, 2] == 1] = 0
    assert fitting.aliased(only_zeros, w2).tolist() == [2]
