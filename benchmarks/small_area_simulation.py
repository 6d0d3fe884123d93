"""Do Fay–Herriot estimates beat the direct estimates of small communes, and is their MSE
estimate right?

Outside the test suite (about 2-3 minutes with the defaults). The finite population of
the demo (``pc.demo_survey(seed=1).population``: 516,000 simulated adults in 226
communes of 15 cercles) is sampled again and again with a design that is not planned
for communes: in each cercle, villages are drawn with probability proportional to their
adults and with replacement (``draws`` in all, allocated to the cercles in proportion
to their adults), and ``take`` adults at random in each drawn village. Communes then
get from 0 to about 150 respondents, most of them fewer than 60.

Target: the share of adults trusting the police "somewhat" or "a lot" among those who
answer (codes 2-3 among 0-3) at the baseline, in each commune (the finite population's
true value). Direct estimate: ``pc.mean(design, "y", by="commune", na_rm=True)`` with
the design ``SurveyDesign(sample, weights="w", strata="cercle", psu="draw")``.
Auxiliaries known for every commune (the census): the region, whether the programme
treats the commune, whether it is the urban chef-lieu. They explain about 40% of the
variance of the communes' true shares (R^2 of the population regression): the commune
effects are only partly explained. Direct variances resting on fewer than 5 PSUs (or
equal to 0) are replaced by the GVF; communes without a sample get the synthetic
estimate.

Reported, for communes by expected number of respondents: the empirical MSE of the
direct estimate and of the EBLUP against the truth (over the replications in which
the commune was sampled), the share of communes where the EBLUP's is the smaller, the
mean estimated MSE against the empirical MSE (the estimator is model-based: it targets
the MSE averaged over communes like this one, so the comparison is made on averages
over groups of communes), and the coverage of ``estimate ± 1.96·rMSE``.

Run: ``.venv/bin/python benchmarks/small_area_simulation.py [replications] [seed]``
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

import perception as pc

DRAWS = 500  # villages drawn (with replacement) per sample
TAKE = 8  # adults drawn at random in each drawn village
FORMULA = "estimate ~ C(region) + treated + urban"
#: fits compared: name -> options of pc.fay_herriot
VARIANTS = {
    "REML": {"method": "REML"},
    "ML": {"method": "ML"},
    "FH": {"method": "FH"},
    "REML, gvf=free": {"method": "REML", "gvf": "free"},
}
SIZE_GROUPS = [(0, 15), (15, 30), (30, 60), (60, np.inf)]


def population(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo population's adults (sorted by village) and one row per commune with its
    auxiliaries, its adults and its true share."""
    pop = pc.demo_survey(seed=seed).population
    commune = pop["cercle"].astype(str) + pop["commune"].astype(str).str.zfill(2)
    answer = pop["trust_police_w0"]
    adults = pd.DataFrame({
        "commune": commune.to_numpy(),
        "cercle": pop["cercle"].to_numpy(),
        "village": pop["village"].to_numpy(),
        "y": np.where(answer.isin([0, 1, 2, 3]), answer.isin([2, 3]).astype(float), np.nan),
    }).sort_values("village", kind="mergesort").reset_index(drop=True)
    areas = (pop.assign(commune=commune)
             .groupby("commune")
             .agg(cercle=("cercle", "first"), treated=("treated", "max"), urban=("urban", "max"),
                  adults=("sex", "size"))
             .reset_index())
    areas["region"] = areas["cercle"] // 10
    truth = adults.groupby("commune")["y"].mean().rename("truth")
    return adults, areas.merge(truth, left_on="commune", right_index=True)


class Sampler:
    """Stratified (cercle) PPS-with-replacement draws of villages, then SRS of adults."""

    def __init__(self, adults: pd.DataFrame, draws: int, take: int) -> None:
        self.adults = adults
        village = adults["village"].to_numpy()
        starts = np.flatnonzero(np.r_[True, village[1:] != village[:-1]])
        self.start = starts
        self.size = np.diff(np.r_[starts, village.size])
        self.v_cercle = adults["cercle"].to_numpy()[starts]
        adults_by_cercle = pd.Series(self.size).groupby(self.v_cercle).sum()
        alloc = np.maximum(2, np.round(draws * adults_by_cercle / adults_by_cercle.sum()))
        self.alloc = alloc.astype(int).to_dict()
        self.take = take

    def draw(self, rng: np.random.Generator) -> pd.DataFrame:
        rows, weights, draw_ids = [], [], []
        draw_id = 0
        for cercle, n_draws in self.alloc.items():
            villages = np.flatnonzero(self.v_cercle == cercle)
            size = self.size[villages]
            total = size.sum()
            for v in rng.choice(villages, size=n_draws, p=size / total):
                m = min(self.take, self.size[v])
                picked = self.start[v] + rng.choice(self.size[v], size=m, replace=False)
                rows.append(picked)
                # 1 / (n_draws * p_v) villages, times N_v / m adults
                weights.append(np.full(m, total / (n_draws * m)))
                draw_ids.append(np.full(m, draw_id))
                draw_id += 1
        index = np.concatenate(rows)
        sample = self.adults.iloc[index][["commune", "cercle", "y"]].reset_index(drop=True)
        sample["w"] = np.concatenate(weights)
        sample["draw"] = np.concatenate(draw_ids)
        return sample


