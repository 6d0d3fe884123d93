"""``adjust_nonresponse`` of a design on a Dask DataFrame (weighting-class adjustment).

In memory (:func:`perception.survey.weighting.adjust_nonresponse`) the respondents of
each class (a combination of the ``classes`` columns) carry the weight of everyone
sampled there: their weights are multiplied by ``N_c / R_c``, the base-weight totals of
the class's sampled units and of its respondents; nonrespondents leave the domain
(weight 0, every PSU still in the variance), and the Taylor variance adds the
adjustment's step (:class:`perception.survey.calibration.NonresponseAdjustment`): every
sampled unit carries ``(w - w_adjusted)`` times its class's mean score, since the class
totals are estimates. On a Dask DataFrame:

- one pass sums the weights by class over the partitions, with their checks (missing
  or invalid response codes, missing classes, invalid weights: rows numbered in the
  whole Dask DataFrame); the factors ``N_c / R_c`` and the in-memory errors (a class
  without respondent, in the full sample or in a replicate) come from those sums;
- the adjusted design's data get the adjusted weights, partition by partition, and the
  respondents as its domain (the column a ``subset`` sets);
- each estimate's groups (design columns x domain x class) also sum the weights before
  and after the adjustment over all their rows, so the step's residual is taken group
  by group before the in-memory variance of the group design.

Replicate designs are adjusted replicate by replicate, as in memory: replicate-weight
columns are multiplied by their class's factor in each column; replicates built from a
design (per-PSU factors) are adjusted at each estimate on the in-memory replicate design
of its groups (PSU x class x response), whose replicate weights over its full-sample
weights become the groups' factors.

dask is an optional import: this module never imports it at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

from ..errors import WeightingError
from . import calibration as _c
from .checks import check_columns, column_names
from .dask_design import (
    SUBSET,
    DaskReplicateDesign,
    DaskSurveyDesign,
    _co_aligned,
    _is_dask_series,
)
from .dask_domains import Flagged
from .dask_reduce import (
    _ACTIVE,
    _FIRST,
    _IN,
    _PREFIX,
    _W,
    _group_codes,
    _inside,
    _missing,
    _Plan,
    _require_dask,
    _values,
    reduce_design,
    reduce_partition,
)
from .dask_weighting import (
    DaskWeightedDesign,
    DaskWeightedReplicateDesign,
    _GroupReplicates,
)
from .design import ReplicateDesign
from .distributed import _check_some, _group_design, _totals, finish_factors
from .engine import RatioResult, check_domain_weights, domains, finish

#: the adjusted weights (0 for nonrespondents) added to the Dask DataFrame
ADJUSTED = f"{_PREFIX}nonresponse_w"
#: the response indicator given as a Dask Series, added as a column
RESPONDED = f"{_PREFIX}responded"
#: the rows of the design's domain before the adjustment: the sampled units
SAMPLED = f"{_PREFIX}sampled"
_BASE = f"{_PREFIX}nr_base"  # a group's weights before the adjustment, all its rows
_AFTER = f"{_PREFIX}nr_after"  # and after it
_WSQ = f"{_PREFIX}nr_wsq"  # its squared adjusted weights (the replicates' degf)
_ROWS_IN = f"{_PREFIX}nr_in"  # a class's rows in the design's domain (sampled units)
_RESPONDENTS = f"{_PREFIX}nr_resp"  # and its respondents
_ROWS = f"{_PREFIX}nr_rows"  # and all its rows
_SHOWN = 10


def _sampled(j: int) -> str:
    return f"{_PREFIX}nr_s{j}"


def _answered(j: int) -> str:
    return f"{_PREFIX}nr_a{j}"


def _positive(j: int) -> str:
    return f"{_PREFIX}nr_p{j}"


@dataclass(frozen=True, eq=False)
class _Nonresponse:
    """The adjustment, as each partition needs it: the classes and their factors."""

    #: named by the messages of dask_weighting (a Dask design takes one adjustment: a
    #: further weighting is refused there)
    kind: ClassVar[str] = "nonresponse"

    base: str | None  # the weights before the adjustment (None: 1)
    columns: tuple[str, ...]  # the classes' columns
    cells: pd.DataFrame  # their values, one row per class (in memory's order)
    responded: str  # the response column
    factor: np.ndarray  # (C, K) the factor of each class in each weight column

    @property
    def frame_columns(self) -> list[str]:
        """The columns the adjustment reads in each partition."""
        return list(dict.fromkeys([*self.columns, *([self.base] if self.base else []),
                                   self.responded, SAMPLED]))


# ------------------------------------------------------------------ the rows --
def class_codes(frame: pd.DataFrame, columns: tuple[str, ...], cells: pd.DataFrame
                ) -> np.ndarray:
    """The class of each row of ``frame``: its position in ``cells``, -1 for a
    combination that is not there (a missing class).

    Examples
    --------
    >>> cells = pd.DataFrame({"s": ["a", "b"]})
    >>> class_codes(pd.DataFrame({"s": ["b", None, "a"]}), ("s",), cells).tolist()
    [1, -1, 0]
    """
    if len(columns) == 1:
        index = pd.Index(cells[columns[0]])
        return np.asarray(index.get_indexer(frame[columns[0]]), dtype=np.int64)
    index = pd.MultiIndex.from_frame(cells[list(columns)])
    return np.asarray(index.get_indexer(pd.MultiIndex.from_frame(frame[list(columns)])),
                      dtype=np.int64)


def responses(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's response (True: a respondent), whether it is missing, and whether it
    is something else than 0/1 or True/False (as the in-memory ``_response_indicator``).

    Examples
    --------
    >>> [v.tolist() for v in responses(pd.Series([1, 0, None, 2]))]
    [[True, False, False, False], [False, False, True, False], [False, False, False, True]]
    """
    missing = column.isna().to_numpy()
    values = column.where(~column.isna(), 0)
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool), missing, np.zeros(len(column), dtype=bool)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = ~numeric.isin([0, 1]).to_numpy()
    return numeric.to_numpy(dtype=float) == 1, missing, bad


