"""Post-stratification, raking and calibration of designs on a Dask DataFrame.

``pc.poststratify``, ``pc.rake`` and ``pc.calibrate`` of a
:class:`~perception.survey.dask_design.DaskSurveyDesign` reduce the partitions to the
totals the adjustment needs and solve it with the in-memory code:

- the weights are summed by *cell* (each combination of the margins' columns) on the
  workers; the in-memory ``poststratify``, ``rake`` or ``calibrate`` then runs on that
  table of cells (:func:`cell_design`), which has the same margin totals as the rows, so
  the factor of every cell is the in-memory one;
- a calibration on numeric totals (``{"api99": 3914069}``) also needs ``sum w0 x x'``
  and, for the raking and logit methods or bounds, one pass per Newton step of R's
  ``grake`` (:func:`perception.survey.calibration.grake_newton`).

The result is a :class:`DaskWeightedDesign`: the Dask DataFrame with one more column, the
adjusted weights, computed partition by partition from the cells' factors (or the
calibration coefficients); the data never come to the client.

Its estimates (``pc.mean``, ``total``, ``ratio``, ``proportion``, ``quantile``) equal
those of the in-memory weighted design, variance included. In memory, the scores pass
through the adjustment's residuals (R's ``svyrecvar`` with ``postStrata``) before the PSU
sums. Those residuals are linear and act through cell or calibration-variable sums, so
on Dask each (PSU, domain, cell) group also sums, per score part, what the residual
needs -- ``w0 x`` for calibration (the regression of the scores on the calibration
variables, with the Gram matrix ``sum w0 x x'``), ``w / w0`` for raking (the sweeps of
R's raking variance) -- and the residual is taken group by group before the in-memory
variance of the group design.

A replicate design built from a design (:class:`DaskWeightedReplicateDesign`) has every
replicate adjusted like the full-sample weights: the replicates are per-PSU factors and
the adjustment acts by cell, so the in-memory replicate design of the (PSU, cell,
domain) groups is adjusted in memory and each group's replicate weights over its
full-sample weight are its factors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, WeightingError, format_rows
from . import calibration as _c
from .checks import check_columns
from .dask_design import SUBSET, DaskReplicateDesign, DaskSurveyDesign
from .dask_reduce import (
    _ACTIVE,
    _FIRST,
    _IN,
    _PREFIX,
    _W,
    _each_part,
    _group_codes,
    _inside,
    _missing,
    _Plan,
    _require_dask,
    _values,
    reduce_design,
    reduce_partition,
)
from .dask_weighted_columns import cell_index, weighted_columns
from .design import ReplicateDesign, SurveyDesign
from .distributed import _check_some, _group_design, _totals, finish_factors
from .engine import RatioResult, _Totals, check_domain_weights, domains, finish
from .replicates import replicate_degf
from .variance import GroupSums

#: the column of the adjusted weights added to the Dask DataFrame
ADJUSTED = f"{_PREFIX}adjusted_w"
_CELL_W, _CELL_ROWS = f"{_PREFIX}cell_w", f"{_PREFIX}cell_rows"
_W0 = f"{_PREFIX}w0"  # a group's weights before the adjustment
# a group's adjusted weights, rows outside the domain too (a labelled design's left-out
# rows): the post-strata residuals act on every row, as in memory
_WALL = f"{_PREFIX}wall"
_WSQ = f"{_PREFIX}wsq"  # a group's sum of squared adjusted weights (replicate degf)
_SHOWN = 10


def _xw(q: int) -> str:
    return f"{_PREFIX}xw{q}"


def _xn(q: int, j: int) -> str:
    return f"{_PREFIX}xn{q}_{j}"


def _xd(q: int, j: int) -> str:
    return f"{_PREFIX}xd{q}_{j}"


def _xb(b: int) -> str:
    return f"{_PREFIX}xb{b}"


# ---------------------------------------------------------------- the cells --
#: each adjustment's kind as the messages say it
_DONE = {"poststratify": "post-stratified", "rake": "raked", "calibrate": "calibrated",
         "nonresponse": "nonresponse-adjusted"}


def _check_weighable(design: Any, function: str) -> None:
    if isinstance(design, DaskReplicateDesign):
        if design.base is None:  # replicate-weight columns: adjusted column by column
            return
        if isinstance(design, DaskWeightedReplicateDesign):
            raise WeightingError(
                f"{function}() of a replicate design on a Dask DataFrame that is already "
                "weighted: a Dask design takes one adjustment. Give all the margins to "
                "one call (rake or calibrate take several)"
            )
        design = design.base
    if isinstance(design, DaskWeightedDesign):
        raise WeightingError(
            f"{function}() of a design on a Dask DataFrame that is already "
            f"{_DONE.get(design._weighting.kind, design._weighting.kind)}: a Dask design "
            "takes one adjustment. Give all the "
            "margins to one call (rake or calibrate take several), or compute the data in "
            "memory (ddf.compute()) to chain adjustments"
        )
    if not design._psu:
        raise WeightingError(
            f"{function}() of a design on a Dask DataFrame needs its PSU column (psu=): "
            "the adjusted variance is summed by PSU. For a design whose rows are their own "
            "PSUs, give psu= a column identifying each row (e.g. the respondent id)"
        )


def _cell_r(j: int) -> str:
    """A cell's total of replicate-weight column ``j``."""
    return f"{_PREFIX}cell_r{j}"


