"""The failures of a wave against its questionnaire, found and worded: the machinery of
:func:`perception.validate`.

:func:`collect_failures` runs the questionnaire's pandera schema on a frame (lazily, so
that every failure is collected) and translates pandera's failure cases into
:class:`Failure` entries with row positions; :func:`failure_table` writes them as the
``errors`` or ``warnings`` table of a :class:`~perception.waves.validation.ValidationReport`
(messages, personal data redacted, de-duplicated, ordered). The validation of a whole
frame (:mod:`perception.waves.validation`) and of a Dask DataFrame partition by partition
(:mod:`perception.waves.partitions`) both use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandera.errors import SchemaError, SchemaErrors

from ..questionnaire.cells import present
from ..questionnaire.model import Questionnaire, Variable
from ..questionnaire.schema import CompiledRules, compile_rules, describe_codes

__all__ = ["Failure", "Failures", "collect_failures", "failure_table", "ERROR_COLUMNS",
           "REDACTED"]

#: columns of ``ValidationReport.errors`` and ``.warnings``
ERROR_COLUMNS = ["row", "column", "check", "value", "message"]
#: what the report shows instead of the value of a ``pii`` column
REDACTED = "<redacted: pii>"

# order in which checks are listed in reports
_CHECK_ORDER = [
    "column_missing",
    "duplicate_column",
    "dtype",
    "required",
    "codes",
    "integer",
    "range",
    "weight",
    "constraint",
    "choice_filter",
    "relevant",
    "unique",
    "psu_in_stratum",
    "consistency",
]



def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ERROR_COLUMNS})


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else str(value)
    return repr(value) if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Failures:
    """What the validation of one frame found, before the report is written: the
    failures (row positions 0..n-1), the data as checked (positional index, blanks made
    missing) and pandera's coerced copy when nothing failed."""

    errors: list[Failure]
    warnings: list[Failure]
    data: pd.DataFrame
    coerced: pd.DataFrame | None


def collect_failures(df: pd.DataFrame, q: Questionnaire) -> Failures:
    """Every failure of ``df`` against ``q`` with row positions (the report's rows are
    the index labels at those positions: :func:`failure_table`)."""
    compiled = compile_rules(q)
    errors: list[Failure] = []
    warnings: list[Failure] = []
    labels = df.index
    data = df.copy(deep=True)

    names = [str(c) for c in data.columns]
    if len(set(names)) != len(names):
        counts = pd.Series(names).value_counts()
        for col in counts[counts > 1].index:
            errors.append(
                Failure(
                    None,
                    col,
                    "duplicate_column",
                    None,
                    f"column {col!r} appears {counts[col]} times in the data",
                    "keep one column per variable (rename or delete the copies)",
                )
            )
        data = data.loc[:, ~pd.Index(names).duplicated()]
    data.columns = [str(c) for c in data.columns]
    data = _blank_to_missing(data.reset_index(drop=True), q)
    data, number_cells = _numbers_in_dates(data, q, errors)
    if not labels.is_unique:
        warnings.append(
            Failure(
                None,
                "(index)",
                "index",
                None,
                "the row index has duplicate labels, so some rows share a label in this report",
                "reset the index (df.reset_index(drop=True)) before validating",
            )
        )
    for col in data.columns:
        if col not in q:
            warnings.append(
                Failure(
                    None,
                    col,
                    "unknown_column",
                    None,
                    "column not declared in the questionnaire; it is kept but not checked",
                    "declare it in the questionnaire, or remove it (it may hold personal data)",
                )
            )
    for rule in compiled.rules.values():
        absent = sorted(c for c in rule.needs if c not in data.columns)
        if rule.frame_level and absent and rule.column in data.columns:
            warnings.append(
                Failure(
                    None,
                    rule.column,
                    rule.check,
                    None,
                    f"check {rule.key!r} not run: column(s) {', '.join(absent)} absent",
                    "add the column(s) to run this check",
                )
            )

    coerced: pd.DataFrame | None = None
    try:
        coerced = compiled.schema.validate(data.copy(deep=True), lazy=True)
    except SchemaErrors as exc:
        # a number in a date column is reported once, as such (not also as empty)
        errors.extend(f for f in _translate(exc.failure_cases, compiled, data, labels, q)
                      if (f.column, f.pos) not in number_cells)
    except SchemaError as exc:  # pragma: no cover - lazy mode collects errors
        errors.append(
            Failure(None, "(data)", "schema", None, str(exc).splitlines()[0], "correct the data")
        )

    if errors:
        coerced = None
    return Failures(errors, warnings, data, coerced)


def failure_table(failures: list[Failure], q: Questionnaire, columns: list[str],
                  labels: pd.Index) -> pd.DataFrame:
    """The errors or warnings table of a report: ``failures`` (row positions) with the
    row labels ``labels`` at those positions, the data's ``columns`` ordering the
    columns the questionnaire does not declare."""
    return _to_table(failures, q, pd.DataFrame(columns=columns), labels)


_NUMBER_TEXT = r"^\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?\s*$"


