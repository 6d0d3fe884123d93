"""Design-based estimates as tidy tables: means, totals, ratios, proportions, quantiles.

Every estimate here is a ratio of weighted totals ``N/D`` (``D = 1`` for totals), so
one engine serves them all: Taylor linearisation with scores
``w_i (num_i - theta den_i) / D`` for ``SurveyDesign``, and the replicate formula for
``ReplicateDesign``. Domains (``by=``) are blocks of columns of the score matrix,
estimated inside the full design as R's ``svyby`` does.

Each table carries the covariance of its ``estimate`` column in ``table.attrs["vcov"]``
(rows in table order), so :func:`perception.contrast` can combine rows with correct SEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from . import intervals
from ._variance import group_totals
from .design import ReplicateDesign, SurveyDesign, _BaseDesign
from .errors import EstimationError, format_rows

RESULT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n"]

Design = SurveyDesign | ReplicateDesign


# ----------------------------------------------------------------- input checks --
def _check_design(design) -> None:
    if not isinstance(design, _BaseDesign):
        raise EstimationError(
            f"design must be a perception.SurveyDesign or ReplicateDesign, got "
            f"{type(design).__name__}; build one with pc.SurveyDesign(data, weights=..., "
            "strata=..., psu=...)"
        )


def _names(spec, argument: str) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    names = list(spec)
    if not all(isinstance(n, str) for n in names):
        raise EstimationError(f"{argument} must be column names (strings), got {names!r}")
    return names


def _check_present(design, names: Sequence[str], argument: str) -> None:
    data = design.data
    for name in names:
        if name not in data.columns:
            import difflib

            close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise EstimationError(
                f"unknown column {name!r} in {argument}: the design's data has no such "
                f"column.{hint}"
            )


def _numeric_values(data: pd.DataFrame, name: str) -> np.ndarray:
    col = data[name]
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float).to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
        converted = pd.to_numeric(col, errors="coerce")
        bad = converted.isna() & col.notna()
        if bad.any():
            raise EstimationError(
                f"column {name!r} is not numeric: rows {format_rows(data.index[bad.to_numpy()])}"
                f" hold values such as {col[bad].iloc[0]!r}. Use pc.proportion() for a "
                "categorical variable, or convert the column to numbers."
            )
        col = converted
    return col.to_numpy(dtype=float, na_value=np.nan)


def _active_rows(design, columns: Sequence[str], missing: np.ndarray, na_rm: bool, argument: str):
    """Rows entering the estimate: in the design's domain and (with na_rm) complete."""
    inside = design.in_domain
    if not na_rm:
        bad = missing & inside
        if bad.any():
            # name the first column with missing values and its count
            data = design.data
            for name in columns:
                col_missing = data[name].isna().to_numpy() & inside
                if col_missing.any():
                    raise EstimationError(
                        f"column {name!r} ({argument}) has {int(col_missing.sum())} missing "
                        f"value(s) in rows {format_rows(data.index[col_missing])}. Pass "
                        "na_rm=True to leave those rows out of this estimate (n reports how "
                        "many rows entered), or recode them first."
                    )
    return inside & ~missing


@dataclass(frozen=True)
class _Domains:
    codes: np.ndarray  # (n,) domain code per row, -1 outside every domain
    frame: pd.DataFrame  # one row per domain, the by columns
    count: int


