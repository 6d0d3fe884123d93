"""How a cell of a wave reads: as text, as a number, as an answer.

One :func:`cell_text` for the whole package (the readers write text columns with it, the
schema compares codes with it, the skip-logic expressions and the keyed hash of personal
data read cells through it): whole numbers without ``.0``, dates in ISO form, text as
it is. :func:`code_text` is the same without surrounding blanks, for comparing a cell with
a code or a key.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd


def cell_text(cell: Any) -> str:
    """A cell as text: whole numbers without '.0', dates in ISO form, text unchanged.

    Examples
    --------
    >>> cell_text(3.0), cell_text(2.5), cell_text(pd.Timestamp("2024-02-05")), cell_text(" a")
    ('3', '2.5', '2024-02-05', ' a')
    """
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool | np.bool_):
        return str(bool(cell))
    if isinstance(cell, int | np.integer):
        return str(int(cell))
    if isinstance(cell, float | np.floating):
        x = float(cell)
        return str(int(x)) if x.is_integer() and abs(x) < 2**63 else repr(x)
    if isinstance(cell, pd.Timestamp | _dt.datetime):
        ts = pd.Timestamp(cell)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(cell, _dt.date):
        return cell.isoformat()
    return str(cell)


def code_text(cell: Any) -> str:
    """:func:`cell_text` without surrounding blanks: what a cell says as a code or a key.

    Examples
    --------
    >>> code_text(" 2 "), code_text(2.0)
    ('2', '2')
    """
    return cell_text(cell).strip()


def texts(series: pd.Series) -> pd.Series:
    """Text view of a column, as codes (:func:`code_text`); missing stays missing."""
    return series.astype(object).where(series.notna(), None).map(code_text, na_action="ignore")


def numbers(series: pd.Series) -> pd.Series:
    """Numeric view of a column: text that is not a number becomes NaN."""
    if series.dtype == "float64":
        return series
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")
    return pd.to_numeric(series, errors="coerce").astype("float64")


def present(series: pd.Series) -> pd.Series:
    """True where the cell holds an answer (not NaN/None, not blank text)."""
    answered = series.notna()
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        return answered
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype(object).where(answered, None)
        blank = text.map(lambda c: isinstance(c, str) and not c.strip(), na_action="ignore")
        answered &= ~blank.fillna(False).astype(bool)
    return answered.astype(bool)