def _cell_partition(frame: pd.DataFrame, columns: list[str], weights: str | None,
                    replicates: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict, int]:
    """One partition's weight total and row count by cell (and the totals of the
    ``replicates`` weight columns), with its invalid weights and missing margin values
    (row numbers within the partition)."""
    n = len(frame)
    w = np.ones(n) if weights is None else _values(frame, weights, "weights")
    problems: dict[tuple[str, str], tuple[int, list]] = {}

    def note(column: str, what: str, mask: np.ndarray) -> None:
        if mask.any():
            problems[(column, what)] = (int(mask.sum()),
                                        np.flatnonzero(mask)[:_SHOWN].tolist())

    if weights is not None:
        note(weights, "missing", np.isnan(w))
        note(weights, "negative", w < 0)
        note(weights, "infinite", np.isinf(w))
    for column in columns:
        note(column, "margin", frame[column].isna().to_numpy())
    added = {_CELL_W: np.where(np.isfinite(w), w, 0.0)}
    for j, name in enumerate(replicates):
        values = _values(frame, name, "replicate_weights")
        note(name, "missing", np.isnan(values))
        note(name, "negative", values < 0)
        note(name, "infinite", np.isinf(values))
        added[_cell_r(j)] = np.where(np.isfinite(values), values, 0.0)
    added[_CELL_ROWS] = np.ones(n)
    added[_FIRST] = np.arange(n)
    # the columns added at once (one by one, many replicates fragment the frame)
    table = pd.concat([frame[columns].reset_index(drop=True),
                       pd.DataFrame(added)], axis=1)
    sums = {_CELL_W: "sum", **{_cell_r(j): "sum" for j in range(len(replicates))},
            _CELL_ROWS: "sum"}
    if columns:
        table = _by_cell(table, columns, list(sums))
    else:
        table = pd.DataFrame({**{name: [table[name].sum()] for name in sums},
                              _FIRST: [0]}) if n else table.iloc[:0]
    return table, problems, n


def _by_cell(table: pd.DataFrame, columns: list[str], sums: list[str]) -> pd.DataFrame:
    """The ``sums`` columns summed by cell of ``columns``, and each cell's first row
    (one block of sums: many replicate columns aggregated one by one would fragment
    the frame)."""
    grouped = table.groupby(columns, sort=False, dropna=False, observed=True)
    return pd.concat([grouped[sums].sum(), grouped[_FIRST].min()], axis=1).reset_index()


def cell_design(design: Any, columns: list[str], function: str,
                numeric: tuple[str, ...] = ()) -> SurveyDesign | ReplicateDesign:
    """The in-memory design of the cells of ``columns``: one row per combination present
    in the Dask DataFrame, weighted by the sum of its weights, indexed by its first row
    (so the in-memory checks name rows of the Dask DataFrame). ``numeric`` columns are
    added as zeros: only their names matter to the model of a calibration. A design of
    replicate-weight columns gives the replicate design of its cells (each column's
    sum by cell).

    Parameters
    ----------
    design : DaskSurveyDesign
        The design to weight.
    columns : list of str
        The margins' columns.
    function : str
        The weighting function (for messages).
    numeric : tuple of str
        Numeric calibration columns.

    Returns
    -------
    SurveyDesign or ReplicateDesign
        The design of the cells.

    Examples
    --------
    >>> cell_design(d, ["stype"], "poststratify")                       # doctest: +SKIP
    """
    _check_weighable(design, function)
    replicates: tuple[str, ...] = ()
    options: dict = {}
    if isinstance(design, DaskReplicateDesign) and design.base is None:
        if numeric:
            raise WeightingError(
                f"{function}() of replicate-weight columns on a Dask DataFrame takes "
                f"categorical margins only (numeric totals: {', '.join(numeric)}): each "
                "replicate's calibration would need its own passes over the rows. Give "
                "the totals by level, or compute the data in memory (ddf.compute())"
            )
        options = design.options
        replicates = tuple(options["replicate_weights"])
        weights: str | None = options["weights"]
    else:
        if isinstance(design, DaskReplicateDesign):
            design = design.base  # the full-sample weights' cells
        weights = design._weights
    columns = list(dict.fromkeys(columns))
    check_columns(list(design.data.columns), [*columns, *numeric], "population",
                  WeightingError, where="the Dask DataFrame")
    dask = _require_dask()
    delayed = dask.delayed(_cell_partition)
    selected = design.data[list(dict.fromkeys([*columns, *([weights] if weights else []),
                                               *replicates]))]
    results = dask.compute(*[delayed(part, columns, weights, replicates)
                             for part in selected.to_delayed()])
    tables: list[pd.DataFrame] = []
    problems: dict[tuple[str, str], tuple[int, list]] = {}
    offset = 0
    for table, found, n in results:
        tables.append(table.assign(**{_FIRST: table[_FIRST] + offset}))
        for key, (count, rows) in found.items():
            total, shown = problems.get(key, (0, []))
            problems[key] = (total + count, shown + [offset + r for r in rows])
        offset += n
    for (column, what), (count, rows) in problems.items():
        where = f"{count} row(s): {format_rows(rows[:_SHOWN])}"
        if what == "margin":
            raise WeightingError(
                f"column {column!r} (margin) has missing values in {where} (row numbers in "
                "the whole Dask DataFrame); every weighted row needs a level. Impute or "
                "recode them (e.g. a level 'unknown' with its own population count), or "
                "leave those rows out of the Dask DataFrame."
            )
        kind = "replicate-weight" if column in replicates else "weights"
        raise WeightingError(
            f"{kind} column {column!r} has {what} values in {where}. Every respondent "
            "needs a weight >= 0: fix or drop those rows."
        )
    if not offset:
        raise WeightingError("the Dask DataFrame has no rows")
    joined = pd.concat(tables, ignore_index=True)
    sums = [_CELL_W, *(_cell_r(j) for j in range(len(replicates))), _CELL_ROWS]
    if columns:
        cells = _by_cell(joined, columns, sums)
    else:
        cells = pd.DataFrame({**{name: [joined[name].sum()] for name in sums},
                              _FIRST: [0]})
    cells = cells.sort_values(_FIRST, kind="stable").set_index(_FIRST)
    cells.index.name = None
    for name in numeric:
        if name not in columns:
            cells[name] = 0.0
    if len(cells) == 1:
        # one cell: two halves (an in-memory design needs two rows; halving is exact,
        # so every total is the cell's to the last bit)
        cells = pd.concat([cells, cells])
        for name in sums[:-1]:
            cells[name] = cells[name] / 2
    if replicates:  # the replicate design of the cells, as the rows'
        return ReplicateDesign(cells, weights=_CELL_W, replicate_weights=list(sums[1:-1]),
                               scale=options["scale"], rscales=options["rscales"],
                               mse=options["mse"], degf=options["degf"],
                               method=options["method"])
    return SurveyDesign(cells, weights=_CELL_W)


