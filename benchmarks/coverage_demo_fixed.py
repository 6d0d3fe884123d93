"""Repeated sampling from ONE population of the Central Mali simulator.

``benchmarks/coverage.py`` draws a new population and sample for every seed
(``pc.demo_survey(seed)``); this study keeps the population fixed and redraws only the
sample (villages PPS, households, Kish adults, nonresponse, weights), which is the
design-based repeated-sampling experiment itself: the bias of each weighting against the
population's truth, the reported SE against the true sampling SD, and the coverage of
t intervals, for the baseline "trusts the police" item (0-3 mean, share 2-3 among
substantive answers, share of "don't know" among everybody).

``--no-nonresponse`` makes everybody respond (``w_nr = w_base``), which separates the
sampling design from the nonresponse model.

Usage::

    .venv/bin/python benchmarks/coverage_demo_fixed.py [--population 11] [--samples 1500]
        [--n-per-wave 1500] [--no-nonresponse] [--csv out.csv]

About 2-5 minutes for 1500 samples (one process). Uses the simulator's internal
functions (``perception.demo.simulator._build_population``, ``_select_villages``,
``_draw_waves``), not the public API.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

import perception as pc
import perception.demo.simulator as sim

ITEM = "trust_police"
WEIGHTS = ("w_base", "w_nr", "w_final")


def run(population: int, samples: int, n_per_wave: int, nonresponse: bool) -> pd.DataFrame:
    rng = np.random.default_rng(population)
    pop = sim._build_population(rng, n_waves=2, effect=0.08, trend=0.03, icc=0.1)
    census = sim._census()
    truth = sim._truth(pop).set_index(["quantity", "variable", "wave", "group"])["value"]
    target = {"scale": truth["mean", ITEM, 0, "all"], "top": truth["share", ITEM, 0, "all"],
              "dk": truth["dk", ITEM, 0, "all"]}
    original = sim._response_probability
    if not nonresponse:
        sim._response_probability = lambda pop, person, conflict: np.ones(person.shape[0])
    n_villages = int(np.ceil(n_per_wave / (15 * sim._EXPECTED_RESPONSE)))
    answers = pop.answers[ITEM][0]
    rows = []
    start = time.perf_counter()
    try:
        for k in range(samples):
            r = np.random.default_rng([population, k, 7])
            sel = sim._select_villages(r, pop, n_villages)
            wave = sim._draw_waves(r, pop, sel, n_waves=2, hh_per_village=15, panel=False,
                                   census=census)[0]
            a = answers[wave.person].astype(float)
            missing = (a == 8) | (a == 9)
            data = pd.DataFrame({
                "stratum": sel.stratum[wave.village_pos], "psu": sel.village[wave.village_pos],
                "w_base": wave.w_base, "w_nr": wave.w_nr, "w_final": wave.w_final,
                "scale": np.where(missing, np.nan, a),
                "top": np.where(missing, np.nan, (a >= 2) * 1.0),
                "dk": (a == 9) * 1.0})
            for weights in WEIGHTS:
                design = pc.SurveyDesign(data, weights=weights, strata="stratum", psu="psu")
                for variable, value in target.items():
                    m = pc.mean(design, variable, na_rm=True).iloc[0]
                    rows.append((k, weights, variable, m["estimate"], m["se"], m["df"], value))
            if (k + 1) % 100 == 0:
                print(f"  {k + 1}/{samples} ({time.perf_counter() - start:.0f} s)",
                      file=sys.stderr, flush=True)
    finally:
        sim._response_probability = original
    return pd.DataFrame(rows, columns=["sample", "weights", "variable", "estimate", "se",
                                       "df", "truth"])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    r = results.assign(error=results["estimate"] - results["truth"])
    r["covered"] = r["error"].abs() <= stats.t.ppf(0.975, r["df"]) * r["se"]
    g = r.groupby(["variable", "weights"])
    out = g.agg(samples=("sample", "size"), bias=("error", "mean"), sd=("error", "std"),
                mean_se=("se", "mean"), coverage=("covered", "mean"))
    out["bias/sd"] = out["bias"] / out["sd"]
    out["se_ratio"] = out["mean_se"] / out["sd"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=11, help="population seed")
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument("--n-per-wave", type=int, default=1500)
    parser.add_argument("--no-nonresponse", action="store_true")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args(argv)
    results = run(args.population, args.samples, args.n_per_wave, not args.no_nonresponse)
    if args.csv:
        results.to_csv(args.csv, index=False)
    print(summarise(results).round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