def replication(sampler: Sampler, areas: pd.DataFrame, rng: np.random.Generator
                ) -> pd.DataFrame:
    sample = sampler.draw(rng)
    design = pc.SurveyDesign(sample, weights="w", strata="cercle", psu="draw")
    direct = pc.mean(design, "y", by="commune", na_rm=True)
    direct = direct[direct["n"] > 0]
    psus = sample[sample["y"].notna()].groupby("commune")["draw"].nunique().rename("n_psu")
    direct = direct.merge(psus, left_on="commune", right_index=True)
    aux = areas[["commune", "cercle", "region", "treated", "urban"]]
    out = None
    for name, options in VARIANTS.items():
        res = pc.fay_herriot(direct, FORMULA, area="commune", areas=aux, **options)
        est = res.estimates.set_index("area")
        if out is None:
            out = est[["synthetic", "n", "n_psu", "direct", "direct_se", "smoothed"]].copy()
        out[f"{name}_estimate"] = est["estimate"]
        out[f"{name}_mse"] = est["mse"]
    return out.rename_axis("commune").reset_index()


def summarise(results: pd.DataFrame, areas: pd.DataFrame, n_reps: int) -> pd.DataFrame:
    data = results.merge(areas[["commune", "truth"]], on="commune")
    data["n"] = data["n"].astype(float)
    expected_n = data.groupby("commune")["n"].sum() / n_reps
    data["size"] = pd.cut(data["commune"].map(expected_n),
                          [a for a, _ in SIZE_GROUPS] + [np.inf], right=False,
                          labels=[f"{a:g}-{b:g}" if np.isfinite(b) else f"{a:g}+"
                                  for a, b in SIZE_GROUPS])
    rows = []
    sampled = data[~data["synthetic"]]
    for method in VARIANTS:
        err_e = (sampled[f"{method}_estimate"] - sampled["truth"]) ** 2
        err_d = (sampled["direct"] - sampled["truth"]) ** 2
        covered = (np.abs(sampled[f"{method}_estimate"] - sampled["truth"])
                   <= 1.96 * np.sqrt(sampled[f"{method}_mse"].clip(lower=0)))
        per = pd.DataFrame({
            "commune": sampled["commune"], "size": sampled["size"], "err_e": err_e,
            "err_d": err_d, "mse_hat": sampled[f"{method}_mse"], "covered": covered,
        }).groupby(["size", "commune"], observed=True).mean()
        for size, part in per.groupby(level="size", observed=True):
            rows.append({
                "method": method, "respondents (expected)": size,
                "communes": len(part),
                "MSE direct": part["err_d"].mean(),
                "MSE EBLUP": part["err_e"].mean(),
                "EBLUP better (share of communes)": (part["err_e"] < part["err_d"]).mean(),
                "mean estimated MSE": part["mse_hat"].mean(),
                "estimated / empirical": part["mse_hat"].mean() / part["err_e"].mean(),
                "coverage 95%": part["covered"].mean(),
            })
        small = per[per.index.get_level_values("size").isin(
            ["0-15", "15-30", "30-60"])]
        rows.append({
            "method": method, "respondents (expected)": "< 60 (all)", "communes": len(small),
            "MSE direct": small["err_d"].mean(), "MSE EBLUP": small["err_e"].mean(),
            "EBLUP better (share of communes)": (small["err_e"] < small["err_d"]).mean(),
            "mean estimated MSE": small["mse_hat"].mean(),
            "estimated / empirical": small["mse_hat"].mean() / small["err_e"].mean(),
            "coverage 95%": small["covered"].mean(),
        })
    synth = data[data["synthetic"]]
    for method in VARIANTS:
        err = (synth[f"{method}_estimate"] - synth["truth"]) ** 2
        rows.append({
            "method": method, "respondents (expected)": "no sample (synthetic)",
            "communes": synth["commune"].nunique(), "MSE direct": np.nan,
            "MSE EBLUP": err.mean(), "EBLUP better (share of communes)": np.nan,
            "mean estimated MSE": synth[f"{method}_mse"].mean(),
            "estimated / empirical": synth[f"{method}_mse"].mean() / err.mean(),
            "coverage 95%": (np.sqrt(err)
                             <= 1.96 * np.sqrt(synth[f"{method}_mse"].clip(lower=0))).mean(),
        })
    return pd.DataFrame(rows)


def main(n_reps: int = 200, seed: int = 2024) -> pd.DataFrame:
    started = time.perf_counter()
    adults, areas = population()
    sampler = Sampler(adults, DRAWS, TAKE)
    rng = np.random.default_rng(seed)
    results = []
    for r in range(n_reps):
        results.append(replication(sampler, areas, rng).assign(rep=r))
    results = pd.concat(results, ignore_index=True)
    summary = summarise(results, areas, n_reps)
    per_rep = results.groupby("rep").agg(sampled=("synthetic", lambda s: int((~s).sum())),
                                         smoothed=("smoothed", "sum"))
    negative = {name: int(results.loc[results[f"{name}_mse"] < 0, "rep"].nunique())
                for name in VARIANTS}
    print(f"{n_reps} samples of {DRAWS} villages x {TAKE} adults from the demo population "
          f"({len(areas)} communes); model {FORMULA!r}")
    print(f"communes sampled per sample: median {per_rep['sampled'].median():.0f}; "
          f"direct variances smoothed by the GVF: median {per_rep['smoothed'].median():.0f}")
    print("samples with a negative MSE estimate (bias correction at a variance truncated "
          f"to 0; counted as 0 for coverage): {negative}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.5f}"))
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    return summary


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
         int(sys.argv[2]) if len(sys.argv) > 2 else 2024)
