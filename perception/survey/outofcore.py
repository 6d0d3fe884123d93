"""Means and totals of surveys too large for memory: reduce to PSU totals, then the same
variance code as the in-memory path.

A Taylor variance needs the data only through per-PSU totals of the linearised scores,
and for a mean or a total those totals follow from a handful of sums per
(stratum, PSU, domain) group: the weights, the weighted values and the weighted squares
(for the design effect), and row counts. Any engine that can group and sum computes
them. This module reads a Parquet dataset in batches with pyarrow
(:func:`mean_from_parquet`, :func:`total_from_parquet`) or goes through the partitions
of a Dask DataFrame (:func:`mean_from_dask`, :func:`total_from_dask`), keeps only the
group sums (a few thousand rows whatever the size of the data), then builds a
:class:`~perception.survey.design.SurveyDesign` on the groups and calls its variance, so lonely
PSUs, fpc checks, degrees of freedom and the result table are those of
:func:`perception.mean`.

Scope: one-stage (ultimate-cluster) designs: ``psu`` is the first-stage unit, ``fpc``
(optional) the first-stage population size or sampling fraction, constant within
stratum. A multistage design with an fpc at later stages needs per-cluster totals at
every stage (one more group level per stage) and is not covered; without later-stage
fpc, R and :class:`SurveyDesign` use the ultimate-cluster variance, which is what is
computed here. Replicate designs and calibrated weights are not covered either.

Values are shifted by a provisional mean (the first batch's) before they are squared
and summed, so the sums lose no precision to cancellation: estimates and SEs equal the
in-memory ones to about 1e-15 relative.

pyarrow (and dask) are optional imports: ``pip install perception[dask]`` or
``pip install pyarrow``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, format_rows
from . import intervals
from .checks import check_columns, column_names, numeric_values
from .design import LonelyPSU, SurveyDesign
from .engine import Domains, assemble

DEFAULT_BATCH_SIZE = 1_000_000
#: names of the group-sum columns (chosen not to clash with survey columns)
_PREFIX = "__pc_"
_ROWS, _NONZERO, _NONZERO_ALL, _W = (f"{_PREFIX}rows", f"{_PREFIX}nonzero",
                                     f"{_PREFIX}nonzero_all", f"{_PREFIX}w")
_ACTIVE = f"{_PREFIX}active"
_FPC_MIN, _FPC_MAX = f"{_PREFIX}fpc_min", f"{_PREFIX}fpc_max"
_SHOWN_ROWS = 10


def _wy(j: int) -> str:
    return f"{_PREFIX}wy{j}"


def _wyy(j: int) -> str:
    return f"{_PREFIX}wyy{j}"


@dataclass(frozen=True)
class _Spec:
    """What to read and how: the arguments of a chunked estimate."""

    variables: tuple[str, ...]
    weights: str
    strata: str | None
    psu: str
    by: tuple[str, ...]
    fpc: str | None
    na_rm: bool

    @property
    def keys(self) -> list[str]:
        # once each: a by column may also be the strata or psu column
        return list(dict.fromkeys(
            [*([self.strata] if self.strata else []), self.psu, _ACTIVE, *self.by]))

    @property
    def columns(self) -> list[str]:
        names = [*self.variables, self.weights, *([self.strata] if self.strata else []),
                 self.psu, *self.by, *([self.fpc] if self.fpc else [])]
        return list(dict.fromkeys(names))


@dataclass
class _Problems:
    """Missing or invalid values met in the batches: count and first rows per column."""

    counts: dict[str, int] = field(default_factory=dict)
    rows: dict[str, list] = field(default_factory=dict)

    def add(self, column: str, labels: Iterable) -> None:
        labels = list(labels)
        if not labels:
            return
        self.counts[column] = self.counts.get(column, 0) + len(labels)
        kept = self.rows.setdefault(column, [])
        kept.extend(labels[: max(0, _SHOWN_ROWS + 1 - len(kept))])

    def merge(self, other: _Problems) -> None:
        for column, count in other.counts.items():
            self.counts[column] = self.counts.get(column, 0) + count
            kept = self.rows.setdefault(column, [])
            kept.extend(other.rows[column][: max(0, _SHOWN_ROWS + 1 - len(kept))])

    def where(self, column: str) -> str:
        count = self.counts[column]
        rows = self.rows[column][:_SHOWN_ROWS]
        more = f" (and {count - len(rows)} more)" if count > len(rows) else ""
        return f"{count} row(s): {format_rows(rows)}{more}"


def _names(spec, argument: str) -> tuple[str, ...]:
    return tuple(column_names(spec, argument))


def _make_spec(variables, weights, strata, psu, by, fpc, na_rm) -> _Spec:
    names = _names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable to estimate")
    if not isinstance(weights, str):
        raise DesignError(f"weights must be a column name, got {weights!r}")
    if psu is None or not isinstance(psu, str):
        raise DesignError(
            f"psu must be the column of the primary sampling units, got {psu!r}: the chunked "
            "path reduces the data to per-PSU totals. For a design without clusters, load it "
            "in memory and use pc.mean (each row its own PSU)."
        )
    for value, argument in ((strata, "strata"), (fpc, "fpc")):
        if value is not None and not isinstance(value, str):
            raise DesignError(
                f"{argument} must be one column name (one-stage designs only), got {value!r}"
            )
    return _Spec(names, weights, strata, psu, _names(by, "by"), fpc, bool(na_rm))


def _check_columns(spec: _Spec, available: Sequence[str], source: str) -> None:
    roles = [(spec.weights, "weights"), (spec.psu, "psu"), (spec.strata, "strata"),
             (spec.fpc, "fpc"), *((v, "variables") for v in spec.variables),
             *((b, "by") for b in spec.by)]
    for name, role in roles:
        if name is not None:
            check_columns(available, [name], role, where=source)


def _numeric(frame: pd.DataFrame, name: str, argument: str) -> np.ndarray:
    return numeric_values(frame, name, argument, fix="Convert the column to numbers.")


def _shift(frame: pd.DataFrame, spec: _Spec) -> np.ndarray:
    """Provisional means of the variables (weighted, over complete rows of ``frame``),
    subtracted before summing squares; zero when the frame has no such row."""
    Y = np.column_stack([_numeric(frame, v, "variables") for v in spec.variables])
    w = _numeric(frame, spec.weights, "weights")
    ok = np.isfinite(Y).all(axis=1) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return np.zeros(len(spec.variables))
    return (w[ok] @ Y[ok]) / w[ok].sum()


def _reduce_frame(frame: pd.DataFrame, spec: _Spec, shift: np.ndarray
                  ) -> tuple[pd.DataFrame, _Problems]:
    """Group sums of one batch, and the missing or invalid values it holds.

    Groups are (stratum, PSU, active, by values); ``active`` rows enter the estimate
    (complete, inside a domain), the others only keep their PSU in the design.
    """
    problems = _Problems()
    index = frame.index
    w = _numeric(frame, spec.weights, "weights")
    problems.add(spec.weights, index[np.isnan(w)])
    problems.add(f"{spec.weights} (negative)", index[w < 0])
    problems.add(f"{spec.weights} (infinite)", index[np.isinf(w)])
    for name, role in ((spec.psu, "psu"), (spec.strata, "strata"), (spec.fpc, "fpc")):
        if name is not None:
            problems.add(f"{name} ({role})", index[frame[name].isna().to_numpy()])
    Y = np.empty((len(frame), len(spec.variables)))
    missing = np.zeros(len(frame), dtype=bool)
    for j, name in enumerate(spec.variables):
        Y[:, j] = _numeric(frame, name, "variables")
        gap = np.isnan(Y[:, j])
        missing |= gap
        if not spec.na_rm:
            problems.add(name, index[gap])
    for name in spec.by:
        gap = frame[name].isna().to_numpy()
        missing |= gap
        if not spec.na_rm:
            problems.add(name, index[gap])
    w = np.where(np.isfinite(w), w, 0.0)
    active = ~missing
    wa = np.where(active, w, 0.0)
    dev = np.where(active[:, None], Y - shift, 0.0)
    sums: dict[str, Any] = {
        _ROWS: active.astype(np.int64),
        _NONZERO: (active & (w != 0)).astype(np.int64),
        _NONZERO_ALL: (w != 0).astype(np.int64),
        _W: wa,
    }
    for j in range(len(spec.variables)):
        weighted = wa * dev[:, j]
        sums[_wy(j)] = weighted
        sums[_wyy(j)] = weighted * dev[:, j]
    keys = {name: frame[name].to_numpy() for name in spec.keys if name != _ACTIVE}
    keys[_ACTIVE] = active
    table = pd.DataFrame({**keys, **sums}, index=index)
    grouped = table.groupby(spec.keys, sort=False, dropna=False, observed=True)
    out = grouped[list(sums)].sum()
    if spec.fpc is not None:
        fpc = _numeric(frame, spec.fpc, "fpc")
        extremes = pd.DataFrame({_FPC_MIN: fpc, _FPC_MAX: fpc}, index=index).groupby(
            [table[k] for k in spec.keys], sort=False, dropna=False, observed=True)
        out[_FPC_MIN] = extremes[_FPC_MIN].min()
        out[_FPC_MAX] = extremes[_FPC_MAX].max()
    return out, problems


def _combine(tables: list[pd.DataFrame], spec: _Spec) -> pd.DataFrame:
    """Add up group sums from several batches (fpc: smallest and largest value)."""
    if len(tables) == 1:
        return tables[0]
    joined = pd.concat(tables)
    grouped = joined.groupby(level=list(range(joined.index.nlevels)), sort=False,
                             dropna=False, observed=True)
    sums = [c for c in joined.columns if c not in (_FPC_MIN, _FPC_MAX)]
    out = grouped[sums].sum()
    if spec.fpc is not None:
        out[_FPC_MIN] = grouped[_FPC_MIN].min()
        out[_FPC_MAX] = grouped[_FPC_MAX].max()
    return out


def _raise_problems(problems: _Problems, spec: _Spec) -> None:
    for column in problems.counts:
        if column.startswith(spec.weights):
            what = {spec.weights: "missing", f"{spec.weights} (negative)": "negative",
                    f"{spec.weights} (infinite)": "infinite"}[column]
            raise DesignError(
                f"weights column {spec.weights!r} has {what} values in "
                f"{problems.where(column)}. Every respondent needs a weight >= 0: fix or "
                "drop those rows."
            )
        if column.endswith(("(psu)", "(strata)", "(fpc)")):
            raise DesignError(
                f"column {column} has missing values in {problems.where(column)}. Every row "
                "needs its design columns: fill them in or drop those rows."
            )
    for column in problems.counts:
        argument = "by" if column in spec.by else "variables"
        raise EstimationError(
            f"column {column!r} ({argument}) has missing values in {problems.where(column)}. "
            "Pass na_rm=True to leave those rows out of this estimate (n reports how many "
            "rows entered), or recode them first."
        )


def _domain_codes(groups: pd.DataFrame, spec: _Spec) -> tuple[np.ndarray, pd.DataFrame]:
    """Domain code of each group (-1 for inactive groups) and the domains, sorted as
    :func:`perception.mean` sorts them."""
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    if not spec.by:
        return np.where(active, 0, -1).astype(np.int64), pd.DataFrame(index=range(1))
    keys = groups.loc[active, list(spec.by)]
    frame = keys.drop_duplicates().sort_values(list(spec.by)).reset_index(drop=True)
    codes = np.full(len(groups), -1, dtype=np.int64)
    if len(spec.by) == 1:
        codes[active] = pd.Index(frame[spec.by[0]]).get_indexer(keys[spec.by[0]])
    else:
        codes[active] = pd.MultiIndex.from_frame(frame).get_indexer(
            pd.MultiIndex.from_frame(keys))
    return codes, frame


def _finish(groups: pd.DataFrame, spec: _Spec, shift: np.ndarray, kind: str,
            nest: bool, lonely_psu: str, level: float) -> pd.DataFrame:
    """The tidy table from the group sums, with the variance of a design on the groups."""
    groups = groups.reset_index()
    if spec.fpc is not None:
        varies = groups[_FPC_MIN].to_numpy() != groups[_FPC_MAX].to_numpy()
        if varies.any():
            psu = groups.loc[varies, spec.psu].iloc[0]
            raise DesignError(
                f"fpc column {spec.fpc!r} varies within PSU {psu!r}; it must be constant "
                "within each stratum"
            )
        groups[spec.fpc] = groups[_FPC_MIN]
    if not groups[_ACTIVE].any():
        raise EstimationError(
            f"no rows to estimate {', '.join(map(repr, spec.variables))}: every row misses a "
            "value of the variables or by columns"
        )
    codes, dom_frame = _domain_codes(groups, spec)
    D, k = len(dom_frame), len(spec.variables)
    if not (groups[_NONZERO_ALL].to_numpy() > 0).any():
        raise DesignError(f"weights column {spec.weights!r} sums to zero: at least one "
                          "weight must be positive")
    # the design on the groups: a group stands for its rows (same stratum and PSU); its
    # weight only tells whether any of its rows has a non-zero weight (degf)
    group_design = SurveyDesign(
        groups, weights=_NONZERO_ALL, strata=spec.strata, psu=spec.psu, fpc=spec.fpc,
        nest=nest, lonely_psu=lonely_psu,  # type: ignore[arg-type]
    )
    inside = codes >= 0
    bins = np.where(inside, codes, D)

    def by_domain(values: np.ndarray) -> np.ndarray:
        return np.bincount(bins, weights=values, minlength=D + 1)[:D]

    sum_w = groups[_W].to_numpy(dtype=float)
    W = by_domain(sum_w)
    empty = np.flatnonzero(W <= 0)
    if empty.size:
        label = dom_frame.iloc[int(empty[0])].to_dict() if spec.by else "the whole sample"
        raise EstimationError(
            f"the weights of domain {label} sum to zero, so no estimate is possible there; "
            "check the weights"
        )
    n_rows = by_domain(groups[_ROWS].to_numpy(dtype=float))
    n_nonzero = by_domain(groups[_NONZERO].to_numpy(dtype=float))
    estimate = np.empty((D, k))
    vsrs = np.empty((D, k))
    scores = np.zeros((len(groups), k), order="F")
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(k):
            wy = groups[_wy(j)].to_numpy(dtype=float)
            wyy = groups[_wyy(j)].to_numpy(dtype=float)
            dev_total = by_domain(wy)  # sum w (y - c) per domain
            dev_mean = dev_total / W  # theta - c
            scale: np.ndarray | float
            if kind == "mean":
                estimate[:, j] = shift[j] + dev_mean
                scores[inside, j] = (wy[inside] - dev_mean[codes[inside]] * sum_w[inside]
                                     ) / W[codes[inside]]
                scale = 1.0 / W**2  # residuals (y - theta) / W
            else:
                estimate[:, j] = dev_total + shift[j] * W
                scores[inside, j] = wy[inside] + shift[j] * sum_w[inside]
                scale = 1.0
            # sum w (y - ybar)^2 from the shifted sums (R's deff = "replace")
            spread = by_domain(wyy) - dev_total * dev_mean
            vsrs[:, j] = spread * scale * W / (n_nonzero - 1)
        vcov = group_design.score_vcov(scores, codes, D)
        deff = np.diag(vcov).reshape(D, k) / vsrs
    labels = [{"variable": v} for v in spec.variables]
    dom = Domains(codes, dom_frame, D)
    return assemble(group_design, dom, labels, estimate, vcov, deff,
                     n_rows.astype(int), level)


def _require(module: str, extra: str) -> Any:
    """An optional dependency (a fixed module name of this file, never data)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise EstimationError(
            f"this function needs the optional package {module.split('.')[0]!r}: install it "
            f"with pip install 'perception[{extra}]' (or pip install "
            f"{module.split('.')[0]})"
        ) from None