def _columns_weighted(design: DaskReplicateDesign, cells: ReplicateDesign,
                      result: ReplicateDesign, recompute_degf: bool) -> DaskReplicateDesign:
    """A design of replicate-weight columns adjusted as ``result`` adjusted its cells."""
    n = _n_cells(cells)
    columns = _cell_columns(cells)
    before = np.column_stack([cells._w, cells.replicate_matrix()])[:n]
    after = np.column_stack([result._w, result.replicate_matrix()])[:n]
    keys = cells.data[list(columns)].iloc[:n].reset_index(drop=True)
    return weighted_columns(design, columns, keys, before, after, recompute_degf)


def _n_cells(cells: SurveyDesign | ReplicateDesign) -> int:
    """The cells of a cell design (its two halves are one cell)."""
    index = cells.data.index
    return 1 if len(index) == 2 and index[0] == index[1] else len(index)


def _cell_columns(cells: SurveyDesign | ReplicateDesign, numeric: Any = ()) -> tuple[str, ...]:
    """The margins' columns of a cell design (not its sums, nor numeric placeholders)."""
    return tuple(c for c in cells.data.columns
                 if c not in numeric and not str(c).startswith(_PREFIX))


# ---------------------------------------------------------- the adjustment --
@dataclass(frozen=True, eq=False)
class _Weighting:
    """What a weighted Dask design needs to recompute its weights in each partition and
    the residuals of its variance: the cells and their factors, or the calibration."""

    kind: str  # "poststratify", "rake" or "calibrate"
    base: str | None  # the weights before the adjustment (None: 1)
    columns: tuple[str, ...]  # the cells' columns
    cells: pd.DataFrame  # their values, one row per cell
    factor: np.ndarray | None = None  # (C,) poststratify, rake: the factor of each cell
    level: np.ndarray | None = None  # (C,) poststratify: post-stratum; rake: raking cell
    raking: Any = None  # rake: the Raking step of the cell design
    model: np.ndarray | None = None  # (C, P) calibrate: the model columns of each cell
    numeric: tuple[tuple[int, str], ...] = ()  # calibrate: model column from a column
    method: str = "linear"
    lower: float = -np.inf
    upper: float = np.inf
    coef: np.ndarray | None = None  # calibrate: coef (closed form) or eta (grake)
    closed_form: bool = True
    scale: float | None = None  # grake's rescaling of the weights
    gram: np.ndarray | None = None  # calibrate: sum w0 x x'

    @property
    def keys(self) -> tuple[str, ...]:
        """Columns added to the estimators' groups: the cells of a post-stratification
        or raking (their residuals act by cell)."""
        return self.columns if self.kind != "calibrate" else ()

    @property
    def frame_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.columns, *([self.base] if self.base else []),
                                   *(name for _, name in self.numeric)]))


def _cell_index(frame: pd.DataFrame, spec: _Weighting) -> np.ndarray:
    return cell_index(frame, spec.columns, spec.cells)


def _base(frame: pd.DataFrame, spec: _Weighting) -> np.ndarray:
    if spec.base is None:
        return np.ones(len(frame))
    w0 = _values(frame, spec.base, "weights")
    return np.where(np.isfinite(w0), w0, 0.0)


def _model_rows(frame: pd.DataFrame, spec: _Weighting) -> np.ndarray:
    """(n, P) calibration model matrix of the partition's rows."""
    assert spec.model is not None  # a calibration
    mm = spec.model[_cell_index(frame, spec)]
    for p, name in spec.numeric:
        mm[:, p] = _values(frame, name, "population")
    return mm


def _g_weights(mm: np.ndarray, spec: _Weighting) -> np.ndarray:
    assert spec.coef is not None  # solved
    if spec.closed_form:
        return 1 + mm @ spec.coef
    fm1, _ = _c.calfun(spec.method, spec.lower, spec.upper)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g = 1 + fm1(mm @ spec.coef)
    return g if spec.scale is None else g * spec.scale


