"""Before and after community actions: changes between waves.

One design holds every wave. A village (PSU) revisited at several waves keeps one PSU
id, so the covariance between waves enters every standard error; the same holds for a
respondent re-interviewed in a revisited village (respondents are nested in PSUs, and
the PSU is the cluster). Independent cross-sections are the special case where that
covariance is zero.

- :func:`change` -- change of a mean or proportion between waves, from the per-wave
  estimates of :func:`perception.mean` and their full covariance (R's
  ``svyby(..., covmat=TRUE)`` then ``svycontrast``).
- :func:`linear_combination` -- the one place where changes and the DiD
  (:mod:`perception.analysis.diff_in_diff`) combine estimates.

The difference-in-differences is in :mod:`perception.analysis.diff_in_diff`, the
re-interviews of a panel in :mod:`perception.analysis.panel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import EstimationError
from ..survey import intervals
from ..survey.attached import attach, stack_tables
from ..survey.checks import (
    check_columns,
    check_design,
    check_variables,
    column_names,
)
from ..survey.covariance import attach_covariance, covariance_of
from ..survey.dask_domains import distinct_values, domain_groups
from ..survey.dask_labelling import prepare_partitions
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.estimators import mean, proportion
from ..survey.multiple_choice import is_select_multiple
from ..survey.valid_values import prepare
from ..tables import CELL_COUNT_COLUMNS, smallest_count

__all__ = ["change", "linear_combination", "CHANGE_COLUMNS", "RELATIVE_COLUMNS"]

Design = SurveyDesign | ReplicateDesign

#: result columns of :func:`change`, after the ``by`` columns (``n``, ``n_from``,
#: ``n_to``: rows that entered the change, at the earlier and at the later wave)
CHANGE_COLUMNS = ["variable", "from", "to", "estimate", "se", "ci_low", "ci_high", "df", "p",
                  "n", "n_from", "n_to"]
RELATIVE_COLUMNS = ["relative", "relative_se", "relative_ci_low", "relative_ci_high"]
# ---------------------------------------------------------------------- helpers --
def linear_combination(
    estimates: np.ndarray, vcov: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Linear combinations ``L @ theta`` of estimates and their covariance ``L V L'``.

    Parameters
    ----------
    estimates : (K,) estimates.
    vcov : (K, K) their covariance.
    weights : (m, K) one row of weights per combination.

    Returns
    -------
    (m,) combinations and their (m, m) covariance.

    Examples
    --------
    >>> est, v = linear_combination(np.array([0.5, 0.6]), np.eye(2) * 0.01,
    ...                             np.array([[-1.0, 1.0]]))
    >>> round(float(est[0]), 2), round(float(v[0, 0]), 2)
    (0.1, 0.02)

    Notes
    -----
    R: ``svycontrast(stat, L)`` (``contrast``: ``L %*% coef``, ``L %*% V %*% t(L)``).
    The single place where :func:`change` and :func:`did` combine estimates, so it can
    be swapped for :func:`perception.contrast`.
    """
    L = np.atleast_2d(np.asarray(weights, dtype=float))
    theta = np.asarray(estimates, dtype=float)
    return L @ theta, L @ np.asarray(vcov, dtype=float) @ L.T


def two_sided_p(est: np.ndarray, se: np.ndarray, df: float) -> np.ndarray:
    """Two-sided p-value of ``est / se`` against t(df) (normal when df is infinite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = np.abs(np.asarray(est, dtype=float) / np.asarray(se, dtype=float))
    if df is None or not np.isfinite(df):
        return 2 * special.ndtr(-tval)
    if df <= 0:
        return np.full_like(tval, np.nan)
    return 2 * special.stdtr(df, -tval)


def ordered_values(values: pd.Series, active: np.ndarray) -> list:
    """Distinct values among active rows: category order, else sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values[active].dropna().unique())
        return [c for c in values.cat.categories if c in present]
    distinct = values[active].dropna().unique()
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=str)