def _parquet_batches(source, columns: list[str], batch_size: int):
    """Batches of a Parquet file, directory or pyarrow dataset as DataFrames whose index
    is the row number in the dataset."""
    ds = _require("pyarrow.dataset", "dask")
    if isinstance(source, ds.Dataset):
        dataset = source
    else:
        try:
            dataset = ds.dataset(source, format="parquet")
        except (FileNotFoundError, OSError) as error:
            raise EstimationError(f"cannot read the Parquet dataset {source!r}: {error}"
                                  ) from None
    return dataset, _iter_batches(dataset, columns, batch_size)


def _iter_batches(dataset, columns: list[str], batch_size: int):
    offset = 0
    for batch in dataset.to_batches(columns=columns, batch_size=batch_size):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        if len(frame):
            yield frame


def _from_parquet(kind, source, variables, weights, strata, psu, by, fpc, nest,
                  lonely_psu, na_rm, level, batch_size) -> pd.DataFrame:
    spec = _make_spec(variables, weights, strata, psu, by, fpc, na_rm)
    intervals.check_level(level)
    if not (isinstance(batch_size, int | np.integer) and batch_size >= 1):
        raise EstimationError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    dataset, batches = _parquet_batches(source, spec.columns, int(batch_size))
    _check_columns(spec, dataset.schema.names, "the Parquet dataset")
    problems = _Problems()
    accumulated: pd.DataFrame | None = None
    shift = None
    for frame in batches:
        if shift is None:
            shift = _shift(frame, spec)
        table, found = _reduce_frame(frame, spec, shift)
        problems.merge(found)
        accumulated = table if accumulated is None else _combine([accumulated, table], spec)
    if accumulated is None or shift is None:
        raise EstimationError(f"the Parquet dataset {source!r} has no rows")
    _raise_problems(problems, spec)
    return _finish(accumulated, spec, shift, kind, nest, lonely_psu, level)


