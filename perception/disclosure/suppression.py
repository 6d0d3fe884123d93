"""Small cells: what a published table may show.

Library estimators return every cell (analysts need them, and they must equal R).
Outputs — CLI tables, CSV/XLSX exports, figures, reports — pass through
:func:`suppress_small_cells` (or :func:`protect_table`, which also suppresses the
complementary cells that would reveal a suppressed one) first, so a cell estimated from
fewer than ``min_cell`` respondents is never shown, only marked; :func:`disclosure_check`
lists every problem of a table. Personal data are handled in
:mod:`perception.disclosure.pii`, anonymised exports in
:mod:`perception.disclosure.anonymise`.

The thresholds follow the project's practice for respondents in Central Mali (after the
OCHA Centre for Humanitarian Data guidance on statistical disclosure control): no
published estimate on fewer than 30 respondents, no table cell counting fewer than 10,
``k = 10`` identical records on the quasi-identifiers (stricter than the common
``k = 5``), estimates with a coefficient of variation above 30% flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated
from ..errors import DisclosureError
from ..tables import CELL_COUNT_COLUMNS, smallest_count

if TYPE_CHECKING:  # pragma: no cover
    pass


__all__ = [
    "DEFAULT_MIN_CELL",
    "DEFAULT_K",
    "DEFAULT_MIN_COUNT",
    "COUNT_COLUMN",
    "DEFAULT_MAX_CV",
    "VALUE_COLUMNS",
    "CELL_COUNT_COLUMNS",
    "SUPPRESSED_MARK",
    "DISCLOSURE_COLUMNS",
    "suppress_small_cells",
    "smallest_count",
    "disclosure_check",
    "protect_table",
    "publishable",
]

#: smallest number of respondents a published estimate may rest on
DEFAULT_MIN_CELL = 30
#: smallest number of respondents a published table cell (a count) may hold, and the k of
#: k-anonymity
DEFAULT_K = 10
#: smallest number of respondents giving one answer (a category cell) that a published
#: table may rest on: the ``min_count`` of the outputs
DEFAULT_MIN_COUNT = DEFAULT_K
#: the column of a proportion table holding the respondents who gave each answer
COUNT_COLUMN = "n_category"
#: largest coefficient of variation (se / |estimate|) of an estimate published unflagged
DEFAULT_MAX_CV = 0.30
#: columns that carry a number derived from the respondents of a cell (the ``relative*``
#: columns are those of ``change(..., relative=True)``)
VALUE_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "deff", "cv", "p", "statistic",
                 "relative", "relative_se", "relative_ci_low", "relative_ci_high")

#: mark shown in place of a suppressed value
SUPPRESSED_MARK = "suppressed (n < {min_cell})"


@positional_deprecated("n_column", "value_columns")
def suppress_small_cells(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    n_column: str = "n",
    value_columns: tuple[str, ...] = VALUE_COLUMNS,
) -> pd.DataFrame:
    """Blank the values of cells with fewer than ``min_cell`` respondents, and mark them.

    Returns a new table (the input is untouched) with the values of small cells set to
    NaN and a boolean ``suppressed`` column. The ``n`` column stays so the rule can be
    checked. A table that also has the cell counts of ``CELL_COUNT_COLUMNS``
    (``n_from``/``n_to`` of ``perception.change``, ``n_min`` of DiD effects and
    contrasts) suppresses a row when any of them is below ``min_cell`` too. Only plain settings survive in ``attrs``: covariances and nested tables
    would reveal the cells.

    Parameters
    ----------
    table : DataFrame
        Estimate table with an ``n`` column (unweighted respondents per cell).
    min_cell : int
        Smallest number of respondents a published cell may rest on.
    n_column : str
        The column of the respondents behind each estimate.
    value_columns : tuple of str
        The columns blanked in a suppressed row (those the table has).

    Returns
    -------
    DataFrame
        A copy of ``table`` with the values of small cells set to NaN and a boolean
        ``suppressed`` column.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["a", "b"], "estimate": [0.4, 0.9], "n": [120, 12]})
    >>> suppress_small_cells(t)["estimate"].isna().tolist()
    [False, True]
    """
    if not isinstance(min_cell, int | np.integer) or min_cell < 1:
        raise DisclosureError(f"min_cell must be a positive whole number, got {min_cell!r}")
    if n_column not in table.columns:
        raise DisclosureError(
            f"the table has no {n_column!r} column, so small cells cannot be found; keep the "
            "'n' column of estimate tables in every output table"
        )
    out = table.copy()
    # keep only plain settings (level, method...): covariances and the per-wave tables
    # that change() carries would reveal the suppressed cells
    out.attrs = {
        k: v for k, v in table.attrs.items() if isinstance(v, str | int | float | bool)
    }
    counts = smallest_count(out, n_column)
    small = (counts < min_cell) | counts.isna()
    if "suppressed" in table.columns:  # suppressed before (a small count, a complement)
        small = small | table["suppressed"].fillna(True).astype(bool)
    for column in value_columns:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~small)
    out["suppressed"] = small.to_numpy()
    out.attrs["min_cell"] = int(min_cell)
    return out


# ------------------------------------------------------------------ personal data --


def check_count(name: str, value: Any) -> None:
    """A threshold (``min_cell``, ``k``) must be a positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DisclosureError(f"{name} must be a positive whole number, got {value!r}")


