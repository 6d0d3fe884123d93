"""Monte Carlo check of the Taylor variance: 95% intervals cover the population mean.

A synthetic finite population of 20 strata x 40 villages x 60 adults, with a village
effect giving an intra-village correlation of about 0.1. Each sample draws 4 villages
per stratum without replacement (SRS) and 12 adults per sampled village, so every
sample has the same structure: 20 strata, 80 villages, 960 rows, self-weighting, with
the fpc at both stages (R's default two-stage variance). Sample ``s`` is column
``y{s}`` of one data frame, and one call of ``pc.mean`` estimates all of them: the
design (strata, villages, weights, fpc) is the same for every sample, only the
observed values differ, so this is the same as calling ``pc.mean`` once per sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import perception as pc

SEED = 20240611
N_SAMPLES = 2000
STRATA, VILLAGES, ADULTS = 20, 40, 60
SAMPLED_VILLAGES, SAMPLED_ADULTS = 4, 12
ICC = 0.1
COVERAGE_RANGE = (0.93, 0.97)
SE_RATIO_RANGE = (0.9, 1.1)  # mean estimated SE over the spread of the estimates


def _population(rng: np.random.Generator) -> np.ndarray:
    """(strata, villages, adults) scores: stratum level + village effect + noise."""
    stratum_level = rng.normal(50, 5, size=(STRATA, 1, 1))
    village = rng.normal(0, np.sqrt(ICC), size=(STRATA, VILLAGES, 1))
    adult = rng.normal(0, np.sqrt(1 - ICC), size=(STRATA, VILLAGES, ADULTS))
    return stratum_level + 10 * (village + adult)


def _samples(population: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(samples, strata, sampled villages, sampled adults) values, drawn all at once."""
    villages = rng.random((N_SAMPLES, STRATA, VILLAGES)).argsort(axis=2)[..., :SAMPLED_VILLAGES]
    adults = rng.random((N_SAMPLES, STRATA, SAMPLED_VILLAGES, ADULTS)).argsort(axis=3)[
        ..., :SAMPLED_ADULTS]
    s = np.arange(STRATA)[None, :, None, None]
    return population[s, villages[..., None], adults]


def test_intervals_of_the_mean_cover_the_truth():
    rng = np.random.default_rng(SEED)
    population = _population(rng)
    truth = population.mean()
    values = _samples(population, rng).reshape(N_SAMPLES, -1)  # rows in sample order

    stratum, village, adult = np.meshgrid(np.arange(STRATA), np.arange(SAMPLED_VILLAGES),
                                          np.arange(SAMPLED_ADULTS), indexing="ij")
    frame = pd.DataFrame({
        "stratum": stratum.ravel(),
        "village": (stratum * SAMPLED_VILLAGES + village).ravel(),
        "adult": adult.ravel(),
        "n_villages": VILLAGES,
        "n_adults": ADULTS,
    })
    names = [f"y{s}" for s in range(N_SAMPLES)]
    frame = pd.concat([frame, pd.DataFrame(values.T, columns=names)], axis=1)
    design = pc.SurveyDesign(frame, strata="stratum", psu=["village", "adult"],
                             fpc=["n_villages", "n_adults"])
    expected_weight = (VILLAGES / SAMPLED_VILLAGES) * (ADULTS / SAMPLED_ADULTS)
    np.testing.assert_allclose(design.weights, expected_weight)

    table = pc.mean(design, names)
    covered = (table["ci_low"] <= truth) & (truth <= table["ci_high"])
    coverage = covered.mean()
    assert COVERAGE_RANGE[0] <= coverage <= COVERAGE_RANGE[1], coverage
    se_ratio = table["se"].mean() / table["estimate"].std(ddof=1)
    assert SE_RATIO_RANGE[0] <= se_ratio <= SE_RATIO_RANGE[1], se_ratio
    assert (table["df"] == STRATA * SAMPLED_VILLAGES - STRATA).all()
