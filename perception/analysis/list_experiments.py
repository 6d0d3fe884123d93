"""List experiments (item-count technique): the prevalence of a sensitive item with
design-based standard errors.

A random part of the sample hears a list of J non-sensitive items (the *control list*),
the others the same list plus the sensitive item (the *treatment list*); each respondent
says only how many items apply. Under the assumptions of no design effect (adding the
sensitive item does not change the answers to the control items) and no liars, the
difference between the mean counts of the two lists is the prevalence of the sensitive
item (Imai 2011; Blair & Imai 2012).

:func:`list_experiment` estimates that difference inside the survey design: the mean
count of each list is a domain mean of the one design (strata, clusters, weights,
calibration, replicates), and the prevalence is their contrast, with the covariance of
the two means (R's ``svyby(~count, ~list, design, svymean, covmat = TRUE)`` followed by
``svycontrast``). The table it returns carries its keyed covariance, so prevalences of
several waves or domains are compared with :func:`perception.contrast`,
:func:`perception.change` and :func:`perception.did`.

The checks of the count and list columns (:func:`list_columns`, and
:func:`check_on_dask` for a design on a Dask DataFrame) are shared with the diagnostics
(:mod:`perception.analysis.list_diagnostics`) and the regressions
(:mod:`perception.analysis.list_models`, :mod:`perception.analysis.dask_list_models`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from ..survey import intervals
from ..survey.attached import attach
from ..survey.checks import check_columns, check_design, column_names, numeric_values
from ..survey.covariance import attach_covariance, covariance_of
from ..survey.dask_domains import Flagged, domain_groups, flagged_rows, with_degf
from ..survey.dask_labelling import prepare_partitions
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.engine import active_rows
from ..survey.estimators import mean
from ..survey.valid_values import prepare
from .changes import plain_label

__all__ = ["list_experiment", "list_columns", "ListColumns", "PREVALENCE_COLUMNS"]

Design = SurveyDesign | ReplicateDesign

#: result columns of :func:`list_experiment`, after the ``by`` columns
PREVALENCE_COLUMNS = ["variable", "estimate", "se", "ci_low", "ci_high", "df", "deff", "n",
                      "n_control", "n_treatment"]


# ------------------------------------------------------------------ the columns --
@dataclass(frozen=True)
class ListColumns:
    """The count and list columns of a list experiment, checked.

    Attributes
    ----------
    count : (n,) float counts, NaN outside ``rows``.
    treatment : (n,) float 1 for the treatment list, 0 for the control list, NaN outside
        ``rows``.
    rows : (n,) bool, the rows that enter: in the design's domain, with a count, a list
        and (with ``na_rm``) every other column given.
    """

    count: np.ndarray
    treatment: np.ndarray
    rows: np.ndarray


def list_columns(
    design,
    count: str,
    treatment: str,
    n_control_items: int | None = None,
    other: Sequence[str] = (),
    na_rm: bool = False,
) -> ListColumns:
    """Check the count and list columns of a list experiment among the design's rows.

    The list column holds 1 (treatment list: the control items and the sensitive item)
    or 0 (control list), or ``True``/``False``; the count a whole number from 0 to J on
    the control list and from 0 to J + 1 on the treatment list (J =
    ``n_control_items``; without it, only whole numbers from 0). Every failure names the
    column, the rows and the fix.

    Parameters
    ----------
    design : the design whose domain is checked (rows outside it are not read).
    count, treatment : the count and list columns.
    n_control_items : J, the number of control items, when known.
    other : further columns the caller needs (``by``): their missing values leave a row
        out with ``na_rm``, and are an error otherwise.
    na_rm : leave out rows with a missing count, list or ``other`` value; otherwise a
        missing value is an error naming the column.

    Returns
    -------
    ListColumns

    Examples
    --------
    >>> d = pc.SurveyDesign(pd.DataFrame({"y": [0, 2, 4], "t": [0, 1, 1]}))
    >>> list_columns(d, "y", "t", n_control_items=3).treatment
    array([0., 1., 1.])
    >>> list_columns(d, "y", "t", n_control_items=2)
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: column 'y' (count) holds counts above J + 1 = 3 on the treatment list (t = 1) in rows 2 (value 4): the treatment list has J + 1 = 3 items. Check n_control_items (J), or correct the counts (a missing-value code such as 8 or 9 must be recoded to missing first: pc.recode_missing).
    """
    check_arguments(count, treatment, n_control_items)
    others = [c for c in other if c not in (count, treatment)]
    check_columns(design.data, [count, treatment, *others], "count, treatment or by")
    data = design.data
    y = numeric_values(data, count, "count", fix="Give the count as a number of items.")
    t = _list_values(data, treatment)
    missing = np.isnan(y) | np.isnan(t)
    for name in others:
        missing |= data[name].isna().to_numpy()
    rows = active_rows(design, [count, treatment, *others], missing, na_rm, "list experiment")
    if not rows.any():
        raise EstimationError(
            f"no rows left for the list experiment on {count!r}: every row of the design's "
            f"domain misses the count, the list ({treatment!r}) or a by column"
        )
    _check_counts(data, count, treatment, y, t, rows, n_control_items)
    return ListColumns(np.where(rows, y, np.nan), np.where(rows, t, np.nan), rows)


def check_arguments(count: str, treatment: str, n_control_items: int | None) -> None:
    """The count and list are two column names; J, when given, a whole number >= 1.

    Examples
    --------
    >>> check_arguments("y", "y", None)
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: count and treatment are the same column 'y': give the column of the counts and the column saying which list the respondent heard
    """
    if n_control_items is not None and (
            isinstance(n_control_items, bool)
            or not isinstance(n_control_items, int | np.integer) or n_control_items < 1):
        raise EstimationError(
            f"n_control_items must be the number of control items J (a whole number >= 1), "
            f"got {n_control_items!r}"
        )
    for name, argument in ((count, "count"), (treatment, "treatment")):
        if not isinstance(name, str):
            raise EstimationError(f"{argument} must be the name of a column, got {name!r}")
    if count == treatment:
        raise EstimationError(
            f"count and treatment are the same column {count!r}: give the column of the "
            "counts and the column saying which list the respondent heard"
        )


def _list_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The list column as 1.0 (treatment list), 0.0 (control list) or NaN, and the rows
    holding something else."""
    if pd.api.types.is_bool_dtype(col) or isinstance(col.dtype, pd.BooleanDtype):
        values = col.astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isnan(values) & ~np.isin(values, [0.0, 1.0])
    bad |= np.isnan(values) & col.notna().to_numpy()
    return values, bad