def plain_label(value) -> object:
    """Plain Python value for a table cell (numpy scalars become Python scalars)."""
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------- change --
@positional_deprecated("over", "by", "reference", "relative", "level", "na_rm")
@renamed_argument("var", "variables")
def change(
    design: Design | pd.DataFrame,
    variables: str | Sequence[str],
    *,
    over: str = "wave",
    by: str | Sequence[str] | None = None,
    reference: Literal["first", "consecutive"] = "first",
    relative: bool = False,
    level: float = 0.95,
    na_rm: bool = False,
) -> pd.DataFrame:
    """Change of a mean or proportion between waves, with design-based SEs.

    The per-wave estimates come from ``perception.mean`` with ``by=[*by, over]``,
    estimated inside the one design that holds every wave; their full covariance
    (``table.attrs["vcov"]``) includes the covariance between waves brought by PSUs
    (villages) and respondents that were revisited. A 0/1 variable gives the change of
    a proportion (in proportion points).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign or DataFrame
        The design holding every wave (PSUs revisited across waves keep one id). For
        independent cross-sections (new villages each wave), make the strata wave-specific
        (stratum x wave) so the waves are independent samples and their covariance is zero.
        Or an estimate table by the wave column that carries its covariance, such as the
        prevalence of a list experiment (``pc.list_experiment(d, count=..., treatment=...,
        by="wave")``): the changes are then contrasts of its rows (``by`` defaults to its
        other domain columns). A design on a Dask DataFrame (``pc.SurveyDesign(ddf,
        ...)``, its ``.replicate()`` or replicate-weight columns) gives the same table: the
        per-wave means are summed on the workers, the waves found in one pass.
    variables : str or sequence of str
        Numeric or 0/1 column(s); for a table, the value(s) of its ``variable`` column.
    over : str
        The wave column. Waves are ordered as the categories of a categorical column, else
        sorted (numbers, dates; give text labels such as "baseline", "endline" as an ordered
        ``pd.Categorical``).
    by : str or sequence of str, optional
        Subgroup column(s); each subgroup gets its own changes.
    reference : {"first", "consecutive"}
        "first" -- every later wave minus the first wave of its subgroup; "consecutive" --
        each wave minus the one before.
    relative : bool
        Also report the relative change ``later / earlier - 1`` with its delta- method SE
        and interval (columns ``relative``, ``relative_se``, ``relative_ci_low``,
        ``relative_ci_high``).
    level : float
        Confidence level (t interval with ``df = design.degf``).
    na_rm : bool
        Leave out rows with a missing value (otherwise a missing value is an error naming
        the column).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``from``, ``to``, ``estimate`` (later minus
        earlier), ``se``, ``ci_low``, ``ci_high``, ``df``, ``p`` (two-sided t test of no
        change), then the unweighted counts of rows that entered the change: ``n_from``
        (rows of the subgroup at the earlier wave with a value, the ``n`` of that wave's
        mean), ``n_to`` (the same at the later wave) and ``n`` = ``n_from + n_to`` (a
        respondent interviewed at both waves counts once per wave). Outputs suppress a
        change when ``n_from`` or ``n_to`` is below ``min_cell``
        (``perception.suppress_small_cells``). Its ``attrs["vcov"]`` is the covariance of
        ``estimate`` (keyed by the ``by`` columns, ``variable``, ``from`` and ``to``: read
        it with ``perception.vcov``, combine rows with ``perception.contrast``) and
        ``attrs["estimates"]`` the per-wave table it was computed from.
        A select-multiple question of a labelled design gives one change per option: the
        share of respondents asked who chose it (``perception.proportion``), with a
        ``category`` column (the option's code) after ``variable``; so does the table of
        a proportion. Several variables of which one is a select-multiple question are
        estimated one by one: their stacked table carries no joint covariance.

    Raises
    ------
    EstimationError
        If ``over`` has a single value, or a subgroup was observed at one wave only.

    Examples
    --------
    Trust in the police (mean score, 0-3) from the baseline to the endline of the
    built-in example, in the comparison and the treated communes:

    >>> d = pc.demo_survey(seed=1).design()
    >>> t = pc.change(d, "trust_police", over="wave", by="treated")
    >>> t[["treated", "from", "to", "estimate", "se", "p"]].round(3)
       treated  from  to  estimate     se     p
    0        0     0   1     0.059  0.031  0.06
    1        1     0   1     0.261  0.040  0.00

    Notes
    -----
    R: ``b <- svyby(~y, ~wave, design, svymean, covmat = TRUE)`` then
    ``svycontrast(b, c(-1, 1))``; ``p`` is ``2 * pt(-abs(est / se), degf(design))``.
    The relative change is ``svycontrast(b, quote(`2` / `1` - 1))`` (delta method).
    """
    if isinstance(design, pd.DataFrame):
        return _change_of_table(design, variables, over, by, reference, relative, level)
    names = column_names(variables, "variables")
    by_names = column_names(by, "by")
    # select-multiple questions of a labelled design: their options, from proportion()
    on_dask, plain, columns = checked_outcomes(design, names)
    intervals.check_level(level)
    if not isinstance(over, str):
        raise EstimationError(f"over must be the name of the wave column, got {over!r}")
    check_columns(columns, [over], "over")
    check_columns(columns, by_names, "by")
    if over in by_names:
        raise EstimationError(
            f"column {over!r} is both over= and in by=; give the wave column only as over="
        )
    if reference not in ("first", "consecutive"):
        raise EstimationError(
            f"reference={reference!r} is not an option; choose 'first' (every wave minus "
            "the first) or 'consecutive' (each wave minus the one before)"
        )
    _check_several_waves(design, over, "over")

    # (on a Dask DataFrame the per-wave means and proportions come from the Dask
    # estimators: group sums by domain)
    if len(plain) == len(names):
        return _plain_changes(design, names, by_names, over, reference, relative, level,
                              na_rm)
    changes = []
    for name in names:  # each select-multiple question: a change per option
        if name in plain:
            continue
        table = proportion(design, name, by=[*by_names, over], na_rm=na_rm, level=level)
        # the change's t test: the design's df, as for a mean
        table["df"] = _design_degf(design, over)
        changes.append(_changes_from_table(table, by_names, over, reference, relative, level))
    if plain:
        changes.insert(0, _plain_changes(design, plain, by_names, over, reference, relative,
                                         level, na_rm))
    if len(changes) == 1:
        return changes[0]
    for table in changes:
        if "category" in table.columns:  # codes stay codes beside the rows without one
            table["category"] = table["category"].astype(object)
    out = stack_tables(changes)  # rows of different tables: no joint covariance
    out["category"] = out["category"].astype(object).where(out["category"].notna(), None)
    order = [c for c in out.columns if c != "category"]
    order.insert(order.index("variable") + 1, "category")
    out = out[order]
    out.attrs = {"level": level, "vcov": None}
    return out


