"""Coarsening quasi-identifiers along the ladders the questionnaire declares, until every
combination of them is shared by at least ``k`` records.

:func:`resolve_k_anonymity` climbs the ladders (``coarsen:`` of each ``role:
quasi_identifier`` variable) one level at a time, each time on the variable whose next
level takes the most records out of risk (ties: the fewest combinations), for every
record (global recoding). A level that takes no record out of risk is climbed only
while at least half of the records are at risk (raw ages or commune names make every
record unique until several levels are climbed). Then it blanks, variable by variable
(each time the one that leaves the fewest records at risk), the values of the records
still at risk (local suppression), until none is. A record whose
quasi-identifiers are all blank describes no one and is not at risk. Every change is
returned, for the export's report.

Examples
--------
>>> from perception.questionnaire.model import Coarsening
>>> df = pd.DataFrame({"age": [20, 21, 22, 23, 40, 41, 42, 43, 70]})
>>> out, changes = resolve_k_anonymity(
...     df, ["age"], {"age": (Coarsening("age band", bands=(18, 35)),)}, {}, k=4)
>>> out["age"].tolist()
['18-34', '18-34', '18-34', '18-34', '35+', '35+', '35+', '35+', '35+']
>>> [(c.column, c.action, c.rows, c.level) for c in changes]
[('age', 'coarsened', 9, 'age band')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from ..questionnaire.cells import code_text

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Coarsening

__all__ = ["combination_sizes", "coarsened", "resolve_k_anonymity", "Change"]


class Change(NamedTuple):
    """One change made to make the data k-anonymous: ``column``, ``action``
    (``"coarsened"`` or ``"blanked"``), ``rows`` (records whose value changed) and
    ``level`` (the level of the ladder reached, or ``"blank"``)."""

    column: str
    action: str
    rows: int
    level: str


def combination_sizes(df: pd.DataFrame, qi: Sequence[str]) -> np.ndarray:
    """For each row, the number of rows sharing its quasi-identifier values; a row
    whose quasi-identifiers are all blank describes no one (size: infinity).

    Examples
    --------
    >>> combination_sizes(pd.DataFrame({"a": [1, 1, 2, None]}), ["a"]).tolist()
    [2.0, 2.0, 1.0, inf]
    """
    if not len(df):
        return np.zeros(0)
    groups = df.groupby(list(qi), dropna=False, sort=False).ngroup().to_numpy()
    sizes = np.bincount(groups)[groups].astype("float64")
    sizes[df[list(qi)].isna().all(axis=1).to_numpy()] = np.inf
    return sizes


def _band_labels(bands: Sequence[float]) -> list[str]:
    def text(x: float) -> str:
        return code_text(x)
    labels = [f"{text(lo)}-{text(hi - 1) if float(hi).is_integer() else text(hi)}"
              for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
    return [*labels, f"{text(bands[-1])}+"]


def coarsened(values: pd.Series, step: Coarsening, missing_codes: Sequence[Any]) -> pd.Series:
    """The values at one level of their ladder, as text (blank stays blank).

    Bands and maps apply to the original values; missing codes (refused, don't know)
    stay as they are (as text); a ``variable`` step blanks the value (the coarser
    variable stays in its own column).

    Examples
    --------
    >>> from perception.questionnaire.model import Coarsening
    >>> coarsened(pd.Series([17, 30, 999, None]), Coarsening("b", bands=(18, 25)),
    ...           [999]).tolist()
    ['<18', '25+', '999', nan]
    """
    if step.variable is not None:
        return pd.Series(np.nan, index=values.index, dtype="object")
    missing = {code_text(m) for m in missing_codes}
    present = values.notna()
    as_text = values.map(lambda v: code_text(v) if not pd.isna(v) else np.nan)
    is_missing = as_text.isin(missing)
    out = pd.Series(np.nan, index=values.index, dtype="object")
    out[is_missing] = as_text[is_missing]
    todo = present & ~is_missing
    if step.bands is not None:
        numbers = pd.to_numeric(values[todo], errors="coerce")
        labels = _band_labels(step.bands)
        position = np.searchsorted(np.asarray(step.bands, dtype="float64"),
                                   numbers.to_numpy(dtype="float64"), side="right") - 1
        below = f"<{code_text(step.bands[0])}"
        out[todo] = pd.Series([below if i < 0 else labels[i] for i in position],
                              index=numbers.index, dtype="object")
    else:
        mapping = {code_text(c): v for c, v in (step.mapping or {}).items()}
        out[todo] = as_text[todo].map(mapping)
    return out


def _records_at_risk(df: pd.DataFrame, qi: Sequence[str], k: int) -> np.ndarray:
    return combination_sizes(df, qi) < k


def _changed(before: pd.Series, after: pd.Series) -> int:
    """Records whose value changed (a value that was blank and stays blank has not)."""
    same = (before.map(lambda v: np.nan if pd.isna(v) else code_text(v)) == after) | (
        before.isna() & after.isna())
    return int((~same).sum())


def resolve_k_anonymity(
    data: pd.DataFrame,
    qi: Sequence[str],
    ladders: Mapping[str, Sequence[Coarsening]],
    missing_codes: Mapping[str, Sequence[Any]],
    *,
    k: int,
) -> tuple[pd.DataFrame, list[Change]]:
    """Coarsen, then blank, quasi-identifiers until every combination is shared by at
    least ``k`` records (or is entirely blank).

    Parameters
    ----------
    data : DataFrame
        The records; never modified.
    qi : sequence of str
        The quasi-identifier columns, in the order ties are broken.
    ladders : mapping of str to sequence of Coarsening
        Each quasi-identifier's ladder (absent or empty: blanked only).
    missing_codes : mapping of str to sequence
        Each quasi-identifier's missing-value codes (kept as they are by bands and maps).
    k : int
        The fewest records a combination must be shared by.

    Returns
    -------
    (DataFrame, list of Change)
        A copy with the coarsened and blanked values, and the changes in the order made.
    """
    out = data.copy()
    changes: list[Change] = []
    level = {c: 0 for c in qi}
    risk = int(_records_at_risk(out, qi, k).sum())
    while risk:
        best: tuple[int, int, str, pd.Series] | None = None
        for column in qi:
            ladder = ladders.get(column, ())
            if level[column] >= len(ladder):
                continue
            candidate = coarsened(data[column], ladder[level[column]],
                                  missing_codes.get(column, ()))
            trial = out.assign(**{column: candidate})
            left = int(_records_at_risk(trial, qi, k).sum())
            combinations = int(trial.groupby(list(qi), dropna=False, sort=False).ngroups)
            if best is None or (left, combinations) < best[:2]:
                best = (left, combinations, column, candidate)
        # a level that takes no record out of risk is taken only while most records are
        # at risk (raw ages, commune names: every record unique until several levels are
        # climbed); else the few records left are blanked rather than everyone coarsened
        if best is None or (best[0] >= risk and 2 * risk < len(out)):
            break
        left, _, column, candidate = best
        step = ladders[column][level[column]]
        changes.append(Change(column, "coarsened", _changed(out[column], candidate), step.name))
        out[column] = candidate
        level[column] += 1
        risk = left
    blanked = {c: 0 for c in qi}
    while risk:
        at_risk = _records_at_risk(out, qi, k)
        best_blank: tuple[int, str] | None = None
        for column in qi:
            if out.loc[at_risk, column].isna().all():
                continue
            trial = out.copy()
            trial.loc[at_risk, column] = np.nan
            left = int(_records_at_risk(trial, qi, k).sum())
            if best_blank is None or left < best_blank[0]:
                best_blank = (left, column)
        if best_blank is None:  # pragma: no cover - all blank means no risk
            break
        risk, column = best_blank
        blanked[column] += int(out.loc[at_risk, column].notna().sum())
        out[column] = out[column].astype("object")
        out.loc[at_risk, column] = np.nan
    changes.extend(Change(c, "blanked", n, "blank") for c, n in blanked.items() if n)
    return out, changes
