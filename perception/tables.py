"""The respondent counts a result row rests on, as the estimators write them and the
disclosure rules read them.

Every estimate table has ``n`` (rows used); a change rests on its two waves too
(``n_from``, ``n_to``), a DiD effect or a contrast on several cells (``n_min``, the
smallest), the prevalence of a list experiment on its two lists (``n_control``,
``n_treatment``). :func:`smallest_count` is the count the small-cell rule applies to: the
estimators compute ``n_min`` of combined rows with it (:func:`perception.contrast`) and
:func:`perception.suppress_small_cells` suppresses on it.
"""

from __future__ import annotations

import pandas as pd

#: counts of the cells an estimate rests on besides ``n``: a change rests on its two
#: waves (``n_from``, ``n_to``), a DiD effect or a contrast on several cells (``n_min``,
#: the smallest), a list experiment's prevalence on its two lists (``n_control``,
#: ``n_treatment``). Every one present must reach ``min_cell``.
CELL_COUNT_COLUMNS = ("n_from", "n_to", "n_min", "n_control", "n_treatment")


def smallest_count(table: pd.DataFrame, n_column: str = "n") -> pd.Series:
    """Per row, the smallest of ``n`` and the cell counts of :data:`CELL_COUNT_COLUMNS`
    the table has: the number of respondents the small-cell rule applies to (NaN when
    one of them is unknown).

    Examples
    --------
    >>> t = pd.DataFrame({"n": [80, 60], "n_from": [40, 45], "n_to": [40, 15]})
    >>> smallest_count(t).tolist()
    [40, 15]
    """
    columns = [n_column, *(c for c in CELL_COUNT_COLUMNS if c in table.columns
                           and c != n_column)]
    counts = pd.DataFrame({c: pd.to_numeric(table[c], errors="coerce") for c in columns},
                          index=table.index)
    return counts.min(axis=1, skipna=False)
