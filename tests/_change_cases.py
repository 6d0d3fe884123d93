"""Data, designs and R reference values for the before/after tests (issue #6).

References:
- ``reference/reference_change.csv`` (make_reference.R, section 4): revisited villages,
  2 and 3 waves (``panel_villages.csv``, ``panel_villages3.csv``).
- ``reference/change_reference.csv`` (make_change.R): relative changes, heterogeneity,
  covariates, missing values, a domain, a JKn replicate design, re-interviewed
  respondents (``change_panel.csv``) and ANOVA ICCs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import perception as pc

REFERENCE = Path(__file__).resolve().parent / "reference"

#: relative tolerance against R (the brief: 1e-6 relative)
RTOL = 1e-6
#: absolute floor for numbers that are zero in R up to rounding
ATOL = 1e-12

# rows (0-based) made missing in make_change.R (1-based there: 5, 17, 230, 611, 1001)
MISSING_ROWS = [4, 16, 229, 610, 1000]


@cache
def reference(name: str) -> dict[str, dict[str, float]]:
    """``{case: {key: value}}`` of a long reference file."""
    table = pd.read_csv(REFERENCE / name, dtype={"case": str, "key": str})
    out: dict[str, dict[str, float]] = {}
    for case, key, value in table.itertuples(index=False):
        out.setdefault(case, {})[key] = float(value)
    return out


def ref(case: str, key: str, name: str = "reference_change.csv") -> float:
    return reference(name)[case][key]


def ref2(case: str, key: str) -> float:
    """A value of make_change.R's file."""
    return ref(case, key, "change_reference.csv")


@cache
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name)


def panel_data(waves: int = 2) -> pd.DataFrame:
    """The revisited-villages data (a fresh copy), with make_change.R's derived columns."""
    data = _read("panel_villages.csv" if waves == 2 else "panel_villages3.csv").copy()
    number = data["respondent"].str.extract(r"-r(\d+)$")[0].astype(int)
    data["region"] = np.where(data["stratum"].isin(["S1", "S2"]), "A", "B")
    data["sex"] = 1 + number % 2
    data["x"] = (number % 5) / 2
    if waves == 3:
        data["trust_na"] = data["trust"].astype(float)
        data.loc[MISSING_ROWS, "trust_na"] = np.nan
    return data


def panel_design(waves: int = 2) -> pc.SurveyDesign:
    """R: ``svydesign(id=~psu, strata=~stratum, weights=~w, data=panel, nest=TRUE)``."""
    return pc.SurveyDesign(panel_data(waves), weights="w", strata="stratum", psu="psu",
                           nest=True)


def respondent_panel() -> pd.DataFrame:
    """Re-interviewed respondents (make_change.R), a fresh copy."""
    return _read("change_panel.csv").copy()


def respondent_design() -> pc.SurveyDesign:
    """R: ``svydesign(id=~psu, strata=~stratum, weights=~w, data=panel)``."""
    return pc.SurveyDesign(respondent_panel(), weights="w", strata="stratum", psu="psu")


def close(actual: float, expected: float, rtol: float = RTOL) -> bool:
    return bool(np.isclose(actual, expected, rtol=rtol, atol=ATOL))
