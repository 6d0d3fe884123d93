"""Weighting: post-stratification, raking, calibration, trimming, nonresponse, diagnostics.

Every adjustment takes a design and returns a **new** design (the input is untouched)
whose weights equal those of R's ``survey`` package (``postStratify``, ``rake``,
``calibrate``, ``trimWeights``) and whose standard errors account for the adjustment
as R's do:

- ``SurveyDesign`` (Taylor linearisation): the adjustment appends a step to the
  design's calibration chain; before the PSU and stratum sums, ``design._vcov`` passes the
  linearised scores through every step (R's ``svyrecvar`` with ``design$postStrata``):
  post-stratification removes the post-stratum means of the scores, calibration takes the
  residuals of a weighted regression on the calibration variables (``qr.resid``), raking
  removes the margins' means ten times over.
- ``ReplicateDesign``: every replicate's weights are adjusted the same way (R's
  ``postStratify``/``rake``/``calibrate`` methods for ``svyrep.design``), and the result
  holds the materialised replicate weights.
- A design on a Dask DataFrame (``poststratify``, ``rake``, ``calibrate``): the cells'
  weight totals and the calibration sums are reduced by Dask and solved here; the
  result's weights and variance residuals are computed partition by partition
  (:mod:`perception.survey.dask_weighting`).

Margins are given as ``{column: {level: population count}}``; numeric calibration totals
as ``{column: total}``. Levels are matched to the data by value, so ``{1: 120, 2: 130}``
fits a column coded 1/2 whether it holds integers, floats or the strings "1"/"2".

Examples
--------
R's cluster sample of California schools raked to the counts of schools by type and by
whether they met their growth target:

>>> d = pc.SurveyDesign(pc.datasets.load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
>>> raked = pc.rake(d, {"stype": {"E": 4421, "H": 755, "M": 1018},
...                     "sch_wide": {"No": 1072, "Yes": 5122}})
>>> pc.weight_diagnostics(raked)[["n", "sum_weights", "min_weight", "max_weight"]].round(2)
     n  sum_weights  min_weight  max_weight
0  183       6194.0       29.87       67.13
>>> pc.mean(raked, "api00")[["variable", "estimate", "se"]].round(2)
  variable  estimate    se
0    api00    641.23  23.7
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import WeightingError, format_rows
from . import calibration as _c
from . import margins as _m
from .checks import check_columns, check_design, column_names
from .design import ReplicateDesign, SurveyDesign
from .margins import MARGIN_TOTAL_RTOL, PopulationMargins, read_margins

__all__ = [
    "poststratify",
    "rake",
    "calibrate",
    "trim_weights",
    "adjust_nonresponse",
    "weight_diagnostics",
    "read_margins",
    "PopulationMargins",
]

Design = SurveyDesign | ReplicateDesign
CalibrationMethod = Literal["linear", "raking", "logit"]

#: most passes of strict trimming before giving up
MAX_TRIM_PASSES = 10_000
#: name of the intercept column in calibration totals (R's model-matrix name)
INTERCEPT = "(Intercept)"


# ===================================================================== weight kernels
def _poststratify_vector(w: np.ndarray, margin: _m.Margin) -> np.ndarray:
    totals = _c.group_sums(margin.codes, w[:, None], margin.n_levels)[:, 0]
    factor = _c.safe_divide(margin.targets, totals)
    inside = margin.codes >= 0
    return np.where(inside, w * factor[np.where(inside, margin.codes, 0)], w)


def _poststratify_matrix(W: np.ndarray, margin: _m.Margin, function: str) -> np.ndarray:
    """Post-stratify every replicate (column of ``W``) to the margin."""
    totals = _c.group_sums(margin.codes, W, margin.n_levels)  # (L, R)
    empty = (totals <= 0) & (margin.targets[:, None] > 0)
    if empty.any():
        lv, r = np.argwhere(empty)[0]
        raise WeightingError(
            f"{function}(): replicate {r + 1} has no weight in level "
            f"{margin.levels[lv]!r} of {margin.label} (its only PSUs are dropped in that "
            "replicate), so it cannot be adjusted to the margin. Merge that level with "
            "another one."
        )
    factor = _c.safe_divide(margin.targets[:, None], totals)
    inside = margin.codes >= 0
    out = W.copy()
    out[inside] = W[inside] * factor[margin.codes[inside]]
    return out


def _replicate_result(design: ReplicateDesign, w: np.ndarray, repw: np.ndarray,
                      recompute_degf: bool) -> ReplicateDesign:
    changes: dict[str, Any] = dict(_w=w, _repw=repw, _factors=None, _factor_index=None)
    if recompute_degf:
        # R recomputes degf (rank of the replicate weights minus one); computed once here
        changes["_degf"] = int(
            np.linalg.matrix_rank(repw, tol=1e-5 * np.abs(repw).max()) - 1
        )
    return design._with(**changes)


# ====================================================================== poststratify
def poststratify(
    design: Design,
    strata: str | Sequence[str],
    population: Mapping | pd.DataFrame | pd.Series,
) -> Design:
    """Post-stratify the weights to known population counts (R's ``postStratify``).

    Within each post-stratum the weights are multiplied by the population count over the
    sum of the weights, so the weighted counts equal the population's exactly.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    strata : str or sequence of str
        Column, or list of columns whose combinations are the post-strata.
    population : mapping, DataFrame or Series
        ``{level: count}`` (for several columns, keys are tuples of levels), or a DataFrame
        with the strata columns and one column of counts (R's ``Freq``).

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design of the same type. Its Taylor variance removes the post-stratum means of
        the scores; a replicate design has every replicate post-stratified.

    Raises
    ------
    WeightingError
        For a level of the data missing from ``population`` or a level of ``population``
        absent from the sample (naming them), negative counts, missing values in the
        strata columns, or a replicate without weight in some post-stratum.

    Examples
    --------
    >>> d = pc.SurveyDesign(pc.datasets.load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    >>> ps = pc.poststratify(d, "stype", {"E": 4421, "H": 755, "M": 1018})
    >>> ps.weights.groupby(ps.data["stype"]).sum().round(1)
    stype
    E    4421.0
    H     755.0
    M    1018.0
    Name: weight, dtype: float64
    >>> pc.mean(ps, "api00")[["variable", "estimate", "se"]].round(2)
      variable  estimate     se
    0    api00    642.31  23.92

    Notes
    -----
    R: ``postStratify(design, ~stype, data.frame(stype=c("E","H","M"),
    Freq=c(4421,755,1018)))``.
    """
    columns = column_names(strata, "strata", WeightingError, required=True)
    if getattr(design, "is_dask", False):  # the cells' totals from Dask, solved here
        from . import dask_weighting as _dw

        cells = _dw.cell_design(design, columns, "poststratify")
        return _dw.poststratified(design, cells, poststratify(cells, columns, population),
                                  lambda rep: poststratify(rep, columns, population))
    check_design(design, WeightingError, "poststratify")
    margin = _m.match_margin(design, columns, population, "population")
    w = design._w
    new_w = _poststratify_vector(w, margin)
    if isinstance(design, ReplicateDesign):
        repw = _poststratify_matrix(design.replicate_matrix(), margin, "poststratify")
        return _replicate_result(design, new_w, repw, recompute_degf=True)
    step = _c.PostStratification(margin.codes, margin.n_levels, new_w.copy(), w.copy())
    return design._with(_w=new_w, _calibration=_c.append_step(design, step))


# ============================================================================= rake
#: cross-tables of margins with at most this many possible cells are coded by a lookup
#: table; larger ones are renumbered by hashing
CELL_TABLE_MAX = 1 << 22


@dataclass(frozen=True)
class _Cells:
    """The rows grouped by their combination of the margins' levels (R's ``svytable(ff)``
    cells, plus the rows outside some margin, whose level -1 counts as one more)."""

    codes: np.ndarray  # (n,) cell of each row, 0..C-1
    levels: np.ndarray  # (C, M) level of each margin in each cell, -1 for none

    @property
    def count(self) -> int:
        return self.levels.shape[0]

    @property
    def complete(self) -> np.ndarray:
        """(C,) cells inside every margin: the cross-table whose changes stop raking."""
        return np.all(self.levels >= 0, axis=1)


def _cells(margins: list[_m.Margin]) -> _Cells:
    """Cells of the cross-classification of the margins' codes (mixed-radix codes, then
    the cells present numbered in order; no sort of the rows)."""
    codes = np.zeros(len(margins[0].codes), dtype=np.int64)
    size = 1
    for m in margins:
        codes *= m.n_levels + 1
        codes += m.codes + 1
        size *= m.n_levels + 1
        if size > CELL_TABLE_MAX:  # too many possible cells: number the ones present
            codes, uniques = pd.factorize(codes, sort=True)
            codes = codes.astype(np.int64)
            size = len(uniques)
    present = np.bincount(codes, minlength=size) > 0
    codes = (np.cumsum(present) - 1)[codes]
    first = np.empty(int(present.sum()), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # first row of each cell
    levels = np.column_stack([m.codes[first] for m in margins])
    return _Cells(codes, levels)


def _rake_cells(cells: _Cells, w0: np.ndarray, margins: list[_m.Margin], epsilon: float,
                max_iter: int) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Iterative proportional fitting on the cells' weight totals.

    Post-stratifying a margin multiplies every row of a cell by its level's factor, so
    the weights stay ``w0 * factor[cell]`` and a pass needs the (C,) cell totals only.
    Returns the final factor of each cell, the (M, C) factors right after each
    margin's post-stratification in the last pass, whether the cross-table changed by
    less than ``epsilon`` in the last pass, and that change.
    """
    base = np.bincount(cells.codes, weights=w0, minlength=cells.count)
    complete = cells.complete
    factor = np.ones(cells.count)
    old = base[complete]
    after = np.empty((len(margins), cells.count))
    delta = 0.0
    for _ in range(max_iter):
        for j, m in enumerate(margins):
            level = cells.levels[:, j]
            inside = level >= 0
            totals = np.bincount(level[inside], weights=(factor * base)[inside],
                                 minlength=m.n_levels)
            ratio = _c.safe_divide(m.targets, totals)
            factor = np.where(inside, factor * ratio[np.where(inside, level, 0)], factor)
            after[j] = factor
        new = (factor * base)[complete]
        delta = float(np.max(np.abs(old - new))) if new.size else 0.0
        if delta < epsilon:
            return factor, after, True, delta
        old = new
    return factor, after, False, delta


def _margin_misfit(w: np.ndarray, margins: list[_m.Margin]) -> tuple[float, str]:
    worst, where = 0.0, ""
    for m in margins:
        achieved = _c.group_sums(m.codes, w[:, None], m.n_levels)[:, 0]
        diff = np.abs(achieved - m.targets)
        i = int(np.argmax(diff))
        if diff[i] >= worst:
            worst = float(diff[i])
            where = f"{m.label} = {m.levels[i]!r} (weighted {_m.number(achieved[i])}, target " \
                    f"{_m.number(m.targets[i])})"
    return worst, where


@positional_deprecated("tol", "max_iter")
@renamed_argument("margins", "population")
def rake(
    design: Design,
    population: Mapping,
    *,
    tol: float = 1e-8,
    max_iter: int = 100,
) -> Design:
    """Rake the weights to several margins by iterative proportional fitting (R's ``rake``).

    Each pass post-stratifies to every margin in turn. Passes stop when no cell of the
    cross-table of all margin variables changes by ``tol`` or more between two passes.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    population : mapping
        Population counts of each margin, ``{column: {level: count}}`` (named ``margins``
        before); a key may be a tuple of columns whose combinations form the margin (e.g.
        ``("wave", "sex")`` to rake each wave). Every margin must add up to the same
        population total.
    tol : float
        Convergence threshold on the change of the weighted cross-table between two passes:
        relative to the sum of the weights when below 1, a count otherwise (R's
        ``control$epsilon``). The default meets every margin to about 1e-8 of the
        population; R's default is ``tol=1, max_iter=10``, which leaves the earlier margins
        off by up to one unit — pass those values to reproduce R's default weights.
    max_iter : int
        Largest number of passes (R's ``control$maxit``).

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design: weights raked; the Taylor variance sweeps the scores through the
        margins as R's ``svyrecvar`` does; a replicate design has every replicate raked with
        the same number of passes.

    Raises
    ------
    WeightingError
        When the margins do not add up to the same total, name unknown levels, have
        negative counts, the columns have missing values, or raking does not converge in
        ``max_iter`` passes (the message names the worst margin and its discrepancy).

    Examples
    --------
    >>> d = pc.SurveyDesign(pc.datasets.load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    >>> raked = pc.rake(d, {"stype": {"E": 4421, "H": 755, "M": 1018},
    ...                     "sch_wide": {"No": 1072, "Yes": 5122}})
    >>> raked.weights.groupby(raked.data["sch_wide"], observed=True).sum().round(1)
    sch_wide
    No     1072.0
    Yes    5122.0
    Name: weight, dtype: float64

    Notes
    -----
    R: ``rake(design, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
    control=list(maxit=100, epsilon=1e-8))``.
    """
    if getattr(design, "is_dask", False):  # the cells' totals from Dask, raked here
        from . import dask_weighting as _dw

        columns = [c for cols, _ in _m.margin_spec(population, "rake") for c in cols]
        cells = _dw.cell_design(design, columns, "rake")
        return _dw.raked(design, cells, rake(cells, population, tol=tol, max_iter=max_iter),
                         lambda rep: rake(rep, population, tol=tol, max_iter=max_iter))
    check_design(design, WeightingError, "rake")
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise WeightingError(f"tol must be a positive number, got {tol!r}")
    if not (isinstance(max_iter, numbers.Integral) and max_iter >= 1):
        raise WeightingError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    spec = _m.margin_spec(population, "rake")
    matched = [_m.match_margin(design, cols, m, "population") for cols, m in spec]
    _m.check_totals(matched, "rake")
    w0 = design._w
    epsilon = tol * float(w0.sum()) if tol < 1 else float(tol)
    cells = _cells(matched)
    if isinstance(design, ReplicateDesign):
        w, W, converged, delta = _rake_rows(w0, design.replicate_matrix(), matched, cells,
                                            epsilon, max_iter)
    else:
        factor, after, converged, delta = _rake_cells(cells, w0, matched, epsilon, max_iter)
        w = w0 * factor[cells.codes]
    if not converged:
        worst, where = _margin_misfit(w, matched)
        raise WeightingError(
            f"raking to the margins {', '.join(m.label for m in matched)} did not converge in "
            f"{max_iter} passes: the weighted cross-table still changed by {delta:.3g} in the "
            f"last pass (threshold {epsilon:.3g}), and the largest discrepancy is {worst:.4g} "
            f"at {where}. Raise max_iter, loosen tol, or merge sparse levels (empty cells of "
            "the cross-table can make the margins incompatible)."
        )
    if isinstance(design, ReplicateDesign):
        return _replicate_result(design, w, W, recompute_degf=True)
    step = _c.Raking(cells.codes, cells.levels, tuple(m.n_levels for m in matched), w0.copy(),
                     after)
    return design._with(_w=w, _calibration=_c.append_step(design, step))


def _rake_rows(w0: np.ndarray, W: np.ndarray, margins: list[_m.Margin], cells: _Cells,
               epsilon: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Raking of a replicate design: the weights and every replicate (columns of ``W``),
    row by row, for as many passes as the weights need. Returns the weights, the
    replicate weights, whether they converged and the last change of the cross-table."""
    complete = cells.complete

    def table(w):
        return np.bincount(cells.codes, weights=w, minlength=cells.count)[complete]

    w = w0
    old = table(w)
    delta = 0.0
    for _ in range(max_iter):
        for m in margins:
            w = _poststratify_vector(w, m)
            W = _poststratify_matrix(W, m, "rake")
        new = table(w)
        delta = float(np.max(np.abs(old - new))) if new.size else 0.0
        if delta < epsilon:
            return w, W, True, delta
        old = new
    return w, W, False, delta


# ======================================================================== calibrate
@dataclass(frozen=True)
class _ModelMatrix:
    matrix: np.ndarray  # (n, p), zero rows outside the domain
    totals: np.ndarray  # (p,)
    names: list[str]  # R's column names: (Intercept), stypeH, ..., api99


def _numeric_column(design, name: str) -> np.ndarray:
    data = design.data
    column = data[name]
    if pd.api.types.is_bool_dtype(column):
        values = column.astype(float).to_numpy()
    else:
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna() & design.in_domain
        if bad.any():
            raise WeightingError(
                f"column {name!r} has a numeric calibration total but holds non-numbers in "
                f"rows {format_rows(data.index[bad.to_numpy()])} (e.g. "
                f"{column[bad].iloc[0]!r}). Give a categorical column a margin "
                "{level: count} instead of a number."
            )
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values) & design.in_domain
    if missing.any():
        raise WeightingError(
            f"column {name!r} (calibration total) has {int(missing.sum())} missing value(s) "
            f"in rows {format_rows(data.index[missing])}; impute them or leave those rows "
            "out of the design before calibrating"
        )
    return np.where(design.in_domain, values, 0.0)


def _model_matrix(design, population: Mapping) -> _ModelMatrix:
    """R's ``model.matrix(~ a + b + x)``: an intercept, treatment dummies, numeric columns."""
    if not isinstance(population, Mapping) or not population:
        raise WeightingError(
            "calibrate() takes population as a non-empty mapping: {column: {level: count}} "
            "for a categorical margin, {column: total} for a numeric one"
        )
    categorical: list[_m.Margin] = []
    numeric: list[tuple[str, float]] = []
    intercept: float | None = None
    order: list[tuple[str, Any]] = []
    for key, value in population.items():
        if key == INTERCEPT:
            intercept = _m.parse_count(value, f"population[{INTERCEPT!r}]")
            continue
        key_columns = list(key) if isinstance(key, tuple) else [key]
        if not all(isinstance(c, str) for c in key_columns):
            raise WeightingError(f"population key {key!r} must be a column name")
        if isinstance(value, Mapping | pd.Series | pd.DataFrame):
            margin = _m.match_margin(design, key_columns, value, "population")
            categorical.append(margin)
            order.append(("cat", margin))
        else:
            check_columns(design.data, key_columns, "population", WeightingError)
            if len(key_columns) != 1:
                raise WeightingError(
                    f"a numeric calibration total belongs to one column, got key {key!r}"
                )
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
                    float(value)):
                raise WeightingError(
                    f"population[{key!r}] must be a finite number (the population total of "
                    f"{key!r}) or a mapping {{level: count}}, got {value!r}"
                )
            numeric.append((key_columns[0], float(value)))
            order.append(("num", key_columns[0]))
    if categorical:
        total = _m.check_totals(categorical, "calibrate")
        if intercept is not None and not math.isclose(intercept, total,
                                                      rel_tol=MARGIN_TOTAL_RTOL):
            raise WeightingError(
                f"population[{INTERCEPT!r}] is {_m.number(intercept)} but the margin of "
                f"{categorical[0].label!r} adds up to {_m.number(total)}; they must agree"
            )
        intercept = total
    n = len(design.data)
    inside = design.in_domain
    columns: list[np.ndarray] = []
    totals: list[float] = []
    names: list[str] = []
    if intercept is not None:
        columns.append(inside.astype(float))
        totals.append(intercept)
        names.append(INTERCEPT)
    numeric_values = dict(numeric)
    for kind, item in order:
        if kind == "cat":
            m: _m.Margin = item
            # R drops the first level (factor levels in sorted order)
            ranked = _m.level_order(m)
            for i in ranked[1:]:
                col = np.zeros(n)
                col[m.codes == i] = 1.0
                columns.append(col)
                totals.append(float(m.targets[i]))
                names.append(f"{m.label}{m.levels[i]}")
        else:
            columns.append(_numeric_column(design, item))
            totals.append(numeric_values[item])
            names.append(item)
    return _ModelMatrix(np.column_stack(columns), np.asarray(totals), names)


def _check_bounds(method: str, bounds) -> tuple[float, float]:
    if bounds is None:
        lower, upper = -np.inf, np.inf
    else:
        try:
            lower, upper = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise WeightingError(
                f"bounds must be a pair (low, high) of limits on the g-weights, got {bounds!r}"
            ) from None
        if not lower < upper:
            raise WeightingError(f"bounds=({lower:g}, {upper:g}): low must be below high")
        if not lower <= 1 <= upper:
            raise WeightingError(
                f"bounds=({lower:g}, {upper:g}) exclude 1: the g-weights (adjusted over "
                "original weights) start at 1, so the bounds must contain it"
            )
    if method == "logit":
        if not (np.isfinite(lower) and np.isfinite(upper)):
            raise WeightingError(
                "method='logit' needs finite bounds on the g-weights, e.g. bounds=(0.5, 2.5) "
                "(R: logit calibration requires finite bounds)"
            )
        if not lower < 1 < upper:
            raise WeightingError(
                f"method='logit' needs bounds strictly around 1, got ({lower:g}, {upper:g})"
            )
    return lower, upper


def _calibration_factors(mm: _ModelMatrix, ww: np.ndarray, method: str, lower: float,
                         upper: float, tol: float, max_iter: int, what: str) -> np.ndarray:
    if method == "linear" and not np.isfinite(lower) and not np.isfinite(upper):
        return _c.regcalibrate(mm.matrix, ww, mm.totals, mm.names)
    result = _c.grake(mm.matrix, ww, method, lower, upper, mm.totals, tol, max_iter)
    if result.failed is not None:
        bounded = np.isfinite(lower) or np.isfinite(upper)
        cause = (
            f"calibration cannot meet the bounds ({lower:g}, {upper:g}) on the g-weights: "
            if bounded else "calibration did not converge: "
        )
        fix = ("Widen the bounds, or drop or merge margins that the sample cannot reach."
               if bounded else "Raise max_iter, or check the totals against the sample.")
        raise WeightingError(
            f"{cause}{what} still misses the totals by a relative {result.failed:.3g} "
            f"(tolerance {tol:g}) after {max_iter} iterations ({method} method, totals "
            f"{', '.join(mm.names)}). {fix}"
        )
    return result.g


@positional_deprecated("method", "bounds", "tol", "max_iter")
def calibrate(
    design: Design,
    population: Mapping,
    *,
    method: CalibrationMethod = "linear",
    bounds: tuple[float, float] | None = None,
    tol: float = 1e-7,
    max_iter: int = 50,
) -> Design:
    """Calibrate the weights to population margins and totals (R's ``calibrate``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    population : mapping
        ``{column: {level: count}}`` for categorical margins and ``{column: total}`` for
        numeric ones. As in R's ``model.matrix``, the model has an intercept (its total is
        the margins' common total) and each categorical margin enters as dummies for all its
        levels but the first (in sorted order): the full dummy coding of every margin gives
        the same weights. With numeric totals only, the model has no intercept unless
        ``"(Intercept)"`` gives the population size.
    method : {"linear", "raking", "logit"}
        "linear" (GREG; without bounds, R's closed-form ``regcalibrate``), "raking"
        (multiplicative, g = exp(x'λ)) or "logit" (g bounded, needs ``bounds``).
    bounds : tuple of (float, float), optional
        ``(low, high)`` on the g-weights (calibrated over original weights), as R's
        ``bounds=``; ``None`` for no bounds.
    tol : float
        Convergence: every total met to ``tol * (1 + |total|)`` (R's ``epsilon``).
    max_iter : int
        Largest number of Newton iterations (R's ``maxit``).

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design. Taylor variances use the residuals of the scores on the calibration
        variables (R's ``greg_calibration``); a replicate design has every replicate
        calibrated.

    Raises
    ------
    WeightingError
        For inconsistent or unknown margins, missing values, collinear variables, bounds
        that calibration cannot meet, or non-convergence.

    Examples
    --------
    >>> d = pc.SurveyDesign(pc.datasets.load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    >>> cal = pc.calibrate(d, {"stype": {"E": 4421, "H": 755, "M": 1018},
    ...                        "api99": 3914069}, method="logit", bounds=(0.7, 1.7))
    >>> pc.total(cal, "api99")[["variable", "estimate"]].round(0)
      variable   estimate
    0    api99  3914069.0
    >>> pc.mean(cal, "api00")[["variable", "estimate", "se"]].round(2)
      variable  estimate    se
    0    api00    665.46  3.42

    Notes
    -----
    R: ``calibrate(design, ~stype + api99, population=c(`(Intercept)`=6194, stypeH=755,
    stypeM=1018, api99=3914069), calfun="logit", bounds=c(0.7, 1.7))``. Like R's
    ``grake``, when every population total exceeds 20 times its sample estimate the
    weights are first rescaled, and the bounds then apply to the rescaled weights.
    """
    if not getattr(design, "is_dask", False):
        check_design(design, WeightingError, "calibrate")
    if method not in ("linear", "raking", "logit"):
        raise WeightingError(
            f"method={method!r} is not a calibration method; choose 'linear', 'raking' or "
            "'logit'"
        )
    lower, upper = _check_bounds(method, bounds)
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise WeightingError(f"tol must be a positive number, got {tol!r}")
    if not (isinstance(max_iter, numbers.Integral) and max_iter >= 1):
        raise WeightingError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    if getattr(design, "is_dask", False):  # Gram and Newton steps summed by Dask
        return _dask_calibrate(design, population, method, bounds, tol, max_iter)
    mm = _model_matrix(design, population)
    w0 = design._w
    g = _calibration_factors(mm, w0, method, lower, upper, tol, max_iter, "the sample")
    new_w = w0 * g
    if isinstance(design, ReplicateDesign):
        W = design.replicate_matrix()
        out = np.empty_like(W)
        for r in range(W.shape[1]):
            gr = _calibration_factors(mm, W[:, r], method, lower, upper, tol, max_iter,
                                      f"replicate {r + 1}")
            out[:, r] = W[:, r] * gr
        linear_closed_form = method == "linear" and bounds is None
        return _replicate_result(design, new_w, out, recompute_degf=linear_closed_form)
    whalf = np.sqrt(w0)
    step = _c.GregCalibration(_c.orthonormal_basis(mm.matrix * whalf[:, None]), g * whalf)
    return design._with(_w=new_w, _calibration=_c.append_step(design, step))


def _dask_calibrate(design, population: Mapping, method: CalibrationMethod, bounds,
                    tol: float, max_iter: int):
    """``calibrate`` of a design on a Dask DataFrame: the model of its cells here, the
    sums over the rows by Dask (:mod:`perception.survey.dask_weighting`)."""
    from . import dask_weighting as _dw

    if not isinstance(population, Mapping) or not population:
        _model_matrix(design, population)  # its error
    categorical, numeric = [], []
    for key, value in population.items():
        if key == INTERCEPT:
            continue
        columns = list(key) if isinstance(key, tuple) else [key]
        if isinstance(value, Mapping | pd.Series | pd.DataFrame):
            categorical.extend(columns)
        else:
            numeric.extend(columns)
    cells = _dw.cell_design(design, categorical, "calibrate", tuple(numeric))
    mm = _model_matrix(cells, population)
    lower, upper = _check_bounds(method, bounds)
    return _dw.calibrated(design, cells, mm.matrix, mm.totals, mm.names, numeric, method,
                          lower, upper, tol, max_iter,
                          lambda rep: calibrate(rep, population, method=method, bounds=bounds,
                                                tol=tol, max_iter=max_iter))


# ===================================================================== trim_weights
def _trim_vector(w: np.ndarray, active: np.ndarray, lower: float, upper: float,
                 strict: bool, what: str) -> np.ndarray:
    """R's ``trimWeights``: cap, then share what was cut equally among the others."""
    values = w[active].copy()
    total = values.sum()
    n = values.size
    if upper * n < total * (1 - 1e-12):
        raise WeightingError(
            f"upper={upper:g} is impossible for {what}: {n} rows capped at {upper:g} hold at "
            f"most {_m.number(upper * n)}, below the weights' total {_m.number(total)}; raise upper"
        )
    if lower * n > total * (1 + 1e-12):
        raise WeightingError(
            f"lower={lower:g} is impossible for {what}: {n} rows at {lower:g} already hold "
            f"{_m.number(lower * n)}, above the weights' total {_m.number(total)}; lower it"
        )
    for _ in range(MAX_TRIM_PASSES):
        outside = (values < lower) | (values > upper)
        if not outside.any():
            break
        new = np.clip(values, lower, upper)
        cut = values - new
        if (~outside).any():
            new[~outside] += cut.sum() / (~outside).sum()
        values = new
        if not strict:
            break
    else:
        raise WeightingError(
            f"strict trimming of {what} did not settle in {MAX_TRIM_PASSES} passes; use "
            "strict=False or wider limits"
        )
    out = w.copy()
    out[active] = values
    return out


@positional_deprecated("upper", "lower", "strict")
def trim_weights(
    design: Design,
    *,
    upper: float | None = None,
    lower: float | None = None,
    strict: bool = False,
) -> Design:
    """Trim extreme weights and share the excess among the others (R's ``trimWeights``).

    Weights above ``upper`` are set to ``upper`` and those below ``lower`` to ``lower``;
    the amount cut (or added) is spread **equally** over the weights that were inside the
    limits, so the total is kept. That can push some of them over a limit: with
    ``strict=True`` the trimming is repeated until every weight is within the limits.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    upper, lower : float, optional
        Limits on the weights (absolute values, not ratios). At least one.
    strict : bool
        Repeat until no weight is outside the limits.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design. A Taylor design keeps its earlier adjustment steps (as R does:
        trimming adds no variance term). A replicate design has each replicate trimmed the
        same way among its rows of positive weight.

    Examples
    --------
    >>> d = pc.SurveyDesign(pc.datasets.load("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    >>> raked = pc.rake(d, {"stype": {"E": 4421, "H": 755, "M": 1018},
    ...                     "sch_wide": {"No": 1072, "Yes": 5122}})
    >>> trimmed = pc.trim_weights(raked, upper=38, lower=30)
    >>> float(trimmed.weights.min()), round(float(trimmed.weights.max()), 2)
    (30.0, 55.41)

    Notes
    -----
    R: ``trimWeights(design, upper=38, lower=30, strict=FALSE)``. Two differences,
    both where R's result is not meaningful: only rows inside the design's domain
    (``subset``) take part, where R would also give weight to rows outside it; and for
    replicate designs, R's ``trimWeights.svyrep.design`` (survey 4.1) leaves the
    full-sample weights untrimmed, whereas here the full-sample weights and every
    replicate are trimmed.
    """
    dask = getattr(design, "is_dask", False)
    if not dask:
        check_design(design, WeightingError, "trim_weights")
    if upper is None and lower is None:
        raise WeightingError("trim_weights() needs upper=, lower= or both")
    hi = np.inf if upper is None else float(upper)
    lo = -np.inf if lower is None else float(lower)
    if np.isnan(hi) or np.isnan(lo) or not lo < hi:
        raise WeightingError(f"trim_weights(): lower={lower!r} must be below upper={upper!r}")
    if hi <= 0:
        raise WeightingError(f"trim_weights(): upper={upper!r} must be positive")
    if dask:  # one pass over the partitions per trimming pass
        from .dask_trimming import trimmed

        return trimmed(design, lo, hi, strict, MAX_TRIM_PASSES)
    inside = design.in_domain
    new_w = _trim_vector(design._w, inside, lo, hi, strict, "the weights")
    if isinstance(design, ReplicateDesign):
        W = design.replicate_matrix()
        out = W.copy()
        for r in range(W.shape[1]):
            rows = inside & (W[:, r] > 0)
            out[:, r] = _trim_vector(W[:, r], rows, lo, hi, strict, f"replicate {r + 1}")
        return _replicate_result(design, new_w, out, recompute_degf=False)
    return design._with(_w=new_w)


# ============================================================== adjust_nonresponse
def _response_indicator(design, responded) -> np.ndarray:
    data = design.data
    if isinstance(responded, str):
        check_columns(design.data, [responded], "responded", WeightingError)
        column = data[responded]
        name = f"column {responded!r} (responded)"
    else:
        column = pd.Series(np.asarray(responded), index=data.index) if not isinstance(
            responded, pd.Series) else responded.reindex(data.index)
        name = "responded"
        if len(column) != len(data):
            raise WeightingError(
                f"responded has {len(column)} values but the design has {len(data)} rows"
            )
    inside = design.in_domain
    missing = column.isna().to_numpy() & inside
    if missing.any():
        raise WeightingError(
            f"{name} is missing in rows {format_rows(data.index[missing])}; "
            "give 1/True for respondents and 0/False for nonrespondents in every row"
        )
    values = column.where(~column.isna(), 0)
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1]).to_numpy() & inside
    if bad.any():
        raise WeightingError(
            f"{name} must hold 0/1 or True/False, but rows "
            f"{format_rows(data.index[bad])} hold other values, e.g. {column[bad].iloc[0]}"
        )
    return numeric.to_numpy(dtype=float) == 1