def _domains(design, by: list[str], active: np.ndarray) -> _Domains:
    n = len(design.data)
    if not by:
        codes = np.where(active, 0, -1)
        return _Domains(codes, pd.DataFrame(index=range(1)), 1)
    keys = design.data[by]
    if len(by) == 1:
        values = keys.iloc[:, 0]
        if isinstance(values.dtype, pd.CategoricalDtype):
            cats = pd.Categorical(values[active], categories=values.cat.categories)
            present = pd.unique(cats.codes[cats.codes >= 0])
            order = np.sort(present)
            uniques = values.cat.categories[order]
        else:
            uniques = pd.unique(values[active])
            uniques = pd.Index(uniques).sort_values()
        lookup = pd.Index(uniques)
        codes = lookup.get_indexer(values)
        codes = np.where(active, codes, -1)
        frame = pd.DataFrame({by[0]: np.asarray(uniques)})
    else:
        sub = keys[active]
        frame = sub.drop_duplicates().sort_values(by).reset_index(drop=True)
        lookup = pd.MultiIndex.from_frame(frame)
        codes = np.full(n, -1, dtype=np.int64)
        codes[active] = lookup.get_indexer(pd.MultiIndex.from_frame(sub))
    return _Domains(codes.astype(np.int64), frame, len(frame))


def _by_missing(design, by: list[str]) -> np.ndarray:
    if not by:
        return np.zeros(len(design.data), dtype=bool)
    return design.data[by].isna().any(axis=1).to_numpy()


# ---------------------------------------------------------------------- engine --
@dataclass(frozen=True)
class _Ratio:
    estimate: np.ndarray  # (D, k)
    vcov: np.ndarray  # (D*k, D*k)
    deff: np.ndarray  # (D, k)
    n: np.ndarray  # (D,)


def _sums(values: np.ndarray, dom: _Domains) -> np.ndarray:
    """Per-domain column sums: (D, k)."""
    return group_totals(np.zeros(len(values), dtype=np.int64), 1, values, dom.codes, dom.count
                        ).reshape(dom.count, values.shape[1])


