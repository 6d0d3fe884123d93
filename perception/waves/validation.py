"""Validate survey waves against their questionnaire.

The questionnaire is compiled into a :class:`pandera.DataFrameSchema`
(:func:`perception.questionnaire.schema.build_schema` (object API: ``Column``, ``Check``; validated with
``lazy=True`` so that every failure is collected). The schema checks:

- dtypes (numbers for coded/numeric items, dates for dates), by coercion;
- code lists (valid codes and declared missing codes), ranges, whole numbers;
- required answers (non-empty where the question is relevant) and skip logic (no
  answer where ``relevant`` is false), value constraints;
- uniqueness of the respondent id within each wave;
- design: weights finite and > 0, each PSU inside one stratum per wave;
- the questionnaire's ``consistency`` section (e.g. cercle inside its region).

:func:`validate` runs it and translates pandera's failure cases into a
:class:`ValidationReport` whose ``errors`` table has one row per failing cell -- row
(index label), column, check, value, message (what is wrong and how to fix it). It never
raises for problems in the data, and never modifies, drops or reorders rows.

:func:`recode_missing` is the explicit step that turns declared missing-value codes
into ``NaN`` and counts what it recoded.

Examples
--------
>>> import pandas as pd
>>> from perception.questionnaire import Questionnaire
>>> q = Questionnaire.from_dict({"id": "mini", "languages": ["en"], "variables": [
...     {"name": "rid", "type": "text", "label": "Id", "role": "id", "unique": True,
...      "required": True},
...     {"name": "age", "type": "integer", "label": "Age", "required": True,
...      "range": {"min": 18, "max": 110}, "missing": {999: "Don't know"}}]})
>>> report = validate(pd.DataFrame({"rid": ["a", "b"], "age": [30, 150]}), q)
>>> report.ok
False
>>> report.errors[["row", "column", "check", "value"]].to_dict("records")
[{'row': 1, 'column': 'age', 'check': 'range', 'value': 150}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import format_rows
from ..questionnaire.cells import numbers, texts
from ..questionnaire.model import Questionnaire
from .failures import ERROR_COLUMNS, REDACTED, _show, _to_table, collect_failures

__all__ = [
    "ValidationReport",
    "validate",
    "validate_with_data",
    "is_dask_frame",
    "recode_missing",
    "ERROR_COLUMNS",
    "REDACTED",
]


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Every problem found in a wave, as tables and as a readable summary.

    Attributes
    ----------
    errors : DataFrame
        One row per failing cell: ``row`` (index label; None for a whole column),
        ``column``, ``check``, ``value``, ``message`` (what is wrong and the fix).
    warnings : DataFrame
        Same columns: things to look at that do not make the wave invalid (columns not
        in the questionnaire, checks that could not run because a column is absent).
    n_rows, n_columns : int
        Size of the data validated.
    source : str or None
        Name of the file or object validated.

    Examples
    --------
    >>> import pandas as pd
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "ok", "type": "binary", "label": "OK?", "required": True}]})
    >>> r = validate(pd.DataFrame({"ok": [0, 1, 5]}), q)
    >>> print(r.summary())  # doctest: +ELLIPSIS
    Validation of data (3 rows, 1 columns): 1 error in 1 check...
    """

    errors: pd.DataFrame
    warnings: pd.DataFrame
    n_rows: int
    n_columns: int
    source: str | None = None

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings do not count)."""
        return self.errors.empty

    def summary(self, max_rows: int | None = 10, max_groups: int | None = 200) -> str:
        """A readable multi-line report grouped by column and check.

        Parameters
        ----------
        max_rows : int or None
            Row labels (and values) listed per group before "(and N more)";
            None lists them all.
        max_groups : int or None
            Column/check groups listed before the rest is summarised; None lists all.

        Returns
        -------
        str
            The source, the counts of rows and columns, then each column/check group with
            its rows and values.
        """
        max_rows = max_rows if max_rows is not None else 2**62
        max_groups = max_groups if max_groups is not None else 2**62
        name = self.source or "data"
        head = f"Validation of {name} ({self.n_rows} rows, {self.n_columns} columns): "
        n_err, n_warn = len(self.errors), len(self.warnings)
        if self.ok:
            head += "OK, no errors"
            head += f", {n_warn} warning{'s' if n_warn != 1 else ''}." if n_warn else "."
        else:
            groups = self.errors.groupby(["column", "check"], sort=False).ngroups
            head += (
                f"{n_err} error{'s' if n_err != 1 else ''} in {groups} "
                f"check{'s' if groups != 1 else ''}"
                + (f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else "")
                + "."
            )
        lines = [head]
        for title, table in (("ERRORS", self.errors), ("WARNINGS", self.warnings)):
            if table.empty:
                continue
            lines.append("")
            lines.append(f"{title} (column [check]: rows)")
            grouped = list(table.groupby(["column", "check"], sort=False))
            for (column, check), group in grouped[:max_groups]:
                rows = [r for r in group["row"].tolist() if r is not None]
                where = (
                    f"{len(group)} row{'s' if len(group) != 1 else ''}: "
                    f"{format_rows(rows, max_rows)}"
                    if rows
                    else "whole column"
                )
                lines.append(f"- {column} [{check}]: {where}")
                values = [v for v in group["value"].tolist() if v is not None]
                if rows and values:
                    distinct = list(dict.fromkeys(_show(v) for v in values))
                    lines.append(f"    values: {format_rows(distinct, max_rows)}")
                lines.append(f"    {group['message'].iloc[0]}")
            if len(grouped) > max_groups:
                lines.append(f"- ... and {len(grouped) - max_groups} more column/check groups")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------- validation


@renamed_argument("df", "data")
@renamed_argument("q", "questionnaire")
def validate(
    data: pd.DataFrame, questionnaire: Questionnaire, *, source: str | None = None
) -> ValidationReport:
    """Check a wave against its questionnaire and report every problem.

    Parameters
    ----------
    data : DataFrame or dask.dataframe.DataFrame
        The wave, one row per respondent, columns named as in the questionnaire. Never
        modified. A Dask DataFrame (a wave larger than memory, e.g.
        ``dd.read_parquet("waves/")``) is validated partition by partition, never whole
        in memory: the report is the one of the whole data in memory, its rows numbered
        0, 1, ... across the partitions (the rows of
        ``data.compute().reset_index(drop=True)``), the identifiers' uniqueness and the
        PSUs' strata checked across the partitions
        (:mod:`perception.waves.partitions`).
    questionnaire : Questionnaire
        The questionnaire the wave follows.
    source : str, optional
        Name shown in the summary (e.g. the file path).

    Returns
    -------
    ValidationReport
        ``report.ok``, ``report.errors`` (row, column, check, value, message),
        ``report.warnings`` and ``report.summary()``. Never raises for problems in
        the data.

    Examples
    --------
    >>> import pandas as pd
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "ok", "type": "binary", "label": "OK?", "required": True}]})
    >>> validate(pd.DataFrame({"ok": [0, 1]}), q).ok
    True
    """
    if is_dask_frame(data):
        from .partitions import validate_partitions

        scan = validate_partitions(data, questionnaire)
        return ValidationReport(scan.errors, scan.warnings, scan.n_rows, scan.n_columns,
                                source=source)
    return validate_with_data(data, questionnaire, source=source)[0]


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (told without importing dask)."""
    return (type(data).__module__.split(".")[0] in ("dask", "dask_expr")
            and hasattr(data, "npartitions") and hasattr(data, "columns"))


