"""The proportional-odds kernel: its gradient and Hessian against finite differences,
and a maximum found from any start (the design-based olr is tested against R in
test_ordinal.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.survey import cumulative_link as cl


def apistrat_problem():
    api = pc.datasets.load("apistrat")
    y = pd.cut(api["api00"], [-np.inf, 600, 700, 800, np.inf], labels=False).to_numpy()
    x = np.column_stack([api["ell"], api["meals"], api["stype"] == "H",
                         api["stype"] == "M"]).astype(float)
    return x, y, api["pw"].to_numpy()


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(cl.LINKS), st.lists(st.floats(-0.05, 0.05), min_size=7, max_size=7))
def test_gradient_and_hessian_are_the_derivatives(link, shift):
    x, y, w = apistrat_problem()
    theta = cl.fit(x, y, w, 3, link).theta + np.array(shift)
    h = 1e-6
    steps = np.eye(7) * h
    gradient = cl.scores(theta, x, y, w, link).sum(axis=0)
    numeric = np.array([(cl.loglik(theta + e, x, y, w, link)
                         - cl.loglik(theta - e, x, y, w, link)) / (2 * h) for e in steps])
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-4)
    hessian = cl.hessian(theta, x, y, w, link)
    numeric = np.array([(cl.scores(theta + e, x, y, w, link).sum(axis=0)
                         - cl.scores(theta - e, x, y, w, link).sum(axis=0)) / (2 * h)
                        for e in steps])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-2)
    assert np.all(np.linalg.eigvalsh(hessian) < 0)  # concave


@pytest.mark.parametrize("link", cl.LINKS)
def test_the_maximum_does_not_depend_on_the_start(link):
    x, y, w = apistrat_problem()
    a = cl.fit(x, y, w, 3, link)
    b = cl.fit(x, y, w, 3, link, theta0=np.array([0.1, -0.2, 1, 1, -3, -1, 2.0]))
    assert a.converged and b.converged
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9)
    assert np.abs(cl.scores(a.theta, x, y, w, link).sum(axis=0)).max() < 1e-6


def test_probabilities_and_their_gradient():
    x, y, w = apistrat_problem()
    theta = cl.fit(x, y, w, 3, "logit").theta
    p = cl.probabilities(theta, x[:5], 3, "logit")
    np.testing.assert_allclose(p.sum(axis=1), 1)
    g = cl.probability_gradient(theta, x[:5], 3, "logit")
    h = 1e-6
    numeric = np.stack([(cl.probabilities(theta + e, x[:5], 3, "logit")
                         - cl.probabilities(theta - e, x[:5], 3, "logit")) / (2 * h)
                        for e in np.eye(7) * h], axis=-1)
    np.testing.assert_allclose(g, numeric, atol=1e-8)
    # the weighted log-likelihood is that of the probabilities of the observed categories
    all_p = cl.probabilities(theta, x, 3, "logit")
    assert cl.loglik(theta, x, y, w, "logit") == pytest.approx(
        np.sum(w * np.log(all_p[np.arange(len(y)), y])), rel=1e-12)
