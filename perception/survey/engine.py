"""The estimation kernel: domains, per-PSU totals, the ratio engine and result tables.

Every estimate of :mod:`~perception.survey.estimators` and
:mod:`~perception.survey.quantiles` is a ratio of weighted totals ``N/D`` (``D = 1``
for totals), so one engine serves them all (:func:`ratio_engine`): Taylor linearisation
with scores ``w_i (num_i - theta den_i) / D`` for ``SurveyDesign``, and the replicate
formula for ``ReplicateDesign``. Domains (``by=``, :func:`domains`) are blocks of columns
of the score matrix, estimated inside the full design as R's ``svyby`` does.

Designs without weighting steps reduce to per-PSU totals: one pass per column over the
rows gives the (PSU, domain) totals of the shifted weighted values, every domain at
once, and the variance is computed on those totals (:func:`_collect`, :func:`finish`);
no (n, k) score matrix is formed. Means and totals of columns without missing values
go further (:func:`fast_estimate`, :mod:`~perception.survey.blocked`): the rows are
read in blocks that stay in the CPU cache, so each column is read from memory once
(several threads share the columns of a large survey) and nothing is checked
beforehand (a missing value shows up as a non-finite sum and sends the estimate to the
general path). Weighted designs form the row scores, which their weighting steps transform.

:func:`assemble` writes the result table, which carries the covariance of its
``estimate`` column in ``table.attrs["vcov"]``, keyed by each row's identity (its ``by``
values, ``variable``, ``category``; see :mod:`perception.survey.covariance`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from . import blocked, intervals
from .calibration import Raking
from .checks import numeric_values
from .covariance import attach_covariance
from .design import ReplicateDesign, SurveyDesign
from .stages import plain as _plain
from .variance import GroupSums, group_totals

RESULT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n"]

Design = SurveyDesign | ReplicateDesign


def active_rows(design, columns: Sequence[str], missing: np.ndarray, na_rm: bool, argument: str):
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


def no_rows_error(design, names: Sequence[str], by: Sequence[str]) -> EstimationError:
    """The error for an estimate without any row to use, saying why."""
    what = ", ".join(map(repr, names))
    if design.n == 0:
        return EstimationError(
            f"no rows to estimate {what}: the design's domain is empty (the subset mask "
            "selects no row). Check the condition given to design.subset()."
        )
    by_text = f" or the by column(s) {', '.join(map(repr, by))}" if by else ""
    return EstimationError(
        f"no rows to estimate {what}: all {design.n} rows of the design's domain miss a "
        f"value of {what}{by_text}. Check the columns, or recode missing-value codes."
    )


@dataclass(frozen=True)
class Domains:
    codes: np.ndarray  # (n,) domain code per row, -1 outside every domain
    frame: pd.DataFrame  # one row per domain, the by columns
    count: int
    complete: bool = False  # every row is in a domain (no code -1): masks can be skipped


def domains(design, by: list[str], active: np.ndarray) -> Domains:
    n = len(design.data)
    complete = bool(active.all())
    if not by:
        # every row in the one domain: a read-only view of one 0, not a vector to fill
        codes = (np.broadcast_to(np.int64(0), n) if complete
                 else np.where(active, 0, -1).astype(np.int64))
        return Domains(codes, pd.DataFrame(index=range(1)), 1, complete)
    data = design.data
    if len(by) == 1:
        codes, uniques = _codes_of(design, by[0], active, complete)
        frame = pd.DataFrame({by[0]: np.asarray(uniques)})
        return Domains(codes, frame, len(frame), complete)
    # several columns: each column's codes (in sorted order of its values), combined
    # into one code per combination, numbered in the order of the combinations present
    # (the lexicographic order of DataFrame.sort_values(by))
    codes = np.zeros(n, dtype=np.int64)
    size = 1
    values: list[pd.Index] | None = []  # each column's values, while codes are mixed-radix
    for name in by:
        column, uniques = _codes_of(design, name, active, complete)
        codes *= max(len(uniques), 1)
        codes += column
        size *= max(len(uniques), 1)
        if values is not None:
            values.append(uniques)
        if size > COMBINED_CODES_MAX:  # too many combinations: renumber the ones present
            codes = _renumber(codes, active)
            size = int(codes.max()) + 1
            values = None
    if values is not None and all(isinstance(data[name].dtype, np.dtype) for name in by):
        # numpy columns: each combination's values decoded from its mixed-radix code
        present = np.bincount(codes if complete else codes[active], minlength=size) > 0
        if not present.all():
            codes = (np.cumsum(present) - 1)[codes if complete else np.where(active, codes, 0)]
        if not complete:
            codes = np.where(active, codes, -1)
        combination = np.flatnonzero(present)
        decoded = {}
        for name, uniques in zip(reversed(by), reversed(values), strict=True):
            size = max(len(uniques), 1)
            decoded[name] = np.asarray(uniques)[combination % size]
            combination = combination // size
        frame = pd.DataFrame({name: decoded[name] for name in by})
        return Domains(codes, frame, len(frame), complete)
    codes = _renumber(codes, active, size)
    first = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    rows = np.flatnonzero(codes >= 0)
    first[codes[rows[::-1]]] = rows[::-1]  # first row of each combination
    # the domains' values as the data hold them (their dtypes kept)
    frame = pd.DataFrame({name: _take(data[name], first) for name in by})
    return Domains(codes, frame, len(frame), complete)


#: combined codes of several by columns spanning at most this many values are renumbered
#: with a lookup table; beyond, the combinations present are renumbered on the way
COMBINED_CODES_MAX = 1 << 24


def _take(column: pd.Series, rows: np.ndarray) -> np.ndarray | pd.Series:
    """The values of ``rows`` of a column, with its dtype (a numpy array when it is one)."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy()[rows]
    return column.iloc[rows].reset_index(drop=True)


