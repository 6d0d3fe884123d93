"""The village frame of the built-in Central Mali example.

:func:`demo_village_frame` turns the simulated population of a
:func:`perception.demo_survey` (its public ``population`` table, one row per simulated
adult) into a sampling frame: one row per village (the example's PSU, hamlets grouped
as census enumeration areas are) with its cercle, commune, programme arm, households
and adults. It reads only the example's public attributes (``population``, ``params``,
``questionnaire``), so sampling does not depend on the simulator. It is the frame from which the example's own villages were drawn, so
allocations and draws on it can be checked against the population.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import SamplingError

__all__ = ["demo_village_frame", "DEMO_FRAME_COLUMNS"]

#: the columns of the frame, in order
DEMO_FRAME_COLUMNS = ["village", "region", "cercle", "cercle_name", "commune", "treated",
                      "stratum", "urban", "households", "adults"]


def demo_village_frame(demo: Any) -> pd.DataFrame:
    """One row per village of the demo population: a frame for allocation and selection.

    Parameters
    ----------
    demo : DemoSurvey
        The result of :func:`perception.demo_survey`.

    Returns
    -------
    DataFrame with :data:`DEMO_FRAME_COLUMNS`: ``village`` (the village number of
    ``demo.population``), ``region`` (1 Mopti, 2 Ségou) and ``cercle`` (codes of the
    questionnaire), ``cercle_name``, ``commune`` (code as in the waves, e.g. ``"1103"``),
    ``treated`` (1 in the programme's communes), ``stratum`` (cercle x arm as in the
    waves, e.g. ``"11-T"``), ``urban``, ``households`` and ``adults`` (census adults
    18+: simulated adults times the example's scale). Sorted by village.

    Examples
    --------
    >>> import perception as pc
    >>> frame = demo_village_frame(pc.demo_survey(seed=1, n_per_wave=800))
    >>> frame["cercle"].nunique(), bool(frame["households"].min() >= 45)
    (15, True)

    Notes
    -----
    The frame numbers villages as ``demo.population`` does; the waves' ``psu_id`` are
    pseudonymous labels of the villages drawn, not linked to these numbers.
    """
    population = getattr(demo, "population", None)
    params = getattr(demo, "params", None)
    if not isinstance(population, pd.DataFrame) or not isinstance(params, dict):
        raise SamplingError(
            f"demo_village_frame() needs the result of pc.demo_survey(), got "
            f"{type(demo).__name__}"
        )
    grouped = population.groupby("village", sort=True)
    frame = grouped.agg(cercle=("cercle", "first"), commune_rank=("commune", "first"),
                        treated=("treated", "first"), urban=("urban", "first"),
                        households=("household", "nunique"), simulated=("sex", "size"))
    frame = frame.reset_index()
    names = demo.questionnaire.labels("cercle", missing=False)
    cercle = frame["cercle"].astype(np.int64)
    out = pd.DataFrame({
        "village": frame["village"].astype(np.int64),
        "region": cercle // 10,
        "cercle": cercle,
        "cercle_name": cercle.map(names),
        "commune": cercle.astype(str) + frame["commune_rank"].astype(int).astype(str).str.zfill(2),
        "treated": frame["treated"].astype(np.int64),
        "stratum": cercle.astype(str) + np.where(frame["treated"] == 1, "-T", "-C"),
        "urban": frame["urban"].astype(np.int64),
        "households": frame["households"].astype(np.int64),
        "adults": frame["simulated"].astype(np.int64) * int(params["scale"]),
    })
    return out[DEMO_FRAME_COLUMNS]
