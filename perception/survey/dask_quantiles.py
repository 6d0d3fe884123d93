"""Quantiles of a design on a Dask DataFrame (Woodruff intervals): the weighted CDF on
a grid of values, then the exact values around each quantile (the estimators of
:mod:`perception.survey.distributed` for the share at or below it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError
from . import intervals
from .checks import check_probabilities, column_names
from .dask_design import DaskReplicateDesign
from .dask_reduce import (
    _PREFIX,
    _ROWS,
    _SHOWN_ROWS,
    _W,
    PILOT_ROWS,
    _domain_index,
    _globalise,
    _inside,
    _missing,
    _Plan,
    _problems,
    _raise_found,
    _require_dask,
    _values,
)
from .distributed import _degf, _estimate, _make_plan, _replicate_degf
from .engine import assemble

#: bins of the first pass's value grid (from the first rows' distinct values)
GRID_BINS = 512
_VAR, _BIN, _VALUE = f"{_PREFIX}var", f"{_PREFIX}bin", f"{_PREFIX}value"


def _grid(ddf: Any, names: list[str]) -> list[np.ndarray]:
    """Bin edges of each variable: quantiles of the first rows' values (bin i holds
    ``edges[i-1] < x <= edges[i]``, the first and last bins open)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = ddf[names].head(PILOT_ROWS, npartitions=1)
    edges = []
    for name in names:
        x = _values(head, name, "variables")
        x = np.unique(x[np.isfinite(x)])
        if x.size > GRID_BINS:
            x = np.unique(np.quantile(x, np.linspace(0, 1, GRID_BINS)))
        edges.append(x)
    return edges


def _cdf_partition(frame: pd.DataFrame, plan: _Plan, edges: list[np.ndarray],
                   windows: Any) -> tuple[pd.DataFrame, list, dict[str, Any]]:
    """One partition's weights (rows with a non-zero weight, complete) by (by values,
    variable, bin of the grid) -- or, with ``windows``, by (by values, variable, value)
    for the values inside each domain's windows of bins."""
    w = np.ones(len(frame)) if plan.weights is None else _values(frame, plan.weights,
                                                                  "weights")
    found = _problems(frame, plan, w)
    missing = _missing(frame, plan)
    info = {"gaps": {name: np.flatnonzero(mask)[: _SHOWN_ROWS + 1].tolist()
                     for name, mask in missing.items() if mask.any()},
            "counts": {name: int(mask.sum()) for name, mask in missing.items() if mask.any()},
            "length": len(frame)}
    active = _inside(frame, plan)
    for mask in missing.values():
        active &= ~mask
    keep = active & np.isfinite(w) & (w != 0)
    if windows is not None and plan.by:
        codes = _domain_index(windows[0], list(plan.by)).get_indexer(
            pd.MultiIndex.from_frame(frame[list(plan.by)]))
    else:
        codes = np.zeros(len(frame), dtype=np.int64)
    tables = []
    for j, name in enumerate(plan.variables):
        x = _values(frame, name, "variables")
        rows = keep.copy()
        if windows is not None:
            lo, hi = windows[1][:, j], windows[2][:, j]  # (domains, m) bounds
            safe = np.maximum(codes, 0)
            inside = np.zeros(len(frame), dtype=bool)
            for m in range(lo.shape[1]):
                inside |= (x > lo[safe, m]) & (x <= hi[safe, m])
            rows &= inside & (codes >= 0)
        part = frame.loc[rows, list(plan.by)].reset_index(drop=True)
        part[_VAR] = j
        if windows is None:
            part[_BIN] = np.searchsorted(edges[j], x[rows], side="left")
        else:
            part[_VALUE] = x[rows]
        part[_W] = w[rows]
        part[_ROWS] = 1.0
        tables.append(part)
    table = pd.concat(tables, ignore_index=True)
    keys = [*plan.by, _VAR, _BIN if windows is None else _VALUE]
    out = table.groupby(keys, sort=False, dropna=False, observed=True)[[_W, _ROWS]].sum()
    return out.reset_index(), found, info


def _cdf_pass(design: Any, plan: _Plan, edges: list[np.ndarray], windows: Any,
              na_rm: bool) -> pd.DataFrame:
    dask = _require_dask()
    selected = design.data[plan.columns]
    delayed = dask.delayed(_cdf_partition)
    results = dask.compute(*[delayed(part, plan, edges, windows)
                             for part in selected.to_delayed()])
    found, missing = _globalise(list(results))
    _raise_found(found, missing, plan, na_rm)
    keys = [*plan.by, _VAR, _BIN if windows is None else _VALUE]
    joined = pd.concat([table for table, _, _ in results], ignore_index=True)
    return joined.groupby(keys, sort=True, dropna=False, observed=True)[[_W, _ROWS]].sum(
    ).reset_index()


