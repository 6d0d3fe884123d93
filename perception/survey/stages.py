"""From a design's columns to its coded sampling stages: the steps of ``SurveyDesign``.

:class:`~perception.survey.design.SurveyDesign` builds itself in named steps, each a
function of this module:

1. :func:`design_columns` -- check the data and the column arguments;
2. :func:`stage_layouts` -- code the clusters and strata of every stage, nested as R
   nests them (``svydesign``), with readable stratum labels;
3. :func:`population_sizes` -- read the fpc of every stage as population sizes (from
   sizes or sampling fractions, or from inclusion probabilities under ``pps``);
4. :func:`make_stages` -- the variance engine's :class:`~perception.survey.variance.Stage`
   of every stage;
5. :func:`design_weights` -- the weights column, or weights derived from the fpc.

The ``pps`` steps (checking the argument, the Horvitz--Thompson variance of Overton,
Hartley--Rao and a matrix of joint probabilities) are in
:mod:`perception.survey.pps_variance`.

Examples
--------
>>> df = pd.DataFrame({"s": ["a", "a", "b", "b"], "v": [1, 2, 3, 4], "N": [10, 10, 20, 20]})
>>> columns = design_columns(df, weights=None, strata="s", psu="v", fpc="N")
>>> layouts = stage_layouts(df, columns, nest=False)
>>> layouts[0].stratum, layouts[0].labels, layouts[0].description
(array([0, 0, 1, 1]), ('a', 'b'), "stage 1, strata column 's', PSU column 'v'")
>>> sizes = population_sizes(df, columns, layouts, pps=False)
>>> design_weights(df, None, sizes, layouts)
array([ 5.,  5., 10., 10.])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError, format_rows
from . import variance as _variance
from .checks import check_columns, check_no_missing, column_names, numeric_values


@dataclass(frozen=True)
class DesignColumns:
    """The checked column arguments of a design (empty lists where not given)."""

    weights: str | None
    strata: list[str]
    psu: list[str]
    fpc: list[str]

    @property
    def n_stages(self) -> int:
        """Stages of sampling: one per PSU column (one when each row is its own PSU)."""
        return max(len(self.psu), 1)

    def stratum_column(self, stage: int) -> str | None:
        """The strata column of a stage (the last one given serves the later stages)."""
        return self.strata[min(stage, len(self.strata) - 1)] if self.strata else None


@dataclass(frozen=True)
class StageLayout:
    """The coded rows of one stage, before its population sizes are known.

    Attributes
    ----------
    stratum : (n,) codes of the row's stratum, unique across the stage (later stages:
        within the enclosing cluster).
    cluster : (n,) codes of the row's sampled unit at this stage, unique across the stage.
    labels : readable label of each stratum, for messages.
    sampsize : (n,) number of units sampled in the row's stratum (R's ``fpc$sampsize``).
    description : what the stage is ("stage 1, strata column 'stype', PSU column 'dnum'").
    """

    stratum: np.ndarray
    cluster: np.ndarray
    labels: tuple
    sampsize: np.ndarray
    description: str


def design_numbers(data: pd.DataFrame, name: str, argument: str) -> np.ndarray:
    """A design column (weights, fpc) as numbers, or a :class:`DesignError`."""
    return numeric_values(data, name, argument, DesignError,
                          "Fix those cells or convert the column.")


def plain(value):
    """A data value without its numpy wrapper, for messages (401, not np.int64(401))."""
    return value.item() if isinstance(value, np.generic) else value


def row_codes(frame: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Integer codes (0..G-1, in order of first appearance) of the row tuples of ``frame``."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.int64), [()]
    if frame.shape[1] == 1:
        codes, uniques = pd.factorize(frame.iloc[:, 0], sort=False)
        return codes.astype(np.int64, copy=False), list(uniques)
    # combine the columns' codes pairwise, renumbering by first appearance each time
    codes = np.zeros(len(frame), dtype=np.int64)
    for j in range(frame.shape[1]):
        column, uniques = pd.factorize(frame.iloc[:, j], sort=False)
        codes, _ = pd.factorize(codes * max(len(uniques), 1) + column, sort=False)
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes.astype(np.int64, copy=False), list(frame.iloc[first].itertuples(index=False, name=None))


def first_rows(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the first row of each group of ``codes`` (0..n_groups-1)."""
    first = np.full(n_groups, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


# ------------------------------------------------------------------ 1. the columns --
def design_columns(
    data: pd.DataFrame,
    weights: str | None,
    strata: str | Sequence[str] | None,
    psu: str | Sequence[str] | None,
    fpc: str | Sequence[str] | None,
) -> DesignColumns:
    """Check the data and the column arguments of a design: a non-empty DataFrame, the
    columns present (once each), at most one strata and one fpc column per stage, and
    no missing value in the PSU, strata and fpc columns."""
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise DesignError("the data has no rows: a design needs at least two PSUs")
    columns = DesignColumns(
        weights=weights,
        strata=column_names(strata, "strata", DesignError),
        psu=column_names(psu, "psu", DesignError),
        fpc=column_names(fpc, "fpc", DesignError),
    )
    weight_cols = column_names(weights, "weights", DesignError)
    for names, argument in ((columns.psu, "psu"), (columns.strata, "strata"),
                            (columns.fpc, "fpc"), (weight_cols, "weights")):
        check_columns(data, names, argument, DesignError)
    n_stages = columns.n_stages
    if len(columns.strata) > n_stages:
        raise DesignError(
            f"{len(columns.strata)} strata columns for {n_stages} stage(s): give at most one "
            "strata column per stage of psu"
        )
    if len(columns.fpc) > n_stages:
        raise DesignError(
            f"{len(columns.fpc)} fpc columns for {n_stages} stage(s): give one fpc column "
            "per stage of psu"
        )
    check_no_missing(data, columns.psu, "psu")
    check_no_missing(data, columns.strata, "strata")
    check_no_missing(data, columns.fpc, "fpc")
    return columns


# ------------------------------------------------------------------ 2. the stages --
def _stratum_labels(data, columns: DesignColumns, stage, codes, n_strata) -> tuple:
    """Readable label of each stratum of a stage: its value, and at later stages the
    enclosing units ("E dnum=401")."""
    first = first_rows(codes, n_strata)

    def values(column: str) -> list:
        # one take per column (not one .iloc per stratum: thousands at later stages)
        return [plain(v) for v in data[column].iloc[first]]

    stratum_column = columns.stratum_column(stage)
    strata = values(stratum_column) if stratum_column else []
    if stage == 0 and stratum_column:
        # first-stage strata are their own values (as R prints them)
        return tuple(strata)
    parts = [[str(v) for v in strata]] if stratum_column else []
    if stage > 0:
        units = [[f"{c}={v}" for v in values(c)] for c in columns.psu[:stage]]
        parts.append([", ".join(row) for row in zip(*units, strict=True)])
    if not parts:
        return ("all",) * n_strata
    return tuple(" ".join(row) for row in zip(*parts, strict=True))


class _Codes:
    """The integer codes of the design's column tuples, each factorised once per design
    (the stages share their strata and PSU columns)."""

    def __init__(self, data: pd.DataFrame) -> None:
        self._data = data
        self._done: dict[tuple[str, ...], tuple[np.ndarray, int]] = {}

    def of(self, names: Sequence[str]) -> tuple[np.ndarray, int]:
        """Codes (0..G-1, in order of first appearance) of the row tuples of the columns
        ``names``, and G."""
        key = tuple(names)
        if key not in self._done:
            if len(key) <= 1:
                codes, uniques = row_codes(self._data[list(key)])
                self._done[key] = codes, len(uniques)
            else:  # the tuple of the first columns, then the last one
                head, n_head = self.of(key[:-1])
                last, n_last = self.of(key[-1:])
                self._done[key] = combine_codes(head, last, n_last)
        return self._done[key]


def combine_codes(a: np.ndarray, b: np.ndarray, n_b: int) -> tuple[np.ndarray, int]:
    """Codes (in order of first appearance) of the pairs of codes ``(a, b)``, and their
    number."""
    codes, uniques = pd.factorize(a * max(n_b, 1) + b, sort=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _cluster_codes(codes: _Codes, columns: DesignColumns, nest: bool, stage: int,
                   n_rows: int) -> tuple[np.ndarray, int]:
    """The codes of a stage's clusters: the PSU columns up to that stage (R's
    interaction of the ids), preceded by the strata with ``nest``; each row its own
    cluster without PSU columns."""
    if not columns.psu:
        return np.arange(n_rows, dtype=np.int64), n_rows
    strata = (list(columns.strata[: min(stage + 1, len(columns.strata))])
              if nest and columns.strata else [])
    return codes.of([*strata, *columns.psu[: stage + 1]])


def _units_per_stratum(stratum: np.ndarray, n_strata: int, cluster: np.ndarray,
                       n_clusters: int) -> np.ndarray:
    """The number of distinct clusters in each stratum."""
    first = first_rows(cluster, n_clusters)
    home = stratum[first]
    if np.array_equal(home[cluster], stratum):  # each cluster in one stratum
        return np.bincount(home, minlength=n_strata)
    pairs = pd.unique(stratum * max(n_clusters, 1) + cluster)
    return np.bincount(pairs // max(n_clusters, 1), minlength=n_strata)


def _check_psu_in_one_stratum(data: pd.DataFrame, codes: _Codes, columns: DesignColumns,
                              nest: bool) -> None:
    """Without ``nest``, a PSU id must belong to one first-stage stratum (R's
    ``check.strata``)."""
    if not (columns.psu and columns.strata) or nest:
        return
    psu, stratum = columns.psu[0], columns.strata[0]
    psu_codes, n_psu = codes.of([psu])
    stratum_codes, _ = codes.of([stratum])
    home = stratum_codes[first_rows(psu_codes, n_psu)]
    away = stratum_codes != home[psu_codes]
    if away.any():
        crossing = np.unique(psu_codes[away])  # in order of the PSUs' first appearance
        example = data[psu].iloc[int(np.argmax(psu_codes == crossing[0]))]
        where = data[stratum][psu_codes == crossing[0]].unique()
        raise DesignError(
            f"PSU {plain(example)!r} of column {psu!r} appears in strata "
            f"{', '.join(repr(plain(v)) for v in where[:5])} of column {stratum!r} "
            f"({len(crossing)} PSU id(s) cross strata). If PSU ids are only unique "
            "within a stratum, pass nest=True; otherwise fix the PSU or stratum codes."
        )


def stage_layouts(data: pd.DataFrame, columns: DesignColumns, nest: bool) -> list[StageLayout]:
    """Code every stage's clusters and strata (a later stage's strata are nested in the
    previous stage's clusters), as R's ``svydesign`` nests them."""
    codes = _Codes(data)
    _check_psu_in_one_stratum(data, codes, columns, nest)
    first_codes, n_first = _cluster_codes(codes, columns, nest, 0, len(data))
    if n_first == 1 and not (nest and columns.strata):
        raise DesignError(
            "the design has only one primary sampling unit, so no variance can be "
            "estimated: check the psu column"
        )
    layouts = []
    parent, n_parent = np.zeros(len(data), dtype=np.int64), 1
    for s in range(columns.n_stages):
        cluster_codes, n_clusters = _cluster_codes(codes, columns, nest, s, len(data))
        stratum_column = columns.stratum_column(s)
        if stratum_column:
            stratum_codes, n_strata = codes.of([stratum_column])
        else:
            stratum_codes, n_strata = np.zeros(len(data), dtype=np.int64), 1
        if s > 0:
            stratum_codes, n_strata = combine_codes(stratum_codes, parent, n_parent)
        labels = _stratum_labels(data, columns, s, stratum_codes, n_strata)
        n_sampled = _units_per_stratum(stratum_codes, n_strata, cluster_codes, n_clusters)
        what = [f"stage {s + 1}"]
        if stratum_column:
            what.append(f"strata column {stratum_column!r}")
        what.append(f"PSU column {columns.psu[s]!r}" if columns.psu else "each row its own PSU")
        layouts.append(StageLayout(
            stratum=stratum_codes, cluster=cluster_codes, labels=labels,
            sampsize=n_sampled.astype(float)[stratum_codes],
            description=", ".join(what),
        ))
        parent, n_parent = cluster_codes, n_clusters
    return layouts


# ------------------------------------------------------- 3. the population sizes --
def _check_constant(data, name: str, values: np.ndarray, codes: np.ndarray, labels,
                    stage: int, unit: str) -> None:
    """An fpc must be the same for every row of a stratum (or, under pps, of a cluster)."""
    spread = pd.Series(values).groupby(codes).nunique()
    if (spread > 1).any():
        g = int(spread.index[spread.to_numpy() > 1][0])
        rows = data.index[codes == g]
        where = (f"stratum {labels[g]!r}" if unit == "stratum"
                 else f"the sampled unit of rows {format_rows(rows)}")
        hint = ("; if they are the inclusion probabilities of a PPS sample, pass "
                "pps='brewer', 'overton' or 'hartley-rao'" if unit == "stratum" else "")
        raise DesignError(
            f"fpc column {name!r} varies within {where} at stage {stage + 1}; it must be "
            f"constant within each {unit}{hint}"
        )


def population_sizes(
    data: pd.DataFrame, columns: DesignColumns, layouts: list[StageLayout], pps: bool,
) -> list[np.ndarray | None]:
    """Per-row population size of each stage (``None`` where no fpc is given).

    The fpc columns hold population sizes (>= 1) or sampling fractions (<= 1), every
    stage the same kind, constant within strata. Under ``pps`` they hold each unit's
    inclusion probability (in (0, 1], constant within the unit, R's
    ``svydesign(pps=)``) and the population size is R's ``sampsize / fpc``.
    """
    given = [design_numbers(data, name, "fpc") for name in columns.fpc]
    if not given:
        return [None] * columns.n_stages
    for name, values in zip(columns.fpc, given, strict=True):
        bad = (values <= 0) | ~np.isfinite(values)
        if bad.any():
            what = ("inclusion probabilities (between 0 and 1)" if pps else
                    "population sizes (>= 1) or sampling fractions (between 0 and 1)")
            raise DesignError(
                f"fpc column {name!r} has zero, negative or infinite values in rows "
                f"{format_rows(data.index[bad])}: give {what}"
            )
    is_popsize = bool(np.any(np.concatenate(given) > 1))
    if pps and is_popsize:
        s = next(i for i, v in enumerate(given) if np.any(v > 1))
        raise DesignError(
            f"with pps, fpc holds inclusion probabilities (0 < p <= 1), but column "
            f"{columns.fpc[s]!r} has values above 1 in rows "
            f"{format_rows(data.index[given[s] > 1])}. Give every stage as a probability "
            "or sampling fraction (R: 'fpc must be specified as sampling fraction for PPS "
            "sampling')."
        )
    if is_popsize and np.any(np.concatenate(given) < 1):
        s = next(i for i, v in enumerate(given) if np.any(v < 1))
        raise DesignError(
            f"fpc mixes population sizes (> 1) and sampling fractions (< 1): column "
            f"{columns.fpc[s]!r} has fractions in rows {format_rows(data.index[given[s] < 1])}. "
            "Give every stage the same kind (R: 'Must have all fpc>=1 or all fpc<=1')."
        )
    sizes: list[np.ndarray | None] = [None] * columns.n_stages
    for s, (name, values) in enumerate(zip(columns.fpc, given, strict=True)):
        layout = layouts[s]
        if not is_popsize:
            values = layout.sampsize / values
        if pps:
            _check_constant(data, name, values, layout.cluster, layout.labels, s, "sampled unit")
        else:
            _check_constant(data, name, values, layout.stratum, layout.labels, s, "stratum")
        too_small = values < layout.sampsize - 1e-9
        if too_small.any():
            i = int(np.flatnonzero(too_small)[0])
            raise DesignError(
                f"fpc column {name!r} is smaller than the sample in rows "
                f"{format_rows(data.index[too_small])}: stratum "
                f"{layout.labels[layout.stratum[i]]!r} has {int(layout.sampsize[i])} units "
                f"sampled at stage {s + 1} but a population of {values[i]:g}. Give "
                "population sizes (>= sample size) or sampling fractions (<= 1)."
            )
        sizes[s] = values
    return sizes


# ------------------------------------------------------------------ 4. the engine --
def make_stages(
    layouts: list[StageLayout], sizes: list[np.ndarray | None], row_labels: pd.Index,
    per_unit: bool,
) -> tuple[_variance.Stage, ...]:
    """The variance engine's stages. ``per_unit``: the population sizes belong to the
    sampled units (pps, each unit's own fpc, R's ``onestrat`` with ``pps = TRUE``), not
    to their strata."""
    stages = []
    parent = np.zeros(len(row_labels), dtype=np.int64)
    for layout, size in zip(layouts, sizes, strict=True):
        stages.append(_variance.make_stage(
            layout.stratum, layout.cluster, parent, size, layout.labels,
            description=layout.description, row_labels=row_labels, per_unit=per_unit,
        ))
        parent = layout.cluster
    return tuple(stages)


# ----------------------------------------------------------------- 5. the weights --
def design_weights(
    data: pd.DataFrame, weights: str | None, sizes: list[np.ndarray | None],
    layouts: list[StageLayout],
) -> np.ndarray:
    """The weights column, checked (finite, >= 0, not all zero); without one, the
    product over stages of population over sample size (R's weights from the fpc), or
    equal weights."""
    n = len(data)
    if weights is None:
        w = np.ones(n)
        for size, layout in zip(sizes, layouts, strict=True):
            if size is not None:
                w = w * size / layout.sampsize
        return w
    w = design_numbers(data, weights, "weights")
    nan = np.isnan(w)
    if nan.any():
        raise DesignError(
            f"weights column {weights!r} has {nan.sum()} missing value(s) in rows "
            f"{format_rows(data.index[nan])}. Every respondent needs a weight."
        )
    inf = ~np.isfinite(w)
    if inf.any():
        raise DesignError(
            f"weights column {weights!r} has infinite values in rows "
            f"{format_rows(data.index[inf])}; fix or drop those rows"
        )
    neg = w < 0
    if neg.any():
        raise DesignError(
            f"weights column {weights!r} has negative values in rows "
            f"{format_rows(data.index[neg])}; sampling weights must be >= 0: fix "
            "those rows (or drop them) before building the design"
        )
    if not np.any(w > 0):
        raise DesignError(
            f"weights column {weights!r} sums to zero (all {len(w)} rows have weight "
            "0): at least one weight must be positive"
        )
    return w