def _list_message(treatment: str, rows: str, values: list) -> str:
    shown = ", ".join(repr(plain_label(v)) for v in values[:5])  # 2, not np.int64(2)
    return (
        f"column {treatment!r} (treatment) must say which list each respondent heard, "
        f"1 (or True) for the treatment list with the sensitive item and 0 (or False) for "
        f"the control list, but rows {rows} hold {shown}. "
        "Recode it to 0/1 (a missing-value code must be recoded to missing first)"
    )


def _list_values(data: pd.DataFrame, treatment: str) -> np.ndarray:
    """The list column as 1.0 (treatment list), 0.0 (control list) or NaN."""
    col = data[treatment]
    values, bad = _list_codes(col)
    if bad.any():
        raise EstimationError(_list_message(treatment, format_rows(data.index[bad]),
                                            list(pd.unique(col[bad]))))
    return values


def _check_counts(data, count, treatment, y, t, rows, n_control_items) -> None:
    """Counts are whole numbers from 0, at most J (control) or J + 1 (treatment)."""
    used = rows & ~np.isnan(y)
    bad = used & ((y < 0) | (y != np.floor(y)) | ~np.isfinite(y))
    if bad.any():
        raise EstimationError(
            f"column {count!r} (count) must hold whole numbers of items from 0, but rows "
            f"{format_rows(data.index[bad])} hold {_values(y, bad)}. Correct those counts "
            "(a missing-value code must be recoded to missing first: pc.recode_missing)"
        )
    if n_control_items is None:
        return
    J = int(n_control_items)
    for arm, limit, name in ((0.0, J, "control"), (1.0, J + 1, "treatment")):
        over = used & (t == arm) & (y > limit)
        if over.any():
            raise EstimationError(_over_message(count, treatment, J, arm, name,
                                                format_rows(data.index[over]),
                                                _values(y, over)))


