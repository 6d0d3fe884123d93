"""Write tests/reference/reliability_data.csv for tests/reference/make_reliability.R.

The survey of the contract battery (tests/test_contract.py: 4 strata x 5 villages, two
waves, bootstrap replicate weights rw1..rw40 as columns) with two more domains:
``grp`` (70/30 at random by row: some bootstrap replicates then lose a whole
treated x wave cell of the small group, so R discards them from svyglm's variance) and
``tiny`` ("rare" in the rows of one village only: a jackknife replicate dropping that
village has no weight in the domain).

Run once from the repository root: .venv/bin/python tests/reference/make_reliability_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_contract import SEED, survey_data  # noqa: E402 - tests/ put on sys.path first


def main() -> None:
    data = survey_data(replicates=40)
    rng = np.random.default_rng(SEED + 2)  # a seed where one replicate loses a cell
    data["grp"] = rng.choice(["north", "south"], len(data), p=[0.7, 0.3])
    data["tiny"] = np.where(data["v"] == "S2V3", "rare", "common")
    data.to_csv(HERE / "reliability_data.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