def adjusted_weights(frame: pd.DataFrame, spec: Any) -> pd.Series:
    """The adjusted weights of one partition (run by ``map_partitions``).

    Parameters
    ----------
    frame : DataFrame
        One partition.
    spec : _Weighting
        The adjustment.

    Returns
    -------
    Series
        The weights, named :data:`ADJUSTED`.

    Examples
    --------
    >>> ddf.map_partitions(adjusted_weights, spec)                      # doctest: +SKIP
    """
    w0 = _base(frame, spec)
    if spec.kind == "calibrate":
        w = w0 * _g_weights(_model_rows(frame, spec), spec)
    else:
        w = w0 * spec.factor[_cell_index(frame, spec)]
    return pd.Series(w, index=frame.index, name=ADJUSTED)


def _with_weights(frame: pd.DataFrame, spec: _Weighting) -> pd.DataFrame:
    return frame.assign(**{ADJUSTED: adjusted_weights(frame, spec).to_numpy()})


class DaskWeightedDesign(DaskSurveyDesign):
    """A design on a Dask DataFrame whose weights were post-stratified, raked or
    calibrated (returned by ``pc.poststratify``, ``rake`` and ``calibrate``).

    Its data hold one more column, the adjusted weights (computed partition by
    partition); its estimators take the adjustment's residuals in the variance.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design before the adjustment.
    spec : _Weighting
        The adjustment.

    Examples
    --------
    >>> pc.rake(pc.SurveyDesign(ddf, weights="w", psu="v"), margins)    # doctest: +SKIP
    """

    def __init__(self, design: DaskSurveyDesign, spec: _Weighting) -> None:
        data = design.data
        # the partitions with their weights in one task each (an assign of a separate
        # series could be split otherwise once dask fuses the Parquet files it reads);
        # a partial, as dask would take the spec's pandas frame for a collection
        meta = data._meta.assign(**{ADJUSTED: np.zeros(0)})
        adjusted = data.map_partitions(partial(_with_weights, spec=spec), meta=meta)
        super().__init__(adjusted, weights=ADJUSTED,
                         strata=design._strata or None, psu=design._psu or None,
                         fpc=design._fpc or None, nest=design._nest,
                         lonely_psu=design.lonely_psu, questionnaire=design.questionnaire,
                         lang=design.lang, missing_codes=design.missing_codes)
        self._weighting = spec

    @property
    def weighting_columns(self) -> list[str]:
        """The columns the adjustment reads in each partition (the cells' columns, the
        weights before it, the numeric calibration variables): a labelled design's
        analyses keep them in the partitions they prepare (dask_labelling.py)."""
        return self._weighting.frame_columns

    def __repr__(self) -> str:
        return (f"DaskWeightedDesign({self._weighting.kind}, {self._data.npartitions} "
                f"partitions, base weights={self._weighting.base!r}, strata={self._strata}, "
                f"psu={self._psu}, fpc={self._fpc}, lonely_psu={self._lonely_psu!r})")

    def replicate(self, *args: Any, **kwargs: Any) -> DaskReplicateDesign:
        """Not available: the replicates of a weighted Dask design would need every
        replicate adjusted.

        Parameters
        ----------
        *args, **kwargs
            The arguments of ``DaskSurveyDesign.replicate``.

        Examples
        --------
        >>> weighted.replicate("jkn")                                    # doctest: +SKIP
        """
        raise DesignError(
            "replicate() of a weighted design on a Dask DataFrame is not available: use "
            "the weighted design's linearised variance (its estimators take the "
            "adjustment into account), or compute the data in memory (ddf.compute()) "
            "for replicate weights adjusted replicate by replicate"
        )

    def weighted_estimate(self, plan: _Plan, na_rm: bool):
        """Group sums, the group design, the domains and the engine's result of an
        estimate (called by :func:`perception.survey.distributed._estimate`).

        Parameters
        ----------
        plan : _Plan
            What the estimate sums.
        na_rm : bool
            Leave out rows missing a value.

        Returns
        -------
        tuple
            As ``distributed._estimate``.

        Examples
        --------
        >>> weighted.weighted_estimate(plan, False)                      # doctest: +SKIP
        """
        return self._groups_estimate(plan, na_rm)

    def _groups_estimate(self, plan: _Plan, na_rm: bool):
        """The adjustment's own estimate (a subclass with another adjustment has its
        own)."""
        return _estimate(self, plan, na_rm)


def _base_design(design: Any) -> Any:
    return design.base if isinstance(design, DaskReplicateDesign) else design


def _weighted(design: Any, spec: _Weighting, replicates: Any) -> Any:
    """The weighted design, or the weighted replicate design of a replicate design
    (``replicates`` adjusts an in-memory replicate design the same way)."""
    if not isinstance(design, DaskReplicateDesign):
        return DaskWeightedDesign(design, spec)
    assert replicates is not None  # given with a replicate design
    assert design.base is not None  # checked by cell_design
    return DaskWeightedReplicateDesign(DaskWeightedDesign(design.base, spec),
                                       design.options, replicates)


