"""Linear contrasts of estimates with their full covariance (R's ``svycontrast``).

An estimate table from :func:`perception.mean`, ``total``, ``ratio`` or ``proportion``
carries the covariance of its ``estimate`` column in ``table.attrs["vcov"]``: domains
estimated inside one design are correlated (shared PSUs, waves revisiting the same
villages), and a difference of two rows needs that covariance. It is keyed by each
row's identity and read through :func:`perception.survey.covariance.covariance_of`, so a
sorted or filtered table gives the same contrasts. A :class:`GLMResult` works the same
way, with its coefficients as the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..deprecation import positional_deprecated
from ..errors import EstimationError
from ..tables import smallest_count
from . import intervals
from .attached import attach
from .covariance import attach_covariance, covariance_of
from .fitted import FittedModel

CONTRAST_COLUMNS = ["contrast", "estimate", "se", "ci_low", "ci_high", "df", "p", "n", "n_min"]

PAdjust = Literal[
    "holm", "bonferroni", "sidak", "holm-sidak", "simes-hochberg", "hommel",
    "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky", "hochberg", "BH", "BY", "none",
]
# R's p.adjust names -> statsmodels' multipletests names
_P_ALIASES = {"hochberg": "simes-hochberg", "BH": "fdr_bh", "fdr": "fdr_bh", "BY": "fdr_by"}
_P_METHODS = (
    "holm", "bonferroni", "sidak", "holm-sidak", "simes-hochberg", "hommel",
    "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky", "none",
)


# ------------------------------------------------------------------- the rows --
def _rows_of(
    estimates,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str], float, list[str]]:
    """Estimates, covariance, df per row, short labels, full labels, level, and the
    identity columns of the rows."""
    if isinstance(estimates, FittedModel):
        coef = estimates.coefficients
        labels = [str(t) for t in coef.index]
        k = len(labels)
        return (
            coef["estimate"].to_numpy(dtype=float),
            # by term name: the covariance follows the coefficients' order
            estimates.vcov.loc[coef.index, coef.index].to_numpy(dtype=float),
            np.full(k, float(estimates.df_residual)),
            labels,
            labels,
            estimates.level,
            [],
        )
    if not isinstance(estimates, pd.DataFrame) or "estimate" not in estimates.columns:
        raise EstimationError(
            "estimates must be a table returned by pc.mean, pc.total, pc.ratio or "
            f"pc.proportion (or a pc.glm fit), got {type(estimates).__name__}"
        )
    # aligned to the rows as they are now, whatever order or subset they are in
    covariance = covariance_of(estimates)
    vcov = covariance.to_numpy(dtype=float)
    k = len(estimates)
    # a row's label is its identity: the columns its covariance is keyed by
    label_cols = [str(c) for c in covariance.index.names if c is not None]
    if label_cols:
        parts = pd.DataFrame({c: _as_text(estimates, c) for c in label_cols})
        varying = [c for c in label_cols if parts[c].nunique() > 1] or label_cols[-1:]
        full = parts.agg(":".join, axis=1).tolist()
        short = parts[varying].agg(":".join, axis=1).tolist()
    else:
        full = short = [str(i) for i in estimates.index]
    if "df" in estimates.columns:
        df = estimates["df"].to_numpy(dtype=float)
    else:
        df = np.full(k, np.inf)
    level = float(estimates.attrs.get("level", 0.95))
    return (
        estimates["estimate"].to_numpy(dtype=float), vcov, df, short, full, level, label_cols
    )


def _as_text(table: pd.DataFrame, name: str) -> list[str]:
    """The values of an identity column (or index level) as text labels."""
    values = table[name] if name in table.columns else table.index.get_level_values(name)
    return pd.Series(values).astype(str).tolist()


def _key(label) -> str:
    if isinstance(label, tuple):
        return ":".join(str(x) for x in label)
    return str(label)


def _vector(weights, short: list[str], full: list[str], name: str) -> np.ndarray:
    """One contrast as a weight per row."""
    k = len(short)
    if isinstance(weights, Mapping | pd.Series):
        items = weights.items()
        out = np.zeros(k)
        lookup_short = {lab: i for i, lab in enumerate(short)}
        lookup_full = {lab: i for i, lab in enumerate(full)}
        dup_short = {lab for lab in short if short.count(lab) > 1}
        for label, value in items:
            key = _key(label)
            if key in lookup_short and key not in dup_short:
                i = lookup_short[key]
            elif key in lookup_full:
                i = lookup_full[key]
            else:
                raise EstimationError(
                    f"contrast {name!r}: unknown row label {label!r}. The rows are "
                    f"{', '.join(map(repr, short))}"
                    + (f" (or in full {', '.join(map(repr, full))})" if full != short else "")
                )
            out[i] = _number(value, name, label)
        return out
    values = np.asarray(weights, dtype=float) if not isinstance(weights, str) else None
    if values is None or values.ndim != 1:
        raise EstimationError(
            f"contrast {name!r}: weights must be one number per row, a dict "
            "{row_label: weight}, or a dict of such contrasts by name; got "
            f"{weights!r}"
        )
    if values.shape[0] != k:
        raise EstimationError(
            f"contrast {name!r} has {values.shape[0]} weights but the estimates have {k} "
            f"rows ({', '.join(map(repr, short))}): give one weight per row, or a dict "
            "{row_label: weight} (rows left out get 0)"
        )
    if not np.all(np.isfinite(values)):
        raise EstimationError(f"contrast {name!r} has missing or infinite weights: {weights!r}")
    return values


def _number(value, name: str, label) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EstimationError(
            f"contrast {name!r}: the weight of row {label!r} must be a number, got {value!r}"
        ) from None
    if not np.isfinite(number):
        raise EstimationError(f"contrast {name!r}: the weight of row {label!r} is {value!r}")
    return number


def _is_several(weights) -> bool:
    if isinstance(weights, Mapping) and weights:
        values = list(weights.values())
        return all(
            isinstance(v, Mapping | pd.Series | list | tuple | np.ndarray) for v in values
        )
    return False


# ------------------------------------------------------------------ contrast --
@positional_deprecated("level")
def contrast(
    estimates,
    weights,
    *,
    level: float | None = None,
) -> pd.DataFrame:
    """Linear combinations of the rows of one estimate table, with design-based SEs.

    Parameters
    ----------
    estimates : DataFrame or GLMResult
        A table returned by ``perception.mean``, ``total``, ``ratio``, ``proportion``,
        ``perception.change`` or ``contrast`` (it carries the covariance of its rows, keyed
        by their identity: the table may be sorted, filtered or reset), or a ``GLMResult``
        (rows are the coefficients).
    weights : sequence of float, ndarray or dict
        One contrast, or several:

        - a list/array with one weight per row, in table order;
        - a dict ``{row_label: weight}``; rows left out get weight 0. A row label is the
          value of the label columns (``by`` columns, ``variable``, ``category``) that
          differ between rows, joined by ``":"`` — ``"E"`` for ``by="stype"``,
          ``"api00"`` for two variables, ``"1:E"`` for ``by=["wave", "stype"]`` — or a
          tuple of those values, or the full label of every label column
          (``"E:api00"``); for a GLM the term name;
        - a dict of named contrasts ``{name: weights}`` with weights as above.
    level : float, optional
        Confidence level; default the table's (0.95).

    Returns
    -------
    DataFrame
        The ``contrast``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``, ``p``
        (two-sided t test of zero on ``df``, the table's degrees of freedom; the smallest df
        among the rows used), ``n`` and ``n_min``. ``n`` counts the rows behind the
        estimates the contrast combines (those with a non-zero weight): per domain (the
        values of the columns before ``variable``) the largest ``n`` of its rows used,
        summed over the domains -- exact when the rows used of a domain share their
        respondents (one variable; or variables without missing values), as domains of
        ``by=`` do not overlap. ``n_min`` is the smallest ``n`` (``n_from``/``n_to`` of a
        change) among the rows used: the smallest cell the contrast rests on, which the
        small-cell rule of outputs checks. For a GLM both are the rows of the fit. Its
        ``attrs["vcov"]`` holds the covariance of the contrasts, keyed by ``contrast``. A
        single unnamed contrast is called ``"contrast"``, as in R.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> by_type = pc.mean(d, "api00", by="stype")
    >>> pc.contrast(by_type, {"H": 1, "M": -1})[["contrast", "estimate", "se"]].round(2)
       contrast  estimate     se
    0  contrast    -10.78  22.05
    >>> two = pc.contrast(by_type, {"E-H": [1, -1, 0], "mean": [1/3, 1/3, 1/3]})
    >>> two[["contrast", "estimate", "se"]].round(2)
      contrast  estimate     se
    0      E-H     48.61  19.40
    1     mean    645.62   8.43

    Notes
    -----
    R: ``svycontrast(svyby(~api00, ~stype, design, svymean, covmat=TRUE),
    c(E = 1, H = -1, M = 0))``, and ``svycontrast(stat, list(a = ..., b = ...))``.
    """
    estimate, vcov, df_rows, short, full, table_level, identity = _rows_of(estimates)
    level = table_level if level is None else level
    intervals.check_level(level)
    if _is_several(weights):
        names = [str(n) for n in weights]
        matrix = np.vstack([_vector(w, short, full, str(n)) for n, w in weights.items()])
    else:
        if isinstance(weights, np.ndarray) and weights.ndim == 2:
            names = [f"contrast{i + 1}" for i in range(weights.shape[0])]
            matrix = np.vstack([_vector(w, short, full, nm) for nm, w in zip(
                names, weights, strict=True)])
        else:
            names = ["contrast"]
            matrix = _vector(weights, short, full, "contrast")[None, :]
    if matrix.shape[0] == 0:
        raise EstimationError("give at least one contrast")
    # rows with no variance that no contrast uses are dropped first, as R's contrast()
    unused = np.all(matrix == 0, axis=0) & ~np.isfinite(np.diag(vcov))
    keep = ~unused
    matrix_k, est_k, vcov_k = matrix[:, keep], estimate[keep], vcov[np.ix_(keep, keep)]
    values = matrix_k @ est_k
    cov = matrix_k @ vcov_k @ matrix_k.T
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    df = np.array(
        [
            float(np.min(df_rows[row != 0])) if np.any(row != 0) else float(np.min(df_rows))
            for row in matrix
        ]
    )
    low = np.empty(len(names))
    high = np.empty(len(names))
    pval = np.empty(len(names))
    for i in range(len(names)):
        low[i], high[i] = intervals.t_interval(values[i], se[i], df[i], level)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = values[i] / se[i]
        if np.isfinite(df[i]):
            pval[i] = 2 * stats.t.sf(abs(t), df[i]) if df[i] > 0 else np.nan
        else:
            pval[i] = 2 * stats.norm.sf(abs(t))
    table = pd.DataFrame(
        {"contrast": names, "estimate": values, "se": se, "ci_low": low, "ci_high": high,
         "df": df, "p": pval}
    )
    n, n_min = _counts(estimates, matrix, identity)
    table["n"] = n
    table["n_min"] = n_min
    attach_covariance(table, cov, ["contrast"])
    table.attrs["level"] = level
    table.attrs["weights"] = attach(pd.DataFrame(matrix, index=names, columns=full))
    return table


def _counts(estimates, matrix: np.ndarray,
            identity: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` and ``n_min`` of each contrast (see :func:`contrast`); integer columns, or
    float NaN when the table has no ``n``. A domain is the values of the identity
    columns before ``variable``."""
    m = matrix.shape[0]
    if isinstance(estimates, FittedModel):
        return np.full(m, int(estimates.n), dtype=np.int64), np.full(
            m, int(estimates.n), dtype=np.int64)
    if "n" not in estimates.columns:
        return np.full(m, np.nan), np.full(m, np.nan)
    n_rows = pd.to_numeric(estimates["n"], errors="coerce").to_numpy(dtype=float)
    smallest = smallest_count(estimates).to_numpy(dtype=float)
    by = identity[: identity.index("variable")] if "variable" in identity else []
    domain = (pd.DataFrame({c: _as_text(estimates, c) for c in by}).agg(":".join, axis=1)
              .to_numpy() if by else np.zeros(len(estimates), dtype=object))
    n = np.empty(m)
    n_min = np.empty(m)
    for i, row in enumerate(matrix):
        used = row != 0
        if not used.any():
            n[i] = n_min[i] = np.nan
            continue
        per_domain = pd.Series(n_rows[used]).groupby(domain[used], sort=False).max()
        n[i] = per_domain.sum(min_count=1) if per_domain.notna().all() else np.nan
        n_min[i] = np.min(smallest[used])
    if np.isfinite(n).all() and np.isfinite(n_min).all():
        return n.astype(np.int64), n_min.astype(np.int64)
    return n, n_min


