"""Write tests/reference/indices_data.csv: a small deterministic survey with Likert items
(codes 0-3, 8 refused, 9 don't know, empty = not asked) for tests/reference/make_indices.R.

Run once from the repository root: .venv/bin/python tests/reference/make_indices_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20240205)
    n_strata, psu_per_stratum, per_psu = 4, 6, 12
    rows = []
    for h in range(n_strata):
        for j in range(psu_per_stratum):
            psu_effect = rng.normal(0, 0.6)
            for _ in range(per_psu):
                latent = psu_effect + rng.normal(0, 1) + 0.3 * h
                answers = {}
                for k, item in enumerate(["a", "b", "c"]):
                    z = latent + rng.normal(0, 0.8) - 0.2 * k
                    code = int(np.searchsorted([-0.8, 0.0, 0.8], z))
                    u = rng.random()
                    if u < 0.05:
                        code = 9
                    elif u < 0.08:
                        code = 8
                    answers[item] = code
                if rng.random() < 0.04:
                    answers["c"] = None  # not asked
                rows.append({
                    "stratum": f"s{h + 1}",
                    "psu": f"p{h + 1}{j + 1}",
                    "w": round(float(rng.uniform(20, 80)), 3),
                    "g": int(rng.integers(1, 3)),
                    **answers,
                })
    frame = pd.DataFrame(rows)
    frame["c"] = frame["c"].astype("Int64")
    frame.to_csv(HERE / "indices_data.csv", index=False)


if __name__ == "__main__":
    main()