def _domain_keys(table: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The domains (by values) present in ``table`` and each row's domain."""
    if not by:
        return pd.DataFrame(index=range(1)), np.zeros(len(table), dtype=np.int64)
    frame = table[by].drop_duplicates().reset_index(drop=True)
    codes = _domain_index(frame, by).get_indexer(pd.MultiIndex.from_frame(table[by]))
    return frame, codes


@dataclass
class _Window:
    """Where the quantile at one probability lies: the weight below the window, the
    window's bins, the whole weight."""

    base: float
    lo: float
    hi: float
    total: float
    first_bin: bool


def _locate(hist: np.ndarray, edges: np.ndarray, total: float, p: float) -> _Window:
    """The first bin holding weight whose cumulative weight reaches ``p`` total, with
    the bins holding weight just before and after it (the next value may be needed)."""
    cum = np.cumsum(hist.astype(np.longdouble)).astype(float)
    full = np.flatnonzero(hist > 0)
    if full.size == 0:
        return _Window(0.0, np.inf, -np.inf, total, True)
    i = min(int(np.searchsorted(cum[full], p * total, side="left")), full.size - 1)
    start, stop = full[max(i - 1, 0)], full[min(i + 1, full.size - 1)]
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])
    base = float(cum[start - 1]) if start > 0 else 0.0
    return _Window(base, float(bounds[start]), float(bounds[stop + 1]), total,
                   bool(start == full[0]))


def _quantile_in(window: _Window, values: pd.DataFrame, p: float) -> float:
    """R's ``qrule_math`` on the window's values (their weights and row counts), as
    ``quantiles._CDF.quantile`` on the rows."""
    if not np.isfinite(p) or window.total == 0 or values.empty:
        return float("nan")
    v = values[_VALUE].to_numpy(dtype=float)
    cumw = window.base + np.cumsum(values[_W].to_numpy(dtype=float).astype(np.longdouble)
                                   ).astype(float)
    target = p * window.total
    hits = np.flatnonzero(cumw <= target)
    if hits.size == 0:
        if window.first_bin:
            # R's qs: no cumulative weight <= p W gives the second row's value
            rows = values[_ROWS].to_numpy()
            return float(v[0] if rows[0] >= 2 or v.size == 1 else v[1])
        return float(v[0])
    pos = int(hits[-1])
    if p - cumw[pos] / window.total == 0:
        return float(v[pos])
    return float(v[min(pos + 1, v.size - 1)])


def _quantiles_at(design: Any, plan: _Plan, edges: list[np.ndarray], hist: pd.DataFrame,
                  dom_frame: pd.DataFrame, probs: np.ndarray, na_rm: bool) -> np.ndarray:
    """(D, k, P) quantiles at the probabilities ``probs`` (D, k, P) of each domain of
    ``dom_frame``: the windows of the grid that hold them, then their exact values."""
    by = list(plan.by)
    D, k, P = probs.shape
    hist_frame, hist_codes = _domain_keys(hist, by)
    lookup = (np.arange(D) if not by else
              _domain_index(hist_frame, by).get_indexer(_domain_index(dom_frame, by)))
    located: dict[tuple, _Window] = {}
    lo = np.full((D, k, P), np.nan)
    hi = np.full((D, k, P), np.nan)
    var = hist[_VAR].to_numpy()
    for d in range(D):
        for j in range(k):
            rows = (hist_codes == lookup[d]) & (var == j)
            weights = np.zeros(len(edges[j]) + 1)
            np.add.at(weights, hist.loc[rows, _BIN].to_numpy(dtype=np.int64),
                      hist.loc[rows, _W].to_numpy(dtype=float))
            total = float(np.sum(hist.loc[rows, _W].to_numpy(dtype=float).astype(
                np.longdouble)))
            for q in range(P):
                if not np.isfinite(probs[d, j, q]):
                    continue
                window = _locate(weights, edges[j], total, probs[d, j, q])
                located[d, j, q] = window
                lo[d, j, q], hi[d, j, q] = window.lo, window.hi
    out = np.full((D, k, P), np.nan)
    if not located:
        return out
    windows = (dom_frame, np.nan_to_num(lo.reshape(D, k, P), nan=np.inf),
               np.nan_to_num(hi.reshape(D, k, P), nan=-np.inf))
    exact = _cdf_pass(design, plan, edges, windows, na_rm)
    _, codes = _domain_keys(exact, by)
    if by:
        codes = _domain_index(dom_frame, by).get_indexer(pd.MultiIndex.from_frame(exact[by]))
    var = exact[_VAR].to_numpy()
    value = exact[_VALUE].to_numpy(dtype=float)
    for (d, j, q), window in located.items():
        rows = (codes == d) & (var == j) & (value > window.lo) & (value <= window.hi)
        values = exact.loc[rows].sort_values(_VALUE)
        out[d, j, q] = _quantile_in(window, values, probs[d, j, q])
    return out