# ------------------------------------------------------------------ p values --
def adjust_pvalues(p, method: PAdjust = "holm"):
    """Adjust p values for multiple comparisons.

    Parameters
    ----------
    p : sequence of float, ndarray or Series
        The p values. Missing values stay missing and do not count as tests, as in R.
    method : str
        One of statsmodels' ``multipletests`` methods ("holm", "bonferroni", "sidak",
        "holm-sidak", "simes-hochberg", "hommel", "fdr_bh", "fdr_by", "fdr_tsbh",
        "fdr_tsbky"), R's names "hochberg", "BH", "BY", or "none".

    Returns
    -------
    Series or ndarray
        The adjusted p values: a Series with the same index for a Series, else an array.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.02, 0.04], "holm").round(2).tolist()
    [0.03, 0.04, 0.04]

    Notes
    -----
    R: ``p.adjust(p, method="holm")`` (``"BH"`` is ``"fdr_bh"``).
    """
    from statsmodels.stats.multitest import multipletests

    resolved = _P_ALIASES.get(method, method)
    if resolved not in _P_METHODS:
        raise EstimationError(
            f"method={method!r} is not a p-value adjustment; choose one of "
            f"{', '.join(_P_METHODS)} (or R's 'hochberg', 'BH', 'BY')"
        )
    index = p.index if isinstance(p, pd.Series) else None
    try:
        values = np.asarray(p, dtype=float).ravel()
    except (TypeError, ValueError):
        raise EstimationError(f"p must be numbers between 0 and 1, got {p!r}") from None
    ok = ~np.isnan(values)
    bad = ok & ((values < 0) | (values > 1))
    if bad.any():
        raise EstimationError(
            f"p values must lie between 0 and 1; got {values[bad][:5].tolist()} at "
            f"position(s) {np.flatnonzero(bad)[:10].tolist()}"
        )
    out = np.full(values.shape, np.nan)
    if ok.any():
        if resolved == "none":
            out[ok] = values[ok]
        else:
            out[ok] = multipletests(values[ok], method=resolved)[1]
    if index is not None:
        return pd.Series(out, index=index, name=getattr(p, "name", None))
    return out
