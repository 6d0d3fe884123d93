"""Does raking to the census margins move the demo's trust estimates towards the truth?

Outside the test suite (about 5 s per seed). For each seed, the demo waves are weighted
three ways: the design weights after household and Kish selection (``w_base``, biased by
nonresponse that depends on sex, age and the cercle's insecurity), the simulator's own
final weights (``w_final``: nonresponse classes, then post-stratification to cercle x
sex), and ``w_base`` raked to the margins of
``questionnaires/margins_centre_mali_2009.yaml`` (cercle, sex, age group; each wave
separately). The error of the share "somewhat / a lot" of each trust item at each wave
against ``demo.truth`` is summarised over seeds: mean error (bias) and RMSE.

Run: ``.venv/bin/python benchmarks/weighting_demo_bias.py [n_seeds]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

import perception as pc

ROOT = Path(__file__).resolve().parent.parent
MARGINS = ROOT / "questionnaires" / "margins_centre_mali_2009.yaml"
ITEMS = ["trust_police", "trust_gend", "trust_gn", "trust_pc", "trust_army", "trust_justice",
         "trust_mayor", "trust_trad", "trust_relig", "trust_selfdef"]


def errors_for_seed(seed: int, margins: pc.PopulationMargins) -> pd.DataFrame:
    demo = pc.demo_survey(seed=seed)
    data = demo.waves
    design = pc.SurveyDesign(data, weights="w_base", strata="stratum", psu="psu_id")
    waves = sorted(data["wave"].unique())
    raked = pc.rake(design, margins.crossed_with("wave", waves))
    truth = demo.truth.query("quantity == 'share' and group == 'all'").set_index(
        ["variable", "wave"])["value"]
    weights = {"w_base": design.weights.to_numpy(), "w_final": data["w_final"].to_numpy(),
               "raked": raked.weights.to_numpy()}
    rows = []
    for item in ITEMS:
        answered = data[item].isin([0, 1, 2, 3]).to_numpy()
        positive = (data[item] >= 2).to_numpy(dtype=float)
        for wave in waves:
            rows_w = answered & (data["wave"] == wave).to_numpy()
            for name, w in weights.items():
                share = np.sum(w[rows_w] * positive[rows_w]) / np.sum(w[rows_w])
                rows.append((seed, item, wave, name, share - truth[(item, wave)]))
    return pd.DataFrame(rows, columns=["seed", "item", "wave", "weights", "error"])


def main(n_seeds: int = 8) -> pd.DataFrame:
    margins = pc.read_margins(MARGINS)
    table = pd.concat([errors_for_seed(s, margins) for s in range(1, n_seeds + 1)])
    summary = table.groupby("weights")["error"].agg(
        bias="mean", rmse=lambda e: float(np.sqrt(np.mean(e**2))),
        mean_abs=lambda e: float(np.mean(np.abs(e))))
    print(f"{n_seeds} seeds x {len(ITEMS)} items x waves: error of the share vs demo.truth")
    print(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    return summary


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
