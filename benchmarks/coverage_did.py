"""Monte Carlo study of ``pc.did`` and ``pc.mde`` on the built-in Central Mali demo.

Each replicate is a fresh demo survey (``pc.demo_survey(seed)``: a finite population,
villages drawn PPS in cercle x treatment strata and revisited at the endline, new
households each wave) analysed as a report would: the 0/1 indicator "trusts the police
somewhat or a lot" (8/9 recoded to missing), ``pc.did(..., na_rm=True)``. The target of
each interval is that population's true DiD (``demo.truth``, quantity ``did``).

Two studies:

1. Coverage -- programme effect 0.08: share of 95% intervals covering the true DiD
   (target 93-97%), mean SE over the SD of the estimation errors, bias.
2. Power vs the MDE formula -- a pilot survey gives the planning inputs (villages per
   arm, respondents per village, baseline ICC within strata, Kish weighting design
   effect); ``pc.mde(..., design="did", revisited=True, r_cluster=1.0)`` gives the
   detectable effect (the demo's village effects persist across waves, so
   ``r_cluster = 1``); surveys simulated with that effect should reject "no effect" at
   the 5% level in 80% of replicates (target: within 5 points).

Usage::

    .venv/bin/python benchmarks/coverage_did.py [--pairs 300] [--workers 2]
        [--study both|coverage|power] [--n-per-wave N] [--out results.csv]

``--n-per-wave`` defaults to 4000 (the demo's default, ~10 villages per stratum) for the
coverage study and 1500 (~60 villages per arm, close to the domain note's scenario) for
the power study.

Results (300 pairs each, survey 4.1.1-equivalent SEs, on the demo simulator of this checkout):

- coverage, n_per_wave=4000: 95.0% (MC SE 1.3), mean SE / SD of errors 1.017, bias
  +0.01 points;
- coverage, n_per_wave=1500 (~4 villages per stratum): 91.3% (MC SE 1.6), SE ratio
  0.924 -- with 2-6 PSUs per stratum the linearised SE is a little small, as R's is;
  a second set of 300 pairs (the power study) gave 94.7%, 600 pairs together 93.0%;
- power, n_per_wave=1500: formula MDE 11.6 points (formula SE 4.15, mean simulated SE
  4.06), simulated power 78.7% (target 80 +/- 5).

Note: seeds 1-300 are an unlucky set at n_per_wave=1500. ``benchmarks/coverage.py``
(docs/coverage.md) runs the same DiD on seeds 1-1000: 95.0% (MC SE 0.7), SE ratio 1.01,
and reproduces the shortfall on seeds 1-200 alone; the small-SE reading above was
Monte Carlo noise, not a property of the linearised SE.

Not part of the test suite (it takes 10-20 minutes); the suite holds a fast version
(tests/analysis/test_did.py::test_monte_carlo_did_coverage_fast).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pandas as pd

import perception as pc

ITEM = "trust_police"
TRUSTING = (2, 3)
COVERAGE_BAND = (0.93, 0.97)
POWER_TARGET = 0.80
POWER_TOLERANCE = 0.05
ALPHA = 0.05
PILOT_SEED = 999_999


def indicator_design(demo: pc.DemoSurvey) -> pc.SurveyDesign:
    """The design of the demo waves with ``y`` = trusts the police (NaN for 8/9)."""
    waves = demo.waves.copy()
    item = waves[ITEM]
    missing = item.isin(demo.questionnaire.missing_codes(ITEM))
    waves["y"] = np.where(missing, np.nan, item.isin(TRUSTING).astype(float))
    return pc.SurveyDesign(waves, weights="w_final", strata="stratum", psu="psu_id")


def one_pair(seed: int, n_per_wave: int, effect: float) -> dict:
    demo = pc.demo_survey(seed=seed, n_per_wave=n_per_wave, effect=effect)
    design = indicator_design(demo)
    row = pc.did(design, "y", na_rm=True).effects.iloc[0]
    truth = demo.truth.set_index(["quantity", "variable", "group"])["value"]
    true_did = float(truth["did", ITEM, "treated=1 - treated=0"])
    return {"seed": seed, "effect": effect, "estimate": row["estimate"], "se": row["se"],
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "df": row["df"],
            "p": row["p"], "truth": true_did,
            "covered": bool(row["ci_low"] <= true_did <= row["ci_high"])}


def planning_inputs(n_per_wave: int) -> dict:
    """What a planner would measure on a pilot (baseline) survey of the same design."""
    demo = pc.demo_survey(seed=PILOT_SEED, n_per_wave=n_per_wave)
    design = indicator_design(demo)
    data = design.data
    baseline_rows = (data["wave"] == 0).to_numpy()
    baseline = data[baseline_rows]
    villages = baseline.groupby("treated")["psu_id"].nunique()
    deff_w = [len(g) * (g["w_final"] ** 2).sum() / g["w_final"].sum() ** 2
              for _, g in baseline.groupby("treated")]
    icc_row = pc.icc(design.subset(baseline_rows), "y", na_rm=True).iloc[0]
    return {
        "villages_per_arm": float(2 / (1 / villages).sum()),
        "per_village": float(baseline["y"].notna().sum() / baseline["psu_id"].nunique()),
        "icc": float(icc_row["icc"]),
        "deff_weighting": float(np.mean(deff_w)),
        "p": float(np.average(baseline["y"].dropna(),
                              weights=baseline.loc[baseline["y"].notna(), "w_final"])),
        "true_icc": float(demo.truth.query(
            "quantity == 'icc' and variable == @ITEM")["value"].iloc[0]),
    }


def simulate(seeds, n_per_wave: int, effect: float, workers: int) -> pd.DataFrame:
    task = partial(one_pair, n_per_wave=n_per_wave, effect=effect)
    if workers <= 1:
        return pd.DataFrame([task(s) for s in seeds])
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return pd.DataFrame(list(pool.map(task, seeds, chunksize=4)))


def summarise(results: pd.DataFrame) -> dict:
    errors = results["estimate"] - results["truth"]
    n = len(results)
    coverage = results["covered"].mean()
    return {
        "pairs": n,
        "coverage": coverage,
        "coverage_mc_se": float(np.sqrt(coverage * (1 - coverage) / n)),
        "bias": float(errors.mean()),
        "se_ratio": float(results["se"].mean() / errors.std(ddof=1)),
        "rejection_rate": float((results["p"] < ALPHA).mean()),
    }


def coverage_study(args) -> tuple[bool, pd.DataFrame]:
    n_per_wave = args.n_per_wave or 4000
    coverage = simulate(range(1, args.pairs + 1), n_per_wave, 0.08, args.workers)
    cov = summarise(coverage)
    print(f"1. Coverage ({cov['pairs']} survey pairs, n_per_wave={n_per_wave}, effect 0.08)")
    print(f"   95% interval coverage {100 * cov['coverage']:.1f}% "
          f"(MC SE {100 * cov['coverage_mc_se']:.1f}; target {100 * COVERAGE_BAND[0]:.0f}-"
          f"{100 * COVERAGE_BAND[1]:.0f}%)")
    print(f"   mean SE / SD of errors {cov['se_ratio']:.3f}; bias {100 * cov['bias']:+.2f} points")
    return COVERAGE_BAND[0] <= cov["coverage"] <= COVERAGE_BAND[1], coverage


def power_study(args) -> tuple[bool, pd.DataFrame]:
    n_per_wave = args.n_per_wave or 1500
    plan = planning_inputs(n_per_wave)
    mde_row = pc.mde(plan["villages_per_arm"], plan["per_village"], max(plan["icc"], 0.0),
                     p=0.5, deff_weighting=plan["deff_weighting"], design="did",
                     revisited=True, r_cluster=1.0, alpha=ALPHA, power=POWER_TARGET).iloc[0]
    effect = round(float(mde_row["mde"]), 4)
    power = simulate(range(10_001, 10_001 + args.pairs), n_per_wave, effect, args.workers)
    pw = summarise(power)
    print(f"2. Power at the formula's MDE ({pw['pairs']} survey pairs, "
          f"n_per_wave={n_per_wave})")
    print("   pilot: " + ", ".join(f"{k} {v:.3f}" for k, v in plan.items()))
    print(f"   MDE (did, revisited, r_cluster=1): {100 * effect:.1f} points "
          f"(formula SE {100 * mde_row['se']:.2f}; simulated mean SE "
          f"{100 * power['se'].mean():.2f})")
    print(f"   simulated power {100 * pw['rejection_rate']:.1f}% (target "
          f"{100 * POWER_TARGET:.0f} +/- {100 * POWER_TOLERANCE:.0f}); coverage "
          f"{100 * pw['coverage']:.1f}%")
    return abs(pw["rejection_rate"] - POWER_TARGET) <= POWER_TOLERANCE, power


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Monte Carlo study of pc.did and pc.mde")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-per-wave", type=int, default=None,
                        help="respondents per wave (default 4000 coverage, 1500 power)")
    parser.add_argument("--out", default=None, help="CSV of every replicate")
    parser.add_argument("--study", choices=("both", "coverage", "power"), default="both")
    args = parser.parse_args(argv)
    start = time.time()
    coverage_ok = power_ok = True
    results = []
    if args.study in ("both", "coverage"):
        coverage_ok, table = coverage_study(args)
        results.append(table.assign(study="coverage"))
    if args.study in ("both", "power"):
        power_ok, table = power_study(args)
        results.append(table.assign(study="power"))
    print(f"coverage {'OK' if coverage_ok else 'OUTSIDE BAND'}; "
          f"power {'OK' if power_ok else 'OUTSIDE BAND'}; {time.time() - start:.0f} s")
    if args.out:
        pd.concat(results).to_csv(args.out, index=False)
    return 0 if coverage_ok and power_ok else 1


if __name__ == "__main__":
    sys.exit(main())
