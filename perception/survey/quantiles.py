"""Quantiles by the inverse weighted CDF, with Woodruff, score and replicate intervals
(R's ``svyquantile``, ``qrule = "math"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated
from ..errors import EstimationError
from . import intervals
from .checks import check_columns, check_design, check_probabilities, column_names, numeric_values
from .design import ReplicateDesign, SurveyDesign
from .engine import (
    Domains,
    active_rows,
    assemble,
    by_missing,
    check_domain_weights,
    domains,
    indicator,
    no_rows_error,
    ratio_engine,
)
from .valid_values import prepare

Design = SurveyDesign | ReplicateDesign


# ------------------------------------------------------------------- quantiles --
QuantileInterval = Literal["mean", "beta", "xlogit", "asin", "score", "quantile"]


@dataclass(frozen=True)
class _CDF:
    """Weighted empirical CDF of one variable in one domain, built as R's ``qs`` does."""

    x: np.ndarray  # values with a non-zero weight, sorted (ties kept in row order)
    cumw: np.ndarray  # running sums of their weights
    total: float  # sum of the weights

    @classmethod
    def build(cls, x: np.ndarray, w: np.ndarray) -> _CDF:
        keep = w != 0
        x, w = x[keep], w[keep]
        order = np.argsort(x, kind="stable")
        # R's cumsum() and sum() accumulate in long double, in these orders
        total = float(np.cumsum(w.astype(np.longdouble))[-1]) if w.size else 0.0
        cumw = np.cumsum(w[order].astype(np.longdouble)).astype(float)
        return cls(x[order], cumw, total)

    def quantile(self, p: float) -> float:
        """R's ``qrule_math``: the value at the last cumulative weight <= p W when that
        weight is exactly p W, else the next value."""
        if not np.isfinite(p) or self.x.size == 0:
            return float("nan")
        target = p * self.total
        if self.cumw.size < 2 or np.all(self.cumw[1:] >= self.cumw[:-1]):
            pos = int(np.searchsorted(self.cumw, target, side="right")) - 1
        else:  # negative weights (e.g. linear calibration): not monotone
            hits = np.flatnonzero(self.cumw <= target)
            pos = int(hits[-1]) if hits.size else -1
        # R's last() returns the first position when no cumulative weight is <= p W,
        # so such p give the second smallest value, as in R
        pos = max(pos, 0)
        if p - self.cumw[pos] / self.total == 0:
            return float(self.x[pos])
        return float(self.x[min(pos + 1, self.x.size - 1)])