def _domain(frame: pd.DataFrame) -> np.ndarray:
    """The rows of the design's domain (a subset's), before the adjustment."""
    if SUBSET in frame.columns:
        return frame[SUBSET].to_numpy(dtype=bool)
    return np.ones(len(frame), dtype=bool)


def _class_partition(frame: pd.DataFrame, columns: list[str], responded: str,
                     weights: list[str | None], keys: list[str]
                     ) -> tuple[pd.DataFrame, dict, int]:
    """One partition's weight totals by (``keys``, class) of the sampled units and of
    the respondents, and their rows of positive weight, per weight column; its
    problems (row numbers within the partition, the first values at fault)."""
    n = len(frame)
    inside = _domain(frame)
    resp, missing, bad = responses(frame[responded])
    problems: dict[tuple, tuple[int, list, list]] = {}

    def note(key: tuple, mask: np.ndarray, shown: pd.Series | None = None) -> None:
        if mask.any():
            values = [] if shown is None else list(pd.unique(shown[mask]))[:1]
            problems[key] = (int(mask.sum()), np.flatnonzero(mask)[:_SHOWN].tolist(), values)

    sums: dict[str, np.ndarray] = {}
    for j, name in enumerate(weights):
        w = np.ones(n) if name is None else _values(frame, name, "weights")
        if name is not None:
            note(("weights", name, "missing"), np.isnan(w))
            note(("weights", name, "negative"), w < 0)
            note(("weights", name, "infinite"), np.isinf(w))
        w = np.where(np.isfinite(w) & inside, w, 0.0)
        sums[_sampled(j)] = w
        sums[_answered(j)] = np.where(resp, w, 0.0)
        sums[_positive(j)] = (w > 0).astype(float)
    note(("responded", "missing"), missing & inside)
    note(("responded", "values"), bad & ~missing & inside, frame[responded])
    gaps = frame[columns].isna().any(axis=1).to_numpy()
    note(("classes", "missing"), gaps & inside)
    sums[_ROWS_IN] = inside.astype(float)
    sums[_RESPONDENTS] = (resp & inside).astype(float)
    sums[_ROWS] = np.ones(n)
    sums[_FIRST] = np.arange(n, dtype=float)
    by = list(dict.fromkeys([*keys, *columns]))
    table = pd.concat([frame[by].reset_index(drop=True), pd.DataFrame(sums)], axis=1)
    names = [c for c in sums if c != _FIRST]
    grouped = table.groupby(by, sort=False, dropna=False, observed=True)
    out = pd.concat([grouped[names].sum(), grouped[_FIRST].min()], axis=1).reset_index()
    return out, problems, n


