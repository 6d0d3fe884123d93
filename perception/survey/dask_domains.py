"""What the analyses of a design on a Dask DataFrame need to know about its rows besides
the estimates: the distinct values of a column (the waves), the rows that fail a check
(for the error message), and the groups of the design's domains (the PSUs and rows of
each, the degrees of freedom of the rows used).

Each is one pass over the partitions that brings back O(groups) to the client, never
O(rows). The analyses (:func:`perception.change`, :func:`perception.did`,
:func:`perception.list_experiment`) take their estimates and covariances from the Dask
estimators (:func:`perception.mean` with ``by=``, :mod:`perception.survey.distributed`).
dask is imported only when a pass runs (``import perception`` never loads it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from . import intervals
from .dask_design import DaskReplicateDesign
from .dask_reduce import (
    _ACTIVE,
    _IN,
    _ONE,
    _ROWS,
    _SHOWN_ROWS,
    _W,
    _Plan,
    _require_dask,
    reduce_design,
)
from .design import SurveyDesign
from .distributed import _degf, _group_design, _make_plan, _replicate_degf, _stratum_stage
from .variance import cluster_scales

#: how many distinct values of the flagged rows a message shows
_SHOWN_VALUES = 5


# ------------------------------------------------------------- distinct values --
def _distinct(values: pd.Series) -> pd.Series:
    return values.dropna().drop_duplicates()


def distinct_values(design: Any, column: str) -> pd.Series:
    """The distinct non-missing values of ``column`` of a design on a Dask DataFrame,
    in the order met (a categorical column keeps its categories when every partition
    has the same): each partition's distinct values, added up on the client.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    column : str
        A column of its data.

    Returns
    -------
    Series
        One row per distinct value.

    Examples
    --------
    >>> distinct_values(dask_design, "wave").tolist()                  # doctest: +SKIP
    [0, 1]
    """
    dask = _require_dask()
    parts = list(dask.compute(*[dask.delayed(_distinct)(part)
                                for part in design.data[column].to_delayed()]))
    categories = [p.dtype.categories for p in parts
                  if isinstance(p.dtype, pd.CategoricalDtype)]
    same = bool(categories) and len(categories) == len(parts) and all(
        c.equals(categories[0]) for c in categories)
    if not same:
        parts = [p.astype(object) if isinstance(p.dtype, pd.CategoricalDtype) else p
                 for p in parts]
    if not parts:
        return pd.Series([], dtype=object)
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)


# ---------------------------------------------------------------- flagged rows --
@dataclass(frozen=True)
class Flagged:
    """Rows of a Dask DataFrame that a check flagged.

    Attributes
    ----------
    count : int
        How many rows.
    rows : list of int
        The first of them (row numbers in the whole Dask DataFrame).
    values : list
        The first distinct values of the shown column at the flagged rows.
    """

    count: int
    rows: list[int]
    values: list

    @property
    def text(self) -> str:
        """The rows for a message: ``'3, 17 (and 5 more) (row numbers in the whole Dask
        DataFrame)'``."""
        more = f" (and {self.count - len(self.rows)} more)" if self.count > len(self.rows) \
            else ""
        return f"{format_rows(self.rows)}{more} (row numbers in the whole Dask DataFrame)"


#: a check of one partition: its name -> (the rows it flags, the column whose values
#: the message shows, or None)
Check = Callable[..., dict[str, tuple[np.ndarray, str | None]]]


def _flag_partition(frame: pd.DataFrame, check: Check, args: tuple, kept: str | None
                    ) -> tuple[dict[str, tuple[int, list, list]], int]:
    found: dict[str, tuple[int, list, list]] = {}
    inside = None if kept is None else frame[kept].to_numpy(dtype=bool)
    for name, (mask, shown) in check(frame, *args).items():
        mask = np.asarray(mask, dtype=bool)
        if inside is not None:  # rows a labelled design leaves out are never at fault
            mask = mask & inside
        count = int(mask.sum())
        if not count:
            found[name] = (0, [], [])
            continue
        rows = np.flatnonzero(mask)[:_SHOWN_ROWS].tolist()
        values = [] if shown is None else list(pd.unique(frame[shown][mask]))[:_SHOWN_VALUES]
        found[name] = (count, rows, values)
    return found, len(frame)