def adjust_nonresponse(
    design: Design,
    responded: str | Sequence | pd.Series,
    classes: str | Sequence[str],
) -> Design:
    """Weighting-class nonresponse adjustment: respondents carry the nonrespondents' weight.

    Within each class (a combination of the ``classes`` columns, known for everyone
    sampled), respondents' weights are multiplied by the weight of everyone sampled in the
    class over the weight of its respondents. Nonrespondents leave the design's domain
    (their weight becomes 0, as with ``subset``), so every PSU stays in the variance.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        Design of **all sampled units**, respondents and nonrespondents.
    responded : str, sequence or Series
        Column (or values) of 1/True for respondents, 0/False otherwise.
    classes : str or sequence of str
        Column(s) of the weighting classes.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        A new design of the respondents. Its Taylor variance linearises the adjustment (the
        class totals of the sample are estimates): each sampled unit also carries its
        class's mean score. A replicate design has the adjustment redone within every
        replicate.

    Raises
    ------
    WeightingError
        For a class with no respondent (naming it and how many were sampled there),
        missing values in ``responded`` or ``classes``, or non-0/1 response codes.

    Examples
    --------
    A sample in which one school in five did not answer, adjusted within school types:

    >>> api = pc.datasets.load("apistrat")
    >>> sample = api.assign(responded=(api["snum"] % 5 != 0).astype(int))
    >>> d = pc.SurveyDesign(sample, weights="pw", strata="stype", fpc="fpc")
    >>> resp = pc.adjust_nonresponse(d, "responded", ["stype"])
    >>> resp
    SurveyDesign(161 rows in domain of 200, 3 strata, 200 PSUs, 1 stage(s), degf=158, lonely_psu='fail')
    >>> resp.weights.groupby(resp.data["stype"]).sum().round(1)   # what everyone sampled stood for
    stype
    E    4421.0
    H     755.0
    M    1018.0
    Name: weight, dtype: float64

    Notes
    -----
    R has no single function for this; the weights are ``w * ave(w, class) /
    ave(w * responded, class)`` for respondents, and the standard errors equal the delta
    method on ``svytotal`` of the class totals (``svycontrast`` of
    ``sum_c N_c * Y_c / R_c``), or ``withReplicates`` redoing the adjustment.
    """
    if getattr(design, "is_dask", False):  # class sums from Dask, the weights lazily
        from .dask_nonresponse import adjusted

        return adjusted(design, responded, classes, adjust_nonresponse)
    check_design(design, WeightingError, "adjust_nonresponse")
    columns = column_names(classes, "classes", WeightingError, required=True)
    check_columns(design.data, columns, "classes", WeightingError)
    resp = _response_indicator(design, responded)
    data = design.data
    inside = design.in_domain
    missing = data[columns].isna().any(axis=1).to_numpy() & inside
    if missing.any():
        raise WeightingError(
            f"classes column(s) {', '.join(columns)} have missing values in rows "
            f"{format_rows(data.index[missing])}; every sampled unit needs a class"
        )
    frame = data.loc[inside, columns]
    if len(columns) == 1:
        codes_in, uniques = pd.factorize(frame.iloc[:, 0], sort=True)
        labels = list(uniques)
    else:
        index = pd.MultiIndex.from_frame(frame)
        codes_in, combinations = index.factorize(sort=True)
        labels = list(combinations)
    codes = np.full(len(data), -1, dtype=np.int64)
    codes[inside] = codes_in
    n_classes = len(labels)
    w = np.where(inside, design._w, 0.0)
    respondent = resp & inside
    if not respondent.any():
        raise WeightingError("adjust_nonresponse(): no row is a respondent")

    def factors(weights: np.ndarray, what: str) -> np.ndarray:
        sampled = _c.group_sums(codes, weights[:, None], n_classes)[:, 0]
        answered = _c.group_sums(codes, (weights * respondent)[:, None], n_classes)[:, 0]
        empty = (answered <= 0) & (sampled > 0)
        if empty.any():
            c = int(np.flatnonzero(empty)[0])
            n_sampled = int(((codes == c) & (weights > 0)).sum())
            label = labels[c]
            shown = ", ".join(f"{col}={v!r}" for col, v in zip(
                columns, label if isinstance(label, tuple) else (label,), strict=True))
            raise WeightingError(
                f"class {shown} has no respondent{' in ' + what if what else ''} "
                f"({n_sampled} sampled with positive weight): its weight cannot be carried "
                "by anyone. Merge it with a neighbouring class."
            )
        return _c.safe_divide(sampled, answered)

    f = factors(w, "")
    new_w = np.where(respondent, w * f[np.where(codes >= 0, codes, 0)], 0.0)
    new_domain = inside & resp
    if isinstance(design, ReplicateDesign):
        W = design.replicate_matrix()
        out = np.zeros_like(W)
        for r in range(W.shape[1]):
            fr = factors(W[:, r], f"replicate {r + 1}")
            out[:, r] = np.where(respondent, W[:, r] * fr[np.where(codes >= 0, codes, 0)], 0.0)
        result = _replicate_result(design, new_w, out, recompute_degf=False)
        return result._with(_in_domain=new_domain)
    step = _c.NonresponseAdjustment(codes, n_classes, w.copy(), new_w.copy())
    return design._with(_w=new_w, _in_domain=new_domain,
                        _calibration=_c.append_step(design, step))