def _class_sums(design: Any, frame: Any, columns: list[str], responded: str,
                weights: list[str | None], keys: list[str]) -> pd.DataFrame:
    """The partitions' class sums added up (groups in the order of the data), the
    in-memory errors raised with rows numbered in the whole Dask DataFrame."""
    dask = _require_dask()
    read = list(dict.fromkeys([*keys, *columns, responded,
                               *(w for w in weights if w is not None),
                               *([SUBSET] if SUBSET in frame.columns else [])]))
    delayed = dask.delayed(_class_partition)
    results = dask.compute(*[delayed(part, columns, responded, weights, keys)
                             for part in frame[read].to_delayed()])
    problems: dict[tuple, Flagged] = {}
    tables, offset = [], 0
    for table, found, n in results:
        tables.append(table.assign(**{_FIRST: table[_FIRST] + offset}))
        for key, (count, rows, values) in found.items():
            seen = problems.get(key, Flagged(0, [], []))
            problems[key] = Flagged(seen.count + count,
                                    (seen.rows + [offset + r for r in rows])[:_SHOWN],
                                    seen.values or values)
        offset += n
    _raise_problems(problems, responded, columns, weights[1:])
    joined = pd.concat(tables, ignore_index=True)
    sums = [c for c in joined.columns if c.startswith(_PREFIX) and c != _FIRST]
    by = list(dict.fromkeys([*keys, *columns]))
    grouped = joined.groupby(by, sort=False, dropna=False, observed=True)
    out = pd.concat([grouped[sums].sum(), grouped[_FIRST].min()], axis=1).reset_index()
    return out.sort_values(_FIRST, kind="stable").reset_index(drop=True)


def _raise_problems(problems: dict[tuple, Flagged], responded: str, columns: list[str],
                    replicates: list[str | None]) -> None:
    """The in-memory errors, in its order: invalid weights (refused when a design is
    built in memory), then the response codes, then the classes."""
    for key, found in problems.items():
        if key[0] == "weights":
            kind = "replicate-weight" if key[1] in replicates else "weights"
            raise WeightingError(
                f"{kind} column {key[1]!r} has {key[2]} values in {found.count} row(s): "
                f"{found.text}. Every respondent needs a weight >= 0: fix or drop those "
                "rows."
            )
    name = (f"column {responded!r} (responded)" if responded != RESPONDED
            else "responded")
    if ("responded", "missing") in problems:
        raise WeightingError(
            f"{name} is missing in rows {problems[('responded', 'missing')].text}; give "
            "1/True for respondents and 0/False for nonrespondents in every row"
        )
    if ("responded", "values") in problems:
        found = problems[("responded", "values")]
        raise WeightingError(
            f"{name} must hold 0/1 or True/False, but rows {found.text} hold other "
            f"values, e.g. {found.values[0]}"
        )
    if ("classes", "missing") in problems:
        raise WeightingError(
            f"classes column(s) {', '.join(columns)} have missing values in rows "
            f"{problems[('classes', 'missing')].text}; every sampled unit needs a class"
        )