# -------------------------------------------------------------- disclosure checks --

#: columns of :func:`disclosure_check`'s table after the cell's key columns
DISCLOSURE_COLUMNS = ["rule", "value", "threshold", "action", "message"]
# columns of an estimate table that do not identify its cell
_NON_KEY = frozenset({*VALUE_COLUMNS, *CELL_COUNT_COLUMNS, "df", "n", "suppressed",
                      "suppression", "flag", "count",
                      "n_category", "n_weighted", "reliability", "n_excluded", "excluded"})
_RULE_ORDER = {"small_cell": 0, "small_count": 1, "complementary": 2, "high_cv": 3}


def _option_rows(table: pd.DataFrame, keys: Sequence[str],
                 estimate: np.ndarray | None) -> np.ndarray:
    """Rows that are options of a select-multiple question: a labelled table's rows (they
    carry ``n_excluded``) whose group's shares do not sum to 1."""
    rows = np.zeros(len(table), dtype=bool)
    if ("n_excluded" not in table.columns or estimate is None
            or not {"category", "variable"} <= set(keys)):
        return rows
    group = [c for c in keys if c != "category"]
    sums = pd.Series(estimate, index=table.index).groupby(
        [table[c] for c in group], dropna=False, sort=False).transform("sum")
    return ~np.isclose(sums.to_numpy(dtype=float), 1.0, rtol=0, atol=1e-6)


def _describe_cell(values: Sequence[Any], keys: Sequence[str], label: Any) -> str:
    parts = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
    return ", ".join(parts) if parts else f"row {label}"


