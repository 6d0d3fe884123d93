"""Confidence intervals: t intervals and R's ``svyciprop`` methods for proportions."""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import special, stats

from .errors import EstimationError

PropMethod = Literal["logit", "beta", "mean", "xlogit", "asin"]
PROP_METHODS = ("logit", "beta", "mean", "xlogit", "asin")


def t_quantile(level: float, df: float) -> float:
    """Two-sided critical value t(df, (1 + level) / 2); normal when ``df`` is infinite.

    Examples
    --------
    >>> round(t_quantile(0.95, np.inf), 4)
    1.96
    """
    check_level(level)
    if df is None or not np.isfinite(df):
        return float(stats.norm.ppf((1 + level) / 2))
    if df <= 0:
        return float("nan")
    return float(stats.t.ppf((1 + level) / 2, df))


def check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise EstimationError(f"level must be a number between 0 and 1 (e.g. 0.95), got {level!r}")


def t_interval(estimate, se, df: float, level: float = 0.95):
    """Wald interval ``estimate ± t(df)·se``: returns (low, high) arrays."""
    q = t_quantile(level, df)
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    return estimate - q * se, estimate + q * se


def proportion_interval(
    p,
    se,
    df: float,
    n_rows,
    method: PropMethod = "logit",
    level: float = 0.95,
):
    """Interval for a proportion, as R's ``svyciprop(method=...)``.

    Parameters
    ----------
    p, se : estimated proportion(s) and their design-based standard errors.
    df : design degrees of freedom (R's ``degf(design)``).
    n_rows : rows in the design (R's ``nrow(design)``), used by the Korn–Graubard
        ("beta") effective sample size.
    method : "logit", "beta", "mean" (Wald), "xlogit" or "asin".

    Examples
    --------
    >>> lo, hi = proportion_interval(0.5, 0.05, 30, 100, "logit")
    >>> bool(lo < 0.5 < hi)
    True
    """
    if method not in PROP_METHODS:
        raise EstimationError(
            f"method={method!r} is not a proportion interval; choose one of "
            f"{', '.join(PROP_METHODS)}"
        )
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
        alpha = 1 - level
        n_rows = np.asarray(n_rows, dtype=float)
        n_eff = p * (1 - p) / se**2
        if df is not None and np.isfinite(df):
            ratio = stats.t.ppf(alpha / 2, n_rows - 1) / stats.t.ppf(alpha / 2, df)
        else:
            ratio = stats.t.ppf(alpha / 2, n_rows - 1) / stats.norm.ppf(alpha / 2)
        n_eff = n_eff * ratio**2
        low = stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        high = stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        return low, high