def _classes(sums: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The classes of the sampled units in the in-memory order (sorted), and the class
    of each row of ``sums`` (-1: no sampled unit)."""
    present = sums.loc[sums[_ROWS_IN].to_numpy() > 0, columns]
    if len(columns) == 1:
        _, uniques = pd.factorize(present.iloc[:, 0], sort=True)
        cells = pd.DataFrame({columns[0]: uniques})
    else:
        _, combinations = pd.MultiIndex.from_frame(present).factorize(sort=True)
        cells = cast(pd.MultiIndex, combinations).to_frame(index=False)
        cells.columns = pd.Index(columns)
    codes = class_codes(sums, tuple(columns), cells)
    return cells, np.where(sums[_ROWS_IN].to_numpy() > 0, codes, -1)


def _factors(sampled: np.ndarray, answered: np.ndarray, positive: np.ndarray,
             cells: pd.DataFrame, what: str) -> np.ndarray:
    """``N_c / R_c`` of one weight column from its class totals; the in-memory error
    for a class whose sampled units have weight but no respondent."""
    empty = (answered <= 0) & (sampled > 0)
    if empty.any():
        c = int(np.flatnonzero(empty)[0])
        shown = ", ".join(f"{col}={v!r}" for col, v in cells.iloc[c].items())
        raise WeightingError(
            f"class {shown} has no respondent{' in ' + what if what else ''} "
            f"({int(positive[c])} sampled with positive weight): its weight cannot be "
            "carried by anyone. Merge it with a neighbouring class."
        )
    return _c.safe_divide(sampled, answered)


def _by_class(sums: pd.DataFrame, codes: np.ndarray, name: str, n: int,
              factors: np.ndarray | None = None) -> np.ndarray:
    """(C,) or (C, R) class totals of the column ``name`` (times each replicate's
    factors of the rows' PSUs, when given)."""
    values = sums[name].to_numpy(dtype=float)
    if factors is not None:
        values = values[:, None] * factors
    else:
        values = values[:, None]
    return _c.group_sums(codes, values, n)


# ------------------------------------------------------------ the adjustment --
def adjusted(design: Any, responded: Any, classes: Any, adjust: Any) -> Any:
    """``pc.adjust_nonresponse`` of a design on a Dask DataFrame.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design of every sampled unit (a weights column and PSUs, or replicates).
    responded : str or dask Series
        The column of 1/True for respondents and 0/False otherwise, or a Dask Series of
        the design's data.
    classes : str or sequence of str
        The classes' columns.
    adjust : callable
        The in-memory ``adjust_nonresponse``, which adjusts the replicates of a design
        on its groups at each estimate (passed in: this module is below it).

    Returns
    -------
    The adjusted design: the weights of the in-memory adjusted design, its respondents
    as its domain, and its standard errors.

    Examples
    --------
    >>> resp = pc.adjust_nonresponse(d, "responded", ["stype"])        # doctest: +SKIP
    >>> pc.mean(resp, "api00")                                         # doctest: +SKIP
    """
    columns = column_names(classes, "classes", WeightingError, required=True)
    check_columns(list(design.data.columns), columns, "classes", WeightingError,
                  where="the Dask DataFrame")
    _check_adjustable(design)
    name, series = _response_column(design, responded)
    if isinstance(design, DaskReplicateDesign) and design.base is None:
        return _adjust_columns(design, name, series, columns)
    base = design.base if isinstance(design, DaskReplicateDesign) else design
    assert base is not None  # replicate-weight columns are adjusted above
    data = base.data if series is None else base.data.assign(**{RESPONDED: series})
    keys = list(base.design_columns) if isinstance(design, DaskReplicateDesign) else []
    sums = _class_sums(base, data, columns, name, [base._weights], keys)
    cells, codes = _classes(sums, columns)
    C = len(cells)
    _check_respondents(sums)
    sampled = _by_class(sums, codes, _sampled(0), C)[:, 0]
    answered = _by_class(sums, codes, _answered(0), C)[:, 0]
    positive = _by_class(sums, codes, _positive(0), C)[:, 0]
    factor = _factors(sampled, answered, positive, cells, "")
    if isinstance(design, DaskReplicateDesign):
        _check_replicates(design, sums, codes, cells)
    spec = _Nonresponse(base._weights, tuple(columns), cells, name, factor[:, None])
    adjusted_design = DaskNonresponseDesign(base, spec, data)
    if isinstance(design, DaskReplicateDesign):
        return DaskNonresponseReplicateDesign(adjusted_design, design.options, adjust)
    return adjusted_design


def _check_adjustable(design: Any) -> None:
    """The designs a Dask adjustment takes: one not weighted yet, with its PSUs."""
    base = design.base if isinstance(design, DaskReplicateDesign) else design
    if isinstance(design, DaskWeightedReplicateDesign) or isinstance(base, DaskWeightedDesign):
        raise WeightingError(
            "adjust_nonresponse() of a design on a Dask DataFrame that is already "
            "weighted (post-stratified, raked, calibrated or adjusted): a Dask design takes "
            "one adjustment. Adjust the design before any other weighting on the data in "
            "memory (ddf.compute()) to chain adjustments"
        )
    if base is not None and not base._psu:
        raise WeightingError(
            "adjust_nonresponse() of a design on a Dask DataFrame needs its PSU column "
            "(psu=): the adjusted variance is summed by PSU. For a design whose rows are "
            "their own PSUs, give psu= a column identifying each row (e.g. the respondent "
            "id)"
        )


def _response_column(design: Any, responded: Any) -> tuple[str, Any]:
    """The response column's name, and the Dask Series to add as that column (None
    when ``responded`` names a column)."""
    frame = design.data
    if isinstance(responded, str):
        check_columns(list(frame.columns), [responded], "responded", WeightingError,
                      where="the Dask DataFrame")
        return responded, None
    if not _is_dask_series(responded):
        kind = type(responded).__module__.split(".")[0] + "." + type(responded).__name__
        raise WeightingError(
            "adjust_nonresponse() of a design on a Dask DataFrame takes responded= as the "
            "name of a column of 1/True for respondents and 0/False otherwise, or a Dask "
            f"Series of the design's data (such as d.data['status'] == 'complete'); got "
            f"a {kind}, which has no partitions"
        )
    if not _co_aligned(frame, responded):
        raise WeightingError(
            "responded does not have the partitions of the design's data (it comes from "
            "another Dask DataFrame, or was repartitioned): build it from the design's "
            "data, or give the name of a column"
        )
    return RESPONDED, responded


def _check_respondents(sums: pd.DataFrame) -> None:
    if not sums[_RESPONDENTS].to_numpy().any():
        raise WeightingError("adjust_nonresponse(): no row is a respondent")


def _check_replicates(design: DaskReplicateDesign, sums: pd.DataFrame, codes: np.ndarray,
                      cells: pd.DataFrame) -> None:
    """The in-memory error for a class without respondent in a replicate built from the
    design (the replicate weights are the weights times their PSU's factors)."""
    assert design.base is not None  # replicates of a design
    groups = sums.assign(**{_W: sums[_sampled(0)]})
    rep = _group_design(design.base, groups).replicate(**design.options)
    factors = rep.replicate_factors
    assert factors is not None  # replicates of a design
    psu = factors[rep.psu_codes]  # (groups, R)
    C = len(cells)
    sampled = _by_class(sums, codes, _sampled(0), C, psu)
    answered = _by_class(sums, codes, _answered(0), C, psu)
    positive = _by_class(sums, codes, _positive(0), C, (psu > 0).astype(float))
    for r in range(psu.shape[1]):
        _factors(sampled[:, r], answered[:, r], positive[:, r], cells, f"replicate {r + 1}")


# ------------------------------------------------------ replicate-weight columns --
def _columns_partition(frame: pd.DataFrame, derive: Any, spec: _Nonresponse,
                       weights: list[str]) -> pd.DataFrame:
    """One partition with its weight columns adjusted (the respondents' times their
    class's factor in each column, 0 for the others) and its respondents as the
    domain; all columns rebuilt at once (many replicates would fragment the frame)."""
    needed = [*spec.columns, spec.responded]
    keys = frame if all(c in frame.columns for c in needed) else derive(frame)
    keep = _kept_rows(keys, spec)
    codes = np.maximum(class_codes(keys, spec.columns, spec.cells), 0)
    adjusted = {name: np.where(keep, pd.to_numeric(frame[name]).to_numpy(dtype=float)
                               * spec.factor[codes, j], 0.0)
                for j, name in enumerate(weights)}
    out = {c: adjusted[c] if c in adjusted else frame[c] for c in frame.columns}
    out[SUBSET] = keep
    return pd.DataFrame(out, index=frame.index)


def _kept_rows(frame: pd.DataFrame, spec: _Nonresponse) -> np.ndarray:
    """The respondents of the design's domain; an error for one whose class was not
    in the data when the design was adjusted (never a silent weight)."""
    inside = _domain(frame)
    resp, _, _ = responses(frame[spec.responded])
    codes = class_codes(frame, spec.columns, spec.cells)
    unknown = inside & (codes < 0)
    if unknown.any():
        raise WeightingError(
            f"row {int(np.flatnonzero(unknown)[0])} of a partition has a class of "
            f"{', '.join(spec.columns)} that was not in the data when the design was "
            "adjusted for nonresponse; adjust the design again"
        )
    return inside & resp


def _adjust_columns(design: DaskReplicateDesign, name: str, series: Any,
                    columns: list[str]) -> DaskReplicateDesign:
    """A design of replicate-weight columns adjusted column by column."""
    options = dict(design.options)
    weights = [options["weights"], *options["replicate_weights"]]
    data = design.data if series is None else design.data.assign(**{RESPONDED: series})
    sums = _class_sums(design, data, columns, name, list(weights), [])
    cells, codes = _classes(sums, columns)
    C = len(cells)
    _check_respondents(sums)
    factor = np.empty((C, len(weights)))
    for j in range(len(weights)):
        factor[:, j] = _factors(_by_class(sums, codes, _sampled(j), C)[:, 0],
                                _by_class(sums, codes, _answered(j), C)[:, 0],
                                _by_class(sums, codes, _positive(j), C)[:, 0], cells,
                                f"replicate {j}" if j else "")
    spec = _Nonresponse(options["weights"], tuple(columns), cells, name, factor)
    source = design._source if series is None else design._source.assign(
        **{RESPONDED: series})
    q = design.questionnaire
    derive = q.derive if q is not None else None
    adjust = partial(_columns_partition, derive=derive, spec=spec, weights=weights)
    frame = source.map_partitions(adjust, meta=adjust(source._meta))
    if sums[_RESPONDENTS].sum() < sums[_ROWS].sum():
        # R's degf of the respondents (a domain that is not every row): the rank of
        # their replicate weights, as in memory
        options["degf"] = None
    return DaskReplicateDesign(None, options, frame, design.labelling)


# --------------------------------------------------------- the adjusted design --
def _with_adjusted(frame: pd.DataFrame, spec: _Nonresponse) -> pd.DataFrame:
    """One partition with the adjusted weights, the sampled units and the respondents
    (the adjusted design's domain)."""
    keep = _kept_rows(frame, spec)
    codes = np.maximum(class_codes(frame, spec.columns, spec.cells), 0)
    w0 = (np.ones(len(frame)) if spec.base is None
          else _values(frame, spec.base, "weights"))
    return frame.assign(**{ADJUSTED: np.where(keep, w0 * spec.factor[codes, 0], 0.0),
                           SAMPLED: _domain(frame), SUBSET: keep})


class DaskNonresponseDesign(DaskWeightedDesign):
    """A design on a Dask DataFrame adjusted for nonresponse (returned by
    ``pc.adjust_nonresponse``): the respondents' weights carry their class's
    nonrespondents, the nonrespondents are outside its domain, and its estimators take
    the adjustment's step in the variance, as the in-memory adjusted design.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design of every sampled unit.
    spec : _Nonresponse
        The adjustment.
    data : dask.dataframe.DataFrame
        The design's data (with the response column when it was given as a Series).

    Examples
    --------
    >>> pc.adjust_nonresponse(pc.SurveyDesign(ddf, weights="w", psu="v"), "resp", "region")  # doctest: +SKIP
    """

    _weighting: _Nonresponse  # type: ignore[assignment]  # not a _Weighting

    def __init__(self, design: DaskSurveyDesign, spec: _Nonresponse, data: Any) -> None:
        meta = _with_adjusted(data._meta, spec)
        frame = data.map_partitions(partial(_with_adjusted, spec=spec), meta=meta)
        DaskSurveyDesign.__init__(
            self, frame, weights=ADJUSTED, strata=design._strata or None,
            psu=design._psu or None, fpc=design._fpc or None, nest=design._nest,
            lonely_psu=design.lonely_psu, questionnaire=design.questionnaire,
            lang=design.lang, missing_codes=design.missing_codes)
        self._weighting = spec

    def __repr__(self) -> str:
        spec = self._weighting
        return (f"DaskNonresponseDesign({self._data.npartitions} partitions, classes="
                f"{list(spec.columns)}, base weights={spec.base!r}, strata={self._strata}, "
                f"psu={self._psu}, fpc={self._fpc}, lonely_psu={self._lonely_psu!r})")

    def _groups_estimate(self, plan: _Plan, na_rm: bool):
        """The nonresponse adjustment's estimate."""
        return _estimate(self, plan, na_rm)


class DaskNonresponseReplicateDesign(DaskWeightedReplicateDesign):
    """A replicate design on a Dask DataFrame, built from a design, adjusted for
    nonresponse replicate by replicate (as the in-memory ``ReplicateDesign``).

    Parameters
    ----------
    base : DaskNonresponseDesign
        The adjusted design (the full-sample weights).
    options : dict
        The arguments of ``SurveyDesign.replicate``.
    adjust : callable
        The in-memory ``adjust_nonresponse`` (applied to the groups' replicate design).

    Examples
    --------
    >>> pc.adjust_nonresponse(d.replicate("jkn"), "resp", "region")    # doctest: +SKIP
    """

    def __init__(self, base: DaskNonresponseDesign, options: dict, adjust: Any) -> None:
        super().__init__(base, options, adjust)

    def __repr__(self) -> str:
        assert isinstance(self.base, DaskNonresponseDesign)  # set by __init__
        return (f"DaskNonresponseReplicateDesign({self._data.npartitions} partitions, "
                f"classes={list(self.base._weighting.columns)}, "
                f"method={self.options.get('method')!r})")

    def _groups_estimate(self, plan: _Plan, na_rm: bool):
        """The nonresponse adjustment's estimate of the replicates."""
        return _estimate_replicates(self, plan, na_rm)


# ---------------------------------------------------------------- estimates --
def _nonresponse_partition(frame: pd.DataFrame, plan: _Plan, spec: _Nonresponse
                           ) -> tuple[pd.DataFrame, list, dict]:
    """The estimators' group sums of one partition, and the weights before and after
    the adjustment of all the rows of each group (its step's residual)."""
    table, found, info = reduce_partition(frame, plan)
    active = _inside(frame, plan)  # as reduce_partition: the same groups
    for mask in _missing(frame, plan).values():
        active &= ~mask
    codes, first = _group_codes(frame, plan.keys, active)
    G = len(first)
    w0 = np.ones(len(frame)) if spec.base is None else _values(frame, spec.base, "weights")
    w0 = np.where(np.isfinite(w0) & frame[SAMPLED].to_numpy(dtype=bool), w0, 0.0)
    w = _values(frame, ADJUSTED, "weights")
    sums = {_BASE: np.bincount(codes, weights=w0, minlength=G),
            _AFTER: np.bincount(codes, weights=w, minlength=G),
            _WSQ: np.bincount(codes, weights=w * w, minlength=G)}
    return pd.concat([table, pd.DataFrame(sums)], axis=1), found, info


class _Residuals:
    """The group design seen by :func:`engine.finish`: each group's scores gain the
    adjustment's step (``NonresponseAdjustment.residualize`` on groups of one class),
    then the group design's Taylor variance."""

    is_replicate = False

    def __init__(self, design: Any, groups: pd.DataFrame, spec: _Nonresponse) -> None:
        self._design = design
        self._codes = class_codes(groups, spec.columns, spec.cells)
        self._n = len(spec.cells)
        self._base = groups[_BASE].to_numpy(dtype=float)
        self._after = groups[_AFTER].to_numpy(dtype=float)

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        # one "cluster" per group: every sampled unit carries its class's mean score
        class_totals = _c.group_sums(self._codes, totals, self._n)
        sampled = _c.group_sums(self._codes, self._base[:, None], self._n)[:, 0]
        means = _c.safe_divide(class_totals, sampled[:, None])
        inside = self._codes >= 0
        out = np.array(totals, dtype=float)
        out[inside] += (self._base - self._after)[inside, None] * means[self._codes[inside]]
        return self._design.score_vcov(out)


def _estimate(design: DaskNonresponseDesign, plan: _Plan, na_rm: bool):
    """As ``distributed._estimate``, for an adjusted design."""
    spec = design._weighting
    plan = replace(plan, keys=tuple(dict.fromkeys([*plan.keys, *spec.columns])))
    groups = reduce_design(design, plan, na_rm, _nonresponse_partition, (spec,),
                           [*plan.keys, *spec.frame_columns, ADJUSTED])
    _check_some(groups, plan)
    group_design = _group_design(design, groups)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    dom = domains(group_design, list(plan.by), active)
    check_domain_weights(group_design, dom, list(plan.by))
    G = len(groups)
    t = _totals(groups, plan, np.arange(G), G, dom, plan.n_parts)
    result: RatioResult = finish(_Residuals(group_design, groups, spec), t, dom)
    return groups, group_design, dom, result


def _estimate_replicates(design: DaskNonresponseReplicateDesign, plan: _Plan, na_rm: bool):
    """The in-memory replicate design of the groups (PSU x class x response) adjusted
    in memory; each group's replicate weights over its weight become its factors."""
    base: DaskNonresponseDesign = design.base  # type: ignore[assignment]
    spec = base._weighting
    keys = [*plan.keys, *spec.columns, spec.responded, SAMPLED]
    plan = replace(plan, keys=tuple(dict.fromkeys(keys)))
    groups = reduce_design(base, plan, na_rm, _nonresponse_partition, (spec,),
                           [*plan.keys, *spec.frame_columns, ADJUSTED])
    _check_some(groups, plan)
    before = _group_design(base, groups.assign(**{_W: groups[_BASE]})).replicate(
        **design.options)
    sampled = groups[SAMPLED].to_numpy(dtype=bool)
    after = design._adjust(cast(ReplicateDesign, before.subset(sampled)), spec.responded,
                           list(spec.columns))
    assert isinstance(after, ReplicateDesign)  # the replicates adjusted in memory
    G = len(groups)
    factors = _c.safe_divide(after.replicate_matrix(), after._w[:, None])
    rep: Any = _GroupReplicates._from_factors(
        groups, after._w, factors, np.arange(G), after.scale, after.rscales, after.mse,
        after.method, after._degf)
    rep._row_mass = np.sqrt(groups[_WSQ].to_numpy(dtype=float))
    rep = rep.subset(groups[_IN].to_numpy(dtype=float) > 0)  # the respondents
    return finish_factors(rep, groups, plan)