def ratio_engine(design, num: np.ndarray, den: np.ndarray | None, dom: _Domains) -> _Ratio:
    """Estimates N/D (or N when ``den`` is None) per domain with their covariance.

    ``num`` and ``den`` are (n, k) with zeros in rows outside ``dom``. Taylor scores are
    ``w (num - theta den) / D`` (R's ``svymean``/``svyratio``); replicate designs
    recompute the ratio with every replicate's totals (R's ``svrVar``).
    """
    inside = dom.codes >= 0
    w = np.where(inside, design._w, 0.0)
    k = num.shape[1]
    totals_num = _sums(w[:, None] * num, dom)
    if den is None:
        theta = totals_num
        resid = num
        denom = None
    else:
        totals_den = _sums(w[:, None] * den, dom)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = totals_num / totals_den
        safe = np.where(inside, dom.codes, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = (num - theta[safe] * den) / totals_den[safe]
        resid = np.where(inside[:, None], resid, 0.0)
        denom = totals_den
    if design.is_replicate:
        rep_num = design._replicate_totals(num, dom.codes, dom.count)
        if den is None:
            reps = rep_num
        else:
            rep_den = design._replicate_totals(den, dom.codes, dom.count)
            with np.errstate(divide="ignore", invalid="ignore"):
                reps = rep_num / rep_den
        vcov = design._vcov_replicates(reps, theta.ravel())
    else:
        vcov = design._vcov(w[:, None] * resid, dom.codes, dom.count)

    # deff (R's deff="replace"): design variance over the with-replacement SRS variance
    nonzero = (w != 0).astype(float)
    n_nonzero = _sums(nonzero[:, None], dom)[:, 0]
    weight_sum = _sums(w[:, None], dom)[:, 0]
    r = resid if den is not None else num
    safe = np.where(inside, dom.codes, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_mean = _sums(w[:, None] * r, dom) / weight_sum[:, None]
        dev = np.where(inside[:, None], r - r_mean[safe], 0.0)
        svyvar = (
            _sums(w[:, None] * dev**2, dom) / weight_sum[:, None]
            * (n_nonzero / (n_nonzero - 1))[:, None]
        )
        vsrs = svyvar * (weight_sum**2 / n_nonzero)[:, None]
        deff = np.diag(vcov).reshape(dom.count, k) / vsrs
    n_rows = _sums(inside.astype(float)[:, None], dom)[:, 0]
    _ = denom
    return _Ratio(theta, vcov, deff, n_rows.astype(int))


def _check_domain_weights(design, dom: _Domains, by: list[str]) -> None:
    w = np.where(dom.codes >= 0, design._w, 0.0)
    totals = _sums(w[:, None], dom)[:, 0]
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        label = dom.frame.iloc[int(empty[0])].to_dict() if by else "the whole sample"
        raise EstimationError(
            f"the weights of domain {label} sum to zero, so no estimate is possible there; "
            "check the weights, or leave that domain out with design.subset()"
        )


def _assemble(
    design,
    dom: _Domains,
    labels: list[dict],
    estimate: np.ndarray,
    vcov: np.ndarray,
    deff: np.ndarray,
    n: np.ndarray,
    level: float,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    se: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy table: by columns, label columns, estimate, se, ci, df, deff, n."""
    k = len(labels)
    D = dom.count
    if se is None:
        se = np.sqrt(np.clip(np.diag(vcov), 0, None)).reshape(D, k)
    df = design.degf
    if low is None:
        low, high = intervals.t_interval(estimate, se, df, level)
    rows = []
    for d in range(D):
        by_values = dom.frame.iloc[d].to_dict() if dom.frame.shape[1] else {}
        for label in labels:
            rows.append({**by_values, **label})
    table = pd.DataFrame(rows)
    table["estimate"] = np.asarray(estimate, dtype=float).ravel()
    table["se"] = np.asarray(se, dtype=float).ravel()
    table["ci_low"] = np.asarray(low, dtype=float).ravel()
    table["ci_high"] = np.asarray(high, dtype=float).ravel()
    table["df"] = df
    table["deff"] = np.asarray(deff, dtype=float).ravel()
    table["n"] = np.repeat(np.asarray(n, dtype=int), k) if np.ndim(n) == 1 else np.asarray(
        n, dtype=int).ravel()
    table.attrs["vcov"] = np.asarray(vcov)
    table.attrs["level"] = level
    return table


# ------------------------------------------------------------------- estimators --
def mean(
    design: Design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Design-based means with Taylor or replicate standard errors.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign.
    variables : column name or list of names (numeric or 0/1).
    by : domain column(s); each domain is estimated inside the full design.
    na_rm : leave out rows with a missing value in any of ``variables`` (or ``by``);
        otherwise a missing value raises an error naming the column.
    level : confidence level of ``ci_low``/``ci_high`` (t with ``df = design.degf``).

    Returns
    -------
    DataFrame with the ``by`` columns, ``variable``, ``estimate``, ``se``, ``ci_low``,
    ``ci_high``, ``df``, ``deff`` (R's ``deff="replace"``) and ``n`` (rows used).

    Examples
    --------
    >>> pc.mean(d, ["api00", "api99"])                     # doctest: +SKIP
      variable  estimate        se  ...

    Notes
    -----
    R: ``svymean(~api00 + api99, design, deff="replace")`` and
    ``svyby(~api00, ~stype, design, svymean)``. With ``na_rm=True`` rows missing in any
    of the variables are left out of all of them, as in R.
    """
    return _ratio_estimate(design, variables, None, by, na_rm, level, "mean")


def total(
    design: Design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Design-based totals (R's ``svytotal``); same arguments and columns as :func:`mean`.

    Examples
    --------
    >>> pc.total(d, "enroll", by="stype", na_rm=True)     # doctest: +SKIP
    """
    return _ratio_estimate(design, variables, None, by, na_rm, level, "total")


def ratio(
    design: Design,
    numerator: str | Sequence[str],
    denominator: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Ratio of two totals, e.g. ``api00/api99`` (R's ``svyratio``).

    ``numerator`` and ``denominator`` are columns, or lists of equal length (paired),
    or a list and one column. The ``variable`` column reads ``"num/den"``.

    Examples
    --------
    >>> pc.ratio(d, "api00", "api99")                     # doctest: +SKIP
    """
    return _ratio_estimate(design, numerator, denominator, by, na_rm, level, "ratio")


def _ratio_estimate(design, variables, denominators, by, na_rm, level, kind) -> pd.DataFrame:
    _check_design(design)
    intervals.check_level(level)
    names = _names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable to estimate")
    den_names = _names(denominators, "denominator") if kind == "ratio" else []
    if kind == "ratio":
        if len(den_names) == 1 and len(names) > 1:
            den_names = den_names * len(names)
        if len(den_names) != len(names):
            raise EstimationError(
                f"{len(names)} numerator(s) but {len(den_names)} denominator(s): give one "
                "denominator, or one per numerator"
            )
    by_names = _names(by, "by")
    _check_present(design, names, "variables")
    _check_present(design, den_names, "denominator")
    _check_present(design, by_names, "by")
    data = design.data
    num = np.column_stack([_numeric_values(data, c) for c in names])
    den = np.column_stack([_numeric_values(data, c) for c in den_names]) if den_names else None
    missing = np.isnan(num).any(axis=1)
    if den is not None:
        missing |= np.isnan(den).any(axis=1)
    missing |= _by_missing(design, by_names)
    active = _active_rows(design, [*names, *den_names, *by_names], missing, na_rm,
                          "variables" if kind != "ratio" else "ratio")
    if not active.any():
        raise EstimationError(
            f"no rows left to estimate {', '.join(names)}: every row in the design's domain "
            "is missing"
        )
    dom = _domains(design, by_names, active)
    _check_domain_weights(design, dom, by_names)
    num = np.where(active[:, None], num, 0.0)
    if kind == "mean":
        den = np.ones_like(num)
    elif den is not None:
        den = np.where(active[:, None], den, 0.0)
    result = ratio_engine(design, num, den, dom)
    if kind == "ratio":
        labels = [{"variable": f"{a}/{b}"} for a, b in zip(names, den_names, strict=True)]
    else:
        labels = [{"variable": v} for v in names]
    return _assemble(design, dom, labels, result.estimate, result.vcov, result.deff,
                     result.n, level)


def _levels(values: pd.Series, active: np.ndarray) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    present = values[active].dropna().unique()
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)


def proportion(
    design: Design,
    variables: str | Sequence[str],
    by: str | Sequence[str] | None = None,
    method: intervals.PropMethod = "logit",
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Proportion of each level of categorical variable(s), one row per level.

    Parameters
    ----------
    method : interval for each level: "logit" (default), "beta" (Korn–Graubard),
        "mean" (Wald), "xlogit", "asin" — the definitions of R's ``svyciprop``.

    Returns
    -------
    DataFrame: ``by`` columns, ``variable``, ``category``, ``estimate``, ``se``,
    ``ci_low``, ``ci_high``, ``df``, ``deff``, ``n``. Levels are the categories of a
    categorical column, otherwise the sorted values present.

    Examples
    --------
    >>> pc.proportion(d, "stype", method="beta")          # doctest: +SKIP

    Notes
    -----
    R: ``svymean(~factor(x), design)`` for estimates and SEs and
    ``svyciprop(~I(x == level), design, method=)`` for each interval.
    """
    _check_design(design)
    intervals.check_level(level)
    if method not in intervals.PROP_METHODS:
        raise EstimationError(
            f"method={method!r} is not a proportion interval; choose one of "
            f"{', '.join(intervals.PROP_METHODS)}"
        )
    names = _names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    by_names = _names(by, "by")
    _check_present(design, names, "variables")
    _check_present(design, by_names, "by")
    data = design.data
    missing = data[names].isna().any(axis=1).to_numpy() | _by_missing(design, by_names)
    active = _active_rows(design, [*names, *by_names], missing, na_rm, "variables")
    if not active.any():
        raise EstimationError(f"no rows left to estimate {', '.join(names)}")
    dom = _domains(design, by_names, active)
    _check_domain_weights(design, dom, by_names)
    labels: list[dict] = []
    columns = []
    for name in names:
        values = data[name]
        levels = _levels(values, active)
        if len(levels) == 0:
            raise EstimationError(f"column {name!r} has no non-missing values in the domain")
        for level_value in levels:
            columns.append(((values == level_value).to_numpy(dtype=bool) & active).astype(float))
            labels.append({"variable": name, "category": level_value})
    num = np.column_stack(columns)
    den = np.where(active[:, None], 1.0, 0.0) * np.ones_like(num)
    result = ratio_engine(design, num, den, dom)
    k = num.shape[1]
    se = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(dom.count, k)
    n_rows = np.repeat(result.n[:, None], k, axis=1)
    low, high = intervals.proportion_interval(
        result.estimate, se, design.degf, n_rows, method, level
    )
    table = _assemble(design, dom, labels, result.estimate, result.vcov, result.deff,
                      result.n, level, low, high, se)
    table.attrs["method"] = method
    return table


# ------------------------------------------------------------------- quantiles --
def _qrule_math(sorted_x: np.ndarray, cumw: np.ndarray, total: float, p: float) -> float:
    """Smallest x with weighted F(x) >= p (R's ``qrule_math``), on sorted data."""
    if not (0 <= p <= 1) or np.isnan(p):
        return float("nan")
    below = np.flatnonzero(cumw <= p * total)
    if below.size == 0:
        return float(sorted_x[0])
    pos = int(below[-1])
    nxt = min(pos + 1, sorted_x.size - 1)
    if p - cumw[pos] / total == 0:
        return float(sorted_x[pos])
    return float(sorted_x[nxt])


def quantile(
    design: Design,
    variables: str | Sequence[str],
    quantiles: float | Sequence[float] = (0.5,),
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
    interval_type: Literal["mean", "beta", "xlogit", "asin"] = "mean",
) -> pd.DataFrame:
    """Quantiles by the inverse weighted CDF, with Woodruff intervals.

    The estimate is the smallest x with F(x) >= p (R's ``qrule="math"``). The interval
    inverts a confidence interval for F at the estimate (Woodruff), computed with the
    design's SE of the proportion below it (``interval_type`` picks that interval as in
    :func:`proportion`); ``se`` is the interval's width over 2 t(df).

    Returns
    -------
    DataFrame: ``by`` columns, ``variable``, ``quantile``, ``estimate``, ``se``,
    ``ci_low``, ``ci_high``, ``df``, ``deff`` (not defined: NaN), ``n``.

    Examples
    --------
    >>> pc.quantile(d, "api00", [0.25, 0.5, 0.75])          # doctest: +SKIP

    Notes
    -----
    R: ``svyquantile(~api00, design, c(.25, .5, .75), qrule="math", ci=TRUE, se=TRUE)``
    (``interval.type="mean"``, the Woodruff interval; called "mixed" in older versions).
    """
    _check_design(design)
    intervals.check_level(level)
    if interval_type == "mixed":
        interval_type = "mean"
    if interval_type not in ("mean", "beta", "xlogit", "asin"):
        raise EstimationError(
            f"interval_type={interval_type!r}; choose 'mean', 'beta', 'xlogit' or 'asin'"
        )
    names = _names(variables, "variables")
    probs = [float(quantiles)] if np.isscalar(quantiles) else [float(q) for q in quantiles]
    bad = [q for q in probs if not 0 <= q <= 1]
    if bad or not probs:
        raise EstimationError(f"quantiles must lie between 0 and 1, got {bad or probs}")
    by_names = _names(by, "by")
    _check_present(design, names, "variables")
    _check_present(design, by_names, "by")
    data = design.data
    values = np.column_stack([_numeric_values(data, c) for c in names])
    missing = np.isnan(values).any(axis=1) | _by_missing(design, by_names)
    active = _active_rows(design, [*names, *by_names], missing, na_rm, "variables")
    if not active.any():
        raise EstimationError(f"no rows left to estimate {', '.join(names)}")
    dom = _domains(design, by_names, active)
    _check_domain_weights(design, dom, by_names)
    w = np.where(active, design._w, 0.0)
    k, P, D = len(names), len(probs), dom.count
    # per domain and variable: sorted values and cumulative weights (zero weights out)
    order_cache = {}
    qhat = np.empty((D, k, P))
    for d in range(D):
        rows = np.flatnonzero((dom.codes == d) & (w != 0))
        for j in range(k):
            x = values[rows, j]
            order = np.argsort(x, kind="stable")
            xs, cw = x[order], np.cumsum(w[rows][order])
            order_cache[d, j] = (xs, cw, cw[-1])
            for q in range(P):
                qhat[d, j, q] = _qrule_math(xs, cw, cw[-1], probs[q])
    # proportion of the domain at or below each estimate, with its design SE
    safe = np.where(active, dom.codes, 0)
    below = (values[:, :, None] <= qhat[safe]).reshape(len(data), k * P).astype(float)
    below = np.where(active[:, None], below, 0.0)
    den = np.where(active[:, None], 1.0, 0.0) * np.ones_like(below)
    result = ratio_engine(design, below, den, dom)
    se_p = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(D, k * P)
    n_rows = np.repeat(result.n[:, None], k * P, axis=1)
    if interval_type == "mean":
        p_low, p_high = intervals.t_interval(result.estimate, se_p, design.degf, level)
    else:
        p_low, p_high = intervals.proportion_interval(
            result.estimate, se_p, design.degf, n_rows, interval_type, level
        )
    p_low = p_low.reshape(D, k, P)
    p_high = p_high.reshape(D, k, P)
    low = np.full((D, k, P), np.nan)
    high = np.full((D, k, P), np.nan)
    for (d, j), (xs, cw, tot) in order_cache.items():
        for q in range(P):
            if np.isfinite(p_low[d, j, q]) and p_low[d, j, q] >= 0:
                low[d, j, q] = _qrule_math(xs, cw, tot, p_low[d, j, q])
            if np.isfinite(p_high[d, j, q]) and p_high[d, j, q] <= 1:
                high[d, j, q] = _qrule_math(xs, cw, tot, p_high[d, j, q])
    crit = intervals.t_quantile(level, design.degf)
    se = (high - low) / (2 * crit)
    labels = [{"variable": v, "quantile": p} for v in names for p in probs]
    table = _assemble(
        design, dom, labels, qhat.reshape(D, k * P), np.diag(se.ravel() ** 2),
        np.full((D, k * P), np.nan), result.n, level,
        low.reshape(D, k * P), high.reshape(D, k * P), se.reshape(D, k * P),
    )
    # the covariance of quantiles is not estimated; only their variances are known
    table.attrs["vcov"] = None
    return table


def vcov(table: pd.DataFrame) -> pd.DataFrame:
    """Covariance matrix of the ``estimate`` column of an estimate table.

    Rows and columns are labelled by the table's ``by`` columns and ``variable``
    (and ``category``).

    Examples
    --------
    >>> pc.vcov(pc.mean(d, ["api00", "api99"]))            # doctest: +SKIP
    """
    matrix = table.attrs.get("vcov")
    if matrix is None:
        raise EstimationError(
            "this table carries no covariance matrix (quantile tables and tables built by "
            "hand have none); use a table returned by mean, total, ratio or proportion"
        )
    label_cols = [c for c in table.columns if c not in RESULT_COLUMNS]
    labels = table[label_cols].astype(str).agg(":".join, axis=1)
    return pd.DataFrame(matrix, index=labels, columns=labels)
