"""Before/after analysis of the Central Mali trust survey (built-in demo waves).

Runs the whole analysis a report needs, on the simulated demo survey:

1. the design (strata cercle x treatment, villages revisited at each wave) and its
   weighting design effect;
2. trust in each FSI (police, gendarmerie, garde nationale, protection civile):
   share trusting "somewhat" or "a lot", by wave and arm, and its change since baseline;
3. the difference-in-differences of each FSI trust item, one effect per later wave
   (an event study when there are three waves), against the demo's known truth;
4. subgroup effects at the last wave by sex, age group and cercle, with a test that
   they are equal;
5. the detectable effect of a next wave, from the baseline's ICC and the design.

Published tables suppress cells resting on fewer than ``MIN_CELL`` respondents.

Usage::

    .venv/bin/python analyses/centre_mali_before_after.py [--seed 1] [--waves 3] [--panel]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd

import perception as pc

FSI_ITEMS = ["trust_police", "trust_gend", "trust_gn", "trust_pc"]
#: codes of the 0-3 trust scale counted as trusting: 2 "somewhat", 3 "a lot"
TRUSTING = (2, 3)
#: smallest number of respondents a published cell may rest on
MIN_CELL = 30
AGE_BANDS = {1: "18-24", 2: "25-44", 3: "25-44", 4: "45+", 5: "45+"}
SEX = {1: "men", 2: "women"}
SUBGROUPS = {"sex": "sex_group", "age group": "age_band", "cercle": "cercle_name"}


# ------------------------------------------------------------------ data prep --
def prepare(demo: pc.DemoSurvey) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analysis columns, from the questionnaire's codes; returns (data, recode counts).

    The explicit recode step: the questionnaire's missing-value codes (8 refused,
    9 don't know) of each trust item become NaN in its 0/1 indicator ``<item>_high``.
    """
    q = demo.questionnaire
    data = demo.waves.copy()
    counts = []
    for item in FSI_ITEMS:
        missing = data[item].isin(q.missing_codes(item))
        data[f"{item}_high"] = np.where(missing, np.nan,
                                        data[item].isin(TRUSTING).astype(float))
        counts.append({"item": item, "recoded_to_missing": int(missing.sum()),
                       "share_missing": float(missing.mean())})
    names = demo.wave_names
    data["period"] = pd.Categorical(data["wave"].map(names),
                                    categories=[names[k] for k in sorted(names)], ordered=True)
    data["sex_group"] = data["sex"].map(SEX)
    data["age_band"] = data["age_grp"].map(AGE_BANDS)
    cercles = q.variable("cercle").code_labels("en", missing=False)
    data["cercle_name"] = data["cercle"].map(cercles)
    return data, pd.DataFrame(counts)


def design_summary(design: pc.SurveyDesign) -> pd.DataFrame:
    """Respondents, villages and Kish weighting design effect per wave and arm."""
    data = design.data
    rows = []
    for (period, arm), part in data.groupby(["period", "treated"], observed=True):
        w = part["w_final"].to_numpy()
        rows.append({"period": period, "treated": arm, "respondents": len(part),
                     "villages": part["psu_id"].nunique(),
                     "per_village": len(part) / part["psu_id"].nunique(),
                     "deff_weighting": len(w) * (w**2).sum() / w.sum() ** 2})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------- analyses --
def subgroup_effects(design, item: str, post: list, periods: list) -> pd.DataFrame:
    """Last-wave DiD of ``item`` by sex, age group and cercle, with equality tests."""
    rows = []
    last = periods[-1]
    for label, column in SUBGROUPS.items():
        try:
            result = pc.did(design, item, treated="treated", period="period", by=column,
                            post_periods=post, na_rm=True)
        except pc.EstimationError as exc:  # e.g. a cercle with one village in a cell
            rows.append({"subgroup": label, "group": "not estimable", "note": str(exc),
                         "n": 0})
            continue
        cells = result.cells.groupby(column)["n"].min()
        effects = result.effects[result.effects["period"] == last]
        joint = result.heterogeneity.iloc[0]
        for _, row in effects.iterrows():
            rows.append({"subgroup": label, "group": row[column],
                         "estimate": row["estimate"], "ci_low": row["ci_low"],
                         "ci_high": row["ci_high"], "p": row["p"],
                         "n": int(cells[row[column]]),
                         "equal_effects_p": joint["p"]})
    return pc.suppress_small_cells(pd.DataFrame(rows), min_cell=MIN_CELL)


