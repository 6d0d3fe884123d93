"""The one model-fitting core: weighted least squares, iteratively reweighted least
squares (R's ``glm.fit``), the rank check, and the per-row estimating functions whose
per-PSU totals give the design-based sandwich.

Every model of the package reduces to these sums over rows:

- each IRLS iteration solves the weighted least squares of the working response on the
  model matrix (its information ``X'WX`` and score ``X'Wz``);
- the covariance of the coefficients is the design covariance of the totals of the
  estimating functions ``U_i = x_i w_i (y_i - mu_i) / g'(mu_i)`` times the bread
  ``(X'WX)^-1`` (R's ``svy.varcoef``): the design needs only their per-PSU totals.

A Gaussian model with the identity link is one weighted least squares (the fast path
that ``did`` and ``change`` use); other families iterate. New families plug in as
:class:`perception.survey.families.Family` objects; a back end that holds the rows
elsewhere (Dask) supplies the same sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import EstimationError
from .families import Family

# R's glm.control(): epsilon = 1e-8, maxit = 25
EPSILON = 1e-8
MAXIT = 25
#: R's glm.fit QR tolerance min(1e-7, epsilon / 1000): a column whose part not explained
#: by the columns before it is below this fraction of its norm is aliased
ALIAS_TOL = min(1e-7, EPSILON / 1000)


@dataclass(frozen=True)
class WLS:
    """A weighted least-squares solution: coefficients, the bread ``(X'WX)^-1`` and the
    diagonal of the triangular factor (the part of each column not explained by the
    columns before it)."""

    coef: np.ndarray
    bread: np.ndarray
    r_diag: np.ndarray


def wls(x: np.ndarray, z: np.ndarray, w: np.ndarray) -> WLS:
    """Weighted least squares of ``z`` on ``x`` with weights ``w`` (rows with ``w = 0``
    drop out), by the QR decomposition of ``sqrt(w) x`` as R's ``lm.wfit``/``glm.fit``."""
    keep = w > 0
    root = np.sqrt(w[keep])
    q, r = np.linalg.qr(x[keep] * root[:, None])
    r_diag = np.abs(np.diag(r))
    if np.any(r_diag == 0):
        return WLS(np.full(x.shape[1], np.nan), np.full((x.shape[1],) * 2, np.nan), r_diag)
    coef = np.linalg.solve(r, q.T @ (z[keep] * root))
    r_inv = np.linalg.solve(r, np.eye(r.shape[0]))
    return WLS(coef, r_inv @ r_inv.T, r_diag)


def aliased(x: np.ndarray, w: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Positions of the columns of ``x`` that the columns before them explain on the rows
    with ``w > 0`` (R's ``glm.fit`` would give them NA coefficients): the one rank check
    of every model."""
    keep = w > 0
    xw = x[keep] * np.sqrt(w[keep])[:, None]
    norms = np.linalg.norm(xw, axis=0)
    if xw.shape[0] == 0:
        return np.arange(x.shape[1])
    r: np.ndarray = np.linalg.qr(xw, mode="r")  # type: ignore[assignment]
    r_diag = np.abs(np.diag(r))
    if r_diag.size < x.shape[1]:  # fewer rows than columns
        r_diag = np.concatenate([r_diag, np.zeros(x.shape[1] - r_diag.size)])
    return np.flatnonzero((norms == 0) | (r_diag < tol * np.where(norms > 0, norms, 1)))


def check_rank(x: np.ndarray, w: np.ndarray, terms: Sequence[str], what: str) -> None:
    """Raise an error naming the aliased terms of ``x`` (see :func:`aliased`)."""
    bad = aliased(x, w)
    if bad.size:
        names = ", ".join(str(terms[j]) for j in bad)
        raise EstimationError(
            f"the terms {names} of {what} are collinear with the terms before them (or "
            "constant) among the rows used, so their coefficients are not identified (R "
            "reports NA); drop or recode them"
        )


@dataclass(frozen=True)
class IRLSFit:
    """Result of :func:`irls` (R's ``glm.fit``)."""

    coef: np.ndarray  # (p,)
    eta: np.ndarray  # (n,) linear predictor, offset included
    mu: np.ndarray  # (n,)
    working_weights: np.ndarray  # (n,) w^2 of the last iteration, 0 outside the fit
    working_residuals: np.ndarray  # (n,) (y - mu) / mu_eta(eta)
    bread: np.ndarray  # (p, p) (X'WX)^-1 of the last iteration
    deviance: float
    iterations: int
    converged: bool

    def estfun(self, x: np.ndarray) -> np.ndarray:
        """Per-row estimating functions ``x_i w_i r_i`` (R's ``svy.varcoef``'s estfun;
        zero outside the fit): their totals are the score, their per-PSU totals times
        the bread give the sandwich."""
        return x * (self.working_residuals * self.working_weights)[:, None]


def irls(
    x: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    family: Family,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    trials: np.ndarray | None = None,
) -> IRLSFit:
    """R's ``glm.fit``: same start (``mustart``, or ``start``), same updates, step
    halving when the deviance is not finite or the mean leaves its domain, same
    stopping rule ``|dev - devold| / (|dev| + 0.1) < 1e-8``.

    ``y`` is the outcome (a proportion for the binomial with ``trials``), ``prior`` the
    prior weights (design weights, times the trials for the binomial); rows with
    ``prior == 0`` take no part.
    """
    n, p = x.shape
    offset = np.zeros(n) if offset is None else offset
    if family.name == "binomial":
        y = np.where(prior == 0, 0.0, y)
    if start is None:
        eta = family.linkfun(family.mustart(y, prior, trials))
    else:
        eta = x @ start + offset
    mu = family.linkinv(eta)
    if not family.valid_mu(mu[prior > 0]):
        raise EstimationError("cannot find valid starting values for the model: give start=")
    devold = float(np.sum(family.dev_resids(y, mu, prior)))
    coefold = start
    coef = np.full(p, np.nan) if start is None else start
    converged = False
    w = np.zeros(0)
    good = prior > 0
    bread = np.full((p, p), np.nan)
    iteration = 0
    for iteration in range(1, MAXIT + 1):  # noqa: B007 - its last value is reported
        mu_eta = family.mu_eta(eta)
        good = (prior > 0) & (mu_eta != 0)
        z = np.zeros(n)
        z[good] = (eta - offset)[good] + (y - mu)[good] / mu_eta[good]
        wt = np.zeros(n)
        wt[good] = prior[good] * mu_eta[good] ** 2 / family.variance(mu)[good]
        solution = wls(x, z, wt)
        w = np.sqrt(wt[good])
        coef, bread = solution.coef, solution.bread
        eta = x @ coef + offset
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, prior)))
        halvings = 0
        while (not np.isfinite(dev) or not family.valid_mu(mu[prior > 0])) and halvings < MAXIT:
            if coefold is None:
                raise EstimationError(
                    "no valid set of coefficients has been found (the fit left the range "
                    "of the mean): give starting values"
                )
            coef = (coef + coefold) / 2
            eta = x @ coef + offset
            mu = family.linkinv(eta)
            dev = float(np.sum(family.dev_resids(y, mu, prior)))
            halvings += 1
        if abs(dev - devold) / (abs(dev) + 0.1) < EPSILON:
            converged = True
            break
        devold = dev
        coefold = coef
    working_weights = np.zeros(n)
    working_weights[good] = w**2
    residuals = (y - mu) / family.mu_eta(eta)
    return IRLSFit(coef, eta, mu, working_weights, residuals, bread,
                   float(np.sum(family.dev_resids(y, mu, prior))), iteration, converged)


def linear(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> IRLSFit:
    """The Gaussian identity-link fit in one weighted least squares (the fast path):
    the coefficients, bread and working quantities :func:`irls` reaches at convergence."""
    solution = wls(x, y, w)
    eta = x @ solution.coef
    residuals = np.where(w > 0, y - eta, 0.0)
    deviance = float(np.sum(w * residuals**2))
    return IRLSFit(solution.coef, eta, eta, np.where(w > 0, w, 0.0), residuals,
                   solution.bread, deviance, 1, True)