@positional_deprecated("by", "na_rm", "level", "interval_type")
def quantile(
    design: Design,
    variables: str | Sequence[str],
    quantiles: float | Sequence[float] = (0.5,),
    *,
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
    interval_type: QuantileInterval = "mean",
    missing_codes: str | None = None,
) -> pd.DataFrame:
    """Quantiles by the inverse weighted CDF, with Woodruff intervals.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        Numeric column(s).
    quantiles : float or sequence of float
        Probabilities between 0 and 1.
    by : str or sequence of str, optional
        Domain column(s); each domain is estimated on the design cut to the domain.
    na_rm : bool
        Leave out rows missing a value of ``variables`` (or ``by``).
    level : float
        Confidence level.
    interval_type : {"mean", "beta", "xlogit", "asin", "score", "quantile"}
        "mean" (Woodruff with a Wald interval for F, the default), "beta", "xlogit", "asin"
        (Woodruff with that interval for F, as ``perception.proportion``), "score" (R's
        Francisco–Fuller score interval; linearisation designs) or "quantile" (replicate
        designs: the SE from the replicate quantiles).
    missing_codes : str, optional
        On a labelled design, "exclude" leaves the questionnaire's missing codes out,
        "keep" analyses them as values (default: the design's setting).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``quantile``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``df``, ``deff`` (not defined: NaN), ``n``. ``se`` is the interval's
        width over 2 t(df); ``df`` is the degrees of freedom of the rows that enter each
        domain's estimate (R's ``degf`` of the design cut to them). A bound whose
        probability falls outside [0, 1] is NaN, as in R.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> t = pc.quantile(d, "api00", [0.25, 0.5, 0.75])
    >>> t[["variable", "quantile", "estimate", "ci_low", "ci_high"]]
      variable  quantile  estimate  ci_low  ci_high
    0    api00      0.25     565.0   535.0    597.0
    1    api00      0.50     668.0   642.0    694.0
    2    api00      0.75     756.0   726.0    778.0

    Notes
    -----
    R: ``svyquantile(~api00, design, c(.25, .5, .75), qrule = "math", ci = TRUE,
    se = TRUE, interval.type = "mean")`` (survey >= 4.1; "mean" is the Woodruff
    interval called "mixed" in older versions, accepted here as an alias), and
    ``svyby(~api00, ~stype, design, svyquantile, ...)``. The estimate is the smallest x
    with F(x) >= p, except that R returns the second smallest value when p is below
    the first cumulative weight (``survey:::qs``); this is kept so numbers equal R's.
    """
    if getattr(design, "is_dask", False):  # a Dask DataFrame: survey/dask_quantiles.py
        from . import dask_labelling
        return dask_labelling.quantile(design, variables, quantiles, by=by, na_rm=na_rm,
                                       level=level, interval_type=interval_type,
                                       missing_codes=missing_codes)
    check_design(design)
    intervals.check_level(level)
    if interval_type == "mixed":
        interval_type = "mean"
    allowed = ("mean", "beta", "xlogit", "asin",
               "quantile" if design.is_replicate else "score")
    if interval_type not in allowed:
        raise EstimationError(
            f"interval_type={interval_type!r} is not available for this "
            f"{type(design).__name__}; choose one of {', '.join(map(repr, allowed))}"
        )
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    probs = check_probabilities(quantiles)
    by_names = column_names(by, "by")
    check_columns(design.data, names, "variables")
    check_columns(design.data, by_names, "by")
    prepared = prepare(design, names, by_names, missing_codes=missing_codes,
                       purpose="quantile")
    design = prepared.design
    data = design.data
    values = np.column_stack([numeric_values(data, c) for c in names])
    missing = np.isnan(values).any(axis=1) | by_missing(design, by_names)
    active = active_rows(design, [*names, *by_names], missing, na_rm, "variables")
    if not active.any():
        raise no_rows_error(design, names, by_names)
    dom = domains(design, by_names, active)
    check_domain_weights(design, dom, by_names)
    w = np.where(active, design._w, 0.0)
    k, P, D = len(names), len(probs), dom.count
    cdfs = {}
    qhat = np.empty((D, k, P))
    for d in range(D):
        rows = dom.codes == d
        for j in range(k):
            cdfs[d, j] = _CDF.build(values[rows, j], w[rows])
            qhat[d, j] = [cdfs[d, j].quantile(p) for p in probs]
    # R cuts the design to the domain's complete rows: its df and nrow are theirs
    df = design._domain_degf(dom.codes, D)
    n_design = np.bincount(dom.codes[dom.codes >= 0], minlength=D)
    crit = intervals.t_quantile(level, df.astype(float))
    if interval_type == "quantile":
        low, high = _replicate_quantile_interval(design, values, dom, probs, qhat, crit)
        count = n_design
    else:
        if interval_type == "score":
            low, high = _score_interval(design, values, dom, probs, cdfs, crit, n_design)
        else:
            low, high = _woodruff_interval(design, values, dom, probs, qhat, cdfs, df,
                                           n_design, interval_type, level)
        count = n_design
    with np.errstate(invalid="ignore"):
        se = (high - low) / (2 * crit[:, None, None])
    labels = [{"variable": v, "quantile": p} for v in names for p in probs]
    # the covariance of quantiles is not estimated; only their variances are known
    table = assemble(
        design, dom, labels, qhat.reshape(D, k * P), None,
        np.full((D, k * P), np.nan), count, level,
        low.reshape(D, k * P), high.reshape(D, k * P), se.reshape(D, k * P), df=df,
    )
    table.attrs["interval_type"] = interval_type
    return prepared.finish(table)