def checked_outcomes(design, names: list[str]) -> tuple[bool, list[str], Any]:
    """The checks of the outcome columns of a change or DiD: whether the design is on a
    Dask DataFrame, the outcomes that are not select-multiple questions, and what the
    other columns are checked against (the Dask DataFrame's columns, or the data)."""
    on_dask = getattr(design, "is_dask", False)
    plain = [n for n in names if not is_select_multiple(design, n)]
    columns = list(design.data.columns) if on_dask else design.data
    if on_dask:
        if not names:
            raise EstimationError("give at least one column name as variables")
        check_columns(columns, names, "variables")
    elif plain or not names:
        check_variables(design, plain, "variables")
    else:
        check_design(design)
    return on_dask, plain, columns


def _prepare(design):
    """The preparation of a labelled design's rows: in memory, or partition by
    partition on a Dask DataFrame."""
    return prepare_partitions if getattr(design, "is_dask", False) else prepare


def _design_degf(design, over: str) -> int:
    """The design's degrees of freedom (R's ``degf``; one pass on a Dask DataFrame)."""
    if not getattr(design, "is_dask", False):
        return int(design.degf)
    return domain_groups(design, [], [over], na_rm=True, argument="change").degf


def _plain_changes(design, names, by_names, over, reference, relative, level, na_rm
                   ) -> pd.DataFrame:
    """The changes of the means of ``names``; a labelled design leaves the missing codes
    and skipped questions out and counts them (survey/valid_values)."""
    prepared = _prepare(design)(design, names, [*by_names, over], purpose="mean")
    table = mean(prepared.design, names, by=[*by_names, over], na_rm=na_rm, level=level)
    changes = _changes_from_table(table, by_names, over, reference, relative, level)
    return prepared.finish(changes, by=by_names, over=over)