class DaskWeightedReplicateDesign(DaskReplicateDesign):
    """A replicate design on a Dask DataFrame, built from a design, whose full-sample
    weights and every replicate were post-stratified, raked or calibrated (categorical
    margins), as the in-memory ``ReplicateDesign`` methods do.

    The replicates are per-PSU factors; the adjustment of each replicate acts by cell,
    so the groups (PSU x cell x domain) carry everything: the in-memory replicate design
    of the groups is adjusted in memory, and each group's replicate weights over its
    full-sample weight become its factors.

    Parameters
    ----------
    base : DaskWeightedDesign
        The weighted design (full-sample weights).
    options : dict
        The arguments of ``SurveyDesign.replicate``.
    adjust : callable
        The in-memory adjustment of a replicate design (``pc.rake(rep, margins)``...).

    Examples
    --------
    >>> pc.rake(pc.SurveyDesign(ddf, weights="w", psu="v").replicate("jkn"), margins)  # doctest: +SKIP
    """

    def __init__(self, base: DaskWeightedDesign, options: dict, adjust: Any) -> None:
        super().__init__(base, options)
        self._adjust = adjust

    def __repr__(self) -> str:
        assert isinstance(self.base, DaskWeightedDesign)  # set by __init__
        return (f"DaskWeightedReplicateDesign({self.base._weighting.kind}, "
                f"{self._data.npartitions} partitions, method={self.options.get('method')!r})")

    def weighted_estimate(self, plan: _Plan, na_rm: bool):
        """As :meth:`DaskWeightedDesign.weighted_estimate`, with the replicates.

        Parameters
        ----------
        plan : _Plan
            What the estimate sums.
        na_rm : bool
            Leave out rows missing a value.

        Returns
        -------
        tuple
            As ``distributed._estimate``.

        Examples
        --------
        >>> weighted.weighted_estimate(plan, False)                      # doctest: +SKIP
        """
        return self._groups_estimate(plan, na_rm)

    def _groups_estimate(self, plan: _Plan, na_rm: bool):
        """The adjustment's own estimate of the replicates (a subclass with another
        adjustment has its own)."""
        return _estimate_replicates(self, plan, na_rm)


# ------------------------------------------------------------ the adjustments --
def poststratified(design: Any, cells: Any, result: Any, replicates: Any = None) -> Any:
    """The Dask design post-stratified as the in-memory ``result`` of its cells.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    cells : SurveyDesign
        Its cells (:func:`cell_design`).
    result : SurveyDesign
        ``pc.poststratify`` of the cells.

    Returns
    -------
    DaskWeightedDesign
        The post-stratified design.

    Examples
    --------
    >>> poststratified(d, cells, pc.poststratify(cells, "stype", pop))  # doctest: +SKIP
    """
    if isinstance(result, ReplicateDesign):  # replicate-weight columns
        return _columns_weighted(design, cells, result, recompute_degf=True)
    step = result._calibration[-1]
    n = _n_cells(cells)
    factor = np.where(step.codes >= 0, _c.safe_divide(step.weights, step.oldweights), 1.0)
    columns = _cell_columns(cells)
    spec = _Weighting("poststratify", _base_design(design)._weights, columns,
                      cells.data[list(columns)].iloc[:n], factor=factor[:n],
                      level=np.asarray(step.codes)[:n])
    return _weighted(design, spec, replicates)


def raked(design: Any, cells: Any, result: Any, replicates: Any = None) -> Any:
    """The Dask design raked as the in-memory ``result`` of its cells.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    cells : SurveyDesign
        Its cells (:func:`cell_design`).
    result : SurveyDesign
        ``pc.rake`` of the cells.

    Returns
    -------
    DaskWeightedDesign
        The raked design.

    Examples
    --------
    >>> raked(d, cells, pc.rake(cells, margins))                         # doctest: +SKIP
    """
    if isinstance(result, ReplicateDesign):  # replicate-weight columns
        return _columns_weighted(design, cells, result, recompute_degf=True)
    step = result._calibration[-1]
    # the factor after the last margin of the last pass: the final factor of each cell
    n = _n_cells(cells)
    factor = step.factors[-1][step.cells]
    columns = _cell_columns(cells)
    spec = _Weighting("rake", _base_design(design)._weights, columns,
                      cells.data[list(columns)].iloc[:n], factor=factor[:n],
                      level=np.asarray(step.cells)[:n], raking=step)
    return _weighted(design, spec, replicates)


def _gram_partition(frame: pd.DataFrame, spec: _Weighting) -> tuple[np.ndarray, np.ndarray,
                                                                    dict, int]:
    """``sum w0 x x'`` and ``sum w0 x`` of one partition, and its invalid numeric
    calibration values."""
    mm = _model_rows(frame, spec)
    w0 = _base(frame, spec)
    problems: dict[str, tuple[int, list]] = {}
    for p, name in spec.numeric:
        bad = ~np.isfinite(mm[:, p])
        if bad.any():
            problems[name] = (int(bad.sum()), np.flatnonzero(bad)[:_SHOWN].tolist())
            mm[bad, p] = 0.0
    whalf = np.sqrt(w0)
    scaled = mm * whalf[:, None]
    return scaled.T @ scaled, mm.T @ w0, problems, len(frame)