def _woodruff_interval(design, values, dom, probs, qhat, cdfs, df, n_design, method, level):
    """Woodruff: invert an interval for F(qhat) through the weighted CDF (R's
    ``woodruffCI``)."""
    D, k, P = qhat.shape
    safe = np.where(dom.codes >= 0, dom.codes, 0)
    inside = dom.codes >= 0
    below = (values[:, :, None] <= qhat[safe]).reshape(len(values), k * P).astype(float)
    below = np.where(inside[:, None], below, 0.0)
    den = indicator(inside, below.shape[1])
    result = ratio_engine(design, below, den, dom)
    se_p = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(D, k * P)
    if method == "mean":
        p_low, p_high = intervals.t_interval(result.estimate, se_p, df[:, None], level)
    else:
        p_low, p_high = intervals.proportion_interval(
            result.estimate, se_p, df[:, None], n_design[:, None], method, level
        )
    p_low = p_low.reshape(D, k, P)
    p_high = p_high.reshape(D, k, P)
    low = np.full((D, k, P), np.nan)
    high = np.full((D, k, P), np.nan)
    for (d, j), cdf in cdfs.items():
        for q in range(P):
            if np.isfinite(p_low[d, j, q]) and p_low[d, j, q] >= 0:
                low[d, j, q] = cdf.quantile(p_low[d, j, q])
            if np.isfinite(p_high[d, j, q]) and p_high[d, j, q] <= 1:
                high[d, j, q] = cdf.quantile(p_high[d, j, q])
    return low, high


def _type7_iqr(x: np.ndarray) -> float:
    """R's ``IQR(x)`` (``quantile`` type 7), with R's arithmetic."""
    xs = np.sort(x)
    out = []
    for prob in (0.25, 0.75):
        index = 1 + (xs.size - 1) * prob
        lo, hi = int(np.floor(index)), int(np.ceil(index))
        value = xs[lo - 1]
        h = index - lo
        if index > lo and xs[hi - 1] != value:
            value = (1 - h) * value + h * xs[hi - 1]
        out.append(value)
    return float(out[1] - out[0])


def _score_interval(design, values, dom, probs, cdfs, crit, n_design):
    """R's ``ffullerCI``: invert the design-based score test of F(theta) = p.

    The roots are found by :func:`perception.survey.intervals.uniroot` (R's ``uniroot``), then
    mapped back through the share of rows (unweighted, as R does) at or below them.
    """
    D = dom.count
    k, P = values.shape[1], len(probs)
    low = np.full((D, k, P), np.nan)
    high = np.full((D, k, P), np.nan)
    frame = pd.DataFrame(index=range(1))
    for d in range(D):
        rows = dom.codes == d
        single = Domains(np.where(rows, 0, -1), frame, 1)
        den = rows.astype(float)[:, None]
        tol = 1 / (100 * np.sqrt(n_design[d]))
        for j in range(k):
            x_all = values[:, j]
            x = x_all[rows]
            iqr = _type7_iqr(x)
            lower, upper = x.min() + iqr / 100, x.max() - iqr / 100
            for q, p in enumerate(probs):

                def score(theta, limit, p=p, x_all=x_all, rows=rows, single=single, den=den):
                    u = np.where(rows, (x_all > theta) - (1 - p), 0.0)[:, None]
                    r = ratio_engine(design, u, den, single)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        return r.estimate[0, 0] / np.sqrt(r.vcov[0, 0]) - limit

                if not lower < upper:
                    continue
                root_low = intervals.uniroot(lambda t, s=score, c=crit[d]: s(t, c),
                                             lower, upper, tol)
                root_high = intervals.uniroot(lambda t, s=score, c=crit[d]: s(t, -c),
                                              lower, upper, tol)
                if np.isfinite(root_low):
                    low[d, j, q] = cdfs[d, j].quantile(float(np.mean(x <= root_low)))
                if np.isfinite(root_high):
                    high[d, j, q] = cdfs[d, j].quantile(float(np.mean(x <= root_high)))
    return low, high


def _replicate_quantile_interval(design, values, dom, probs, qhat, crit):
    """R's ``repCI``: the quantile in every replicate, their replicate variance, and
    qhat ± t(df)·SE."""
    D, k, P = qhat.shape
    weights = design.replicate_matrix()
    low = np.full((D, k, P), np.nan)
    high = np.full((D, k, P), np.nan)
    for d in range(D):
        rows = np.flatnonzero(dom.codes == d)
        w_rows = weights[rows]
        for j in range(k):
            x = values[rows, j]
            reps = np.empty((w_rows.shape[1], P))
            for r in range(w_rows.shape[1]):
                cdf = _CDF.build(x, w_rows[:, r])
                reps[r] = [cdf.quantile(p) for p in probs]
            var = np.diag(design._vcov_replicates(reps, qhat[d, j]))
            se = np.sqrt(np.clip(var, 0, None))
            low[d, j] = qhat[d, j] - crit[d] * se
            high[d, j] = qhat[d, j] + crit[d] * se
    return low, high