def _over_message(count: str, treatment: str, J: int, arm: float, name: str, rows: str,
                  values: str) -> str:
    bound = f"J = {J}" if arm == 0.0 else f"J + 1 = {J + 1}"
    return (
        f"column {count!r} (count) holds counts above {bound} on the {name} list "
        f"({treatment} = {int(arm)}) in rows {rows} (value {values}): the {name} list has "
        f"{bound} items. Check n_control_items (J), or correct the counts (a missing-value "
        "code such as 8 or 9 must be recoded to missing first: pc.recode_missing)."
    )


def _values(values: np.ndarray, mask: np.ndarray) -> str:
    shown = pd.unique(values[mask])[:5]
    return ", ".join(f"{v:g}" for v in shown)


# ------------------------------------------------------------------- prevalence --
def list_experiment(
    design: Design,
    *,
    count: str,
    treatment: str,
    by: str | Sequence[str] | None = None,
    n_control_items: int | None = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Prevalence of the sensitive item of a list experiment, with design-based SEs.

    The prevalence is the difference between the mean counts of the treatment list and
    of the control list, each a domain mean of the one design (strata, clusters,
    weights, weighting steps and replicates all apply); its variance comes from the
    covariance of the two means, which is not zero when the lists were assigned within
    clusters (respondents of one village hear either list).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design; on a Dask DataFrame (``pc.SurveyDesign(ddf, ...)``, its
        ``.replicate()`` or replicate-weight columns) the same table, the counts checked
        in one pass and the means of the two lists summed on the workers.
    count : str
        Column of the counts (how many items apply).
    treatment : str
        Column of the list heard: 1 (or True) the treatment list (control items and the
        sensitive item), 0 (or False) the control list.
    by : str or sequence of str, optional
        Domain column(s), e.g. the wave: one prevalence per domain, estimated inside the
        full design, with their joint covariance.
    n_control_items : int, optional
        J, the number of control items: when given, counts above J on the control list
        or above J + 1 on the treatment list are refused.
    na_rm : bool
        Leave out rows with a missing count, list or ``by`` value (otherwise a missing
        value is an error naming the column). Declared missing-value codes (8 refused, 9
        don't know) must be recoded to missing first (``perception.recode_missing``).
    level : float
        Confidence level (t interval with ``df = design.degf``).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable`` (the count column), ``estimate`` (the
        prevalence, a proportion), ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff``,
        ``n`` (rows used), ``n_control`` and ``n_treatment`` (rows of each list; outputs
        suppress a prevalence when either is below ``min_cell``). ``deff`` is the design
        effect of the prevalence: its design variance over the variance of the same
        difference of means under simple random sampling with replacement of the same
        number of respondents, which is the sum of the two means' SRS variances (R's
        ``deff = "replace"`` of each mean: under SRS the two lists' means are
        uncorrelated). Its ``attrs["vcov"]`` is the covariance of ``estimate`` keyed by
        the ``by`` columns and ``variable`` (``perception.vcov``,
        ``perception.contrast``; a table by the wave gives the change of the prevalence
        with ``perception.change``, a table by treated area and wave its
        difference-in-differences with ``perception.did``); ``attrs["estimates"]`` holds
        the mean count of each list.

    Raises
    ------
    EstimationError
        A list column not 0/1, counts that are not whole numbers (or above J, J + 1), a
        domain where one of the lists was not asked, missing values without ``na_rm``.

    Examples
    --------
    Have the security forces mistreated someone in the household? The list experiment
    of the built-in example, by wave:

    >>> demo = pc.demo_survey(seed=1)
    >>> d = demo.design()
    >>> t = pc.list_experiment(d, count="le_count", treatment="le_list", by="wave",
    ...                        n_control_items=4)
    >>> t[["wave", "estimate", "se", "deff", "n_control", "n_treatment"]].round(3)
       wave  estimate     se   deff  n_control  n_treatment
    0     0     0.186  0.041  1.425       1986         2015
    1     1     0.285  0.042  1.476       2010         1978
    >>> pc.change(t, "le_count", over="wave")[["from", "to", "estimate", "se"]].round(3)
       from  to  estimate     se
    0     0   1     0.099  0.055

    Notes
    -----
    R: ``b <- svyby(~count, ~list + wave, design, svymean, covmat = TRUE, deff =
    "replace")`` then ``svycontrast(b, ...)`` with weights -1 (control list) and 1
    (treatment list) within each domain. The R package ``list`` (``ictreg(method =
    "lm")``) gives the same estimate without the design: weights, strata and clusters
    are ignored there.
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design)
    intervals.check_level(level)
    by_names = column_names(by, "by")
    if treatment in by_names or count in by_names:
        raise EstimationError(
            f"by= holds the count or the list column ({by_names!r}): give the domains only "
            "(the two lists are compared within each domain)"
        )
    # the questionnaire's missing codes and skipped questions out (survey/valid_values;
    # on a Dask DataFrame partition by partition, survey/dask_labelling.py)
    prepared = (prepare_partitions if on_dask else prepare)(
        design, [count], [treatment, *by_names], purpose="mean")
    if on_dask:  # a design on a Dask DataFrame: the checks in one pass
        means = _list_means_on_dask(prepared.design, count, treatment, by_names,
                                    n_control_items, na_rm, level)
        return prepared.finish(_prevalence_table(means, by_names, treatment, count, level),
                               by=by_names)
    design = prepared.design
    columns = list_columns(design, count, treatment, n_control_items, by_names, na_rm)
    arm_design: Any = design.subset(columns.rows) if not np.array_equal(
        columns.rows, design.in_domain) else design
    means = mean(arm_design, count, by=[*by_names, treatment], level=level)
    return prepared.finish(_prevalence_table(means, by_names, treatment, count, level),
                           by=by_names)