def next_wave_power(design, items: list[str], summary: pd.DataFrame) -> pd.DataFrame:
    """Detectable DiD at a next wave (villages revisited), from the baseline ICCs."""
    baseline = design.subset((design.data["wave"] == 0).to_numpy())
    iccs = pc.icc(baseline, items, na_rm=True)
    first = summary[summary["period"] == summary["period"].iloc[0]]
    villages = first.set_index("treated")["villages"]
    per_arm = 2 / (1 / villages).sum()  # harmonic mean: unequal arms
    m = float(first["per_village"].mean())
    deff_w = float(first["deff_weighting"].mean())
    rows = []
    for _, row in iccs.iterrows():
        plan = pc.mde(per_arm, m, max(row["icc"], 0.0), p=0.5, deff_weighting=deff_w,
                      analysis="did", revisited=True, r_cluster=0.5).iloc[0]
        rows.append({"variable": row["variable"], "icc": row["icc"],
                     "villages_per_arm": per_arm, "per_village": m,
                     "deff_weighting": deff_w, "mde": plan["mde"]})
    return pd.DataFrame(rows)


def headline(data, design, changes, result, truth, power) -> pd.DataFrame:
    """One row per FSI item: shares at baseline and last wave, DiD, truth, MDE."""
    periods = list(data["period"].cat.categories)
    cells = result.cells.set_index(["variable", "treated", "period"]).sort_index()
    effects = result.effects.set_index(["variable", "period"])
    rows = []
    for item in FSI_ITEMS:
        var = f"{item}_high"
        row = {"item": item}
        for arm, arm_label in ((1, "treated"), (0, "comparison")):
            for period in (periods[0], periods[-1]):
                row[f"{arm_label}_{period}"] = cells.loc[(var, arm, period), "estimate"]
        for period in periods[1:]:
            eff = effects.loc[(var, period)]
            row[f"did_{period}"] = eff["estimate"]
            if period == periods[-1]:
                row["ci_low"], row["ci_high"], row["p"] = eff["ci_low"], eff["ci_high"], eff["p"]
        row["true_did"] = truth.get(("did", item, len(periods) - 1), np.nan)
        row["mde_next_wave"] = power.set_index("variable").loc[var, "mde"]
        row["n"] = int(cells.loc[var, "n"].min())
        rows.append(row)
    return pc.suppress_small_cells(pd.DataFrame(rows), min_cell=MIN_CELL)


def run(seed: int = 1, waves: int = 3, panel: bool = False,
        n_per_wave: int = 4000) -> dict[str, pd.DataFrame]:
    """The whole analysis; returns its tables by name (nothing is printed)."""
    demo = pc.demo_survey(seed=seed, waves=waves, panel=panel, n_per_wave=n_per_wave)
    data, recoded = prepare(demo)
    design = pc.SurveyDesign(data, weights="w_final", strata="stratum", psu="psu_id")
    periods = list(data["period"].cat.categories)
    post = periods[1:]  # the actions start after the baseline
    items = [f"{item}_high" for item in FSI_ITEMS]
    summary = design_summary(design)
    changes = pc.change(design, items, over="period", by="treated", na_rm=True)
    result = pc.did(design, items, treated="treated", period="period",
                    post_periods=post, na_rm=True)
    truth_table = demo.truth[demo.truth["quantity"] == "did"]
    truth = {(q, v, w): x for q, v, w, x in truth_table[
        ["quantity", "variable", "wave", "value"]].itertuples(index=False)}
    power = next_wave_power(design, items, summary)
    tables = {
        "recoded": recoded,
        "design": summary,
        "changes": changes,
        "effects": result.effects,
        "subgroups": subgroup_effects(design, items[0], post, periods),
        "power": power,
        "headline": headline(data, design, changes, result, truth, power),
    }
    if panel:
        tables["attrition"] = pc.attrition(data, respondent="resp_id", over="wave", psu="psu_id")
    return tables


