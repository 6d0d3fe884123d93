"""Panels: how many respondents of each wave were re-interviewed in the next.

A panel is analysed, as in R, with the village (PSU) as the cluster, so re-interviews
need no special variance formula; :func:`attrition` counts them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..deprecation import renamed_argument
from ..errors import EstimationError, format_rows
from ..survey.checks import check_columns, is_design
from ..survey.design import ReplicateDesign, SurveyDesign
from .changes import ordered_values, plain_label

__all__ = ["attrition"]

Design = SurveyDesign | ReplicateDesign


# --------------------------------------------------------------------- attrition --
@renamed_argument("id", "respondent")
def attrition(
    waves: pd.DataFrame | Design,
    respondent: str = "resp_id",
    over: str = "wave",
    psu: str | None = None,
) -> pd.DataFrame:
    """Panel retention: respondents of each wave re-interviewed in the next.

    Parameters
    ----------
    waves : the stacked waves (DataFrame), or a design (its data are used).
    respondent : column of the respondent identifier, stable across waves (pseudonymised).
        (Named ``id`` before; ``id=`` still works, with a DeprecationWarning, until the
        next release.)
    over : the wave column (ordered as in :func:`change`).
    psu : optional PSU column: checks that every respondent stays in one PSU, so the
        design (PSU as cluster) carries the correlation between a person's answers.

    Returns
    -------
    DataFrame with one row per pair of consecutive waves: ``from``, ``to``, ``n_from``
    (respondents at ``from``), ``n_to``, ``n_reinterviewed`` (at both), ``retention``
    (``n_reinterviewed / n_from``) and ``n_new`` (at ``to`` only).

    Raises
    ------
    EstimationError
        Missing or duplicated ids within a wave, a single wave, or (with ``psu``) a
        respondent found in several PSUs.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"resp_id": ["a", "b", "c", "a", "c", "d"],
    ...                    "wave": [0, 0, 0, 1, 1, 1]})
    >>> attrition(df)[["from", "to", "n_reinterviewed", "retention"]]
       from  to  n_reinterviewed  retention
    0     0   1                2   0.666667

    Notes
    -----
    No R equivalent in ``survey``; a panel is analysed there, as here, with the village
    (PSU) as the cluster so re-interviews need no special variance formula.
    """
    data: object = waves.data[waves.in_domain] if is_design(waves) else waves
    if not isinstance(data, pd.DataFrame):
        raise EstimationError(f"waves must be a DataFrame or a design, got {type(data).__name__}")
    for name, argument in ((respondent, "respondent"), (over, "over"), (psu, "psu")):
        if name is not None:
            check_columns(data, [name], argument)
    for name, argument in ((respondent, "respondent"), (over, "over")):
        missing = data[name].isna().to_numpy()
        if missing.any():
            raise EstimationError(
                f"column {name!r} ({argument}) is missing in rows "
                f"{format_rows(data.index[missing])}; every interview needs its {argument}"
            )
    dup = data.duplicated([over, respondent], keep=False).to_numpy()
    if dup.any():
        raise EstimationError(
            f"respondent ids of column {respondent!r} repeat within a wave in rows "
            f"{format_rows(data.index[dup])}: an id must be unique within each wave"
        )
    if psu is not None:
        spread = data.groupby(respondent, sort=False)[psu].nunique()
        moved = spread.index[spread.to_numpy() > 1]
        if len(moved):
            raise EstimationError(
                f"{len(moved)} respondent(s) of column {respondent!r} appear in several PSUs "
                f"(column {psu!r}): {format_rows(list(moved))}. A re-interviewed person must "
                "keep the PSU of the first interview so the design captures the correlation "
                "between their answers; fix the PSU codes of those interviews."
            )
    waves_order = ordered_values(data[over], np.ones(len(data), dtype=bool))
    if len(waves_order) < 2:
        raise EstimationError(
            f"column {over!r} (over) has a single value: attrition needs two waves or more"
        )
    ids = {w: set(data.loc[(data[over] == w).to_numpy(), respondent]) for w in waves_order}
    rows = []
    for a, b in zip(waves_order[:-1], waves_order[1:], strict=True):
        both = len(ids[a] & ids[b])
        rows.append({"from": plain_label(a), "to": plain_label(b), "n_from": len(ids[a]),
                     "n_to": len(ids[b]), "n_reinterviewed": both,
                     "retention": both / len(ids[a]) if ids[a] else float("nan"),
                     "n_new": len(ids[b] - ids[a])})
    return pd.DataFrame(rows)