def _list_problems(frame: pd.DataFrame, count: str, treatment: str, others: list[str],
                   n_control_items: int | None) -> dict[str, tuple[np.ndarray, str | None]]:
    """A partition's rows that fail the checks of :func:`list_columns` (run on the
    workers): a count or list that is not a number or a list, missing values, counts
    that are not whole numbers from 0 or are above J (control) or J + 1 (treatment)."""
    raw = frame[count]
    y = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    t, bad_list = _list_codes(frame[treatment])
    found: dict[str, tuple[np.ndarray, str | None]] = {
        "count": (np.isnan(y) & raw.notna().to_numpy(), count),
        "list": (bad_list, treatment),
    }
    missing = np.isnan(y) | np.isnan(t)
    for name in [count, treatment, *others]:
        column_missing = frame[name].isna().to_numpy()
        found[f"missing {name}"] = (column_missing, None)
        missing = missing | column_missing
    used = ~missing
    found["used"] = (used, None)
    with np.errstate(invalid="ignore"):
        found["whole"] = (used & ((y < 0) | (y != np.floor(y)) | ~np.isfinite(y)), count)
        if n_control_items is not None:
            J = int(n_control_items)
            found["over 0"] = (used & (t == 0.0) & (y > J), count)
            found["over 1"] = (used & (t == 1.0) & (y > J + 1), count)
    return found