def _change_of_table(table: pd.DataFrame, variables, over, by, reference, relative, level
                     ) -> pd.DataFrame:
    """``change`` of the rows of an estimate table (its keyed covariance)."""
    names = column_names(variables, "variables")
    intervals.check_level(level)
    if reference not in ("first", "consecutive"):
        raise EstimationError(
            f"reference={reference!r} is not an option; choose 'first' or 'consecutive'"
        )
    identity = [str(c) for c in covariance_of(table).index.names if c is not None]
    if not isinstance(over, str) or over not in identity or "variable" not in identity:
        raise EstimationError(
            f"the table's rows are identified by {identity!r}, without the wave column "
            f"{over!r}: estimate it by the wave (by=[..., {over!r}]) to compare waves"
        )
    group = [c for c in identity if c not in (over, "variable", "category")]
    ids = [*group, "variable", *(["category"] if "category" in identity else [])]
    by_names = column_names(by, "by")
    if by_names and set(by_names) != set(group):
        raise EstimationError(
            f"by={by_names!r} does not match the table: its rows are identified by "
            f"{identity!r}, so the changes are within {group!r} (leave by=None)"
        )
    unknown = [n for n in names if n not in set(table["variable"])]
    if unknown or not names:
        raise EstimationError(
            f"variables={names!r}: the table has the variables "
            f"{sorted(map(str, pd.unique(table['variable'])))!r}"
        )
    rows = table[table["variable"].isin(names).to_numpy()]
    waves = ordered_values(rows[over], np.ones(len(rows), dtype=bool))
    if len(waves) < 2:
        raise EstimationError(
            f"column {over!r} has a single value ({waves!r}) in the table: a change needs "
            "two waves or more"
        )
    # rows of each group in wave order (the order the pairs are read in)
    rank = pd.Index(waves).get_indexer(rows[over])
    keys = rows[ids].astype(object).apply(tuple, axis=1)
    first = pd.Series(range(len(rows))).groupby(pd.factorize(keys)[0]).transform("min")
    order = np.lexsort((rank, first.to_numpy()))
    out = _changes_from_table(rows.iloc[order], group, over, reference, relative, level)
    if any(c in rows.columns for c in CELL_COUNT_COLUMNS):
        # the estimates rest on several cells each (a list experiment's two lists): the
        # change rests on the smallest of them at either wave
        smallest = dict(zip(_row_keys(rows, [*ids, over]),
                            smallest_count(rows).to_numpy(), strict=True))
        earlier = _row_keys(out, [*ids, "from"])
        later = _row_keys(out, [*ids, "to"])
        out.insert(list(out.columns).index("n_to") + 1, "n_min",
                   [min(smallest[a], smallest[b]) for a, b in zip(earlier, later, strict=True)])
    return out


def _row_keys(table: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(plain_label(v) for v in row) for row in
            table[columns].itertuples(index=False, name=None)]


