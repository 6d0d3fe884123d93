"""Write tests/reference/multiple_data.csv: a small deterministic two-wave survey with a
select-multiple question for tests/reference/make_multiple.R.

``aware`` (0 no, 1 yes, 9 don't know) opens the question ``ca`` (asked only if
``${aware} = 1``): the chosen codes separated by spaces among 1-4 and 0 ("none", chosen
alone), or a missing code alone (98 refused, 99 don't know); empty when not asked, and a
few rows empty although asked (no answer). PSUs are revisited at both waves.

Run once from the repository root: .venv/bin/python tests/reference/make_multiple_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261203)
    rows = []
    for h in range(4):
        for j in range(6):
            psu_effect = rng.normal(0, 0.5)
            treated = int(j % 2 == 0)
            for wave in (0, 1):
                for _ in range(10):
                    u = rng.random()
                    aware = 9 if u < 0.06 else int(u < 0.55 + 0.1 * wave)
                    ca = None
                    if aware == 1:
                        v = rng.random()
                        if v < 0.05:
                            ca = "98"
                        elif v < 0.09:
                            ca = "99"
                        elif v < 0.12:
                            ca = None  # asked, left blank
                        elif v < 0.2:
                            ca = "0"  # none of them
                        else:
                            base = [0.5, 0.35, 0.25, 0.15]
                            chosen = [str(k + 1) for k, p in enumerate(base)
                                      if rng.random() < p + 0.05 * h + 0.1 * psu_effect
                                      + 0.05 * wave * treated]
                            ca = " ".join(chosen) if chosen else "1"
                    rows.append({
                        "stratum": f"s{h + 1}", "psu": f"p{h + 1}{j + 1}",
                        "w": round(float(rng.uniform(20, 80)), 3),
                        "g": int(rng.integers(1, 3)), "wave": wave, "treated": treated,
                        "aware": aware, "ca": ca,
                    })
    pd.DataFrame(rows).to_csv(HERE / "multiple_data.csv", index=False)


if __name__ == "__main__":
    main()