def _newton_partition(frame: pd.DataFrame, spec: _Weighting, eta: np.ndarray,
                      scale: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """One partition's part of a Newton step of ``grake``."""
    mm = _model_rows(frame, spec)
    weights = _base(frame, spec) * scale
    fm1, df = _c.calfun(spec.method, spec.lower, spec.upper)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        xeta = mm @ eta
        g = 1 + fm1(xeta)
        deriv = df(xeta)
        tmat = (mm * (weights * deriv)[:, None]).T @ mm
        fitted = mm.T @ (weights * fm1(xeta))
    return tmat, fitted, bool(np.all(np.isfinite(g)) and np.all(np.isfinite(deriv)))


def _sum_partitions(design: DaskSurveyDesign, function, *args) -> list:
    dask = _require_dask()
    delayed = dask.delayed(function)
    columns = args[0].frame_columns
    selected = design.data[columns] if columns else design.data
    return list(dask.compute(*[delayed(part, *args) for part in selected.to_delayed()]))


def calibrated(design: Any, cells: Any, model: np.ndarray, totals: np.ndarray,
               names: list[str], numeric: list[str], method: str, lower: float,
               upper: float, tol: float, max_iter: int, replicates: Any = None) -> Any:
    """The Dask design calibrated to ``totals``: the in-memory model of the cells, the
    Gram matrix summed over the partitions, R's ``regcalibrate`` (linear, no bounds) or
    ``grake`` (one pass over the partitions per Newton step).

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    cells : SurveyDesign
        Its cells (:func:`cell_design`), numeric columns as zeros.
    model : ndarray
        (C, P) model matrix of the cells (``weighting._model_matrix``).
    totals : ndarray
        (P,) population totals.
    names : list of str
        The model columns' names.
    numeric : list of str
        The numeric calibration columns.
    method, lower, upper, tol, max_iter
        As ``pc.calibrate``.

    Returns
    -------
    DaskWeightedDesign
        The calibrated design.

    Examples
    --------
    >>> calibrated(d, cells, mm, totals, names, ["api99"], "linear", -inf, inf, 1e-7, 50)  # doctest: +SKIP
    """
    positions = tuple((names.index(name), name) for name in numeric)
    if positions and isinstance(design, DaskReplicateDesign):
        raise WeightingError(
            "calibrate() of a replicate design on a Dask DataFrame takes categorical "
            f"margins only: numeric totals ({', '.join(numeric)}) would need a Newton "
            "pass over the data per replicate. Calibrate the design itself (its "
            "linearised variance accounts for the calibration), or compute the data in "
            "memory (ddf.compute())"
        )
    if isinstance(design, DaskReplicateDesign) and design.base is None:
        assert replicates is not None  # given with a replicate design
        # R recomputes degf after a calibration in closed form only (linear, no bounds)
        closed = method == "linear" and not (np.isfinite(lower) or np.isfinite(upper))
        return _columns_weighted(design, cells, replicates(cells), recompute_degf=closed)
    columns = _cell_columns(cells, numeric)
    n = _n_cells(cells)
    base = design
    design = _base_design(design)
    spec = _Weighting("calibrate", design._weights, columns,
                      cells.data[list(columns)].iloc[:n],
                      model=np.asarray(model, dtype=float)[:n], numeric=positions, method=method,
                      lower=lower, upper=upper)
    if positions:
        offset, gram, sample_total = 0, 0.0, 0.0
        problems: dict[str, tuple[int, list]] = {}
        for part_gram, part_total, found, n in _sum_partitions(design, _gram_partition, spec):
            gram = gram + part_gram
            sample_total = sample_total + part_total
            for name, (count, rows) in found.items():
                total, shown = problems.get(name, (0, []))
                problems[name] = (total + count, shown + [offset + r for r in rows])
            offset += n
        for name, (count, rows) in problems.items():
            raise WeightingError(
                f"column {name!r} (calibration total) has {count} missing or non-numeric "
                f"value(s) in rows {format_rows(rows[:_SHOWN])} (row numbers in the whole "
                "Dask DataFrame); impute them or leave those rows out before calibrating"
            )
    else:
        w0 = cells._w
        whalf = np.sqrt(w0)
        cell_model = np.asarray(model, dtype=float)
        scaled = cell_model * whalf[:, None]
        gram = scaled.T @ scaled
        sample_total = cell_model.T @ w0
    closed_form = method == "linear" and not np.isfinite(lower) and not np.isfinite(upper)
    scale = None
    if closed_form:
        coef = _c.regcalibrate_coef(np.asarray(gram), np.asarray(sample_total), totals, names)
    else:
        if positions:
            def evaluate(eta: np.ndarray, factor: float):
                parts = _sum_partitions(design, _newton_partition, spec, eta, factor)
                return (sum(p[0] for p in parts), sum(p[1] for p in parts),
                        all(p[2] for p in parts))
        else:  # categorical margins only: the cells' rows, in memory
            cell_model, cell_w = np.asarray(model, dtype=float), cells._w

            def evaluate(eta: np.ndarray, factor: float):
                weights = cell_w * factor
                fm1, df = _c.calfun(method, lower, upper)
                xeta = cell_model @ eta
                g, deriv = 1 + fm1(xeta), df(xeta)
                return ((cell_model * (weights * deriv)[:, None]).T @ cell_model,
                        cell_model.T @ (weights * fm1(xeta)),
                        bool(np.all(np.isfinite(g)) and np.all(np.isfinite(deriv))))
        coef, failed, _, scale = _c.grake_newton(np.asarray(sample_total, dtype=float),
                                                 totals, evaluate, tol, max_iter)
        if failed is not None:
            bounded = np.isfinite(lower) or np.isfinite(upper)
            cause = (f"calibration cannot meet the bounds ({lower:g}, {upper:g}) on the "
                     "g-weights: " if bounded else "calibration did not converge: ")
            fix = ("Widen the bounds, or drop or merge margins that the sample cannot reach."
                   if bounded else "Raise max_iter, or check the totals against the sample.")
            raise WeightingError(
                f"{cause}the sample still misses the totals by a relative {failed:.3g} "
                f"(tolerance {tol:g}) after {max_iter} iterations ({method} method, totals "
                f"{', '.join(names)}). {fix}"
            )
    spec = replace(spec, coef=np.asarray(coef, dtype=float), closed_form=closed_form,
                   scale=scale, gram=np.asarray(gram, dtype=float))
    return _weighted(base, spec, replicates)


# ---------------------------------------------------------------- estimates --
def _multipliers(frame: pd.DataFrame, spec: _Weighting, w: np.ndarray, w0: np.ndarray
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per row: what multiplies each score part in the sums the residuals need, and the
    bases the residuals are taken along (summed over every row of a group)."""
    if spec.kind == "poststratify":
        # R: psw of rows without weight before and after is 1 (rows of the domain: those
        # outside a subset have no post-stratum, as in memory)
        zero = (w0 == 0) & (w == 0)
        if SUBSET in frame.columns:
            zero &= frame[SUBSET].to_numpy(dtype=bool)
        return [w0], [w0, zero.astype(float)]
    if spec.kind == "rake":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(w0 != 0, w / np.where(w0 != 0, w0, 1.0), 0.0)
        return [ratio], [w0, (w0 != 0).astype(float)]
    mm = _model_rows(frame, spec)
    # x / (g sqrt(w0)) is 0 where g sqrt(w0) is: rows without adjusted weight
    kept = np.where(w != 0, w0, 0.0)
    return ([kept * mm[:, p] for p in range(mm.shape[1])],
            [w * mm[:, p] for p in range(mm.shape[1])])


def _weighted_partition(frame: pd.DataFrame, plan: _Plan, spec: _Weighting
                        ) -> tuple[pd.DataFrame, list, dict]:
    """The estimators' group sums of one partition, and the sums the residuals need."""
    table, found, info = reduce_partition(frame, plan)
    missing = _missing(frame, plan)
    active = _inside(frame, plan)  # as reduce_partition: the same groups
    for mask in missing.values():
        active &= ~mask
    codes, first = _group_codes(frame, plan.keys, active)
    G = len(first)
    assert plan.weights is not None  # the adjusted weights
    w = _values(frame, plan.weights, "weights")
    w = np.where(np.isfinite(w), w, 0.0)
    multipliers, bases = _multipliers(frame, spec, w, _base(frame, spec))
    sums: dict[str, np.ndarray] = {}

    def add(name: str, values: np.ndarray) -> None:
        sums[name] = np.bincount(codes, weights=values, minlength=G)

    masked = [np.where(active, e, 0.0) for e in multipliers]
    for q, ea in enumerate(masked):
        add(_xw(q), ea)
    # one part (and one denominator) at a time, as reduce_partition reads them
    for j, part in enumerate(_each_part(frame, plan)):
        p = np.where(active, part, 0.0)
        for q, ea in enumerate(masked):
            add(_xn(q, j), ea * p)
    for j, name in enumerate(plan.denominators):
        d = np.where(active, _values(frame, name, "denominator"), 0.0)
        for q, ea in enumerate(masked):
            add(_xd(q, j), ea * d)
    for b, values in enumerate(bases):
        add(_xb(b), values)
    add(_W0, _base(frame, spec))
    add(_WALL, w)
    add(_WSQ, w * w)
    return pd.concat([table, pd.DataFrame(sums)], axis=1), found, info


def _reduce(design: DaskWeightedDesign, plan: _Plan, na_rm: bool) -> pd.DataFrame:
    spec = design._weighting
    subset = [SUBSET] if SUBSET in design.data.columns else []
    return reduce_design(design, plan, na_rm, _weighted_partition, (spec,),
                         [*plan.keys, *spec.frame_columns, *subset])


class _Residuals:
    """The group design seen by :func:`engine.finish`: each group's scores lose the
    adjustment's residual part (as ``SurveyDesign.score_vcov`` with the weighting steps
    does row by row), then the group design's Taylor variance."""

    is_replicate = False

    def __init__(self, design: SurveyDesign, groups: pd.DataFrame, spec: _Weighting,
                 plan: _Plan, t: _Totals, dom) -> None:
        self._design = design
        self._groups = groups
        self._spec = spec
        self._plan = plan
        self._t = t
        self._dom = dom

    def _col(self, name: str) -> np.ndarray:
        return self._groups[name].to_numpy(dtype=float)

    def _companion(self, q: int) -> np.ndarray:
        """(G, D * k) sums of multiplier ``q`` times each group's scores over its
        weights: the scores' formula of :func:`engine.finish` on the other sums."""
        t, plan, dom = self._t, self._plan, self._dom
        G, D, k = t.num.shape
        sums = GroupSums(np.arange(G), G, dom.codes, D)
        xw = sums(self._col(_xw(q)))
        xn = np.stack([sums(self._col(_xn(q, j))) for j in range(k)], axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            if t.den is None:
                out = xn + t.shift * xw[:, :, None]
            else:
                den = t.den if t.den.ndim == 3 else t.den[:, :, None]
                den_total = den.sum(axis=0)
                delta = t.num.sum(axis=0) / den_total
                if plan.kind == "ratio":
                    xden = np.stack([sums(self._col(_xd(q, j))) for j in range(k)], axis=2)
                else:
                    xden = xw[:, :, None]
                out = (xn - delta * xden) / den_total
        return out.reshape(G, D * k)

    def residuals(self, scores: np.ndarray) -> np.ndarray:
        spec = self._spec
        groups = self._groups
        if spec.kind == "calibrate":
            assert spec.gram is not None and spec.model is not None  # calibrated
            P = spec.model.shape[1]
            xs = np.stack([self._companion(p).sum(axis=0) for p in range(P)])  # (P, D*k)
            # the regression of the scores on the calibration variables (R's qr.resid),
            # on the Gram matrix with its columns scaled to unit diagonal
            diag = np.sqrt(np.diag(spec.gram))
            unit = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 0.0)
            scaled = spec.gram * np.outer(unit, unit)
            inverse = np.linalg.pinv(scaled, rtol=_c.QR_RTOL**2, hermitian=True)
            beta = (unit[:, None] * inverse * unit[None, :]) @ xs
            base = np.stack([self._col(_xb(p)) for p in range(P)], axis=1)  # (G, P)
            return scores - base @ beta
        cells = _cell_index(groups, spec)
        companion = self._companion(0)
        w0 = self._col(_xb(0))
        if spec.kind == "poststratify":
            assert spec.level is not None  # post-strata
            level = np.where(cells >= 0, spec.level[np.maximum(cells, 0)], -1)
            n_levels = int(spec.level.max()) + 1 if spec.level.size else 0
            num = _c.group_sums(level, companion, n_levels)
            den = _c.group_sums(level, w0[:, None], n_levels)[:, 0]
            means = _c.safe_divide(num, den[:, None])
            psw = self._col(_WALL) + self._col(_xb(1))
            out = scores.copy()
            inside = level >= 0
            out[inside] -= means[level[inside]] * psw[inside, None]
            return out
        step = spec.raking
        assert spec.level is not None  # raking cells
        level = spec.level[cells]
        n_cells = step.cell_levels.shape[0]
        used = np.where(w0 != 0, level, -1)
        level_sums = _c.group_sums(used, companion, n_cells)
        counts = _c.group_sums(used, self._col(_xb(1))[:, None], n_cells)[:, 0]
        shift = step.sweep(level_sums, counts)
        shift = np.vstack([shift, np.zeros((1, shift.shape[1]))])
        return scores - w0[:, None] * shift[used]

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        # one "cluster" per group: the totals are each group's scores, in the columns of
        # its domain; the residuals spread them over every group (no domain codes)
        return self._design.score_vcov(self.residuals(totals))


def _estimate_replicates(design: DaskWeightedReplicateDesign, plan: _Plan, na_rm: bool):
    """As ``distributed._estimate_replicates`` for replicates built from a design, the
    in-memory replicate design of the groups adjusted in memory."""
    base: DaskWeightedDesign = design.base  # type: ignore[assignment]
    spec = base._weighting
    plan = replace(plan, keys=tuple(dict.fromkeys([*plan.keys, *spec.columns])))
    groups = _reduce(base, plan, na_rm)
    _check_some(groups, plan)
    before = _group_design(base, groups.assign(**{_W: groups[_W0]})).replicate(
        **design.options)
    adjusted = design._adjust(before)
    G = len(groups)
    factors = _c.safe_divide(adjusted.replicate_matrix(), adjusted._w[:, None])
    rep: Any = _GroupReplicates._from_factors(
        groups, adjusted._w, factors, np.arange(G), adjusted.scale, adjusted.rscales,
        adjusted.mse, adjusted.method, adjusted._degf)
    rep._row_mass = np.sqrt(groups[_WSQ].to_numpy(dtype=float))
    if plan.kept is not None:
        # a labelled design's left-out rows: adjusted with every row, then outside the
        # domain (as subset() in memory: the degrees of freedom of the domain's rows)
        rep = rep.subset(groups[_IN].to_numpy(dtype=float) > 0)
    return finish_factors(rep, groups, plan)


class _GroupReplicates(ReplicateDesign):
    """The in-memory replicate design of the groups of a weighted replicate design,
    whose degrees of freedom are those of the rows: the rank of the replicate weights
    is taken on a matrix with the rows' cross-products, each group's factors scaled by
    the root of its rows' sum of squared weights (not by the group's weight: a rank
    with a tolerance depends on that scaling)."""

    _row_mass: np.ndarray

    def _rows_degf(self, rows: np.ndarray) -> int:
        memo = self.__dict__.setdefault("_degf_memo", {})
        return replicate_degf(memo, self._row_mass, self._factors, self._factor_index,
                              self._repw, rows & (self._w != 0))


def _estimate(design: DaskWeightedDesign, plan: _Plan, na_rm: bool):
    """As ``distributed._estimate``, for a weighted design."""
    spec = design._weighting
    plan = replace(plan, keys=tuple(dict.fromkeys([*plan.keys, *spec.keys])))
    groups = _reduce(design, plan, na_rm)
    _check_some(groups, plan)
    group_design = _group_design(design, groups)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    dom = domains(group_design, list(plan.by), active)
    check_domain_weights(group_design, dom, list(plan.by))
    G = len(groups)
    t = _totals(groups, plan, np.arange(G), G, dom, plan.n_parts)
    result: RatioResult = finish(_Residuals(group_design, groups, spec, plan, t, dom), t, dom)
    return groups, group_design, dom, result
