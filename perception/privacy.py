"""Respondent protection for everything that leaves the process.

Library estimators return every cell (analysts need them, and they must equal R).
Outputs — CLI tables, CSV/XLSX exports, figures, reports — pass through
:func:`suppress_small_cells` first, so a cell estimated from fewer than ``min_cell``
respondents is never shown, only marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DisclosureError

DEFAULT_MIN_CELL = 30

#: columns that carry a number derived from the respondents of a cell
VALUE_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "deff", "cv", "p", "statistic")

#: mark shown in place of a suppressed value
SUPPRESSED_MARK = "suppressed (n < {min_cell})"


def suppress_small_cells(
    table: pd.DataFrame,
    min_cell: int = DEFAULT_MIN_CELL,
    n_column: str = "n",
    value_columns: tuple[str, ...] = VALUE_COLUMNS,
) -> pd.DataFrame:
    """Blank the values of cells with fewer than ``min_cell`` respondents, and mark them.

    Returns a new table (the input is untouched) with the values of small cells set to
    NaN and a boolean ``suppressed`` column. The ``n`` column stays so the rule can be
    checked. Covariances carried in ``attrs`` are dropped: they would reveal the cells.

    Parameters
    ----------
    table : estimate table with an ``n`` column (unweighted respondents per cell).
    min_cell : smallest number of respondents a published cell may rest on.

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
    out.attrs = {k: v for k, v in table.attrs.items() if k != "vcov"}
    counts = pd.to_numeric(out[n_column], errors="coerce")
    small = (counts < min_cell) | counts.isna()
    for column in value_columns:
        if column in out.columns:
            out[column] = out[column].astype(float).where(~small)
    out["suppressed"] = small.to_numpy()
    out.attrs["min_cell"] = int(min_cell)
    return out