# --------------------------------------------------------------------- report --
def _pct(x: float) -> str:
    return "   -  " if pd.isna(x) else f"{100 * x:6.1f}"


def report(tables: dict[str, pd.DataFrame]) -> str:
    """The results as text a report could quote (percent and percentage points)."""
    lines = ["CENTRAL MALI - TRUST IN THE SECURITY FORCES BEFORE AND AFTER COMMUNITY ACTIONS",
             "(simulated demo survey; shares trusting 'somewhat' or 'a lot'; 95% CIs; "
             f"cells under {MIN_CELL} respondents suppressed)", ""]
    design = tables["design"]
    lines.append("Design: " + ", ".join(
        f"{r.period} {'treated' if r.treated else 'comparison'} {r.respondents} resp. in "
        f"{r.villages} villages" for r in design.itertuples()))
    lines.append(f"Weighting design effect (Kish): {design['deff_weighting'].min():.2f}-"
                 f"{design['deff_weighting'].max():.2f}")
    lines.append("Recoded to missing (refused / don't know): " + ", ".join(
        f"{r.item} {r.recoded_to_missing}" for r in tables["recoded"].itertuples()))
    if "attrition" in tables:
        lines.append("Panel retention: " + ", ".join(
            f"{r._1}->{r.to} {100 * r.retention:.0f}%" for r in tables["attrition"].itertuples()))
    head = tables["headline"]
    periods = [c[len("did_"):] for c in head.columns if c.startswith("did_")]
    first, last = [c.split("_", 1)[1] for c in head.columns if c.startswith("treated_")]
    lines += ["", f"Effects on trust (DiD, points; reference {first}):"]
    header = (f"{'item':<14}{'T ' + first:>11}{'T ' + last:>11}{'C ' + first:>11}"
              f"{'C ' + last:>11}" + "".join(f"{'DiD ' + p:>13}" for p in periods)
              + f"{'95% CI':>18}{'p':>8}{'truth':>8}{'MDE':>7}")
    lines.append(header)
    for r in head.itertuples(index=False):
        row = r._asdict()
        text = f"{row['item']:<14}"
        for arm in ("treated", "comparison"):
            for period in (first, last):
                text += f"{_pct(row[f'{arm}_{period}']):>11}"
        text += "".join(f"{_pct(row[f'did_{p}']):>13}" for p in periods)
        text += f"  [{_pct(row['ci_low'])}, {_pct(row['ci_high'])}]"
        text += f"{row['p']:8.3f}{_pct(row['true_did']):>8}{_pct(row['mde_next_wave']):>7}"
        lines.append(text)
    sub = tables["subgroups"]
    lines += ["", f"Trust in the police by subgroup ({last} DiD, points):"]
    for r in sub.itertuples(index=False):
        if r.group == "not estimable":
            lines.append(f"  {r.subgroup:<10}not estimable: {r.note}")
            continue
        mark = "  (suppressed)" if r.suppressed else ""
        lines.append(f"  {r.subgroup:<10}{str(r.group):<12}{_pct(r.estimate)} "
                     f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]  n>={r.n}{mark}")
    for subgroup, part in sub.dropna(subset=["equal_effects_p"]).groupby("subgroup", sort=False):
        lines.append(f"  equal effects across {subgroup}: p = {part['equal_effects_p'].iloc[0]:.3f}")
    power = tables["power"].iloc[0]
    lines += ["", "Next wave (villages revisited, same design): detectable DiD at 80% power, "
              f"5% level: {100 * tables['power']['mde'].min():.1f}-"
              f"{100 * tables['power']['mde'].max():.1f} points (baseline ICC "
              f"{tables['power']['icc'].min():.2f}-{tables['power']['icc'].max():.2f}, "
              f"{power['villages_per_arm']:.0f} villages per arm x "
              f"{power['per_village']:.1f} respondents)."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--waves", type=int, choices=(2, 3), default=3)
    parser.add_argument("--panel", action="store_true",
                        help="re-interview the baseline respondents")
    parser.add_argument("--n-per-wave", type=int, default=4000)
    args = parser.parse_args(argv)
    tables = run(seed=args.seed, waves=args.waves, panel=args.panel,
                 n_per_wave=args.n_per_wave)
    print(report(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
