"""Confidence intervals: t intervals and R's ``svyciprop`` methods for proportions."""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import special

from ..errors import EstimationError

PropMethod = Literal["logit", "beta", "mean", "xlogit", "asin"]
PROP_METHODS = ("logit", "beta", "mean", "xlogit", "asin")


def t_quantile(level: float, df):
    """Two-sided critical value t(df, (1 + level) / 2); normal when ``df`` is infinite.

    ``df`` may be an array (one value per domain): the result is then an array of the
    same shape. Degrees of freedom <= 0 give NaN (no interval can be formed).

    Examples
    --------
    >>> round(t_quantile(0.95, np.inf), 4)
    1.96
    >>> t_quantile(0.95, np.array([10, np.inf])).round(4).tolist()
    [2.2281, 1.96]
    """
    check_level(level)
    if np.ndim(df) > 0:
        df = np.asarray(df, dtype=float)
        finite = np.isfinite(df)
        with np.errstate(invalid="ignore"):
            t = special.stdtrit(np.where(finite & (df > 0), df, np.nan), (1 + level) / 2)
        return np.where(finite, t, special.ndtri((1 + level) / 2))
    if df is None or not np.isfinite(df):
        return float(special.ndtri((1 + level) / 2))
    if df <= 0:
        return float("nan")
    return float(special.stdtrit(df, (1 + level) / 2))


def check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise EstimationError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")


def check_prop_method(method: object) -> None:
    """``method`` must be one of the proportion intervals (:data:`PROP_METHODS`)."""
    if method not in PROP_METHODS:
        raise EstimationError(
            f"method={method!r} is not a proportion interval; choose one of "
            f"{', '.join(PROP_METHODS)}"
        )


def t_interval(estimate, se, df: float | np.ndarray, level: float = 0.95):
    """Wald interval ``estimate ± t(df)·se``: returns (low, high) arrays (``df`` a scalar
    or an array that broadcasts against ``estimate``)."""
    q = t_quantile(level, df)
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    return estimate - q * se, estimate + q * se


def proportion_interval(
    p,
    se,
    df: float | np.ndarray,
    n_rows,
    method: PropMethod = "logit",
    level: float = 0.95,
):
    """Interval for a proportion, as R's ``svyciprop(method=...)``.

    Parameters
    ----------
    p, se : estimated proportion(s) and their design-based standard errors.
    df : design degrees of freedom (R's ``degf(design)``); a scalar, or an array that
        broadcasts against ``p`` (one value per domain).
    n_rows : rows in the design (R's ``nrow(design)``), used by the Korn–Graubard
        ("beta") effective sample size.
    method : "logit", "beta", "mean" (Wald), "xlogit" or "asin".

    Examples
    --------
    >>> lo, hi = proportion_interval(0.5, 0.05, 30, 100, "logit")
    >>> bool(lo < 0.5 < hi)
    True

    Notes
    -----
    R: ``svyciprop(~I(x == level), design, method=)``. "logit" here is the delta-method
    interval on the logit scale, which is what R's ``svyglm`` fit gives for a
    linearisation design; for replicate designs R's logit SE comes from the replicates
    of logit(p) (see :func:`perception.proportion`).
    """
    check_prop_method(method)
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    q = t_quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mean":
            return p - q * se, p + q * se
        if method in ("logit", "xlogit"):
            centre = special.logit(p)
            half = q * se / (p * (1 - p))
            return special.expit(centre - half), special.expit(centre + half)
        if method == "asin":
            centre = np.arcsin(np.sqrt(p))
            half = q * se / (2 * np.sqrt(p * (1 - p)))
            return np.sin(centre - half) ** 2, np.sin(centre + half) ** 2
        # Korn and Graubard: beta interval with an effective sample size
        n_rows = np.asarray(n_rows, dtype=float)
        n_eff = p * (1 - p) / se**2
        # qt(alpha/2, nrow - 1) / qt(alpha/2, df), both lower-tail: the ratio of the
        # two-sided critical values
        ratio = t_quantile(level, np.asarray(n_rows - 1, dtype=float) + 0 * p) / t_quantile(
            level, np.asarray(df if df is not None else np.inf, dtype=float) + 0 * p)
        n_eff = n_eff * ratio**2
        alpha = 1 - level
        from scipy import stats  # only here: scipy.stats takes long to import

        low = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        high = stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        return low, high


_DBL_MAX = float(np.finfo(float).max)
_EPSILON = float(np.finfo(float).eps)


def uniroot(f, lower: float, upper: float, tol: float, maxiter: int = 1000) -> float:
    """Root of ``f`` in [lower, upper] by Brent's method, step for step as R's ``uniroot``.

    Returns NaN when ``f`` has the same sign at both ends or is not a number there (R
    stops with an error). Used by the score interval of quantiles, whose result depends
    on which side of a data value the root lands, so R's iteration is reproduced exactly.

    Examples
    --------
    >>> round(uniroot(lambda x: x * x - 2, 0.0, 2.0, 1e-10), 8)
    1.41421356

    Notes
    -----
    R: ``uniroot(f, c(lower, upper), tol = tol)`` (C function ``R_zeroin2``).
    """

    def value(x: float) -> float:
        y = float(f(x))
        if np.isnan(y):
            return _DBL_MAX  # R: "NA/Inf replaced by maximum positive value"
        return min(max(y, -_DBL_MAX), _DBL_MAX)

    fa = float(f(lower))
    fb = float(f(upper))
    if np.isnan(fa) or np.isnan(fb) or np.sign(fa) * np.sign(fb) > 0:
        return float("nan")
    a, b = float(lower), float(upper)
    c, fc = a, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = value(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