def _numbers_in_dates(data: pd.DataFrame, q: Questionnaire, errors: list
                      ) -> tuple[pd.DataFrame, set[tuple[str, int]]]:
    """Bare numbers in a date column are errors, not dates.

    pandas would read 45366 as 1970-01-01 plus 45366 nanoseconds; such a number is
    usually an Excel serial date (days since 1899-12-30) exported without its date
    format, or a date typed as 20240315. Each cell is reported (and blanked, so that the
    dtype check does not report it again); date cells of XLSX/SAV/DTA files and ISO
    text dates are not numbers and pass. Returns the data and the (column, position) of
    the cells reported.
    """
    found: set[tuple[str, int]] = set()
    for column in data.columns:
        if column not in q or q.variable(column).type != "date":
            continue
        series = data[column]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            continue
        if pd.api.types.is_numeric_dtype(series.dtype):  # bool included
            number = series.notna().to_numpy()
        else:
            values = series.astype(object)
            number = np.array([
                (isinstance(v, int | float | np.integer | np.floating)
                 and not isinstance(v, bool | np.bool_) and not pd.isna(v))
                or (isinstance(v, str) and bool(re.match(_NUMBER_TEXT, v)))
                for v in values
            ], dtype=bool)
        if not number.any():
            continue
        for pos in np.flatnonzero(number):
            found.add((column, int(pos)))
            errors.append(Failure(
                int(pos), column, "date_number", series.iloc[pos],
                "a bare number, not a date (pandas would read it as a time on 1 January "
                "1970); an Excel date exported without its date format becomes a serial "
                "number such as 45366",
                "write dates as YYYY-MM-DD (e.g. 2024-03-15): format the column as dates "
                "in Excel or Kobo before exporting, or convert serial numbers (days since "
                "1899-12-30)",
            ))
        data[column] = series.astype(object).mask(number, np.nan)
    return data, found


def _blank_to_missing(data: pd.DataFrame, q: Questionnaire) -> pd.DataFrame:
    """Blank text cells ('' or spaces, as SPSS/Stata store empty strings) count as empty."""
    for column in data.columns:
        series = data[column]
        if column not in q or not (
            series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
        ):
            continue
        blank = ~present(series) & series.notna()
        if series.dtype == object:
            # pd.NA, None and NaT in an object column: one kind of missing (np.nan) that
            # pandera can coerce (it reports a pd.NA cell as "not a number")
            blank |= series.isna()
        if blank.any():
            data[column] = series.astype(object).mask(blank, np.nan)
    return data


@dataclass(frozen=True)
class Failure:
    pos: int | None  # row position, None for a whole column
    column: str
    check: str
    value: Any
    problem: str
    fix: str


def _position(index: Any) -> int | None:
    if index is None:
        return None
    try:
        if pd.isna(index):
            return None
        return int(index)
    except (TypeError, ValueError):
        return None


def _uncoercible(series: pd.Series, var: Variable) -> list[int]:
    """Positions of the cells that cannot be cast one by one to the variable's type
    (pandera names no row when casting the whole column raised, e.g. on ``inf``)."""
    dtype: Literal["datetime64[ns]", "float64"] = (
        "datetime64[ns]" if var.type == "date" else "float64"
    )
    rows = []
    for pos, value in enumerate(series.astype(object)):
        if np.ndim(value) == 0 and pd.isna(value):
            continue
        try:
            pd.Series([value], dtype=object).astype(dtype)
        except (TypeError, ValueError, OverflowError):
            rows.append(pos)
    return rows