def _from_dask(kind, ddf, variables, weights, strata, psu, by, fpc, nest, lonely_psu,
               na_rm, level) -> pd.DataFrame:
    dask = _require("dask", "dask")
    spec = _make_spec(variables, weights, strata, psu, by, fpc, na_rm)
    intervals.check_level(level)
    if not hasattr(ddf, "to_delayed"):
        raise EstimationError(
            f"ddf must be a dask DataFrame, got {type(ddf).__name__}; for a pandas "
            "DataFrame use pc.mean(pc.SurveyDesign(...), ...)"
        )
    _check_columns(spec, list(ddf.columns), "the dask DataFrame")
    selected = ddf[spec.columns]
    shift = _shift(selected.get_partition(0).compute(), spec)
    parts = [dask.delayed(_reduce_frame)(part, spec, shift) for part in selected.to_delayed()]
    results = dask.compute(*parts)
    problems = _Problems()
    tables = []
    for table, found in results:
        problems.merge(found)
        if len(table):
            tables.append(table)
    if not tables:
        raise EstimationError("the dask DataFrame has no rows")
    _raise_problems(problems, spec)
    return _finish(_combine(tables, spec), spec, shift, kind, nest, lonely_psu, level)


_Kind = Literal["mean", "total"]


def mean_from_parquet(
    source,
    variables: str | Sequence[str],
    *,
    weights: str,
    strata: str | None = None,
    psu: str,
    by: str | Sequence[str] | None = None,
    fpc: str | None = None,
    nest: bool = False,
    lonely_psu: LonelyPSU = "fail",
    na_rm: bool = False,
    level: float = 0.95,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> pd.DataFrame:
    """Design-based means of a Parquet dataset read in batches (never whole in memory).

    Parameters
    ----------
    source : path of a Parquet file or of a directory of Parquet files (a partitioned
        dataset), or a ``pyarrow.dataset.Dataset``.
    variables : numeric column(s).
    weights, strata, psu, fpc, nest, lonely_psu : the design, as in
        :class:`perception.SurveyDesign` (one stage: ``psu`` is required).
    by, na_rm, level : as in :func:`perception.mean`.
    batch_size : rows read at a time; memory use is about ``batch_size`` times the
        number of columns read, plus the group sums.

    Returns
    -------
    The table :func:`perception.mean` returns on the same data (by columns, ``variable``,
    ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff``, ``n``; covariance in
    ``attrs["vcov"]``).

    Examples
    --------
    >>> pc.mean_from_parquet("survey/", ["trust_police"], weights="w", strata="stratum",
    ...                      psu="village", by="region")           # doctest: +SKIP

    Notes
    -----
    R: ``svymean(~y, svydesign(ids=~psu, strata=~strata, weights=~w, data=...))`` and
    ``svyby(~y, ~region, design, svymean)`` -- or ``svydesign(..., dbtype="DBI")`` for
    data kept in a database. Rows missing a value count in the error messages by their
    row number in the dataset (0-based).
    """
    return _from_parquet("mean", source, variables, weights, strata, psu, by, fpc, nest,
                         lonely_psu, na_rm, level, batch_size)


def total_from_parquet(
    source,
    variables: str | Sequence[str],
    *,
    weights: str,
    strata: str | None = None,
    psu: str,
    by: str | Sequence[str] | None = None,
    fpc: str | None = None,
    nest: bool = False,
    lonely_psu: LonelyPSU = "fail",
    na_rm: bool = False,
    level: float = 0.95,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> pd.DataFrame:
    """Design-based totals of a Parquet dataset read in batches; as
    :func:`mean_from_parquet` (R's ``svytotal``).

    Examples
    --------
    >>> pc.total_from_parquet("survey/", "household_size", weights="w",
    ...                       psu="village")                        # doctest: +SKIP
    """
    return _from_parquet("total", source, variables, weights, strata, psu, by, fpc, nest,
                         lonely_psu, na_rm, level, batch_size)


def mean_from_dask(
    ddf,
    variables: str | Sequence[str],
    *,
    weights: str,
    strata: str | None = None,
    psu: str,
    by: str | Sequence[str] | None = None,
    fpc: str | None = None,
    nest: bool = False,
    lonely_psu: LonelyPSU = "fail",
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Design-based means of a Dask DataFrame: each partition is reduced to group sums
    (on the workers), which are added up here.

    Arguments and result as :func:`mean_from_parquet`; row labels in error messages are
    the dask index labels.

    Examples
    --------
    >>> import dask.dataframe as dd                                   # doctest: +SKIP
    >>> pc.mean_from_dask(dd.read_parquet("survey/"), "trust_police", weights="w",
    ...                   strata="stratum", psu="village")          # doctest: +SKIP

    Notes
    -----
    R: ``svymean`` on ``svydesign(..., dbtype=)``; ``pip install perception[dask]``.
    """
    return _from_dask("mean", ddf, variables, weights, strata, psu, by, fpc, nest,
                      lonely_psu, na_rm, level)


def total_from_dask(
    ddf,
    variables: str | Sequence[str],
    *,
    weights: str,
    strata: str | None = None,
    psu: str,
    by: str | Sequence[str] | None = None,
    fpc: str | None = None,
    nest: bool = False,
    lonely_psu: LonelyPSU = "fail",
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Design-based totals of a Dask DataFrame; as :func:`mean_from_dask` (R's
    ``svytotal``).

    Examples
    --------
    >>> pc.total_from_dask(ddf, "household_size", weights="w", psu="village")  # doctest: +SKIP
    """
    return _from_dask("total", ddf, variables, weights, strata, psu, by, fpc, nest,
                      lonely_psu, na_rm, level)
