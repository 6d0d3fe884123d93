"""Designs, data and reference values shared by the model, chi-square and contrast tests.

The R side is ``tests/reference/make_reference.R`` (``reference_models.csv``) and
``tests/reference/make_models.R`` (``models_glm.csv``, ``models_chisq.csv``,
``models_contrast.csv``); the designs below are built exactly as there.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from _core_cases import r_name

import perception as pc

TESTS = Path(__file__).resolve().parent
REFERENCE = TESTS / "reference"
SURVEY_API_REFERENCE = REFERENCE / "r_survey_api.csv"  # R survey 4.1 (README.md)

BOOT_SCALE = 15 / 686  # n / ((n - 1)(R - 1)) for 15 PSUs and 50 replicates
POPULATION_STYPE = {"E": 4421, "H": 755, "M": 1018}  # apipop's school types


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"cds": str})


def _derive(df: pd.DataFrame) -> pd.DataFrame:
    """The derived columns of make_models.R."""
    out = df.copy()
    out["sch_yes"] = (out["sch_wide"] == "Yes").astype(float)
    out["mealcat"] = np.select(
        [out["meals"] <= 33, out["meals"] <= 66], ["low", "mid"], default="high"
    )
    if "avg_ed" in out.columns:
        out["edcat"] = pd.Series(
            np.where(out["avg_ed"] > 3, "high", "low"), index=out.index, dtype=object
        ).where(out["avg_ed"].notna())
    return out


@cache
def api(name: str) -> pd.DataFrame:
    """An api data set of ``pc.datasets`` with the derived columns of make_models.R."""
    return _derive(pc.datasets.load(name))


@cache
def design(name: str):
    """The designs of make_reference.R and make_models.R, by case prefix."""
    if name == "strat":
        return pc.SurveyDesign(api("apistrat"), weights="pw", strata="stype", fpc="fpc")
    if name == "strat_nofpc":
        return pc.SurveyDesign(api("apistrat"), weights="pw", strata="stype")
    if name == "clus1":
        return pc.SurveyDesign(api("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    if name == "clus1_nofpc":
        return pc.SurveyDesign(api("apiclus1"), weights="pw", psu="dnum")
    if name == "clus2":
        return pc.SurveyDesign(api("apiclus2"), psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    if name == "clus2_nofpc":
        return pc.SurveyDesign(api("apiclus2"), weights="pw", psu=["dnum", "snum"])
    if name in ("jk1", "jk1_clus1"):
        return design("clus1").replicate("jk1")
    if name == "jkn_strat":
        return design("strat").replicate("jkn")
    if name in ("boot", "boot_mse"):
        return pc.ReplicateDesign(
            api("apiclus1_boot50"), weights="pw", replicate_weights="rw[0-9]+", scale=BOOT_SCALE,
            mse=name == "boot_mse", method="bootstrap",
        )
    if name == "ps":
        return pc.poststratify(design("clus1"), "stype", POPULATION_STYPE)
    if name == "cal":
        return pc.calibrate(design("clus1"), {"stype": POPULATION_STYPE, "api99": 3914069})
    if name == "lonely_adjust":
        data = _read(REFERENCE / "lonely_data.csv")
        return pc.SurveyDesign(data, weights="pw", strata="stype", psu="dnum", nest=True,
                               lonely_psu="adjust")
    raise KeyError(name)


def read_reference(path: Path) -> dict[str, dict[str, float]]:
    """``{case: {key: value}}`` from a long ``case,key,value`` file."""
    table = pd.read_csv(path, dtype={"case": str, "key": str})
    out: dict[str, dict[str, float]] = {}
    for case, key, value in table.itertuples(index=False):
        out.setdefault(case, {})[key] = float(value)
    return out


@cache
def reference(file: str) -> dict[str, dict[str, float]]:
    return read_reference(REFERENCE / file)


@cache
def survey_api_reference() -> dict[str, dict[str, float]]:
    return read_reference(SURVEY_API_REFERENCE)


def r_term(term: str) -> str:
    """R's name of a patsy term: ``Intercept`` -> ``(Intercept)``, ``stype[T.H]`` ->
    ``stypeH``, ``C(stype)[T.H]:meals`` -> ``stypeH:meals``, ``avg_ed`` -> ``avg.ed`` (R's name
    of the api column)."""
    parts = []
    for part in term.split(":"):
        if part == "Intercept":
            parts.append("(Intercept)")
            continue
        part = re.sub(r'^Q\("([^"]+)"\)', r"\1", part)
        part = re.sub(r"^C\(([^)]+)\)", r"\1", part)
        part = re.sub(r"\[T\.([^\]]+)\]$", r"\1", part)
        parts.append(r_name(part))
    return ":".join(parts)


def relative_error(ours: float, theirs: float) -> float:
    if theirs == 0:
        return abs(ours)
    return abs(ours / theirs - 1)