def _translate(
    failures: pd.DataFrame,
    compiled: CompiledRules,
    data: pd.DataFrame,
    labels: pd.Index,
    q: Questionnaire,
) -> list[Failure]:
    """Turn pandera's failure cases into report entries (values from the input data)."""
    out: list[Failure] = []
    failures = failures.assign(check=failures["check"].astype(str))
    # pandera lists every cell of a row failing a frame-level check: keep the rule's column
    # before reading the records (a wide wave fails with millions of cells otherwise)
    owner = {k: r.column for k, r in compiled.rules.items() if r.frame_level}
    rule_column = failures["check"].map(owner)
    failures = failures[rule_column.isna() | (failures["column"] == rule_column)]
    records = failures.to_dict("records")
    coerce_failed: set[tuple[str, int | None]] = set()
    lang = q.default_language

    def original(column: str, pos: int | None, fallback: Any) -> Any:
        if pos is not None and column in data.columns and 0 <= pos < len(data):
            return data[column].iloc[pos]
        return fallback

    for rec in records:
        check, column, pos = rec["check"], rec["column"], _position(rec["index"])
        if check == "column_in_dataframe":
            name = str(rec["failure_case"])
            var = q.variable(name) if name in q else None
            module = f" (module {var.module!r})" if var else ""
            label = f": {var.label(lang)}" if var and var.label(lang) else ""
            out.append(
                Failure(
                    None,
                    name,
                    "column_missing",
                    None,
                    f"required column missing from the data{module}{label}",
                    f"add a column named {name!r} (check spelling and case), or mark the "
                    "variable required: false in the questionnaire",
                )
            )
        elif check.startswith("coerce_dtype("):
            coerce_failed.add((column, pos))
            var = q.variable(column)
            if var.type == "date":
                problem, fix = "not a valid date", "write dates as YYYY-MM-DD (e.g. 2024-03-15)"
            else:
                codes = f" (codes: {describe_codes(var.codes, lang, 6)})" if var.codes else ""
                problem = f"not a number, but {column} holds numbers{codes}"
                fix = (
                    "enter the number; if the file holds labels instead of codes, export the codes"
                )
            rows = _uncoercible(data[column], var) if pos is None and column in data else []
            positions: list[int | None] = list(rows) or [pos]
            for p in positions:  # pandera gives no row when the whole cast raised
                coerce_failed.add((column, p))
                value = original(column, p, rec["failure_case"])
                if var.type == "date" and isinstance(value, pd.Timestamp | np.datetime64):
                    out.append(Failure(
                        p, column, "dtype", value,
                        "a date outside 1677-09-22 .. 2262-04-11, the range of the "
                        "package's dates (a default date such as 1583-01-01, or a mistyped "
                        "year?)", "correct the date, or leave the cell empty"))
                    continue
                out.append(Failure(p, column, "dtype", value, problem, fix))

    details: dict[str, dict[int, str]] = {}
    for rec in records:
        check, column, pos = rec["check"], rec["column"], _position(rec["index"])
        if check == "column_in_dataframe" or check.startswith("coerce_dtype("):
            continue
        if check.startswith("dtype("):
            if (column, pos) not in coerce_failed:
                out.append(
                    Failure(
                        pos,
                        str(column),
                        "dtype",
                        original(column, pos, rec["failure_case"]),
                        f"wrong data type (expected {check[6:-1]})",
                        f"convert {column} to that type",
                    )
                )
            continue
        rule = compiled.rules.get(check)
        if rule is None:  # pragma: no cover - every check is ours
            out.append(
                Failure(pos, str(column), check, rec["failure_case"], "failed check", "correct it")
            )
            continue
        if rule.frame_level and column != rule.column:
            continue  # pandera lists every cell of a failing row; keep the rule's column
        if pos is None:  # the check function itself raised
            out.append(
                Failure(
                    None,
                    rule.column,
                    rule.check,
                    None,
                    f"check {rule.key!r} could not run ({rec['failure_case']})",
                    "check the data types of the columns it reads",
                )
            )
            continue
        if (column, pos) in coerce_failed and rule.check != "required":
            continue  # already reported as a dtype error
        value = original(rule.column, pos, rec["failure_case"])
        problem = rule.explain(value) if rule.explain else rule.problem
        if rule.detail is not None:
            if rule.key not in details:
                rows = [
                    p
                    for r in records
                    if r["check"] == check and r["column"] == rule.column
                    for p in [_position(r["index"])]
                    if p is not None
                ]
                details[rule.key] = rule.detail(data, rows, labels)
            extra = details[rule.key].get(pos)
            if extra:
                problem = f"{problem} ({extra})"
        out.append(Failure(pos, rule.column, rule.check, value, problem, rule.fix))
    return out


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _to_table(
    failures: list[Failure], q: Questionnaire, data: pd.DataFrame, labels: pd.Index
) -> pd.DataFrame:
    """Build the errors/warnings table: messages, redaction, de-duplication, order."""
    if not failures:
        return _empty_table()
    pii = set(q.pii)
    col_pos = {name: i for i, name in enumerate(q.names)}
    for extra_col in data.columns:
        col_pos.setdefault(extra_col, len(col_pos))
    seen: set[tuple[Any, str, str]] = set()
    entries = []
    for f in failures:
        key = (f.pos, f.column, f.check)
        if key in seen:
            continue
        seen.add(key)
        row = None if f.pos is None else labels[f.pos]
        value = None if _is_missing(f.value) else f.value
        if isinstance(value, np.generic):
            value = value.item()
        if f.column in pii and value is not None:
            value = REDACTED
            shown = ""
        elif f.pos is None:
            shown = ""
        else:
            shown = " (empty)" if value is None else f" = {_show(value)}"
        prefix = "" if f.pos is None else f"row {row}, "
        message = f"{prefix}{f.column}{shown}: {f.problem}. Fix: {f.fix}."
        check_rank = _CHECK_ORDER.index(f.check) if f.check in _CHECK_ORDER else len(_CHECK_ORDER)
        order = (col_pos.get(f.column, -1), check_rank, -1 if f.pos is None else f.pos)
        entries.append(
            (
                order,
                {
                    "row": row,
                    "column": f.column,
                    "check": f.check,
                    "value": value,
                    "message": message,
                },
            )
        )
    entries.sort(key=lambda e: e[0])
    return pd.DataFrame(
        {c: pd.Series([e[1][c] for e in entries], dtype=object) for c in ERROR_COLUMNS}
    )