def flagged_rows(design: Any, columns: Sequence[str], check: Check, *args: Any
                 ) -> dict[str, Flagged]:
    """The rows each check flags, over the whole Dask DataFrame (one pass; the client
    gets counts and the first rows, not the rows).

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    columns : sequence of str
        The columns ``check`` reads.
    check : callable
        ``check(frame, *args)`` (a module-level function: it runs on the workers) returns
        ``{name: (mask, shown column or None)}`` for a partition.
    *args
        Further arguments of ``check``.

    Returns
    -------
    dict of str to Flagged
        Per check, the rows it flagged.

    Examples
    --------
    >>> flagged_rows(dask_design, ["y"], negative_y)["negative"].count  # doctest: +SKIP
    0
    """
    dask = _require_dask()
    kept = getattr(design, "kept_column", None)  # a labelled design's (dask_labelling)
    selected = design.data[list(dict.fromkeys([*columns, *([kept] if kept else [])]))]
    results = dask.compute(*[dask.delayed(_flag_partition)(part, check, args, kept)
                             for part in selected.to_delayed()])
    counts: dict[str, int] = {}
    rows: dict[str, list] = {}
    values: dict[str, list] = {}
    offset = 0
    for found, length in results:
        for name, (count, part_rows, part_values) in found.items():
            counts[name] = counts.get(name, 0) + count
            rows.setdefault(name, []).extend(offset + r for r in part_rows)
            seen = values.setdefault(name, [])
            seen.extend(v for v in part_values if v not in seen)
        offset += length
    return {name: Flagged(counts[name], rows[name][:_SHOWN_ROWS],
                          values[name][:_SHOWN_VALUES]) for name in counts}


def _missing_check(frame: pd.DataFrame, columns: list[str]
                   ) -> dict[str, tuple[np.ndarray, str | None]]:
    return {name: (frame[name].isna().to_numpy(), None) for name in columns}


def missing_error(design: Any, columns: Sequence[str], argument: str) -> EstimationError:
    """The error for missing values of ``columns`` (the first column that has some,
    with its rows), worded as the in-memory ``active_rows``.

    Examples
    --------
    >>> raise missing_error(dask_design, ["y", "wave"], "did")         # doctest: +SKIP
    """
    found = flagged_rows(design, columns, _missing_check, list(columns))
    for name in columns:
        if found[name].count:
            return EstimationError(
                f"column {name!r} ({argument}) has {found[name].count} missing value(s) in "
                f"rows {found[name].text}. Pass na_rm=True to leave those rows out of this "
                "estimate (n reports how many rows entered), or recode them first."
            )
    return EstimationError(f"missing values in {', '.join(map(repr, columns))}")


# -------------------------------------------------------------- domain groups --
@dataclass(frozen=True)
class DomainGroups:
    """The rows of a design on a Dask DataFrame reduced to groups (design columns x
    ``by`` columns x used or not): what the analyses check about their domains.

    Attributes
    ----------
    by : DataFrame
        The ``by`` values of each group of rows used (complete).
    psu : ndarray or None
        The first-stage PSU code of each of those groups, numbered as in memory (None:
        the design does not know its PSUs, replicate weights given as columns).
    psu_labels : list or None
        The label of each PSU code, as the in-memory DiD names a PSU.
    rows : ndarray
        The rows of each of those groups.
    rows_are_psus : bool
        Each row is its own PSU (a design without clusters).
    degf : int
        The design's degrees of freedom (R's ``degf``).
    degf_used : int
        The degrees of freedom of the rows used (R's ``degf`` of the design cut to them).
    complete : bool
        Every row of the data is used (a labelled design's left-out rows aside: no row
        misses a value).
    lonely : bool
        A stratum of some stage has a single PSU (a design without replicates).
    """

    by: pd.DataFrame
    psu: np.ndarray | None
    psu_labels: list | None
    rows: np.ndarray
    rows_are_psus: bool
    degf: int
    degf_used: int
    complete: bool
    lonely: bool = False