def _assess(
    table: pd.DataFrame,
    min_cell: int,
    k: int,
    max_cv: float | None,
    n_column: str,
    count_column: str | None,
    margins: bool | str = True,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The risky cells of an estimate table, with their positions (see disclosure_check)."""
    check_count("min_cell", min_cell)
    check_count("k", k)
    if max_cv is not None and (isinstance(max_cv, bool) or not isinstance(
            max_cv, int | float) or not max_cv > 0):
        raise DisclosureError(f"max_cv must be a positive number (0.30 for 30%), got {max_cv!r}")
    if not isinstance(table, pd.DataFrame):
        raise DisclosureError(f"the table must be a pandas DataFrame, got {type(table).__name__}")
    if n_column not in table.columns:
        raise DisclosureError(
            f"the table has no {n_column!r} column, so small cells cannot be found; keep the "
            "'n' column of estimate tables in every output table"
        )
    if margins not in (True, False, "counts"):
        raise DisclosureError(f"margins must be True, False or 'counts', got {margins!r}")
    if count_column is not None and count_column not in table.columns:
        raise DisclosureError(
            f"count_column={count_column!r} is not a column of the table (columns: "
            f"{', '.join(map(str, table.columns))})"
        )
    # a label column (<by>_label, variable_label ...) names a key, it is not one
    keys = [c for c in table.columns if c not in _NON_KEY
            and c not in (n_column, count_column, COUNT_COLUMN)
            and not str(c).endswith("_label")]
    by = keys[: keys.index("variable")] if "variable" in keys else list(keys)
    n = smallest_count(table, n_column).to_numpy(dtype=float)
    estimate = (pd.to_numeric(table["estimate"], errors="coerce").to_numpy(dtype=float)
                if "estimate" in table.columns else None)
    count: np.ndarray | None = None
    approx = False
    if count_column is None and COUNT_COLUMN in table.columns:
        count_column = COUNT_COLUMN
    elif count_column is None and {"category", "count"} <= set(table.columns):
        count_column = "count"  # the respondents of each reason of item_nonresponse
    # the options of a select-multiple question: each is a share of its own, chosen or
    # not; they do not sum to 1 as the answers of a single-choice question do (the rows
    # of a labelled design carry n_excluded either way, so the sums tell them apart)
    options = _option_rows(table, keys, estimate)
    if count_column is not None:
        count = pd.to_numeric(table[count_column], errors="coerce").to_numpy(dtype=float)
        if count_column == COUNT_COLUMN:
            # one answer of two kept (a top-box share, an option chosen): its share
            # tells the other answer's count too (n - count), which must reach k as well
            one_of_two = options | ("category" not in table.columns)
            count = np.where(one_of_two, np.minimum(count, n - count), count)
    elif ("category" in table.columns and estimate is not None
          and not {"from", "to"} <= set(table.columns) and "period" not in table.columns):
        # about estimate x n for a level's share (a change or an effect counts nobody)
        with np.errstate(invalid="ignore"):
            count = np.round(np.clip(estimate, 0, 1) * n)
        approx = True

    records: list[dict[str, Any]] = []
    key_values = table[keys].to_numpy(dtype=object) if keys else np.empty((len(table), 0))

    def describe(i: int) -> str:
        return _describe_cell(key_values[i], keys, table.index[i])

    suppressed = np.zeros(len(table), dtype=bool)

    def add(pos: int, rule: str, value: float, threshold: float, action: str, message: str):
        records.append({"pos": pos, "rule": rule, "value": value, "threshold": threshold,
                        "action": action, "message": message})

    for i in range(len(table)):
        cell = describe(i)
        if not n[i] >= min_cell:  # NaN counts as small
            suppressed[i] = True
            add(i, "small_cell", n[i], min_cell, "suppress",
                f"{cell}: the estimate rests on {'an unknown number of' if np.isnan(n[i]) else int(n[i])} "
                f"respondents, fewer than min_cell={min_cell}: suppress it")
        # nobody gave the answer: no respondent to protect (a zero is published); no
        # count: the row is no answer's cell (a list experiment stacked with a direct
        # question), the rule is not for it
        if count is not None and 0 < count[i] < k:
            suppressed[i] = True
            how = "about {} respondents (estimate x n)" if approx else "{} respondents"
            shown = "an unknown number of respondents" if np.isnan(count[i]) else how.format(
                int(count[i]))
            add(i, "small_count", count[i], k, "suppress",
                f"{cell}: the cell holds {shown}, fewer than k={k}: suppress it")

    # cells whose answer count must stay secret: the small counts, and the cells hidden
    # to protect them (with margins="counts", the only ones the margins protect)
    secret = (np.zeros(len(table), dtype=bool) if count is None
              else (count > 0) & (count < k))
    lines: list[tuple[list[str], str, bool]] = []
    if "category" in keys and "variable" in keys and not options.all():
        lines.append(([*by, "variable"], "the other categories of its variable (they sum to 1)",
                      False))
    for b in by if margins else []:
        lines.append(([c for c in keys if c != b], f"the other {b} domains and their margin",
                      margins == "counts"))
    size = count if count is not None else n
    line_groups = [
        ([np.asarray(g) for g in table.groupby(columns, dropna=False, sort=False).indices.values()]
         if columns else [np.arange(len(table))], what, counts_only)
        for columns, what, counts_only in lines
    ]
    if lines and lines[0][1].startswith("the other categories"):
        # the options of a select-multiple question do not sum to 1: no complement there
        groups0, what0, counts0 = line_groups[0]
        line_groups[0] = ([idx for idx in groups0 if not options[idx].any()], what0, counts0)
    changed = True
    while changed:
        changed = False
        for groups, what, counts_only in line_groups:
            for idx in groups:
                if len(idx) < 2 or suppressed[idx].sum() != 1:
                    continue
                hidden = idx[suppressed[idx]][0]
                if counts_only and not secret[hidden]:
                    continue
                candidates = idx[~suppressed[idx]]
                # the next smallest cell; a zero only when no other is left (hiding a
                # zero beside a small count protects nothing a reader cannot guess)
                sizes = np.where(np.isnan(size[candidates]), np.inf, size[candidates])
                sizes = np.where(sizes == 0, np.nextafter(np.inf, 0), sizes)
                j = int(candidates[int(np.argmin(sizes))])
                suppressed[j] = True
                secret[j] = secret[j] or bool(secret[hidden])
                changed = True
                add(j, "complementary", size[j], float("nan"), "suppress",
                    f"{describe(j)}: {describe(hidden)} is "
                    f"suppressed, and {what} would reveal it: suppress this cell too")
    if max_cv is not None and estimate is not None and "se" in table.columns:
        se = pd.to_numeric(table["se"], errors="coerce").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = se / np.abs(estimate)
        for flagged in np.flatnonzero((cv > max_cv) & ~suppressed):
            i = int(flagged)
            add(i, "high_cv", float(cv[i]), float(max_cv), "flag",
                f"{describe(i)}: coefficient of variation {cv[i]:.0%} above "
                f"{max_cv:.0%}: publish it only with a warning (unreliable)")
    records.sort(key=lambda r: (r["pos"], _RULE_ORDER[r["rule"]]))
    return records, keys


@positional_deprecated("k", "max_cv")
def disclosure_check(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    k: int = DEFAULT_K,
    max_cv: float | None = DEFAULT_MAX_CV,
    n_column: str = "n",
    count_column: str | None = None,
    margins: bool | Literal["counts"] = True,
) -> pd.DataFrame:
    """List the cells of an estimate table that must not be published as they are.

    Rules, each giving one row per risky cell:

    - ``small_cell`` (suppress): the estimate rests on fewer than ``min_cell``
      respondents (``n``).
    - ``small_count`` (suppress): the cell counts fewer than ``k`` respondents (but
      some: a zero reveals nobody and is published): the ``count_column`` when given,
      else the table's ``n_category`` (the answers' counts of ``pc.proportion``,
      ``pc.likert``, ``pc.top_box``; a table without ``category`` keeps one answer of
      two, whose share tells the other's count ``n - n_category`` too), else the
      ``count`` of each ``category`` (``pc.item_nonresponse``), else for a proportion
      table (a ``category`` column) about ``estimate x n``.
    - ``complementary`` (suppress): a cell whose publication, with the margin, would
      reveal a suppressed one: the categories of a variable sum to 1, and the domains
      of a ``by`` column add up to their margin (``margins=True``); when exactly one
      cell of such a line is suppressed, the smallest other cell of the line (a zero
      only when nothing else is left) is suppressed too (repeated until no line has a
      single suppressed cell).
    - ``high_cv`` (flag): coefficient of variation ``se / |estimate|`` above ``max_cv``
      on a cell that is published: unreliable, publish with a warning.

    Parameters
    ----------
    table : DataFrame
        An estimate table (``by`` columns, ``variable`` [, ``category``], ``estimate``,
        ``se`` ..., ``n``). Never modified.
    min_cell : int
        Smallest number of respondents a published estimate may rest on (30).
    k : int
        Smallest number of respondents a published cell may count (10).
    max_cv : float, optional
        Largest coefficient of variation published without a flag (0.30); None: no check.
    n_column : str
        The column of the respondents behind each estimate.
    count_column : str, optional
        The column of the respondents in each cell, when the table has one.
    margins : bool or str
        Whether the margins of the ``by`` columns (all domains together) are published
        too, so that domains need complementary suppression (default True). Pass False
        for domains that do not add up to a published margin; "counts" to protect
        through the margins only the cells hidden for their answer counts (``k``), as
        the outputs do: a domain hidden for its size alone (``n`` below ``min_cell``)
        publishes its ``n`` anyway, and its answer counts under ``k`` are protected as
        small counts.

    Returns
    -------
    DataFrame
        ``row`` (index label in ``table``), the cell's key columns (``by`` columns,
        ``variable``, ``category``/``quantile``), ``rule``, ``value`` (n, count or cv),
        ``threshold``, ``action`` (``"suppress"`` or ``"flag"``), ``message``. Empty when
        nothing is at risk.

    Examples
    --------
    >>> t = pd.DataFrame({"sex": [1, 2], "variable": ["trust", "trust"],
    ...                   "estimate": [0.41, 0.52], "se": [0.03, 0.2], "n": [400, 25]})
    >>> disclosure_check(t)[["sex", "rule", "action"]].values.tolist()
    [[1, 'complementary', 'suppress'], [2, 'small_cell', 'suppress']]

    Notes
    -----
    Primary and complementary (secondary) suppression as in statistical disclosure
    control (Hundepool et al., *Statistical Disclosure Control*, 2012, ch. 4; the OCHA
    Centre for Humanitarian Data guidance). No R ``survey`` equivalent (``sdcTable``
    does cell suppression in R). Use ``protect_table`` to apply the result.
    """
    records, keys = _assess(table, min_cell, k, max_cv, n_column, count_column, margins)
    columns = ["row", *keys, *DISCLOSURE_COLUMNS]
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    out = pd.DataFrame(
        [{"row": table.index[r["pos"]], **{c: table.iloc[r["pos"]][c] for c in keys},
          **{c: r[c] for c in DISCLOSURE_COLUMNS}} for r in records],
        columns=columns,
    )
    return out


@positional_deprecated("k", "max_cv")
def protect_table(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    k: int = DEFAULT_K,
    max_cv: float | None = DEFAULT_MAX_CV,
    n_column: str = "n",
    count_column: str | None = None,
    margins: bool | Literal["counts"] = True,
) -> pd.DataFrame:
    """Apply ``disclosure_check`` to a table about to be published.

    ``suppress_small_cells``, plus the suppression of small counts and of
    complementary cells, plus a flag on unreliable estimates.

    Parameters
    ----------
    table : DataFrame
        An estimate table (``by`` columns, ``variable`` [, ``category``], ``estimate``,
        ``se`` ..., ``n``). Never modified.
    min_cell : int
        Smallest number of respondents a published estimate may rest on (30).
    k : int
        Smallest number of respondents a published cell may count (10).
    max_cv : float, optional
        Largest coefficient of variation published without a flag (0.30); None: no check.
    n_column : str
        The column of the respondents behind each estimate.
    count_column : str, optional
        The column of the respondents in each cell, when the table has one.
    margins : bool or str
        Whether the margins of the ``by`` columns (all domains together) are published
        too, so that domains need complementary suppression (default True). Pass False
        for domains that do not add up to a published margin; "counts" to protect
        through the margins only the cells hidden for their answer counts (``k``), as
        the outputs do: a domain hidden for its size alone (``n`` below ``min_cell``)
        publishes its ``n`` anyway, and its answer counts under ``k`` are protected as
        small counts.

    Returns
    -------
    DataFrame
        A new table: the values of every suppressed cell set to NaN, ``suppressed``
        (bool), ``suppression`` (why: ``"n < 30"``, ``"count < 10"``,
        ``"complementary"``, or empty) and ``flag`` (``"cv > 30%"`` or empty). The
        covariance in ``attrs`` is dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"sex": [1, 2], "variable": ["trust", "trust"],
    ...                   "estimate": [0.41, 0.52], "se": [0.03, 0.2], "n": [400, 25]})
    >>> protect_table(t)[["estimate", "suppression"]].values.tolist()
    [[nan, 'complementary'], [nan, 'n < 30']]

    Notes
    -----
    No R ``survey`` equivalent; see ``disclosure_check``.
    """
    records, _ = _assess(table, min_cell, k, max_cv, n_column, count_column, margins)
    out = suppress_small_cells(table, min_cell=min_cell, n_column=n_column)
    why = [""] * len(out)
    flag = [""] * len(out)
    hide = np.zeros(len(out), dtype=bool)
    text = {"small_cell": f"n < {min_cell}", "small_count": f"count < {k}",
            "complementary": "complementary"}
    for r in records:
        if r["action"] == "suppress":
            hide[r["pos"]] = True
            why[r["pos"]] = why[r["pos"]] or text[r["rule"]]
        else:
            flag[r["pos"]] = f"cv > {max_cv:.0%}"
    # a hidden cell's own count never shows either (n, the size of its group, stays)
    counted = [count_column] if count_column else [COUNT_COLUMN, *(
        ["count"] if "category" in out.columns else [])]
    for column in [*VALUE_COLUMNS, *counted]:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~hide)
    out["suppressed"] = out["suppressed"].to_numpy() | hide
    out["suppression"] = why
    out["flag"] = flag
    return out


def publishable(table: pd.DataFrame, min_cell: int = DEFAULT_MIN_CELL,
                min_count: int | None = DEFAULT_MIN_COUNT) -> pd.DataFrame:
    """The table as it may leave the process (every output passes through here).

    Cells resting on fewer than ``min_cell`` respondents are suppressed
    (:func:`suppress_small_cells`); in a table of answers (a ``category`` column, or the
    answer counts ``n_category`` of ``pc.proportion``), cells answered by fewer than
    ``min_count`` respondents too, with the complementary cells that would let them be
    recomputed: another category of their group (the shares of a group sum to 1) and
    the same answer in another domain of each ``by`` column (the domains add up to the
    margin) (:func:`protect_table`). A table that already has a ``suppressed`` column
    has been through it and is returned as it is; ``min_count=None`` applies the group
    rule alone.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": "trust", "category": [1, 2, 3],
    ...                   "estimate": [0.6, 0.37, 0.03], "n": 207,
    ...                   "n_category": [124, 77, 6]})
    >>> out = publishable(t)
    >>> out[["category", "estimate", "n_category", "suppression"]].values.tolist()
    [[1, 0.6, 124.0, ''], [2, nan, nan, 'complementary'], [3, nan, nan, 'count < 10']]
    """
    if "suppressed" in table.columns:
        return table
    counted = "category" in table.columns or COUNT_COLUMN in table.columns
    if min_count is None or not counted:
        return suppress_small_cells(table, min_cell)
    out = protect_table(table, min_cell=min_cell, k=min_count, max_cv=None, margins="counts")
    return out.drop(columns=["flag"])


# -------------------------------------------------------------------- k-anonymity --


# -------------------------------------------------------------- shareable waves --

