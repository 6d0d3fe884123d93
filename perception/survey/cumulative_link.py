"""The numerical kernel of the proportional-odds (cumulative link) model: weighted
log-likelihood, per-row scores, Hessian and the Newton fit.

Model: ``P(Y <= k | x) = F(zeta_k - x'beta)`` for the categories ``k = 1..K-1``, with
``F`` the logistic (``link="logit"``) or normal (``"probit"``) distribution function and
cut-points ``zeta_1 < ... < zeta_{K-1}``. The pseudo-log-likelihood with design weights
is ``sum_i w_i log(F(zeta_{y_i} - eta_i) - F(zeta_{y_i - 1} - eta_i))`` (``zeta_0 =
-inf``, ``zeta_K = inf``), concave in ``(beta, zeta)`` for both links, so Newton's
method with step halving finds its maximum from any ordered start. Parameters are
``theta = (beta, zeta)``, as R's ``svyolr`` reports them (its optimiser works on
``log`` differences of the cut-points; the maximum is the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats

Link = Literal["logit", "probit"]
LINKS = ("logit", "probit")

_MAXIT = 100


def cdf(z: np.ndarray, link: str) -> np.ndarray:
    return special.expit(z) if link == "logit" else special.ndtr(z)


def quantile(p: np.ndarray, link: str) -> np.ndarray:
    return special.logit(p) if link == "logit" else special.ndtri(p)


def _pdf(z: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """Density and its derivative at ``z`` (0 at infinite ``z``)."""
    finite = np.isfinite(z)
    zz = np.where(finite, z, 0.0)
    if link == "logit":
        p = special.expit(zz)
        f = p * (1 - p)
        df = f * (1 - 2 * p)
    else:
        f = stats.norm.pdf(zz)
        df = -zz * f
    return np.where(finite, f, 0.0), np.where(finite, df, 0.0)


@dataclass(frozen=True)
class Pieces:
    """Per-row quantities at ``theta``: bounds of the row's interval and its
    probability, the densities and their derivatives at both bounds."""

    upper: np.ndarray
    lower: np.ndarray
    prob: np.ndarray
    f_upper: np.ndarray
    f_lower: np.ndarray
    df_upper: np.ndarray
    df_lower: np.ndarray


def pieces(theta: np.ndarray, x: np.ndarray, y: np.ndarray, link: str,
           offset: np.ndarray | float = 0.0) -> Pieces:
    """``y`` holds category codes ``0..K-1``; ``theta = (beta, zeta)``."""
    p = x.shape[1]
    zeta = np.concatenate([[-np.inf], theta[p:], [np.inf]])
    eta = x @ theta[:p] + offset
    upper = zeta[y + 1] - eta
    lower = zeta[y] - eta
    # upper tails by survival functions: no cancellation when both bounds are far out
    right = lower > 0
    prob = np.where(right, cdf(-lower, link) - cdf(-upper, link), cdf(upper, link) - cdf(lower, link))
    fu, dfu = _pdf(upper, link)
    fl, dfl = _pdf(lower, link)
    return Pieces(upper, lower, prob, fu, fl, dfu, dfl)


def loglik(theta, x, y, w, link, offset=0.0) -> float:
    """Weighted log-likelihood; ``-inf`` if a row with weight has probability 0
    (cut-points out of order)."""
    pc = pieces(theta, x, y, link, offset)
    used = w > 0
    if np.any(pc.prob[used] <= 0):
        return -np.inf
    return float(np.sum(w[used] * np.log(pc.prob[used])))


def scores(theta, x, y, w, link, offset=0.0) -> np.ndarray:
    """Per-row gradients of the weighted log-likelihood (n, p + K - 1): ``w_i`` times the
    derivative of ``log P(Y = y_i)`` (R's ``gmini`` up to its sign)."""
    pc = pieces(theta, x, y, link, offset)
    p, q = x.shape[1], len(theta) - x.shape[1]
    n = len(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(w > 0, w / pc.prob, 0.0)
    out = np.zeros((n, p + q))
    out[:, :p] = -x * (ratio * (pc.f_upper - pc.f_lower))[:, None]
    rows = np.arange(n)
    up = y < q  # the row's upper cut-point is zeta_{y+1}, index y among the q
    out[rows[up], p + y[up]] += ratio[up] * pc.f_upper[up]
    low = y > 0
    out[rows[low], p + y[low] - 1] -= ratio[low] * pc.f_lower[low]
    return out


def hessian(theta, x, y, w, link, offset=0.0) -> np.ndarray:
    """Hessian of the weighted log-likelihood (negative definite at the maximum)."""
    pc = pieces(theta, x, y, link, offset)
    p, q = x.shape[1], len(theta) - x.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(w > 0, 1 / pc.prob, 0.0)
    d = pc.f_upper - pc.f_lower
    # second derivatives of log P in (eta, zeta_upper, zeta_lower), times w
    h_ee = w * ((pc.df_upper - pc.df_lower) * r - (d * r) ** 2)
    h_uu = w * (pc.df_upper * r - (pc.f_upper * r) ** 2)
    h_ll = w * (-pc.df_lower * r - (pc.f_lower * r) ** 2)
    h_ul = w * (pc.f_upper * pc.f_lower * r**2)
    h_ue = w * (-pc.df_upper * r + pc.f_upper * d * r**2)
    h_le = w * (pc.df_lower * r - pc.f_lower * d * r**2)
    out = np.zeros((p + q, p + q))
    out[:p, :p] = x.T @ (x * h_ee[:, None])
    up = y < q
    low = y > 0
    for k in range(q):
        at_upper = up & (y == k)        # zeta_k is the row's upper bound
        at_lower = low & (y - 1 == k)   # zeta_k is the row's lower bound
        out[p + k, p + k] = h_uu[at_upper].sum() + h_ll[at_lower].sum()
        # eta = x'beta: d/d beta = x d/d eta
        cross = x[at_upper].T @ h_ue[at_upper] + x[at_lower].T @ h_le[at_lower]
        out[:p, p + k] = out[p + k, :p] = cross
        if k + 1 < q:
            both = low & (y - 1 == k)  # rows with lower zeta_k and upper zeta_{k+1}
            out[p + k, p + k + 1] = out[p + k + 1, p + k] = h_ul[both].sum()
    return out


def start(x: np.ndarray, y: np.ndarray, w: np.ndarray, q: int, link: str) -> np.ndarray:
    """An ordered start: no slopes, cut-points at the weighted cumulative shares."""
    shares = np.array([w[y <= k].sum() for k in range(q)]) / w.sum()
    shares = np.clip(shares, 1e-6, 1 - 1e-6)
    zeta = quantile(shares, link)
    zeta = np.maximum.accumulate(zeta + np.arange(q) * 1e-6)
    return np.concatenate([np.zeros(x.shape[1]), zeta])


@dataclass(frozen=True)
class OrdinalFit:
    theta: np.ndarray
    loglik: float
    hessian: np.ndarray  # of the log-likelihood at theta
    iterations: int
    converged: bool


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, q: int, link: str,
        theta0: np.ndarray | None = None, offset: np.ndarray | float = 0.0,
        tol: float = 1e-10) -> OrdinalFit:
    """Maximum of the weighted log-likelihood by Newton's method with step halving.

    Converged when the Newton step changes no parameter by more than ``tol`` (relative
    to ``1 + |theta|``); the last step is taken, so the result is the maximum to
    rounding.
    """
    theta = start(x, y, w, q, link) if theta0 is None else np.array(theta0, dtype=float)
    value = loglik(theta, x, y, w, link, offset)
    if not np.isfinite(value):  # a start giving some answer probability 0
        theta = start(x, y, w, q, link)
        value = loglik(theta, x, y, w, link, offset)
    converged = False
    iteration = 0
    for iteration in range(1, _MAXIT + 1):  # noqa: B007 - reported
        gradient = scores(theta, x, y, w, link, offset).sum(axis=0)
        h = hessian(theta, x, y, w, link, offset)
        try:
            step = np.linalg.solve(-h, gradient)
        except np.linalg.LinAlgError:
            break
        factor = 1.0
        while True:
            candidate = theta + factor * step
            new = loglik(candidate, x, y, w, link, offset)
            if np.isfinite(new) and new >= value - 1e-12 * abs(value):
                break
            factor /= 2
            if factor < 1e-10:
                candidate, new = theta, value
                break
        small = np.max(np.abs(candidate - theta) / (1 + np.abs(theta))) <= tol
        theta, value = candidate, new
        if small:
            converged = True
            break
    return OrdinalFit(theta, value, hessian(theta, x, y, w, link, offset), iteration,
                      converged)


def probabilities(theta: np.ndarray, x: np.ndarray, q: int, link: str,
                  offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Category probabilities (n, q + 1) at ``theta``."""
    p = x.shape[1]
    eta = x @ theta[:p] + offset
    cumulative = cdf(theta[p:][None, :] - np.asarray(eta)[:, None], link)
    return np.diff(np.column_stack([np.zeros(len(cumulative)), cumulative,
                                    np.ones(len(cumulative))]), axis=1)


def probability_gradient(theta: np.ndarray, x: np.ndarray, q: int, link: str,
                         offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Derivatives of the category probabilities in theta: (n, q + 1, p + q)."""
    p = x.shape[1]
    eta = x @ theta[:p] + offset
    z = theta[p:][None, :] - np.asarray(eta)[:, None]  # (n, q)
    f, _ = _pdf(z, link)
    n = x.shape[0]
    # cumulative C_k = F(zeta_k - eta): dC_k/d beta = -f_k x, dC_k/d zeta_k = f_k
    dc = np.zeros((n, q, p + q))
    dc[:, :, :p] = -f[:, :, None] * x[:, None, :]
    dc[:, np.arange(q), p + np.arange(q)] = f
    padded = np.concatenate([np.zeros((n, 1, p + q)), dc, np.zeros((n, 1, p + q))], axis=1)
    return np.diff(padded, axis=1)
