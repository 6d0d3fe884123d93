"""Repeated sampling of the demo's list experiment from ONE population: the list
estimate covers the population's truth at the nominal rate, the direct question is
biased.

The Central Mali population is built once (``--population`` seed), with its sensitive
item (abuse by the FSI in the household) drawn from the list experiment's own stream;
each replication redraws the sample (villages PPS, households, Kish adults,
nonresponse, weights) and the respondents' answers to the list experiment and to the
direct question, then estimates at each wave:

- ``list`` -- ``pc.list_experiment`` (the difference between the two lists' mean counts,
  design-based SE);
- ``direct`` -- the weighted share answering "yes" among those answering yes or no
  (``pc.top_box(..., top=[1])``), as a survey without a list experiment would report;
- ``change`` -- the change of the list prevalence between the waves (``pc.change`` of the
  list table: villages are revisited, so the waves are correlated).

Each is compared with the finite population's truth (``demo.truth``: share of adults
whose household suffered abuse, and its change): bias, the SD of the estimates against
the mean reported SE, and the coverage of the 95% t intervals (a binomial 95% band of
the coverage is printed next to it).

Usage::

    .venv/bin/python benchmarks/coverage_list_experiment.py [--population 11]
        [--samples 1000] [--n-per-wave 4000] [--csv out.csv]

About a second per sample (one process). Uses the simulator's internal functions, not
the public API.
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

LEVEL = 0.95


def run(population: int, samples: int, n_per_wave: int) -> pd.DataFrame:
    rng = np.random.default_rng(population)
    pop = sim._build_population(rng, n_waves=2, effect=0.08, trend=0.03, icc=0.1)
    sim._build_sensitive(sim._list_stream(population), pop)
    census = sim._census()
    truth = sim._truth(pop).set_index(["quantity", "variable", "wave", "group"])["value"]
    item = sim.SENSITIVE_ITEM
    target = {("list", 0): truth["share", item, 0, "all"],
              ("list", 1): truth["share", item, 1, "all"],
              ("direct", 0): truth["share", item, 0, "all"],
              ("direct", 1): truth["share", item, 1, "all"],
              ("change", 1): truth["change", item, 1, "all"]}
    n_villages = int(np.ceil(n_per_wave / (15 * sim._EXPECTED_RESPONSE)))
    rows = []
    start = time.perf_counter()
    for k in range(samples):
        r = np.random.default_rng([population, k, 7])
        answers = np.random.default_rng([population, k, 11])
        sel = sim._select_villages(r, pop, n_villages)
        waves = sim._draw_waves(r, pop, sel, n_waves=2, hh_per_village=15, panel=False,
                                census=census)
        frames = []
        for t, wave in enumerate(waves):
            frame = pd.DataFrame(sim._list_answers(answers, pop, sel, wave, t))
            frame["wave"] = t
            frame["stratum"] = sel.stratum[wave.village_pos]
            frame["psu"] = sel.village[wave.village_pos]
            frame["w_final"] = wave.w_final
            frames.append(frame)
        data = pd.concat(frames, ignore_index=True)
        data["direct"] = data[item].where(data[item] <= 1)
        design = pc.SurveyDesign(data, weights="w_final", strata="stratum", psu="psu")
        listed = pc.list_experiment(design, count="le_count", treatment="le_list", by="wave",
                                    n_control_items=4, level=LEVEL)
        direct = pc.mean(design, "direct", by="wave", na_rm=True, level=LEVEL)
        change = pc.change(listed, "le_count", over="wave", level=LEVEL)
        for kind, table, column in (("list", listed, "wave"), ("direct", direct, "wave"),
                                    ("change", change, "to")):
            for row in table.itertuples(index=False):
                wave = int(getattr(row, column))
                rows.append((k, kind, wave, row.estimate, row.se, row.ci_low, row.ci_high,
                             target[kind, wave]))
        if (k + 1) % 100 == 0:
            print(f"  {k + 1}/{samples} ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr, flush=True)
    return pd.DataFrame(rows, columns=["sample", "estimate_of", "wave", "estimate", "se",
                                       "ci_low", "ci_high", "truth"])


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (kind, wave), g in results.groupby(["estimate_of", "wave"], sort=False):
        covered = (g["ci_low"] <= g["truth"]) & (g["truth"] <= g["ci_high"])
        n = len(g)
        low, high = stats.binom.ppf([0.025, 0.975], n, LEVEL) / n
        out.append({"estimate_of": kind, "wave": wave, "truth": g["truth"].iloc[0],
                    "mean": g["estimate"].mean(), "bias": g["estimate"].mean() - g["truth"].iloc[0],
                    "sd": g["estimate"].std(ddof=1), "mean_se": g["se"].mean(),
                    "coverage": covered.mean(), "band_low": low, "band_high": high,
                    "samples": n})
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=11)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--n-per-wave", type=int, default=4000)
    parser.add_argument("--csv", default=None, help="write every replication to this file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = run(args.population, args.samples, args.n_per_wave)
    if args.csv:
        results.to_csv(args.csv, index=False)
    summary = summarise(results)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(summary.round(4).to_string(index=False))
    print(f"\n{args.samples} samples of population {args.population}, "
          f"{args.n_per_wave} respondents per wave, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