# =============================================================== weight_diagnostics
DIAGNOSTIC_COLUMNS = ["n", "sum_weights", "min_weight", "max_weight", "mean_weight", "cv",
                      "deff_kish", "n_effective"]
#: label of the overall row in the ``by`` columns of :func:`weight_diagnostics`
OVERALL = "(all)"


def _weight_summary(w: np.ndarray) -> dict[str, float]:
    n = w.size
    total = float(w.sum())
    mean = total / n
    cv = float(np.sqrt(np.mean((w - mean) ** 2)) / mean) if mean != 0 else float("nan")
    square = float(np.sum(w**2))
    return {
        "n": n,
        "sum_weights": total,
        "min_weight": float(w.min()),
        "max_weight": float(w.max()),
        "mean_weight": mean,
        "cv": cv,
        "deff_kish": n * square / total**2 if total else float("nan"),
        "n_effective": total**2 / square if square else float("nan"),
    }


@positional_deprecated("by")
def weight_diagnostics(
    design: Design, *, by: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Summary of the weights: spread, Kish design effect and effective sample size.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (rows in its domain are summarised).
    by : str or sequence of str, optional
        Column(s) to summarise within. Default: the design's first-stage strata columns
        (none for a replicate design).

    Returns
    -------
    DataFrame
        The ``by`` columns (``"(all)"`` on the first, overall row), then ``n`` (rows),
        ``sum_weights``, ``min_weight``, ``max_weight``, ``mean_weight``, ``cv``
        (coefficient of variation of the weights, population standard deviation over mean),
        ``deff_kish`` (Kish's design effect due to unequal weighting, ``n sum(w^2) / (sum
        w)^2 = 1 + cv^2``) and ``n_effective`` (``n / deff_kish``).

    Examples
    --------
    >>> d = pc.SurveyDesign(pc.datasets.load("apistrat"), weights="pw", strata="stype",
    ...                     fpc="fpc")
    >>> table = pc.weight_diagnostics(d, by="stype")
    >>> table[["stype", "n", "sum_weights", "cv", "deff_kish", "n_effective"]].round(2)
       stype    n  sum_weights    cv  deff_kish  n_effective
    0  (all)  200       6194.0  0.43       1.19       168.58
    1      E  100       4421.0  0.00       1.00       100.00
    2      H   50        755.0  0.00       1.00        50.00
    3      M   50       1018.0  0.00       1.00        50.00

    Notes
    -----
    R: ``w <- weights(design); length(w) * sum(w^2) / sum(w)^2`` (Kish 1965), within
    ``split(w, stratum)`` for the rows by stratum.
    """
    dask = getattr(design, "is_dask", False)
    if not dask:
        check_design(design, WeightingError, "weight_diagnostics")
    if by is None:
        strata = getattr(design, "_strata" if dask else "_strata_columns", [])
        by_names = [] if dask and design.is_replicate else list(strata[:1])
    else:
        by_names = column_names(by, "by", WeightingError, required=True)
        check_columns(list(design.data.columns), by_names, "by", WeightingError)
    if dask:  # one pass over the partitions
        from .dask_diagnostics import weight_diagnostics as on_dask

        return on_dask(design, by_names, OVERALL, DIAGNOSTIC_COLUMNS)
    inside = design.in_domain
    w = design._w[inside]
    rows = [{**{b: OVERALL for b in by_names}, **_weight_summary(w)}]
    if by_names:
        frame = design.data.loc[inside, by_names].reset_index(drop=True)
        missing = frame.isna().any(axis=1)
        if missing.any():
            raise WeightingError(
                f"by column(s) {', '.join(by_names)} have missing values in rows "
                f"{format_rows(design.data.index[inside][missing.to_numpy()])}"
            )
        groups = frame.groupby(by_names, sort=True).indices
        for key, idx in groups.items():
            values = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(by_names, values, strict=True)), **_weight_summary(w[idx])})
    table = pd.DataFrame(rows, columns=[*by_names, *DIAGNOSTIC_COLUMNS])
    for b in by_names:
        table[b] = table[b].astype(object)
    table["n"] = table["n"].astype(int)
    return table