def domain_groups(design: Any, variables: Sequence[str], by: Sequence[str], *,
                  na_rm: bool, argument: str, order: Sequence[str] | None = None
                  ) -> DomainGroups:
    """One pass over a design on a Dask DataFrame: its groups by (design columns,
    ``by``), the rows used (no missing value of ``variables`` or ``by``), their PSUs and
    degrees of freedom.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    variables : sequence of str
        Numeric columns whose missing values leave a row out.
    by : sequence of str
        Columns whose values the groups keep (and whose missing values leave a row out).
    na_rm : bool
        Leave out rows with a missing value; otherwise they are an error naming the
        first column of ``order`` with missing values (worded with ``argument``, the
        analysis).
    argument : str
        The analysis, in the message on missing values.
    order : sequence of str, optional
        The order the columns are named in that message (default ``variables`` then
        ``by``).

    Returns
    -------
    DomainGroups

    Examples
    --------
    >>> domain_groups(dask_design, ["y"], ["treated", "wave"], na_rm=False,
    ...               argument="did").degf                             # doctest: +SKIP
    35
    """
    plan = _make_plan(design, "mean", list(variables), [], list(by))
    plan = _Plan(**{**plan.__dict__, "shift": tuple(0.0 for _ in variables),
                    "gram": bool(plan.replicate_weights)})
    groups = reduce_design(design, plan, True)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    missing = ~active
    if plan.kept is not None:  # the rows a labelled design leaves out are not missing
        missing &= groups[_IN].to_numpy(dtype=float) > 0
    if not na_rm and missing.any():
        raise missing_error(design, list(order or [*variables, *by]), argument)
    codes = np.where(active, 0, -1)
    psu: np.ndarray | None = None
    labels: list | None = None
    lonely = False
    if isinstance(design, DaskReplicateDesign) and design.base is None:
        degf = int(_replicate_degf(design, groups, plan, None, None, 1)[0])
        degf_used = int(_replicate_degf(design, groups, plan, None, codes, 1)[0])
    elif plan.moments:  # each row its own PSU (as the Dask estimators' group design)
        groups[_ONE] = np.arange(len(groups))
        group_design = SurveyDesign(groups, weights=_W, strata=design._strata or None,
                                    psu=_ONE, fpc=design._fpc or None,
                                    lonely_psu=design.lonely_psu)
        degf = int(_degf(groups, plan, group_design))
        degf_used = int(np.asarray(_degf(groups, plan, group_design, codes, 1))[0])
        lonely = bool(cluster_scales(_stratum_stage(group_design, groups))[1].any())
    else:
        base = design.base if isinstance(design, DaskReplicateDesign) else design
        assert base is not None  # replicate-weight columns are the branch above
        group_design = _group_design(base, groups)
        codes_all = group_design.psu_codes
        psu = codes_all[active]
        if isinstance(design, DaskReplicateDesign):
            rep = group_design.replicate(**design.options)
            degf = int(rep.degf)
            degf_used = int(np.asarray(_replicate_degf(design, groups, plan, rep, codes, 1))[0])
            labels = list(range(int(codes_all.max()) + 1))  # a replicate design: its codes
        else:
            degf = int(group_design.degf)
            degf_used = int(np.asarray(_degf(groups, plan, group_design, codes, 1))[0])
            lonely = any(bool(cluster_scales(stage)[1].any())
                         for stage in group_design._stages)
            first = pd.Series(np.arange(len(groups))).groupby(codes_all).first()
            column = groups[base._psu[0]]
            labels = [column.iloc[int(i)] for i in first.to_numpy()]
    used = groups[active].reset_index(drop=True)
    return DomainGroups(
        by=used[list(by)], psu=psu, psu_labels=labels,
        rows=used[_ROWS].to_numpy(dtype=float).round().astype(np.int64),
        rows_are_psus=bool(plan.moments and not isinstance(design, DaskReplicateDesign)),
        degf=degf, degf_used=degf_used, complete=not bool(missing.any()), lonely=lonely,
    )


def with_degf(table: pd.DataFrame, df: int, level: float) -> pd.DataFrame:
    """An estimate table of the rows used, with their degrees of freedom and intervals
    (the in-memory estimate of a design cut to those rows: ``design.subset(rows)``).

    Parameters
    ----------
    table : DataFrame
        A mean or total table (its ``estimate`` and ``se``), changed in place.
    df : int
        The degrees of freedom of the rows used.
    level : float
        The confidence level.

    Returns
    -------
    DataFrame
        ``table``.

    Examples
    --------
    >>> t = pd.DataFrame({"estimate": [1.0], "se": [0.5], "ci_low": [0.0],
    ...                   "ci_high": [2.0], "df": [30]})
    >>> with_degf(t, 10, 0.95)["df"].tolist()
    [10]
    """
    low, high = intervals.t_interval(table["estimate"].to_numpy(dtype=float),
                                     table["se"].to_numpy(dtype=float), df, level)
    table["ci_low"] = low
    table["ci_high"] = high
    table["df"] = np.full(len(table), df, dtype=np.int64)
    return table
