"""Tail probabilities of weighted sums of chi-squared variables, as R's survey package
computes them for the Rao–Scott working likelihood-ratio test (``pchisqsum``,
``pFsum``).

Under a misspecified (design-based) model the working LRT statistic is distributed as
``sum_i a_i X_i`` with ``X_i`` independent chi-squared(1) and ``a_i`` the eigenvalues of
``V0^-1 V`` (model-based versus design-based covariance of the tested coefficients);
with a finite denominator df, as ``sum_i a_i X_i`` against ``X2_ddf / ddf``. Two
approximations:

- Satterthwaite: a scaled chi-squared (F) with the first two moments;
- saddlepoint (R's default): Kuonen's (1999) saddlepoint approximation of the sum's
  distribution. The F form is the probability that ``sum_i a_i X_i - (x/ddf) X2_ddf``
  exceeds 0, a sum with ``ddf`` extra negative weights.

Both follow R's code (``survey:::saddle``), including its fallback to Satterthwaite
when the saddlepoint is too close to zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import optimize, stats

Approximation = Literal["saddlepoint", "satterthwaite"]
APPROXIMATIONS = ("saddlepoint", "satterthwaite")


def _saddle(x: float, values: np.ndarray, counts: np.ndarray) -> float:
    """Upper tail at ``x`` of ``sum lambda_j X_j`` (``counts[j]`` copies of
    ``values[j]``), R's ``survey:::saddle``; NaN where R gives NA."""
    d = values.max()
    lam = values / d
    x = x / d

    def k0(z: float) -> float:
        return float(-np.sum(counts * np.log1p(-2 * z * lam)) / 2)

    def k1(z: float) -> float:
        return float(np.sum(counts * lam / (1 - 2 * z * lam)))

    def k2(z: float) -> float:
        return float(2 * np.sum(counts * lam**2 / (1 - 2 * z * lam) ** 2))

    n = counts.sum()
    if np.any(lam < 0):
        lower = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > np.sum(counts * lam):
        lower = -0.01
    else:
        lower = -n / (2 * x)
    upper = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    zeta = optimize.brentq(lambda z: k1(z) - x, lower, upper, xtol=1e-14, rtol=1e-15,
                           maxiter=500)
    if abs(zeta) < 1e-4:
        return float("nan")
    w = np.sign(zeta) * np.sqrt(2 * (zeta * x - k0(zeta)))
    v = zeta * np.sqrt(k2(zeta))
    return float(stats.norm.sf(w + np.log(v / w) / w))


def _satterthwaite(a: np.ndarray) -> tuple[float, float]:
    """Scale and df of the scaled chi-squared with the sum's first two moments."""
    tr = a.mean()
    tr2 = np.mean(a**2) / tr**2
    return tr * tr2, len(a) / tr2


def chisq_sum_sf(x: float, a, method: Approximation = "saddlepoint") -> float:
    """P(sum_i a_i X_i > x), X_i independent chi-squared(1) (R's
    ``pchisqsum(x, rep(1, k), a, lower.tail = FALSE, method =)``).

    Examples
    --------
    >>> round(chisq_sum_sf(3.0, [1.5, 0.5]), 6)
    0.211944
    >>> round(chisq_sum_sf(3.0, [1.5, 0.5], "satterthwaite"), 6)
    0.22518
    """
    a = np.asarray(a, dtype=float)
    if x <= 0:
        return 1.0
    scale, df = _satterthwaite(a)
    guess = float(stats.chi2.sf(x / scale, df))
    if method == "satterthwaite":
        return guess
    p = _saddle(float(x), a, np.ones(len(a)))
    return guess if np.isnan(p) else p


def f_sum_sf(x: float, a, ddf: float, method: Approximation = "saddlepoint") -> float:
    """P(sum_i a_i X_i / (X2_ddf / ddf) > x) (R's ``pFsum(x, rep(1, k), a, ddf,
    lower.tail = FALSE, method =)``); ``ddf = inf`` is :func:`chisq_sum_sf`.

    R repeats the weight ``-x/ddf`` ``ddf`` times (``rep`` truncates a fractional
    ``ddf``); the sums here count copies instead of forming them.

    Examples
    --------
    >>> round(f_sum_sf(3.0, [1.5, 0.5], ddf=10), 6)
    0.252815
    """
    if not np.isfinite(ddf):
        return chisq_sum_sf(x, a, method)
    a = np.asarray(a, dtype=float)
    if x <= 0:
        return 1.0
    scale, ndf = _satterthwaite(a)
    p = float(stats.f.sf(x / ndf / scale, ndf, ddf))
    if method == "satterthwaite":
        return p
    values = np.append(a, -x / ddf)
    counts = np.append(np.ones(len(a)), float(np.trunc(ddf)))
    s = _saddle(0.0, values, counts)
    return p if np.isnan(s) else s
