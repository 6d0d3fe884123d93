"""Trust in the police as an ordered answer: a proportional-odds model of the built-in
Central Mali demo survey, with "don't know" and refusals multiply imputed.

The question "how much do you trust the National Police?" has four answers, 0 "not at
all" to 3 "a lot", and two missing codes, 8 refused and 9 don't know. This script:

1. recodes 8 and 9 to missing, the one explicit step where codes stop being answers,
   and counts them;
2. fills them in ``M`` times by a weighted hot-deck within the design's strata and wave
   (donors drawn in proportion to their design weight, from a bootstrap of the donors:
   ``pc.impute``), keeping the ``imp_trust_police`` flag;
3. fits in each completed wave the design-based ordinal model
   ``trust_police ~ C(wave) * treated + C(sex) + C(age_grp)`` (``pc.olr``), checks its
   proportional-odds assumption, and computes the predictive margins of each wave x arm
   (``pc.predictive_margins``: everyone's predicted answer with the wave and arm set,
   averaged with the design weights) and the effect of the community actions within
   each wave (``pc.marginal_effects``, in percentage points);
4. combines the ``M`` results with Rubin's rules (``pc.mi_combine``) and reports the
   share trusting the police "partly" or "a lot" by wave and arm, and the
   difference-in-differences of that share in percentage points, against the demo's
   known truth and against the complete-case analysis that drops the missing answers;
5. draws the figure ``trust_models.png``: the margins by wave and arm, and the effect on
   each answer.

Usage::

    .venv/bin/python analyses/trust_models.py [--seed 1] [--m 10] [--n-per-wave 4000]
        [--out demo_output/trust_models]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import perception as pc

ITEM = "trust_police"
FORMULA = f"{ITEM} ~ C(wave) * treated + C(sex) + C(age_grp)"
#: answers counted as trusting: 2 "partly", 3 "a lot"
TRUSTING = ("2", "3")
ANSWERS = {"0": "not at all", "1": "a little", "2": "partly", "3": "a lot"}
DESIGN = {"weights": "w_final", "strata": "stratum", "psu": "psu_id"}
#: imputation classes: the design's strata (cercle x arm) within each wave
CLASSES = ["wave", "stratum"]


# ------------------------------------------------------------------ data prep --
def prepare(demo: pc.DemoSurvey) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The waves with the missing-value codes of the item recoded to NaN; the counts."""
    recoded, counts = pc.recode_missing(demo.waves[[ITEM]], demo.questionnaire, lang="en")
    return demo.waves.assign(**{ITEM: recoded[ITEM]}), counts


