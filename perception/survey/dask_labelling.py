"""Labelled designs on a Dask DataFrame: the questionnaire's missing codes and skip logic
left out of every estimate, partition by partition, and the tables labelled as in memory.

``pc.SurveyDesign(dask_frame, ..., questionnaire=q)`` keeps its frame lazy; its derived
variables (the questionnaire's ``derived:`` section) are row-wise expressions, added to
each partition by ``map_partitions`` (:func:`perception.survey.labelling.with_derived`).
Each estimate then prepares the partitions with the code of the in-memory labelled
design (:func:`perception.survey.valid_values.exclusions`): on the workers, each row's
declared missing codes are blanked and its reason to be left out is found (a missing
code, a question not asked by its ``relevant``, a derived value not computed). Those
rows leave the design's domain as ``subset`` makes them leave it in memory (weight
zero, every PSU and stratum still in the variance); the reduction of
:mod:`perception.survey.distributed` reads that as one more column. The left-out rows
are counted by (domain, reason) in one more pass (what comes back is one count per
domain and reason), and :meth:`perception.survey.valid_values.Prepared.finish` adds
``n_excluded``, ``excluded`` and the label columns, so the tables equal the in-memory
ones column for column.

No preparation step needs the whole frame: the reasons a variable can have are given
by the questionnaire (so every partition numbers them alike), skip logic and derived
values read one row at a time, and the levels of a proportion are collected by the
reduction's own pass. Select-multiple questions give one row per option, from 0/1
indicators computed per partition (:func:`perception.questionnaire.multiple.option_indicators`).

dask is an optional import: this module never imports it at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from ..questionnaire.cells import code_text
from ..questionnaire.derived import with_columns
from ..questionnaire.multiple import NO_ANSWER, option_indicators
from . import dask_quantiles, distributed
from .attached import stack_tables
from .checks import check_columns, column_names, estimate_names
from .covariance import attach_covariance, covariance_of
from .dask_design import SUBSET, DaskReplicateDesign, with_frame
from .dask_reduce import _PREFIX, _require_dask
from .labelling import UNLABELLED, check_missing_codes
from .multiple_choice import _excluded_text, is_select_multiple
from .valid_values import Prepared, add_labels, check_quantity, counts_by_row, exclusions

_KEPT = f"{_PREFIX}kept"  # False: a row the questionnaire leaves out of the estimate
_REASON = f"{_PREFIX}reason"  # its reason among the candidates (-1: kept)
_SHOWN_ROWS = 10


@dataclass(frozen=True)
class _Excluded(Prepared):
    """:class:`Prepared` of a Dask design: the left-out rows already counted by
    (``by`` values, reason) on the workers."""

    sizes: pd.Series | None = None

    def _counts(self, table: pd.DataFrame, by: list[str]) -> list[dict[int, int]]:
        if self.sizes is None or self.sizes.empty:
            return [{} for _ in range(len(table))]
        shown = [c for c in by if c in table.columns]
        sizes = self.sizes
        if shown and shown != list(self.by):
            # counted by all the analysis' by columns (a DiD's treated and period too):
            # added up over those the table does not show
            levels = [list(self.by).index(c) for c in shown] + [len(self.by)]
            sizes = sizes.groupby(level=levels).sum()
        return counts_by_row(sizes, table, shown)


# ------------------------------------------------------------ the partitions --
def _needed_columns(design: Any, names: Sequence[str]) -> list[str]:
    """The columns of the source frame an analysis of ``names`` reads: the design's,
    the analysed ones, and those their skip logic and derived expressions read (with
    their own skip logic, which blanks a derived value's sources)."""
    q = design.questionnaire
    base = design.base if isinstance(design, DaskReplicateDesign) and design.base else design
    wanted: list[str] = []
    if isinstance(design, DaskReplicateDesign) and design.base is None:
        wanted += [design.options["weights"], *design.options["replicate_weights"]]
    else:
        wanted += [*base.design_columns, *([base._weights] if base._weights else []),
                   *getattr(base, "weighting_columns", ())]  # a weighted design's
    wanted.append(SUBSET)  # a subset's rows (when it is one)
    todo = list(names)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in q:
            var = q.variable(name)
            for expr in (var.relevant_expr, getattr(var, "expression_expr", None)):
                if expr is not None:
                    todo.extend(sorted(expr.variables))
    source = list(design._source.columns)
    return [c for c in source if c in {*wanted, *seen}]


def _prepare_partition(frame: pd.DataFrame, q: Any, lang: str | None, names: list[str],
                       keep: bool, within: list[str] | None = None) -> pd.DataFrame:
    """One partition ready for the reduction: derived variables computed, missing codes
    blank, and each row's reason to be left out (the in-memory code, row by row).
    ``within``: the other columns of a model: a row blank in one of its columns or of
    ``names`` without a reason of the questionnaire leaves the domain uncounted (a row
    the model could not use)."""
    if q.derived:
        frame = q.derive(frame)
    codes, _, blanked = exclusions(q, lang, frame, names, keep)
    inside = np.ones(len(frame), dtype=bool)  # rows in the domain
    if SUBSET in frame.columns:  # rows outside a subset: out of the domain, not counted
        inside &= frame[SUBSET].to_numpy(dtype=bool)
    if within:  # a row the model leaves out for a reason stays (counted); a blank one goes
        model_codes = exclusions(q, lang, frame, [*names, *within], keep)[0]
        inside &= (model_codes >= 0) | frame[[*names, *within]].notna().all(axis=1).to_numpy()
    return with_columns(frame, {**blanked, _KEPT: (codes < 0) & inside,
                                _REASON: np.where(inside, codes, -1)})


@dataclass(frozen=True)
class _Preparation:
    """A Dask design ready for one analysis: the design the reduction reads (its frame
    prepared, its rows left out marked) and what the left-out rows are called."""

    design: Any
    original: Any
    reasons: tuple[str, ...]
    names: tuple[str, ...]
    by: tuple[str, ...]

    def excluded(self) -> _Excluded:
        """The left-out rows counted by (``by`` values, reason): one more pass."""
        sizes = _reason_sizes(self.design.data, list(self.by))
        return _Excluded(self.design, self.original, self.reasons, np.empty(0, dtype=np.int64),
                         self.by, sizes)


def prepare(design: Any, columns: Sequence[str], by: Sequence[str] = (), *,
            missing_codes: str | None = None, purpose: str | None = None,
            within: Sequence[str] = ()) -> Prepared:
    """:func:`perception.survey.valid_values.prepare` of a design on a Dask DataFrame:
    the design that reads the prepared partitions (its left-out rows outside its
    domain) and the left-out rows counted by (``by`` values, reason), one pass.
    ``within``: the other columns of a model, whose blank rows (without a reason of
    their own) leave the domain uncounted, as the in-memory subset of the model's rows
    and its left-out rows.

    Examples
    --------
    >>> p = prepare(dask_design, ["trust_police"], ["wave"])           # doctest: +SKIP
    >>> p.finish(pc.change(p.design, "trust_police", over="wave"), over="wave")  # doctest: +SKIP
    """
    if design.questionnaire is None:
        _setting(design, missing_codes)
        return Prepared(design, design, (), np.empty(0, dtype=np.int64), tuple(by))
    return _prepare(design, columns, by, missing_codes, purpose, list(within)).excluded()


#: the name the analyses import it by (beside valid_values.prepare, the in-memory one)
prepare_partitions = prepare


def _setting(design: Any, missing_codes: str | None) -> str:
    """The missing-code setting of one analysis (the call's, else the design's), checked."""
    return check_missing_codes(missing_codes if missing_codes is not None
                               else design.missing_codes)


def _check(design: Any, columns: Sequence[str], by: Sequence[str],
           denominators: Sequence[str] = ()) -> None:
    """Unknown columns named among the design's (derived variables included)."""
    available = list(design.data.columns)
    for names, argument in ((columns, "variables"), (denominators, "denominator"),
                            (by, "by")):
        check_columns(available, list(names), argument, where="the Dask DataFrame")


def _prepare(design: Any, columns: Sequence[str], by: Sequence[str],
             missing_codes: str | None, purpose: str | None,
             within: list[str] | None = None) -> _Preparation:
    """The lazy frame of one analysis and the design that reads it (unlabelled, its
    left-out rows marked in the column ``_KEPT``)."""
    _check(design, columns, by)
    keep = _setting(design, missing_codes) == "keep"
    q = design.questionnaire
    lang = design.lang
    names = list(dict.fromkeys([*columns, *by]))
    if purpose is not None:
        for name in columns:
            check_quantity(q, name, purpose)
    raw = design._source[_needed_columns(design, [*names, *(within or [])])]
    meta = _prepare_partition(raw._meta, q, lang, names, keep, within)
    _, candidates, _ = exclusions(q, lang, meta, names, keep)
    frame = raw.map_partitions(_prepare_partition, q, lang, names, keep, within, meta=meta)
    return _Preparation(_reading(design, frame), design, tuple(candidates), tuple(names),
                        tuple(by))


def _reading(design: Any, frame: Any) -> Any:
    """A copy of ``design`` over ``frame``, unlabelled, whose reduction leaves out the
    rows marked in ``_KEPT``."""
    out = with_frame(design, frame, UNLABELLED)
    out.kept_column = _KEPT
    return out


def _reason_partition(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """One partition's left-out rows counted by (``by`` values, reason)."""
    left = frame.loc[frame[_REASON].to_numpy() >= 0, [*by, _REASON]]
    # a row blank in a column the table does not show (a DiD's covariate left out for
    # its own missing code) still counts in the rows of the table, as in memory
    return left.groupby([*by, _REASON], dropna=False, observed=True).size()


def _reason_sizes(frame: Any, by: list[str]) -> pd.Series:
    dask = _require_dask()
    delayed = dask.delayed(_reason_partition)
    parts = [p for p in dask.compute(*[delayed(part, by) for part in
                                       frame[[*by, _REASON]].to_delayed()]) if len(p)]
    if not parts:
        return pd.Series(dtype=float)
    joined = pd.concat(parts)
    return joined.groupby(level=list(range(joined.index.nlevels)), dropna=False).sum()


# ------------------------------------------------------------------ estimators --
def estimate(design: Any, kind: str, variables, denominators=None, *, by=None,
             na_rm: bool = False, level: float = 0.95,
             missing_codes: str | None = None) -> pd.DataFrame:
    """``mean``, ``total`` or ``ratio`` of a design on a Dask DataFrame, labelled or not
    (called by :func:`perception.mean` and the others).

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    kind : {"mean", "total", "ratio"}
        The estimator.
    variables, denominators, by, na_rm, level
        As :func:`perception.survey.distributed.estimate`.
    missing_codes : {"exclude", "keep"}, optional
        Overrides the design's setting.

    Returns
    -------
    DataFrame
        The in-memory table: on a labelled design, with ``n_excluded``, ``excluded`` and
        the label columns.

    Examples
    --------
    >>> estimate(d, "mean", "trust_police", by="region")               # doctest: +SKIP
    """
    if design.questionnaire is None:
        _setting(design, missing_codes)
        return distributed.estimate(design, kind, variables, denominators, by=by,
                                    na_rm=na_rm, level=level)
    names, den_names = estimate_names(variables, denominators, kind)
    by_names = column_names(by, "by")
    _check(design, names, by_names, den_names)
    prepared = _prepare(design, [*names, *den_names], by_names, missing_codes, kind)
    table = distributed.estimate(prepared.design, kind, names, den_names or None,
                                 by=by_names, na_rm=na_rm, level=level)
    return prepared.excluded().finish(table)


def quantile(design: Any, variables, quantiles=(0.5,), *, by=None, na_rm: bool = False,
             level: float = 0.95, interval_type: str = "mean",
             missing_codes: str | None = None) -> pd.DataFrame:
    """Quantiles of a design on a Dask DataFrame, labelled or not (called by
    :func:`perception.quantile`).

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    variables, quantiles, by, na_rm, level, interval_type
        As :func:`perception.survey.dask_quantiles.quantile`.
    missing_codes : {"exclude", "keep"}, optional
        Overrides the design's setting.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> quantile(d, "age", [0.25, 0.5], by="region")                    # doctest: +SKIP
    """
    if design.questionnaire is None:
        _setting(design, missing_codes)
        return dask_quantiles.quantile(design, variables, quantiles, by=by, na_rm=na_rm,
                                       level=level, interval_type=interval_type)
    names = column_names(variables, "variables")
    by_names = column_names(by, "by")
    prepared = _prepare(design, names, by_names, missing_codes, "quantile")
    table = dask_quantiles.quantile(prepared.design, names, quantiles, by=by_names,
                                    na_rm=na_rm, level=level, interval_type=interval_type)
    return prepared.excluded().finish(table)


def proportion(design: Any, variables, *, by=None, method: Any = "logit",
               na_rm: bool = False, level: float = 0.95,
               missing_codes: str | None = None) -> pd.DataFrame:
    """Proportions of a design on a Dask DataFrame, labelled or not (called by
    :func:`perception.proportion`); a select-multiple question of a labelled design
    gives one row per option.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    variables, by, method, na_rm, level
        As :func:`perception.survey.distributed.proportion`.
    missing_codes : {"exclude", "keep"}, optional
        Overrides the design's setting.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> proportion(d, "trust_police", by="region")                     # doctest: +SKIP
    """
    if design.questionnaire is None:
        _setting(design, missing_codes)
        return distributed.proportion(design, variables, by=by, method=method, na_rm=na_rm,
                                      level=level)
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    by_names = column_names(by, "by")
    if any(is_select_multiple(design, name) for name in names):
        # as in memory (multiple_choice.proportions_with_options): the option rows of
        # each select-multiple question, the other variables' levels between them
        tables = []
        plain: list[str] = []
        for name in names:
            if is_select_multiple(design, name):
                if plain:
                    tables.append(proportion(design, plain, by=by_names, method=method,
                                             na_rm=na_rm, level=level))
                    plain = []
                tables.append(_option_table(design, name, by_names, na_rm, method, level,
                                            None))
            else:
                plain.append(name)
        if plain:
            tables.append(proportion(design, plain, by=by_names, method=method, na_rm=na_rm,
                                     level=level))
        if len(tables) == 1:
            table = tables[0]
        else:
            level_, method_ = tables[0].attrs.get("level"), tables[0].attrs.get("method")
            table = stack_tables(tables)
            table.attrs = {"level": level_, "method": method_, "vcov": None}
        add_labels(table, design, by_names)  # after its n_excluded and excluded
        return table
    prepared = _prepare(design, names, by_names, missing_codes, None)
    table = distributed.proportion(prepared.design, names, by=by_names, method=method,
                                   na_rm=na_rm, level=level)
    return prepared.excluded().finish(table)


# ---------------------------------------------------------- select multiple --
_OPTION_REASON = f"{_PREFIX}option_reason"


def _option_partition(frame: pd.DataFrame, q: Any, name: str, keep: bool,
                      columns: dict[str, Any], numbers: bool = False) -> pd.DataFrame:
    """One partition with the option indicators of ``name`` (categorical 0/1, or
    numbers 0/1 with ``numbers``; NaN for a row without an answer) and each row's
    reason to have none."""
    if q.derived:
        frame = q.derive(frame)
    answers = option_indicators(frame, q.variable(name), keep_missing=keep)
    values = {column: answers.indicators[code_text(code)].to_numpy(dtype=float)
              if numbers else pd.Categorical(answers.indicators[code_text(code)],
                                             categories=[0.0, 1.0])
              for column, code in columns.items()}
    reason = answers.reason.map(lambda r: None if r is None else str(r)).astype(object)
    if SUBSET in frame.columns:  # rows outside a subset are neither counted nor blank
        reason = reason.where(frame[SUBSET].to_numpy(dtype=bool), None)
    return with_columns(frame, {**values, _OPTION_REASON: reason})


def _option_frame(design: Any, name: str, columns_used: list[str],
                  missing_codes: str | None, numbers: bool) -> tuple[Any, dict[str, Any]]:
    """The Dask DataFrame of the columns ``name`` and ``columns_used`` need, with the
    option indicators of select-multiple ``name`` (:func:`_option_partition`), and each
    indicator column's option code."""
    q = design.questionnaire
    keep = _setting(design, missing_codes) == "keep"
    variable = q.variable(name)
    options = [*variable.codes, *(variable.missing if keep else [])]
    columns = {f"{name}/{code_text(code)}": code for code in options}
    needed = [c for c in _needed_columns(design, [name, *columns_used])]
    needed += [c for c in design._source.columns
               if c not in needed and any(c.startswith(f"{name}{s}") for s in "/.-")]
    raw = design._source[needed]
    meta = _option_partition(raw._meta, q, name, keep, columns, numbers)
    return raw.map_partitions(_option_partition, q, name, keep, columns, numbers,
                              meta=meta), columns


def option_outcomes(design: Any, name: str, roles: list[str], na_rm: bool
                    ) -> tuple[Any, dict[str, Any]]:
    """The 0/1 indicators of select-multiple ``name`` as outcomes (a DiD per option), as
    the in-memory ``option_design``: the design (still labelled, so that the other
    columns keep their missing codes and types) with one number column per option (NaN
    where the respondent was not asked or answered with a missing code, and where the
    question was left blank although asked: an error naming the rows unless
    ``na_rm``), and each column's option code.

    Examples
    --------
    >>> inner, columns = option_outcomes(d, "ca_type", ["treated", "wave"], False)  # doctest: +SKIP
    """
    dask = _require_dask()
    variable = design.questionnaire.variable(name)
    frame, columns = _option_frame(design, name, roles, None, numbers=True)
    delayed = dask.delayed(_option_reasons)
    parts = dask.compute(*[delayed(part, []) for part in frame[[_OPTION_REASON]].to_delayed()])
    _check_blanks(parts, name, variable, [], na_rm)
    inner = with_frame(design, frame)  # rows without an answer: NaN
    inner._source = frame  # the indicators are columns of the labelled design's data
    return inner, columns


def _option_reasons(frame: pd.DataFrame, by: list[str]) -> tuple[pd.Series, list, dict]:
    """One partition's rows without an answer, counted by (``by`` values, reason), the
    first rows left blank although asked, and the first rows missing a ``by`` value."""
    reason = frame[_OPTION_REASON]
    left = frame.loc[reason.notna().to_numpy(), [*by, _OPTION_REASON]]
    sizes = left.groupby([*by, _OPTION_REASON], dropna=False, observed=True).size()
    blank = np.flatnonzero((reason == NO_ANSWER).to_numpy(dtype=bool, na_value=False))
    gaps = {}
    inside = (frame[SUBSET].to_numpy(dtype=bool) if SUBSET in frame.columns
              else np.ones(len(frame), dtype=bool))  # a subset's rows only
    for column in by:
        rows = np.flatnonzero(frame[column].isna().to_numpy() & inside)
        if rows.size:
            gaps[column] = (int(rows.size), rows[:_SHOWN_ROWS].tolist())
    return sizes, [len(frame), int(blank.size), blank[:_SHOWN_ROWS].tolist()], gaps


def _option_table(design: Any, name: str, by: list[str], na_rm: bool, method: Any,
                  level: float, missing_codes: str | None) -> pd.DataFrame:
    """:func:`perception.survey.multiple_choice.option_table` on a Dask DataFrame."""
    dask = _require_dask()
    q = design.questionnaire
    _check(design, [], by)
    variable = q.variable(name)
    frame, columns = _option_frame(design, name, by, missing_codes, numbers=False)
    # the rows without an answer: counted by domain and reason, blanks and missing by
    # values found (one pass, what comes back is O(domains x reasons))
    delayed = dask.delayed(_option_reasons)
    read = [*by, _OPTION_REASON, *([SUBSET] if SUBSET in frame.columns else [])]
    parts = dask.compute(*[delayed(part, by) for part in frame[read].to_delayed()])
    _check_blanks(parts, name, variable, by, na_rm)
    inner = _reading(design, frame)
    del inner.kept_column  # unlabelled: rows without an answer are missing (na_rm=True)
    table = distributed.proportion(inner, list(columns), by=by, method=method, na_rm=True,
                                   level=level)
    chosen = table[(table["category"] == 1.0).to_numpy()].reset_index(drop=True)
    cov = covariance_of(chosen).to_numpy(dtype=float)
    out = chosen.copy()
    out.attrs = {}
    out["category"] = pd.Series([columns[c] for c in chosen["variable"]], index=out.index)
    out["variable"] = name
    sizes = [s for s, _, _ in parts if len(s)]
    joined = pd.concat(sizes) if sizes else pd.Series(dtype=float)
    lang = design.lang or q.languages[0]
    n_excluded, excluded = [], []
    for key in (out[by].itertuples(index=False, name=None) if by else [()] * len(out)):
        counts = _domain_counts(joined, by, key)
        n_excluded.append(int(counts.sum()))
        excluded.append(_excluded_text(counts, variable, lang))
    out["n_excluded"] = np.asarray(n_excluded, dtype=np.int64)
    out["excluded"] = excluded
    attach_covariance(out, cov, [*by, "variable", "category"])
    out.attrs["level"] = table.attrs.get("level")
    out.attrs["method"] = table.attrs.get("method")
    return out


def _domain_counts(joined: pd.Series, by: list[str], key: tuple) -> pd.Series:
    """The rows without an answer of one domain, counted by reason (its codes as the
    questionnaire writes them: a missing code as a number)."""
    counts: dict[Any, int] = {}
    for index, size in joined.items():
        values = index if isinstance(index, tuple) else (index,)
        if by and not _same(values[:-1], key):
            continue
        reason = values[-1]
        counts[_reason_code(reason)] = counts.get(_reason_code(reason), 0) + int(size)
    return pd.Series(counts, dtype="int64")


def _same(values: tuple, key: tuple) -> bool:
    from .valid_values import _key

    return _key(tuple(values)) == _key(tuple(key))


def _reason_code(reason: str) -> Any:
    """A reason as :func:`option_indicators` gives it: a missing code (int when it is
    a number), else the words "not asked" or "no answer"."""
    try:
        return int(reason)
    except ValueError:
        return reason


def _check_blanks(parts: list, name: str, variable: Any, by: list[str], na_rm: bool
                  ) -> None:
    """The errors of the in-memory option table: a question left blank although asked,
    a missing ``by`` value (without ``na_rm``); rows numbered in the whole frame."""
    if na_rm:
        return
    offset = 0
    blank_rows: list[int] = []
    count = 0
    gaps: dict[str, list] = {}
    for _, (length, n_blank, rows), part_gaps in parts:
        count += n_blank
        blank_rows += [offset + r for r in rows]
        for column, (n, first) in part_gaps.items():
            gaps.setdefault(column, [0, []])
            gaps[column][0] += n
            gaps[column][1] += [offset + r for r in first]
        offset += length
    if count:
        raise EstimationError(
            f"select_multiple {name!r} is blank in {count} row(s) where it was asked: rows "
            f"{format_rows(blank_rows[:_SHOWN_ROWS])} (row numbers in the whole Dask "
            "DataFrame). Pass na_rm=True to leave them out (counted in n_excluded), or "
            "enter a missing code for them."
        )
    for column in by:
        if column in gaps:
            n, first = gaps[column]
            raise EstimationError(
                f"column {column!r} (by) has {n} missing value(s) in rows "
                f"{format_rows(first[:_SHOWN_ROWS])} (row numbers in the whole Dask "
                "DataFrame). Pass na_rm=True to leave those rows out of this estimate (n "
                "reports how many rows entered), or recode them first."
            )