def _list_means_on_dask(design, count: str, treatment: str, by_names: list[str],
                        n_control_items: int | None, na_rm: bool, level: float
                        ) -> pd.DataFrame:
    """The mean count of each list by domain on a Dask DataFrame, after the checks of
    :func:`list_columns` (one pass that brings back the rows at fault, not the rows)."""
    found = check_on_dask(design, count, treatment, by_names, n_control_items, na_rm)
    means = mean(design, count, by=[*by_names, treatment], na_rm=True, level=level)
    if rows_left_out(found, [count, treatment, *by_names]):
        # rows left out: the in-memory estimate is on the design cut to the rows used,
        # whose degrees of freedom are those of the rows used
        groups = domain_groups(design, [count], [*by_names, treatment], na_rm=True,
                               argument="list experiment")
        with_degf(means, groups.degf_used, level)
    return means


def rows_left_out(found: dict[str, Flagged], columns: Sequence[str]) -> bool:
    """Whether :func:`check_on_dask` found rows missing one of ``columns`` (left out with
    ``na_rm``)."""
    return any(found[f"missing {name}"].count for name in dict.fromkeys(columns))


def check_on_dask(design, count: str, treatment: str, others: Sequence[str],
                  n_control_items: int | None, na_rm: bool) -> dict[str, Flagged]:
    """The checks of :func:`list_columns` on a design on a Dask DataFrame: one pass
    that brings back the rows at fault (numbered across the partitions), not the rows;
    the same errors as in memory.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design (a labelled design's left-out rows are never at fault).
    count, treatment, others, n_control_items, na_rm
        As :func:`list_columns`.

    Returns
    -------
    dict of str to Flagged
        What each check found (``"missing <column>"``: the rows missing that column).

    Examples
    --------
    >>> found = check_on_dask(dask_design, "le_count", "le_list", [], 4, False)  # doctest: +SKIP
    """
    check_arguments(count, treatment, n_control_items)
    others = [c for c in others if c not in (count, treatment)]
    check_columns(list(design.data.columns), [count, treatment, *others],
                  "count, treatment or by")
    found = flagged_rows(design, [count, treatment, *others], _list_problems, count,
                         treatment, others, n_control_items)
    if found["count"].count:
        raise EstimationError(
            f"column {count!r} (count) is not numeric: rows {found['count'].text} hold "
            f"values such as {found['count'].values[0]!r}. Give the count as a number of "
            "items."
        )
    if found["list"].count:
        raise EstimationError(_list_message(treatment, found["list"].text,
                                            found["list"].values))
    if not na_rm:
        for name in [count, treatment, *others]:
            gaps = found[f"missing {name}"]
            if gaps.count:
                raise EstimationError(
                    f"column {name!r} (list experiment) has {gaps.count} missing value(s) "
                    f"in rows {gaps.text}. Pass na_rm=True to leave those rows out of this "
                    "estimate (n reports how many rows entered), or recode them first."
                )
    if not found["used"].count:
        raise EstimationError(
            f"no rows left for the list experiment on {count!r}: every row of the design's "
            f"domain misses the count, the list ({treatment!r}) or a by column"
        )
    if found["whole"].count:
        raise EstimationError(
            f"column {count!r} (count) must hold whole numbers of items from 0, but rows "
            f"{found['whole'].text} hold {', '.join(f'{v:g}' for v in found['whole'].values)}."
            " Correct those counts (a missing-value code must be recoded to missing first: "
            "pc.recode_missing)"
        )
    if n_control_items is not None:
        for arm, name in ((0.0, "control"), (1.0, "treatment")):
            over = found[f"over {int(arm)}"]
            if over.count:
                raise EstimationError(_over_message(
                    count, treatment, int(n_control_items), arm, name, over.text,
                    ", ".join(f"{v:g}" for v in over.values)))
    return found