# ------------------------------------------------------------------- analysis --
def _share(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The share trusting (answers 2 + 3) for each combination of ``keys``, with its SE,
    from a table of category margins and its covariance (``pc.contrast``)."""
    groups = table[keys].drop_duplicates()
    contrasts = {}
    for _, group in groups.iterrows():
        same = (table[keys] == group.to_numpy()).all(axis=1)
        name = ":".join(str(v) for v in group)
        contrasts[name] = (same & table["category"].isin(TRUSTING)).astype(float).tolist()
    out = pc.contrast(table, contrasts)
    return pd.concat([groups.reset_index(drop=True), out.reset_index(drop=True)], axis=1)


def fit_one(design) -> dict[str, object]:
    """The model of one completed (or complete-case) design and its margins and effects."""
    fit = pc.olr(design, FORMULA, na_rm=True)
    return {
        "fit": fit,
        "margins": pc.predictive_margins(fit, ["wave", "treated"]),
        "effects": pc.marginal_effects(fit, "treated", by="wave"),
    }


def did_of_share(effects: pd.DataFrame, post) -> pd.DataFrame:
    """The DiD of the share trusting, in points: the effect of ``treated`` on answers 2
    and 3 at the last wave minus at the baseline."""
    weights = [(1.0 if w == post else -1.0) * (c in TRUSTING)
               for w, c in zip(effects["wave"], effects["category"], strict=True)]
    return pc.contrast(effects, {"DiD, share trusting": weights})


def run(seed: int = 1, m: int = 10, n_per_wave: int = 4000) -> dict[str, object]:
    """The whole analysis; returns its tables (nothing is printed or written)."""
    demo = pc.demo_survey(seed=seed, n_per_wave=n_per_wave)
    data, recoded = prepare(demo)
    post = int(data["wave"].max())
    imputed = pc.impute(data, [ITEM], method="hotdeck", classes=CLASSES,
                        weights=DESIGN["weights"], m=m, seed=seed)
    fits = [fit_one(d) for d in imputed.designs(**DESIGN)]
    margins = pc.mi_combine([f["margins"] for f in fits])
    effects = pc.mi_combine([f["effects"] for f in fits])
    complete = fit_one(pc.SurveyDesign(data, **DESIGN))
    truth = demo.truth
    true_share = truth[(truth["quantity"] == "share") & (truth["variable"] == ITEM)
                       & truth["group"].isin(["treated=1", "treated=0"])]
    true_did = truth[(truth["quantity"] == "att") & (truth["variable"] == ITEM)]["value"]
    return {
        "recoded": recoded,
        "imputed": imputed.missing,
        "po_test": fits[0]["fit"].proportional_odds_test(),
        "margins": margins,
        "effects": effects,
        "share": _share(margins, ["wave", "treated"]),
        "share_complete": _share(complete["margins"], ["wave", "treated"]),
        "did": did_of_share(effects, post),
        "did_complete": did_of_share(complete["effects"], post),
        "true_share": true_share,
        "true_did": float(true_did.iloc[0]) if len(true_did) else float("nan"),
        "coefficients": fits[0]["fit"].coefficients,
        "m": m,
    }


# --------------------------------------------------------------------- report --
def report(results: dict) -> str:
    """The results as text a report could quote (percent and percentage points)."""
    lines = ["CENTRAL MALI - TRUST IN THE NATIONAL POLICE, AN ORDERED ANSWER",
             "(simulated demo survey; proportional-odds model "
             f"{FORMULA!r}; 95% CIs)", ""]
    lines.append("Recoded to missing: " + ", ".join(
        f"{r.code} {r.label}: {r.count}" for r in results["recoded"].itertuples()))
    share = results["imputed"]["share"].iloc[0]
    lines.append(f"Imputed {results['m']} times (weighted hot-deck within stratum x wave): "
                 f"{100 * share:.1f}% of the answers")
    po = results["po_test"].iloc[-1]
    lines.append(f"Proportional odds (Brant-type design-based test, first completed data "
                 f"set): F = {po['statistic']:.2f} on ({po['ndf']}, {po['ddf']:g}) df, "
                 f"p = {po['p']:.3f}")
    lines += ["", "Share trusting the police partly or a lot (predictive margins, %):",
              f"{'wave':>6}{'arm':>12}{'imputed':>10}{'95% CI':>18}{'complete case':>16}"
              f"{'truth':>8}"]
    truth = {(int(r.wave), r.group): r.value for r in results["true_share"].itertuples()}
    for mi, cc in zip(results["share"].itertuples(), results["share_complete"].itertuples(),
                      strict=True):
        arm = "treated" if mi.treated else "comparison"
        true = truth.get((int(mi.wave), f"treated={int(mi.treated)}"), np.nan)
        lines.append(f"{int(mi.wave):>6}{arm:>12}{100 * mi.estimate:>10.1f}"
                     f"  [{100 * mi.ci_low:5.1f}, {100 * mi.ci_high:5.1f}]"
                     f"{100 * cc.estimate:>16.1f}{100 * true:>8.1f}")
    did, cc = results["did"].iloc[0], results["did_complete"].iloc[0]
    lines += ["", "Effect of the community actions on the share trusting (DiD of the "
              "average effect of treated, points):",
              f"  imputed:       {did['estimate']:5.1f}  [{did['ci_low']:5.1f}, "
              f"{did['ci_high']:5.1f}]  p = {did['p']:.3f}",
              f"  complete case: {cc['estimate']:5.1f}  [{cc['ci_low']:5.1f}, "
              f"{cc['ci_high']:5.1f}]  p = {cc['p']:.3f}",
              f"  truth (the demo's population): {100 * results['true_did']:5.1f}"]
    lines += ["", "Effect of treated at the last wave, by answer (points, imputed):"]
    effects = results["effects"]
    last = effects[effects["wave"] == effects["wave"].max()]
    for r in last.itertuples():
        lines.append(f"  {ANSWERS[r.category]:<12}{r.estimate:6.1f}  [{r.ci_low:6.1f}, "
                     f"{r.ci_high:6.1f}]  fraction of missing information {r.fmi:.2f}")
    return "\n".join(lines)


def did_by_answer(effects: pd.DataFrame) -> pd.DataFrame:
    """The DiD of each answer's share, in points: the effect of ``treated`` at the last
    wave minus at the baseline (``pc.contrast`` on the combined effects)."""
    last, first = effects["wave"].max(), effects["wave"].min()
    contrasts = {}
    for category in effects["category"].unique():
        contrasts[category] = [
            float(w == last) - float(w == first) if c == category else 0.0
            for w, c in zip(effects["wave"], effects["category"], strict=True)]
    return pc.contrast(effects, contrasts).rename(columns={"contrast": "category"})


def figure(results: dict, path: Path) -> Path:
    """Two panels: the share trusting by wave and arm (imputed; complete case and the
    demo's truth beside it), and the effect of the actions on each answer."""
    from perception.outputs.figures.style import colour, house_style, new_figure

    with house_style():
        fig = new_figure(width=9.5, height=4.0, ncols=2)
        left, right = fig.axes
        share, complete = results["share"], results["share_complete"]
        truth = results["true_share"]
        for i, arm in enumerate((0, 1)):
            part = share[share["treated"] == arm]
            cc = complete[complete["treated"] == arm]
            x = part["wave"].to_numpy(dtype=float) + (i - 0.5) * 0.1
            left.errorbar(x, 100 * part["estimate"],
                          yerr=[100 * (part["estimate"] - part["ci_low"]),
                                100 * (part["ci_high"] - part["estimate"])],
                          marker="o", capsize=3, color=colour(i),
                          label="treated" if arm else "comparison")
            left.plot(x + 0.04, 100 * cc["estimate"], marker="o", linestyle="none",
                      markerfacecolor="white", color=colour(i),
                      label="complete case" if arm else None)
            true = truth[truth["group"] == f"treated={arm}"].sort_values("wave")
            left.plot(true["wave"].to_numpy(dtype=float) + (i - 0.5) * 0.1 - 0.05,
                      100 * true["value"], marker="_", markersize=14, linestyle="none",
                      color="black", label="truth" if arm else None)
        left.set_xticks(sorted(share["wave"].unique()), ["baseline", "follow-up"])
        left.set_xlim(-0.4, 1.4)
        left.set_ylabel("trusting partly or a lot (%)")
        left.set_title("Trust in the police (predictive margins)")
        left.legend(loc="upper left", fontsize="small")
        effects = results["effects"]
        did = did_by_answer(effects)
        series = [(effects[effects["wave"] == effects["wave"].min()], "gap at baseline", 2,
                   0.22),
                  (effects[effects["wave"] == effects["wave"].max()], "gap at follow-up", 1,
                   0.0),
                  (did, "difference-in-differences", 3, -0.22)]
        categories = list(did["category"])
        y = np.arange(len(categories))
        for part, name, k, offset in series:
            part = part.set_index("category").loc[categories]
            right.errorbar(part["estimate"], y + offset,
                           xerr=[part["estimate"] - part["ci_low"],
                                 part["ci_high"] - part["estimate"]],
                           marker="o", linestyle="none", capsize=3, color=colour(k),
                           label=name)
        right.axvline(0, color="#9E9E9E", linewidth=0.8)
        right.set_yticks(y, [ANSWERS[c] for c in categories])
        right.set_xlabel("treated minus comparison (percentage points)")
        right.set_title("Effect of the actions on each answer")
        right.set_ylim(-0.5, len(categories) + 0.4)
        right.legend(loc="upper right", fontsize="small")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--m", type=int, default=10, help="number of imputations")
    parser.add_argument("--n-per-wave", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=Path("demo_output") / "trust_models")
    args = parser.parse_args(argv)
    results = run(seed=args.seed, m=args.m, n_per_wave=args.n_per_wave)
    print(report(results))
    print(f"\nfigure: {figure(results, args.out / 'trust_models.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
