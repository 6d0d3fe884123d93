"""A synthetic clustered population and samples from it, for coverage studies.

Shared by ``tests/survey/test_coverage_fast.py`` and ``benchmarks/coverage.py``.

The population: ``strata`` strata of ``villages`` villages each (30 to 150 adults per
village, half of the villages of each stratum "treated"), two waves. Per adult:

- ``y``: a score (stratum level + village effect + noise; intra-village correlation
  about 0.1), 2 points higher at wave 1, 3 more in treated villages;
- ``x``: a positive size (household members), correlated with ``y`` (ratio ``y/x``);
- ``b``: a common 0/1 answer (about 40%, village effects on the logit scale), 8 points
  more likely at wave 1 in treated villages (the DiD);
- ``r``: a rare 0/1 answer (about 3%, village effects).

A sample: ``per_stratum`` villages by simple random sampling in every stratum (the same
villages at both waves), ``adults`` adults per village and wave (new adults each wave);
weight = (villages in stratum / villages sampled) x (adults in village / adults drawn).
The design is ``SurveyDesign(strata="stratum", psu="psu", weights="w")`` (first stage
with replacement, as R's default without fpc); columns ``fpc1`` (villages in the
stratum) and ``fpc2`` (adults in the village) describe the two stages without
replacement, as they were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

ICC = 0.1


@dataclass(frozen=True)
class Population:
    stratum: np.ndarray  # (N,) stratum of each adult
    village: np.ndarray  # (N,) village of each adult (0..V-1)
    treated: np.ndarray  # (V,) 0/1 per village
    village_stratum: np.ndarray  # (V,)
    size: np.ndarray  # (V,) adults per village
    values: dict[str, np.ndarray]  # "y0", "y1", "x0", "x1", "b0", "b1", "r0", "r1": (N,)

    def truth(self) -> dict[str, float]:
        v = self.values
        t = self.treated[self.village] == 1
        share = {k: float(v[k].mean()) for k in ("b0", "b1", "r0")}
        y0 = np.sort(v["y0"])
        return {
            "mean_y": float(v["y0"].mean()),
            "total_y": float(v["y0"].sum()),
            # R's qrule = "math": the smallest y with F(y) >= 1/2
            "median_y": float(y0[int(np.ceil(0.5 * y0.size)) - 1]),
            "prop_b": share["b0"],
            "prop_r": share["r0"],
            "ratio_yx": float(v["y0"].sum() / v["x0"].sum()),
            "change_y": float(v["y1"].mean() - v["y0"].mean()),
            "did_b": float((v["b1"][t].mean() - v["b0"][t].mean())
                           - (v["b1"][~t].mean() - v["b0"][~t].mean())),
        }


def make_population(seed: int = 20240, strata: int = 5, villages: int = 60) -> Population:
    rng = np.random.default_rng(seed)
    n_villages = strata * villages
    village_stratum = np.repeat(np.arange(strata), villages)
    size = rng.integers(30, 151, n_villages)
    treated = np.zeros(n_villages, dtype=int)
    for h in range(strata):
        members = np.flatnonzero(village_stratum == h)
        treated[rng.choice(members, villages // 2, replace=False)] = 1
    village = np.repeat(np.arange(n_villages), size)
    stratum = village_stratum[village]
    n = village.size
    level = rng.normal(0.0, 3.0, strata)[stratum]
    u = rng.normal(0.0, np.sqrt(ICC / (1 - ICC)) * 10.0, n_villages)[village]
    t = treated[village]
    values: dict[str, np.ndarray] = {}
    for wave in (0, 1):
        values[f"y{wave}"] = 50 + level + u + rng.normal(0.0, 10.0, n) + wave * (2 + 3 * t)
        values[f"x{wave}"] = 1.0 + rng.poisson(np.exp(1.2 + 0.01 * (values[f"y{wave}"] - 50)))
    v_b = rng.normal(0.0, 0.6, n_villages)[village]
    v_r = rng.normal(0.0, 0.5, n_villages)[village]
    base = special.expit(-0.45 + v_b)
    values["b0"] = (rng.random(n) < base).astype(float)
    values["b1"] = (rng.random(n) < np.clip(base + 0.02 + 0.08 * t, 0, 1)).astype(float)
    rare = special.expit(-3.6 + v_r)
    values["r0"] = (rng.random(n) < rare).astype(float)
    values["r1"] = (rng.random(n) < rare).astype(float)
    return Population(stratum, village, treated, village_stratum, size, values)


def draw_sample(pop: Population, rng: np.random.Generator, per_stratum: int,
                adults: int) -> pd.DataFrame:
    """One sample, both waves stacked (column ``wave``)."""
    frames = []
    first = np.concatenate([[0], np.cumsum(pop.size)[:-1]])  # first adult of each village
    strata = np.unique(pop.village_stratum)
    chosen = np.concatenate([
        rng.choice(np.flatnonzero(pop.village_stratum == h), per_stratum, replace=False)
        for h in strata])
    n_in_stratum = np.bincount(pop.village_stratum)
    for wave in (0, 1):
        rows = np.concatenate([first[v] + rng.choice(pop.size[v], adults, replace=False)
                               for v in chosen])
        vill = pop.village[rows]
        weight = (n_in_stratum[pop.stratum[rows]] / per_stratum) * (pop.size[vill] / adults)
        frames.append(pd.DataFrame({
            "wave": wave, "stratum": pop.stratum[rows], "psu": vill,
            "treated": pop.treated[vill], "w": weight,
            # population sizes of the two stages (villages in the stratum, adults in the
            # village), for a without-replacement two-stage design
            "fpc1": n_in_stratum[pop.stratum[rows]], "fpc2": pop.size[vill],
            "y": pop.values[f"y{wave}"][rows], "x": pop.values[f"x{wave}"][rows],
            "b": pop.values[f"b{wave}"][rows], "r": pop.values[f"r{wave}"][rows],
        }))
    return pd.concat(frames, ignore_index=True)


def draw_samples(pop: Population, n_samples: int, per_stratum: int, adults: int,
                 seed: int) -> pd.DataFrame:
    """``n_samples`` samples stacked (column ``sample``); strata and PSU labels are made
    unique per sample, so one design holds them all and each sample is a domain whose
    Taylor variance is that of its own design."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_samples):
        frame = draw_sample(pop, rng, per_stratum, adults)
        frame.insert(0, "sample", k)
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    data["stratum"] = data["sample"] * 1000 + data["stratum"]
    data["psu"] = data["sample"] * 100_000 + data["psu"]
    return data