def _check_several_waves(design, over: str, argument: str) -> list:
    if getattr(design, "is_dask", False):  # one pass: each partition's distinct values
        values = distinct_values(design, over)
        waves = ordered_values(values, np.ones(len(values), dtype=bool))
    else:
        waves = ordered_values(design.data[over], design.in_domain)
    if len(waves) < 2:
        only = ", ".join(repr(plain_label(w)) for w in waves) or "no value"
        raise EstimationError(
            f"column {over!r} ({argument}) has a single value ({only}) among the rows of the "
            "design: a change needs two waves or more. Build one design from the stacked "
            "waves (pd.concat of the wave files, with a wave column)."
        )
    return waves


def _changes_from_table(
    table: pd.DataFrame,
    by_names: list[str],
    over: str,
    reference: str,
    relative: bool,
    level: float,
) -> pd.DataFrame:
    """Rows ``later - earlier`` of a per-wave estimate table, grouped by by + variable."""
    theta = table["estimate"].to_numpy(dtype=float)
    V = covariance_of(table).to_numpy(dtype=float)
    df = float(table["df"].iloc[0])
    # the options of a select-multiple question (and the levels of a proportion table)
    # change one by one: their category is part of the group
    labels_cols = ["variable", *(["category"] if "category" in table.columns else [])]
    group_cols = [*by_names, *labels_cols]
    keys = table[group_cols].astype(object).apply(tuple, axis=1)
    pairs: list[tuple[int, int]] = []
    labels: list[dict] = []
    for key in pd.unique(keys):
        positions = np.flatnonzero((keys == key).to_numpy())
        if positions.size < 2:
            where = ", ".join(f"{c}={v!r}" for c, v in zip(group_cols, key, strict=True))
            raise EstimationError(
                f"subgroup {where} has estimates at one wave only "
                f"({over}={plain_label(table[over].iloc[positions[0]])!r}), so no change can be "
                "computed for it; drop the subgroup with design.subset() or choose a "
                "coarser by="
            )
        if reference == "first":
            steps = [(positions[0], j) for j in positions[1:]]
        else:
            steps = list(zip(positions[:-1], positions[1:], strict=True))
        for i, j in steps:
            pairs.append((i, j))
            labels.append({
                **{c: plain_label(table[c].iloc[i]) for c in group_cols},
                "from": plain_label(table[over].iloc[i]),
                "to": plain_label(table[over].iloc[j]),
            })
    L = np.zeros((len(pairs), theta.shape[0]))
    for r, (i, j) in enumerate(pairs):
        L[r, i], L[r, j] = -1.0, 1.0
    est, vcov = linear_combination(theta, V, L)
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    low, high = intervals.t_interval(est, se, df, level)
    out = pd.DataFrame(labels)
    out = out[[*group_cols, "from", "to"]]
    out["estimate"] = est
    out["se"] = se
    out["ci_low"] = low
    out["ci_high"] = high
    out["df"] = table["df"].iloc[0]
    out["p"] = two_sided_p(est, se, df)
    n_wave = table["n"].to_numpy(dtype=np.int64)
    n_from = np.array([n_wave[i] for i, _ in pairs], dtype=np.int64)
    n_to = np.array([n_wave[j] for _, j in pairs], dtype=np.int64)
    out["n"] = n_from + n_to
    out["n_from"] = n_from
    out["n_to"] = n_to
    if relative:
        J = np.zeros_like(L)
        with np.errstate(divide="ignore", invalid="ignore"):
            for r, (i, j) in enumerate(pairs):
                J[r, i] = -theta[j] / theta[i] ** 2
                J[r, j] = 1.0 / theta[i]
            rel = np.array([theta[j] / theta[i] - 1.0 for i, j in pairs])
        _, rel_v = linear_combination(theta, V, J)
        rel_se = np.sqrt(np.clip(np.diag(rel_v), 0, None))
        rel_low, rel_high = intervals.t_interval(rel, rel_se, df, level)
        out["relative"] = rel
        out["relative_se"] = rel_se
        out["relative_ci_low"] = rel_low
        out["relative_ci_high"] = rel_high
    attach_covariance(out, vcov, [*group_cols, "from", "to"])
    out.attrs["level"] = level
    out.attrs["estimates"] = attach(table)
    return out