def validate_with_data(
    df: pd.DataFrame, q: Questionnaire, *, source: str | None = None
) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Validate; also return the coerced copy of the data when it is valid.

    pandera runs on a copy with a positional index (0..n-1), so that rows are found
    exactly even when the caller's index has duplicates; the report gives the caller's
    index labels.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"validate() needs a pandas DataFrame, got {type(df).__name__}")
    if not isinstance(q, Questionnaire):
        raise TypeError(f"validate() needs a Questionnaire, got {type(q).__name__}")
    found = collect_failures(df, q)
    labels = df.index
    report = ValidationReport(
        _to_table(found.errors, q, found.data, labels),
        _to_table(found.warnings, q, found.data, labels),
        n_rows=len(df),
        n_columns=df.shape[1],
        source=source,
    )
    if found.coerced is not None and report.ok:
        coerced = found.coerced
        coerced.index = labels
        return report, coerced
    return report, None


# --------------------------------------------------------------------- recoding


@positional_deprecated("lang")
@renamed_argument("df", "data")
@renamed_argument("q", "questionnaire")
def recode_missing(
    data: pd.DataFrame, questionnaire: Questionnaire, *, lang: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn declared missing-value codes into NaN, on a copy, and count them.

    This is the one explicit step where codes such as 8 "refus" or 999 "ne sait pas"
    stop being values. Validation never does it.

    Parameters
    ----------
    data : DataFrame
        A wave (validated). Never modified.
    questionnaire : Questionnaire
        The questionnaire the wave follows: it declares the missing-value codes.
    lang : str, optional
        Language of the labels in the counts table (default: the questionnaire's first).

    Returns
    -------
    new_df : DataFrame
        A copy with missing codes replaced by NaN (numeric columns become float64);
        same rows, same order, same columns.
    counts : DataFrame
        Columns ``column, code, label, count``: one row per code actually recoded.

    Examples
    --------
    >>> import pandas as pd
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "age", "type": "integer", "label": "Age",
    ...      "missing": {998: "Refused", 999: "Don't know"}}]})
    >>> new, counts = recode_missing(pd.DataFrame({"age": [30, 999, 999]}), q)
    >>> new["age"].tolist()
    [30.0, nan, nan]
    >>> counts.to_dict("records")
    [{'column': 'age', 'code': 999, 'label': "Don't know", 'count': 2}]
    """
    lang = questionnaire.language(lang)
    out = data.copy(deep=True)
    rows: list[dict[str, Any]] = []
    for var in questionnaire.variable_list:
        if var.name not in out.columns or not var.missing:
            continue
        series = out[var.name]
        code_keys: dict[Any, float | str]
        if var.is_numeric:
            values = numbers(series)
            keys = values
            code_keys = {code: float(code) for code in var.missing}
        else:
            keys = texts(series)
            code_keys = {code: str(code) for code in var.missing}
        hit = pd.Series(False, index=series.index)
        for code, key in code_keys.items():
            mask = (keys == key).fillna(False).astype(bool)
            count = int(mask.sum())
            if count:
                rows.append(
                    {
                        "column": var.name,
                        "code": code,
                        "label": var.missing[code].get(lang, ""),
                        "count": count,
                    }
                )
                hit |= mask
        if hit.any():
            if var.is_numeric and pd.api.types.is_numeric_dtype(series.dtype):
                out[var.name] = series.astype("float64").mask(hit)
            elif var.is_numeric and not (values.isna() & series.notna()).any():
                out[var.name] = values.mask(hit)  # numbers stored as text
            else:
                out[var.name] = series.astype(object).mask(hit, np.nan)
    counts = pd.DataFrame(rows, columns=["column", "code", "label", "count"])
    counts["count"] = counts["count"].astype("int64")
    return out, counts