def quantile(design: Any, variables, quantiles=(0.5,), *, by=None, na_rm: bool = False,
             level: float = 0.95, interval_type: str = "mean") -> pd.DataFrame:
    """Quantiles of a design on a Dask DataFrame with Woodruff intervals: the table of
    :func:`perception.quantile`.

    The weighted CDF is first summed on a grid of values (bins from the first rows),
    then the values inside the bins around each quantile are read exactly; Woodruff's
    interval needs the design variance of the share at or below each quantile (a
    third pass) and the quantiles at its bounds (a fourth).

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    variables : str or sequence of str
        Numeric column(s).
    quantiles : float or sequence of float
        Probabilities between 0 and 1.
    by : str or sequence of str, optional
        Domain column(s).
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.
    interval_type : {"mean", "beta", "xlogit", "asin"}
        The interval for F inverted by Woodruff's method.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> quantile(d, "income", [0.25, 0.5, 0.75], by="region")         # doctest: +SKIP
    """
    intervals.check_level(level)
    if interval_type == "mixed":
        interval_type = "mean"
    if interval_type not in ("mean", "beta", "xlogit", "asin"):
        raise EstimationError(
            f"interval_type={interval_type!r} is not available on a Dask DataFrame; choose "
            "one of 'mean', 'beta', 'xlogit', 'asin' (Woodruff), or compute the data in "
            "memory for the score and replicate-quantile intervals"
        )
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    probs = check_probabilities(quantiles)
    by_names = column_names(by, "by")
    plan = _make_plan(design, "mean", names, [], by_names)
    edges = _grid(design.data, names)
    hist = _cdf_pass(design, plan, edges, None, na_rm)
    k, P = len(names), len(probs)
    hist_frame, _ = _domain_keys(hist, by_names)
    if hist.empty:
        raise EstimationError(f"no rows to estimate {', '.join(map(repr, names))}: every "
                              "row misses a value of the variables or by columns")
    Dh = len(hist_frame)
    target = np.broadcast_to(np.asarray(probs), (Dh, k, P)).copy()
    qhat_h = _quantiles_at(design, plan, edges, hist, hist_frame, target, na_rm)
    # the share at or below each estimate, with the design's variance
    below = _Plan(**{**plan.__dict__, "kind": "below", "shift": (),
                     "thresholds": (hist_frame, qhat_h)})
    groups, group_design, dom, result = _estimate(design, below, na_rm)
    D = dom.count
    order = (np.arange(D) if not by_names else
             _domain_index(hist_frame, by_names).get_indexer(_domain_index(dom.frame,
                                                                           by_names)))
    qhat = qhat_h[order]
    if isinstance(design, DaskReplicateDesign):
        df = _replicate_degf(design, groups, below, group_design, dom.codes, D)
    else:
        df = np.asarray(_degf(groups, below, group_design, dom.codes, D))
    df = np.broadcast_to(df, (D,)).astype(float)
    n_design = result.n.astype(float)
    se_p = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(D, k * P)
    if interval_type == "mean":
        p_low, p_high = intervals.t_interval(result.estimate, se_p, df[:, None], level)
    else:
        p_low, p_high = intervals.proportion_interval(
            result.estimate, se_p, df[:, None], n_design[:, None],
            interval_type, level)  # type: ignore[arg-type]
    p_low = np.where(p_low >= 0, p_low, np.nan).reshape(D, k, P)
    p_high = np.where(p_high <= 1, p_high, np.nan).reshape(D, k, P)
    bounds = _quantiles_at(design, plan, edges, hist, dom.frame,
                           np.concatenate([p_low, p_high], axis=2), na_rm)
    low, high = bounds[:, :, :P], bounds[:, :, P:]
    crit = intervals.t_quantile(level, df)
    with np.errstate(invalid="ignore"):
        se = (high - low) / (2 * crit[:, None, None])
    labels = [{"variable": v, "quantile": p} for v in names for p in probs]
    table = assemble(group_design, dom, labels, qhat.reshape(D, k * P), None,
                     np.full((D, k * P), np.nan), result.n, level,
                     low.reshape(D, k * P), high.reshape(D, k * P), se.reshape(D, k * P),
                     df=df.astype(int) if np.all(np.isfinite(df)) else df)
    table.attrs["interval_type"] = interval_type
    return table