def _prevalence_table(means: pd.DataFrame, by_names: list[str], treatment: str,
                      count: str, level: float) -> pd.DataFrame:
    """The contrast treatment - control within each domain of the per-list means."""
    theta = means["estimate"].to_numpy(dtype=float)
    V = covariance_of(means).to_numpy(dtype=float)
    arm = _list_values(means, treatment)
    keys = means[by_names].astype(object).apply(tuple, axis=1) if by_names else pd.Series(
        [()] * len(means))
    pairs: list[tuple[int, int]] = []
    labels: list[dict] = []
    for key in pd.unique(keys):
        positions = np.flatnonzero((keys == key).to_numpy())
        control = [p for p in positions if arm[p] == 0.0]
        treated = [p for p in positions if arm[p] == 1.0]
        if not control or not treated:
            where = ", ".join(f"{c}={plain_label(v)!r}" for c, v in zip(by_names, key,
                                                                         strict=True))
            missing_list = "control" if not control else "treatment"
            raise EstimationError(
                f"no respondent heard the {missing_list} list ({treatment} = "
                f"{int(missing_list == 'treatment')}){' in ' + where if where else ''}: the "
                "prevalence compares the two lists, so both must be asked in every domain. "
                "Choose a coarser by= or leave that domain out (design.subset)"
            )
        pairs.append((int(control[0]), int(treated[0])))
        labels.append({c: plain_label(v) for c, v in zip(by_names, key, strict=True)})
    L = np.zeros((len(pairs), len(theta)))
    for r, (i, j) in enumerate(pairs):
        L[r, i], L[r, j] = -1.0, 1.0
    estimate = L @ theta
    vcov = L @ V @ L.T
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    df = means["df"].to_numpy()[[j for _, j in pairs]]  # the design's df, as each mean's
    low, high = intervals.t_interval(estimate, se, df.astype(float), level)
    # SRS-with-replacement variance of each list's mean: its variance over its deff
    with np.errstate(divide="ignore", invalid="ignore"):
        v_srs = means["se"].to_numpy(dtype=float) ** 2 / means["deff"].to_numpy(dtype=float)
        deff = np.diag(vcov) / np.array([v_srs[i] + v_srs[j] for i, j in pairs])
    n = means["n"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(labels, columns=by_names) if by_names else pd.DataFrame(
        index=range(len(pairs)))
    out["variable"] = count
    out["estimate"] = estimate
    out["se"] = se
    out["ci_low"] = low
    out["ci_high"] = high
    out["df"] = df
    out["deff"] = deff
    out["n_control"] = np.array([n[i] for i, _ in pairs], dtype=np.int64)
    out["n_treatment"] = np.array([n[j] for _, j in pairs], dtype=np.int64)
    out.insert(list(out.columns).index("n_control"), "n", out["n_control"] + out["n_treatment"])
    attach_covariance(out, vcov, [*by_names, "variable"])
    out.attrs["level"] = level
    out.attrs["estimates"] = attach(means)
    return out


def count_table(by_frame: pd.DataFrame, lists: np.ndarray, counts: np.ndarray
                ) -> dict[tuple, int]:
    """The rows by (``by`` values, list, count), keyed by plain values.

    Examples
    --------
    >>> count_table(pd.DataFrame(index=range(3)), np.array([0.0, 1.0, 1.0]),
    ...             np.array([2.0, 3.0, 3.0]))
    {(0.0, 2.0): 1, (1.0, 3.0): 2}
    """
    frame = by_frame.reset_index(drop=True).assign(__pc_list=lists, __pc_count=counts)
    sizes = frame.value_counts(dropna=False, sort=False)
    return {tuple(plain_label(v) for v in (key if isinstance(key, tuple) else (key,))):
            int(size) for key, size in sizes.items()}


def count_indicator(values: np.ndarray, test: tuple[str, int]) -> np.ndarray:
    """1.0 where the counts pass ``test`` (``("<=", y)`` or ``("==", y)``), else 0.0.

    Examples
    --------
    >>> count_indicator(np.array([0.0, 2.0, 3.0]), ("<=", 2)).tolist()
    [1.0, 1.0, 0.0]
    """
    operator, value = test
    with np.errstate(invalid="ignore"):
        hits = values <= value if operator == "<=" else values == value
    return hits.astype(float)