def _renumber(codes: np.ndarray, active: np.ndarray, size: int | None = None) -> np.ndarray:
    """Codes of the active rows renumbered 0.. in increasing order of the values present
    (a lookup table of ``size`` values, or a sort of the distinct codes), -1 elsewhere."""
    if size is None:
        uniques = np.unique(codes[active])
        out = np.searchsorted(uniques, codes)
    else:
        present = np.bincount(codes[active], minlength=size) > 0
        # inactive rows hold no valid code: look up 0 for them, then drop it
        out = (np.cumsum(present) - 1)[np.where(active, codes, 0)]
    return np.where(active, out, -1)


def kept_on_design(design, cache: str, name: str, values: pd.Series, compute):
    """``compute(values)``, kept on the (immutable) design for a numpy number column of
    its data: an analysis of the same column again (another item's DiD, the next figure
    of a report) does not compute it again. The entry is keyed by the column's buffer
    (kept alive with it), so a column replaced in the data is computed anew; other
    columns (categories, text) are computed each time.

    Examples
    --------
    >>> d = pc.SurveyDesign(pd.DataFrame({"x": [1, 2, 2], "w": [1.0, 1.0, 1.0]}), weights="w")
    >>> kept_on_design(d, "_demo", "x", d.data["x"], lambda v: int(v.nunique()))
    2
    >>> d.__dict__["_demo"]["x"][2]
    2
    """
    if not (isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf"):
        return compute(values)
    array = values.to_numpy()
    key = (array.__array_interface__["data"][0], array.shape, array.dtype.str)
    memo = design.__dict__.setdefault(cache, {})
    hit = memo.get(name)
    if hit is not None and hit[0] == key:
        return hit[2]
    result = compute(values)
    memo[name] = (key, array, result)
    return result


def _codes_of(design, name: str, active: np.ndarray, complete: bool
              ) -> tuple[np.ndarray, pd.Index]:
    """:func:`_column_codes` of a column of the design's data; those of every row
    (``complete``) kept on the design (:func:`kept_on_design`), read-only."""
    values = design.data[name]
    if not complete:
        return _column_codes(values, active, complete)

    def every_row(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
        codes, uniques = _column_codes(column, active, True)
        codes = codes.view()
        codes.setflags(write=False)  # shared by every later analysis
        return codes, uniques

    return kept_on_design(design, "_codes_cache", name, values, every_row)


def _column_codes(values: pd.Series, active: np.ndarray, complete: bool
                  ) -> tuple[np.ndarray, pd.Index]:
    """Code of each row's value among the values present in the active rows, in sorted
    order (categories in their order), -1 outside the active rows; and those values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = pd.Categorical(values[active], categories=values.cat.categories)
        order = np.sort(pd.unique(cats.codes[cats.codes >= 0]))
        uniques = values.cat.categories[order]
        codes = pd.Index(uniques).get_indexer(values)
        codes = np.where(active, codes, -1)
    elif (small := _small_integers(values)) is not None:
        # integer codes over a short range: no hashing, a lookup table
        offset, lowest, dtype = small
        present = np.bincount(offset if complete else offset[active]) > 0
        uniques = pd.Index((np.flatnonzero(present) + lowest).astype(dtype))
        if present.all():  # the offsets are the codes already
            codes = offset
        else:
            codes = (np.cumsum(present) - 1)[offset]
        if not complete:
            codes = np.where(active, codes, -1)
    else:
        # one hashing pass: codes in order of appearance, then renumbered in the
        # sorted order of the values present among the active rows
        first_codes, seen = pd.factorize(values, sort=False)
        present = np.bincount(first_codes[active & (first_codes >= 0)],
                              minlength=len(seen)) > 0
        uniques = pd.Index(seen[present]).sort_values()
        position = np.full(len(seen) + 1, -1, dtype=np.int64)
        position[:-1][present] = uniques.get_indexer(seen[present])
        codes = np.where(active, position[first_codes], -1)
    return codes.astype(np.int64, copy=False), uniques


def rows_missing(data: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Rows missing a value of any of the columns (numpy integer and boolean columns hold
    none: not looked at)."""
    missing = np.zeros(len(data), dtype=bool)
    for name in dict.fromkeys(names):
        column = data[name]
        if not (isinstance(column.dtype, np.dtype) and column.dtype.kind in "iub"):
            missing |= column.isna().to_numpy()
    return missing


def by_missing(design, by: list[str]) -> np.ndarray:
    missing = np.zeros(len(design.data), dtype=bool)
    for name in by:
        missing |= design.data[name].isna().to_numpy()
    return missing


# ---------------------------------------------------------------------- engine --
@dataclass(frozen=True)
class RatioResult:
    estimate: np.ndarray  # (D, k)
    vcov: np.ndarray  # (D*k, D*k)
    deff: np.ndarray  # (D, k)
    n: np.ndarray  # (D,)
    replicates: np.ndarray | None = None  # (R, D*k) replicate estimates, when computed


@dataclass(frozen=True)
class _Totals:
    """What a ratio-of-totals estimate needs from the rows, by (group, domain).

    Values are shifted, ``x - c den`` with ``c`` a provisional estimate per column, so
    sums of squares lose nothing to cancellation. ``den`` is None for totals (a
    denominator of 1 on every row), (G, D) when shared by every column (means), or
    (G, D, k). ``cross`` and ``den_sq`` (None for means and totals) are the per-domain
    sums of ``w (x - c den) den`` and ``w den^2``.
    """

    shift: np.ndarray  # (k,)
    num: np.ndarray  # (G, D, k) sums of w (x - c den)
    den: np.ndarray | None
    weights: np.ndarray  # (G, D) sums of w
    sq: np.ndarray  # (D, k) sums of w (x - c den)^2
    cross: np.ndarray | None
    den_sq: np.ndarray | None
    n_nonzero: np.ndarray  # (D,) rows with a non-zero weight
    n_rows: np.ndarray  # (D,) rows in the domain
    # a raked design (:class:`CellSums`): (C, D, k) sums of (w / base)(x - c den) by
    # (raking cell, domain), (C, D) sums of w / base and (C, D, k) of (w / base) den
    # (ratios only); None otherwise
    cells: np.ndarray | None = None
    cell_weights: np.ndarray | None = None
    cell_den: np.ndarray | None = None


def raking_step(design) -> Raking | None:
    """The raking of a design raked once (its only weighting step), whose variance then
    needs only first-stage cluster totals and raking-cell totals; else None."""
    steps: tuple = tuple(getattr(design, "_calibration", ()))
    if design.is_replicate or len(steps) != 1 or not isinstance(steps[0], Raking):
        return None
    if len(design._stages) > 1 and design._multistage:
        return None
    step: Raking = steps[0]
    return step


def uses_totals_path(design, ratio_deff: bool = False) -> bool:
    """Can the estimate go through per-PSU totals (no (n, k) score matrix)?"""
    if raking_step(design) is not None:
        return True
    return design.totals_path and not (design.is_replicate and ratio_deff)


class CellSums:
    """Sums by (raking cell, domain) of ``values * w / base`` for a raked design.

    The variance of a raked design sweeps the row scores ``x`` through the margins
    (R's ``svyrecvar``); the sweeps act on the cells' sums of ``x / base`` only
    (:meth:`~perception.survey.calibration.Raking.sweep`) and every row of a cell loses
    ``base * shift[cell]``, so the first-stage cluster totals of the swept scores are the
    clusters' score totals minus ``(cluster x cell totals of base) @ shift``: no (n, k)
    score matrix, two sums per column over the rows.
    """

    def __init__(self, design, step: Raking, dom: Domains, w: np.ndarray) -> None:
        self.step = step
        self.n_cells = step.cell_levels.shape[0]
        self.n_domains = dom.count
        cells = step.used_cells
        size = self.n_cells * self.n_domains
        inside = (cells >= 0) & (dom.codes >= 0)
        self._index = np.where(inside, cells * self.n_domains + dom.codes, size)
        self._size = size + 1
        with np.errstate(divide="ignore", invalid="ignore"):
            self.ratio = np.where(inside, w / np.where(step.base != 0, step.base, 1.0), 0.0)

    def __call__(self, values: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """(C, D) sums of ``values`` (already multiplied by the ratio w / base)."""
        out = np.bincount(self._index if index is None else index, weights=values,
                          minlength=self._size)
        return out[: self._size - 1].reshape(self.n_cells, self.n_domains)

    def rows(self, start: int, stop: int) -> CellSums:
        """The same sums over rows ``start:stop`` (views, no copy)."""
        part = object.__new__(CellSums)
        part.__dict__.update(self.__dict__)
        part._index = self._index[start:stop]
        part.ratio = self.ratio[start:stop]
        return part

    def by_level(self, codes: np.ndarray, n_levels: int) -> np.ndarray:
        """(C, D, n_levels) sums of the ratio by cell, domain and level (``codes``
        -1 left out)."""
        size = self._size * n_levels
        index = np.where(codes >= 0, self._index * n_levels + codes, size - 1)
        out = np.bincount(index, weights=self.ratio, minlength=size)
        return out[: (self._size - 1) * n_levels].reshape(self.n_cells, self.n_domains,
                                                           n_levels)

def _swept_totals(design, totals: np.ndarray, cell_scores: np.ndarray) -> np.ndarray:
    """First-stage cluster totals (G, D * k) of a raked design's swept scores, from the
    clusters' score totals and the (C, D * k) cell sums of ``scores / base``."""
    step = raking_step(design)
    assert step is not None  # only called with cell sums, which only a raking has
    shift = step.sweep(cell_scores, step.cell_counts())
    return totals - _cluster_cell_base(design, step) @ shift


def _cluster_cell_base(design, step: Raking) -> np.ndarray:
    """(G, C) sums of the raking's base weights by first-stage cluster and cell."""
    group, n_groups = design.score_groups()
    cells = step.used_cells
    n_cells = step.cell_levels.shape[0]
    index = np.where(cells >= 0, group * n_cells + cells, n_groups * n_cells)
    out = np.bincount(index, weights=step.base, minlength=n_groups * n_cells + 1)
    return out[: n_groups * n_cells].reshape(n_groups, n_cells)


def _cell_sums(design, dom: Domains, w: np.ndarray) -> CellSums | None:
    step = raking_step(design)
    return None if step is None else CellSums(design, step, dom, w)


def _group_sums(design, dom: Domains) -> tuple[GroupSums, np.ndarray, bool]:
    """Group sums by (PSU, domain), the domain's weights and whether it is every row."""
    complete = dom.complete or bool((dom.codes >= 0).all())
    whole = dom.count == 1 and complete
    group, n_groups = design.score_groups()
    sums = GroupSums(group, n_groups, None if whole else dom.codes, dom.count, complete)
    w = design._w if complete else np.where(dom.codes >= 0, design._w, 0.0)
    return sums, w, whole


def _count_rows(dom: Domains, w: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a non-zero weight, and rows, in each domain."""
    if whole:
        return np.array([float(np.count_nonzero(w))]), np.array([len(w)])
    bins = dom.codes if dom.complete else _bins(dom)
    n_rows = np.bincount(bins, minlength=dom.count + 1)[: dom.count]
    zero = np.flatnonzero(w == 0)  # w is zero outside the domains: these are few
    n_zero = np.bincount(bins[zero], minlength=dom.count + 1)[: dom.count]
    return (n_rows - n_zero).astype(float), n_rows


def _weight_sums(design, sums: GroupSums, dom: Domains, w: np.ndarray, whole: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(G, D) weight totals and :func:`_count_rows`. Those of the whole sample are kept
    on the (immutable) design, keyed by its weight and group vectors: every estimate of
    the whole sample needs them, and they cost a pass over the rows."""
    if not whole:
        return (sums(w), *_count_rows(dom, w, whole))
    group = design.score_groups()[0]
    hit = design.__dict__.get("_whole_weight_sums")
    if hit is not None and hit[0] is w and hit[1] is group:
        return hit[2]
    found = (sums(w), *_count_rows(dom, w, whole))
    for array in found:
        array.setflags(write=False)  # shared by every later estimate
    design.__dict__["_whole_weight_sums"] = (w, group, found)
    return found


def _collect(design, num: list[np.ndarray], den, dom: Domains) -> _Totals:
    """One pass per column over the rows: shifted totals by (PSU, domain) and the
    per-domain sums of squares. ``den``: None (totals), "mean" (the domain indicator) or
    a list of denominator columns (ratios)."""
    sums, w, whole = _group_sums(design, dom)
    k = len(num)
    weights, n_nonzero, n_rows = _weight_sums(design, sums, dom, w, whole)
    w_total = float(weights.sum())
    shape = (sums.n_groups, sums.n_domains)
    totals = np.empty((*shape, k))
    sq = np.empty((sums.n_domains, k))
    shift = np.zeros(k)
    ratio = isinstance(den, list)
    # ratio sums (empty, and returned as None, for means and totals)
    den_totals = np.empty((*shape, k) if ratio else (0, 0, 0))
    cross = np.empty((sums.n_domains, k) if ratio else (0, 0))
    den_sq = np.empty((sums.n_domains, k) if ratio else (0, 0))
    r = np.empty(len(w))
    wr = np.empty(len(w))
    seen: dict[int, tuple] = {}  # a denominator shared by several columns is summed once
    cs = _cell_sums(design, dom, w)
    if cs is not None:
        cell_num = np.empty((cs.n_cells, cs.n_domains, k))
        cell_den = np.empty((cs.n_cells, cs.n_domains, k) if ratio else (0, 0, 0))
        cell_seen: dict[int, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, x in enumerate(num):
            if ratio:
                y = den[j]
                if id(y) not in seen:
                    np.multiply(w, y, out=wr)
                    squares = np.array([wr @ y]) if whole else sums.by_domain(wr * y)
                    seen[id(y)] = (sums(wr), squares)
                den_totals[:, :, j], den_sq[:, j] = seen[id(y)]
                c = float(w @ x) / float(w @ y)
                c = c if np.isfinite(c) else 0.0
                np.multiply(y, c, out=r)
                np.subtract(x, r, out=r)
            else:
                c = float(w @ x) / w_total
                c = c if np.isfinite(c) else 0.0
                np.subtract(x, c, out=r)
            shift[j] = c
            if cs is not None:
                np.multiply(cs.ratio, r, out=wr)
                cell_num[:, :, j] = cs(wr)
                if ratio:
                    if id(den[j]) not in cell_seen:
                        cell_seen[id(den[j])] = cs(cs.ratio * den[j])
                    cell_den[:, :, j] = cell_seen[id(den[j])]
            np.multiply(w, r, out=wr)
            totals[:, :, j] = sums(wr)
            if ratio:
                cross[:, j] = float(wr @ den[j]) if whole else sums.by_domain(wr * den[j])
            if whole:
                sq[0, j] = float(wr @ r)
            else:
                np.multiply(wr, r, out=r)
                sq[:, j] = sums.by_domain(r)
    cells = {} if cs is None else dict(cells=cell_num, cell_weights=cs(cs.ratio),
                                        cell_den=cell_den if ratio else None)
    return _Totals(shift, totals, den_totals if ratio else (None if den is None else weights),
                   weights, sq, cross if ratio else None, den_sq if ratio else None,
                   n_nonzero, n_rows, **cells)


def _float_view(data: pd.DataFrame, name: str) -> np.ndarray | None:
    """The column as a numpy array without conversion when it is a plain numpy number
    column (float or integer: the arithmetic promotes it to float64 exactly as
    :func:`numeric_values` would); None for the others."""
    column = data[name]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiu":
        return column.to_numpy()
    return None


def fast_estimate(design, names: list[str], by: list[str], kind: str, level: float
                   ) -> pd.DataFrame | None:
    """Means or totals of a design on the totals path in one blocked pass over the rows
    (:func:`~perception.survey.blocked.block_sums`), or None when the general path of
    :func:`_ratio_estimate` must run: a column to convert, a missing value among the
    rows used (``na_rm``, errors), a domain without weight (its error).

    Nothing is checked beforehand: missing values show up as non-finite sums, so data
    without them are read once.
    """
    data = design.data
    views = [_float_view(data, name) for name in names]
    num = [x for x in views if x is not None]
    if len(num) < len(views):
        return None
    active = design.in_domain
    if by and (by_missing(design, by) & active).any():
        return None
    if not active.any():
        return None
    dom = domains(design, by, active)
    sums, w, whole = _group_sums(design, dom)
    weights, n_nonzero, n_rows = _weight_sums(design, sums, dom, w, whole)
    if np.any(weights.sum(axis=0) <= 0):
        return None
    cs = _cell_sums(design, dom, w)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: general path's error
        shift = blocked.pilot_shifts(num, w)
        blocks = blocked.block_sums(sums, w, num, shift, whole, cs)
    if blocks is None:
        return None
    totals, sq, cells = blocks
    den = weights if kind == "mean" else None
    result = finish(design, _Totals(shift, totals, den, weights, sq, None, None, n_nonzero,
                                     n_rows, cells, None if cs is None else cs(cs.ratio)),
                    dom)
    return assemble(design, dom, [{"variable": v} for v in names], result.estimate,
                     result.vcov, result.deff, result.n, level)


def _spread(squares: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """``squares - correction``: a weighted sum of squared deviations from shifted sums.
    A result within rounding of zero (one row, or equal values) is zero, as the sum of
    the squared deviations themselves would be; R's svyvar then gives 0 (or 0 * Inf =
    NaN for one row)."""
    spread = squares - correction
    rounding = 64 * np.finfo(float).eps * (np.abs(squares) + np.abs(correction))
    return np.where(np.abs(spread) <= rounding, 0.0, spread)


def finish(design, t: _Totals, dom: Domains) -> RatioResult:
    """Estimates, covariance (from PSU totals) and deff from collected totals."""
    G, D, k = t.num.shape
    W = t.weights.sum(axis=0)  # (D,)
    with np.errstate(divide="ignore", invalid="ignore"):
        if t.den is None:  # totals: scores are w x
            scores = t.num + t.shift * t.weights[:, :, None]
            estimate = scores.sum(axis=0)
            delta = t.num.sum(axis=0) / W[:, None]
            spread = _spread(t.sq, delta**2 * W[:, None])
            vsrs = spread * (W / (t.n_nonzero - 1))[:, None]
        else:  # ratios and means: scores are w (x - theta den) / D
            den = t.den if t.den.ndim == 3 else t.den[:, :, None]
            den_total = den.sum(axis=0)  # (D, k) or (D, 1)
            delta = t.num.sum(axis=0) / den_total
            estimate = t.shift + delta
            scores = (t.num - delta * den) / den_total
            cross = t.num.sum(axis=0) if t.cross is None else t.cross
            den_sq = W[:, None] if t.den_sq is None else t.den_sq
            spread = _spread(t.sq, 2 * delta * cross - delta**2 * den_sq)
            vsrs = spread / den_total**2 * (W / (t.n_nonzero - 1))[:, None]
        replicates = None
        if design.is_replicate:
            flat = scores.reshape(G, D * k)
            if t.den is None:
                replicates = design._replicates_from_totals(flat)
            else:
                rep_num = design._replicates_from_totals(t.num.reshape(G, D * k))
                rep_den = design._replicates_from_totals(den.reshape(G, -1))
                if rep_den.shape[1] != D * k:  # one shared denominator per domain
                    rep_den = np.repeat(rep_den, k, axis=1)
                replicates = np.tile(t.shift, D) + rep_num / rep_den
            vcov = design._vcov_replicates(replicates, estimate.ravel())
        elif t.cells is not None:
            # a raked design: the cells' sums of scores / base, swept through the margins
            assert t.cell_weights is not None  # collected with the cell sums
            cell_w = t.cell_weights[:, :, None]
            if t.den is None:
                cell_scores = t.cells + t.shift * cell_w
            else:
                cell_den = cell_w if t.cell_den is None else t.cell_den
                cell_scores = (t.cells - delta * cell_den) / den_total
            swept = _swept_totals(design, scores.reshape(G, D * k),
                                  cell_scores.reshape(-1, D * k))
            # the sweeps spread a domain's scores over every row (no domain codes)
            vcov = design.totals_vcov(swept, None, D)
        else:
            vcov = design.totals_vcov(scores.reshape(G, D * k), dom.codes, D)
        if t.den is not None and np.any(vsrs == 0):
            # a mean or ratio of values constant in its domain: every score is 0, so its
            # variance and covariances are 0 (and its deff 0/0, R's NaN), not the
            # rounding that sums in another order leave (Dask partitions)
            constant = (vsrs == 0).ravel()
            vcov = np.array(vcov, dtype=float)
            vcov[constant, :] = 0.0
            vcov[:, constant] = 0.0
        deff = np.diag(vcov).reshape(D, k) / vsrs
    return RatioResult(estimate, vcov, deff, t.n_rows.astype(int), replicates)


def _as_columns(values) -> list[np.ndarray]:
    if isinstance(values, list):
        return [np.asarray(v, dtype=float) for v in values]
    values = np.asarray(values, dtype=float)
    return [values[:, j] for j in range(values.shape[1])]


def _sums(values: np.ndarray, dom: Domains) -> np.ndarray:
    """Per-domain column sums: (D, k)."""
    return group_totals(np.zeros(len(values), dtype=np.int64), 1, values, dom.codes, dom.count
                        ).reshape(dom.count, values.shape[1])


def _bins(dom: Domains) -> np.ndarray:
    """Domain codes with the rows outside every domain in an extra last bin."""
    if dom.complete:  # every row is in a domain
        return dom.codes
    return np.where(dom.codes >= 0, dom.codes, dom.count)


def _domain_sums(bins: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Sum of ``values`` (n,) per domain, with a zero extra bin for rows outside."""
    out = np.bincount(bins, weights=values, minlength=count + 1)
    out[count] = 0.0
    return out


def column_list(data: pd.DataFrame, names: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Numeric columns as 1-D arrays (views of the data when already float: no copy;
    a name given twice gives the same array), and the rows missing any of them."""
    seen: dict[str, np.ndarray] = {}
    missing = np.zeros(len(data), dtype=bool)
    for name in names:
        if name not in seen:
            seen[name] = numeric_values(data, name)
            with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is looked at
                total = seen[name].sum()
            if not np.isfinite(total):  # a NaN or an inf makes the sum so: look closer
                _refuse_infinite(data, name, seen[name])
                missing |= np.isnan(seen[name])
    return [seen[name] for name in names], missing


def _refuse_infinite(data: pd.DataFrame, name: str, values: np.ndarray) -> None:
    """An infinite answer is a data error (a division by zero upstream, a bad import),
    never a value to average: name the column and its rows."""
    infinite = np.isinf(values)
    if infinite.any():
        raise EstimationError(
            f"column {name!r} has {int(infinite.sum())} infinite value(s) in rows "
            f"{format_rows(data.index[infinite])}. Fix: correct or recode those values "
            "(set them to NaN and pass na_rm=True to leave the rows out)."
        )


def zero_outside(columns: list[np.ndarray], rows: np.ndarray) -> list[np.ndarray]:
    """Copies of the columns with zeros outside ``rows`` (shared columns stay shared)."""
    done: dict[int, np.ndarray] = {}
    for column in columns:
        if id(column) not in done:
            done[id(column)] = np.where(rows, column, 0.0)
    return [done[id(column)] for column in columns]


def indicator(rows: np.ndarray, k: int) -> np.ndarray:
    """(n, k) read-only view repeating the 0/1 indicator of ``rows`` (a mean's
    denominator), recognised by :func:`ratio_engine` as one shared column."""
    return np.broadcast_to(rows.astype(float)[:, None], (len(rows), k))


def _column_major(columns: list[np.ndarray], n: int) -> np.ndarray:
    """(n, k) column-major matrix of the columns: the engine works column by column."""
    out = np.empty((n, len(columns)), order="F")
    for j, column in enumerate(columns):
        out[:, j] = column
    return out


def _same_columns(den: np.ndarray) -> bool:
    """``den`` repeats one column (a broadcast view, as means pass it)."""
    return den.ndim == 2 and (den.shape[1] == 1 or den.strides[1] == 0)


def ratio_engine(
    design,
    num: np.ndarray | list[np.ndarray],
    den: np.ndarray | list[np.ndarray] | None,
    dom: Domains,
    ratio_deff: bool = False,
) -> RatioResult:
    """Estimates N/D (or N when ``den`` is None) per domain with their covariance.

    ``num`` and ``den`` are (n, k) arrays (or lists of k columns) with zeros in rows
    outside ``dom``. Designs whose variance needs only per-PSU totals (no weighting
    step, no later-stage fpc; replicates built from a design) take the fast path:
    one pass per column over the rows into (PSU, domain) totals, every domain at once,
    then the variance on those totals (:func:`_collect`, :func:`finish`); the others
    form the (n, k) score matrix below. Taylor scores are
    ``w (num - theta den) / D`` (R's ``svymean``/``svyratio``); replicate designs
    recompute the ratio with every replicate's totals (R's ``svrVar``).

    ``deff`` is the design variance over the with-replacement SRS variance (R's
    ``deff = "replace"``). With ``ratio_deff`` on a replicate design its numerator is the
    replicate variance of the total of the residuals ``(num - theta den) / D``, as R's
    ``svyratio.svyrep.design`` computes it (``svymean`` uses the variance of the
    replicate means instead); both are the same for linearisation designs.

    The work is done one column at a time on vectors of length n (the score matrix is
    the only (n, k) array formed, in column-major order), which keeps large surveys
    fast; a ``den`` that repeats one column (``np.broadcast_to``) is summed once.
    """
    if uses_totals_path(design, ratio_deff):
        num_cols = _as_columns(num)
        den_spec: str | list[np.ndarray] | None
        if den is None:
            den_spec = None
        elif not isinstance(den, list) and _same_columns(den) and not np.any(
                np.asarray(den[:, 0]) != (dom.codes >= 0)):
            den_spec = "mean"  # the domain indicator: a mean
        else:
            den_spec = _as_columns(den)
            if isinstance(den, np.ndarray) and _same_columns(den):
                den_spec = [den_spec[0]] * len(num_cols)  # summed once
        return finish(design, _collect(design, num_cols, den_spec, dom), dom)
    if isinstance(num, list):
        num = _column_major(num, len(dom.codes))
    if isinstance(den, list):
        den = _column_major(den, len(dom.codes))
    num = np.asarray(num, dtype=float)
    n, k = num.shape
    count = dom.count
    inside = dom.codes >= 0
    bins = _bins(dom)
    w = np.where(inside, design._w, 0.0)
    whole = count == 1 and bool(inside.all())

    def dsum(values: np.ndarray) -> np.ndarray:
        """Per-domain sums (count + 1 bins, the last one zero)."""
        if whole:
            return np.array([values.sum(), 0.0])
        return _domain_sums(bins, values, count)

    def wsum(values: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
        """Per-domain sums of w * values (* other)."""
        if whole:
            first = w @ values if other is None else (w * values) @ other
            return np.array([first, 0.0])
        product = w * values if other is None else w * values * other
        return _domain_sums(bins, product, count)

    weight_sum = dsum(w)
    n_nonzero = dsum((w != 0).astype(float))
    n_rows = dsum(inside.astype(float))[:count]
    shared_den = den is not None and _same_columns(den)

    theta = np.empty((count, k))
    deff_vsrs = np.empty((count, k))
    scores = np.empty((n, k), order="F")
    resid_matrix = np.empty((n, k), order="F") if design.is_replicate and ratio_deff else None
    resid = np.empty(n)  # work vectors, reused for every column
    buffer = np.empty(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if den is not None and shared_den:
            shared_col = np.asarray(den[:, 0], dtype=float)
            den_totals = wsum(shared_col)
            # None when den is the domain indicator: a mean
            den_col = shared_col if np.any(shared_col != inside) else None
        for j in range(k):
            x = num[:, j]
            totals = wsum(x)
            if den is None:
                estimate = totals
                resid[:] = x
            else:
                if shared_den:
                    d_col, d_totals = den_col, den_totals
                else:
                    d_col = np.asarray(den[:, j], dtype=float)
                    d_totals = wsum(d_col)
                estimate = totals / d_totals
                estimate[count] = 0.0
                if whole:
                    theta_row, d_row = estimate[0], d_totals[0]
                else:
                    theta_row, d_row = estimate[bins], d_totals[bins]
                # residual (x - theta den) / D; a mean's den is 1
                if d_col is None:
                    np.subtract(x, theta_row, out=resid)
                else:
                    np.multiply(d_col, theta_row, out=resid)
                    np.subtract(x, resid, out=resid)
                np.divide(resid, d_row, out=resid)
                if not whole:
                    resid[~inside] = 0.0
            theta[:, j] = estimate[:count]
            column = scores[:, j]
            np.multiply(w, resid, out=column)
            if resid_matrix is not None:
                resid_matrix[:, j] = resid
            # deff (R's deff="replace"): svyvar of the residuals over the domain's rows
            # (for a total the residual is x itself: its weighted sum is already known)
            r_mean = (totals if den is None else dsum(column)) / weight_sum
            np.subtract(resid, r_mean[0] if whole else r_mean[bins], out=resid)
            if whole:
                np.multiply(w, resid, out=buffer)
                spread = np.array([buffer @ resid, 0.0])
            else:
                np.multiply(resid, resid, out=buffer)
                spread = wsum(buffer)
            svyvar = spread / weight_sum * n_nonzero / (n_nonzero - 1)
            deff_vsrs[:, j] = (svyvar * weight_sum**2 / n_nonzero)[:count]

        if design.is_replicate:
            reps = design._replicate_totals(num, dom.codes, count)
            if den is not None:
                den_for_reps = np.asarray(den[:, :1]) if shared_den else den
                rep_den = design._replicate_totals(den_for_reps, dom.codes, count)
                if shared_den:
                    rep_den = np.repeat(rep_den.reshape(-1, count, 1), k, axis=2).reshape(
                        -1, count * k)
                reps = reps / rep_den
            vcov = design._vcov_replicates(reps, theta.ravel())
            deff_var = np.diag(vcov)
            if resid_matrix is not None and den is not None:
                rep_resid = design._replicate_totals(resid_matrix, dom.codes, count)
                full = _sums(scores, dom).ravel()
                deff_var = np.diag(design._vcov_replicates(rep_resid, full))
        else:
            vcov = design.score_vcov(scores, dom.codes, count)
            deff_var = np.diag(vcov)
        deff = deff_var.reshape(count, k) / deff_vsrs
    return RatioResult(theta, vcov, deff, n_rows.astype(int))


def check_domain_weights(design, dom: Domains, by: list[str]) -> None:
    totals = np.bincount(_bins(dom), weights=design._w, minlength=dom.count + 1)[: dom.count]
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        label = dom.frame.iloc[int(empty[0])].to_dict() if by else "the whole sample"
        raise EstimationError(
            f"the weights of domain {label} sum to zero, so no estimate is possible there; "
            "check the weights, or leave that domain out with design.subset()"
        )


def assemble(
    design,
    dom: Domains,
    labels: list[dict],
    estimate: np.ndarray,
    vcov: np.ndarray | None,
    deff: np.ndarray,
    n: np.ndarray,
    level: float,
    low: np.ndarray | None = None,
    high: np.ndarray | None = None,
    se: np.ndarray | None = None,
    df: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy table: by columns, label columns, estimate, se, ci, df, deff, n.

    ``df`` (one value per domain) defaults to the design's degrees of freedom. The
    covariance is keyed by the ``by`` columns and the label columns (``vcov=None``: the
    table has none, and ``se`` must be given).
    """
    k = len(labels)
    D = dom.count
    if se is None:
        if vcov is None:
            raise ValueError("assemble needs se when the table has no covariance")
        se = np.sqrt(np.clip(np.diag(vcov), 0, None)).reshape(D, k)
    if df is None:
        df = design.degf
    else:
        df = np.asarray(df)[:, None]
    if low is None:
        low, high = intervals.t_interval(estimate, se, df, level)
    columns: dict[str, object] = {}
    repeat = np.repeat(np.arange(D), k)
    for name in dom.frame.columns:
        values = pd.Series([_plain(v) for v in dom.frame[name]])  # python values, as before
        columns[name] = values.to_numpy()[repeat] if D * k else values.to_numpy()
    for key in labels[0]:
        column = pd.Series([label[key] for label in labels])
        columns[key] = np.tile(column.to_numpy(), D) if len(column) else column.to_numpy()
    columns["estimate"] = np.asarray(estimate, dtype=float).ravel()
    columns["se"] = np.asarray(se, dtype=float).ravel()
    columns["ci_low"] = np.asarray(low, dtype=float).ravel()
    columns["ci_high"] = np.asarray(high, dtype=float).ravel()
    columns["df"] = np.broadcast_to(np.asarray(df), (D, k)).ravel()
    columns["deff"] = np.asarray(deff, dtype=float).ravel()
    columns["n"] = (np.repeat(np.asarray(n, dtype=int), k) if np.ndim(n) == 1
                    else np.asarray(n, dtype=int).ravel())
    table = pd.DataFrame(columns)
    attach_covariance(table, vcov, [*dom.frame.columns, *labels[0]])
    table.attrs["level"] = level
    return table


#: integer columns spanning at most this many values are coded by a lookup table
SMALL_INTEGER_RANGE = 65_536


def _small_integers(values: pd.Series) -> tuple[np.ndarray, int, np.dtype] | None:
    """For a numpy integer column over a short range: the offsets ``x - min``, the
    minimum (codes without hashing) and the column's dtype; else None."""
    if not (isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu") or not len(
            values):
        return None
    x = values.to_numpy()
    lowest, highest = int(x.min()), int(x.max())
    if highest - lowest >= SMALL_INTEGER_RANGE:
        return None
    if lowest == 0 and x.dtype == np.intp:  # the values are their offsets: no copy
        view = x.view()
        view.flags.writeable = False  # the data's own values: never written to
        return view, lowest, x.dtype
    return np.subtract(x, lowest, dtype=np.intp), lowest, x.dtype


def factor_levels(values: pd.Series) -> tuple[list, np.ndarray]:
    """The levels of a variable (its categories, else the sorted non-missing values of
    the whole data) and the position of each row's value among them (-1 when missing),
    in one hashing pass (or a lookup table for integer codes such as Likert answers)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories), values.cat.codes.to_numpy(dtype=np.int64)
    small = _small_integers(values)
    if small is not None:
        offset, lowest, dtype = small
        present = np.bincount(offset) > 0
        levels = list((np.flatnonzero(present) + lowest).astype(dtype))  # ascending
        if present.all():  # the offsets are the positions already
            return levels, offset.astype(np.int64, copy=False)
        return levels, (np.cumsum(present) - 1)[offset].astype(np.int64)
    codes, seen = pd.factorize(values, sort=False)
    try:
        levels = sorted(seen)
    except TypeError:
        levels = sorted(seen, key=str)
    position = np.append(pd.Index(levels).get_indexer(seen), -1)
    return levels, position[codes].astype(np.int64)


def collect_levels(design, all_levels: list[tuple[list, np.ndarray]], dom: Domains
                    ) -> _Totals:
    """:class:`_Totals` of the level indicators of categorical variables (a mean of
    each indicator), one ``bincount`` per variable."""
    sums, w, whole = _group_sums(design, dom)
    weights = sums(w)
    n_nonzero, n_rows = _count_rows(dom, w, whole)
    blocks = [sums.by_level(codes, len(levels), w) for levels, codes in all_levels]
    totals = np.concatenate(blocks, axis=2)
    k = totals.shape[2]
    cs = _cell_sums(design, dom, w)
    cells = {} if cs is None else dict(
        cells=np.concatenate([cs.by_level(codes, len(levels)) for levels, codes in all_levels],
                             axis=2),
        cell_weights=cs(cs.ratio))
    # an indicator is its own square: sum w x^2 = sum w x
    return _Totals(np.zeros(k), totals, weights, weights, totals.sum(axis=0), None, None,
                   n_nonzero, n_rows, **cells)


def replicate_logit_interval(design, num, den, dom, estimate, df, level, reps=None):
    """R's logit interval of proportions on a replicate design: SE of logit(p) from its
    replicates (``reps``, the replicate proportions, when already computed).

    R fits ``svyglm(I(x) ~ 1, family = quasibinomial)``, whose coefficient in each
    replicate is logit of the replicate's proportion.
    """
    from scipy import special as _special  # light, and only for replicate designs

    with np.errstate(divide="ignore", invalid="ignore"):
        if reps is None:
            reps = design._replicate_totals(num, dom.codes, dom.count) / \
                design._replicate_totals(den, dom.codes, dom.count)
        logit_reps = _special.logit(reps)
        centre = _special.logit(estimate)
    var = np.diag(design._vcov_replicates(logit_reps, centre.ravel()))
    se = np.sqrt(np.clip(var, 0, None)).reshape(estimate.shape)
    crit = intervals.t_quantile(level, np.asarray(df, dtype=float))[:, None]
    return _special.expit(centre - crit * se), _special.expit(centre + crit * se)
