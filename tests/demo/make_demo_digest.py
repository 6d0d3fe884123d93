"""Digests of the demo's columns, to show that a change to the simulator leaves the
existing numbers where they were.

``python tests/demo/make_demo_digest.py`` writes ``tests/demo/demo_digest.json``: for a
few sets of arguments of :func:`perception.demo_survey`, a SHA-256 digest of the bytes of
every column of ``demo.waves`` and of the ``truth`` table. ``test_simulator.py`` rebuilds
the demo and compares: a column (or a variable of the truth) that exists in the file must be
byte-identical (new columns and new truth variables may be added; existing ones may not
move). Regenerate the
file only for a deliberate change of the demo's numbers, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

import perception as pc

#: the sets of arguments whose columns are pinned
CASES: dict[str, dict] = {
    "default": {"seed": 1},
    "small": {"seed": 3, "n_per_wave": 1000},
    "panel3": {"seed": 2, "n_per_wave": 1500, "waves": 3, "panel": True},
}
PATH = Path(__file__).with_name("demo_digest.json")


def column_digest(column: pd.Series) -> str:
    """SHA-256 of a column's dtype and values (numpy columns by their bytes)."""
    h = hashlib.sha256(str(column.dtype).encode())
    values = column.to_numpy()
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufcmM":
        h.update(np.ascontiguousarray(values).tobytes())
    else:
        h.update("\x1f".join("<NA>" if pd.isna(v) else repr(v) for v in values).encode())
    return h.hexdigest()


def truth_digests(truth: pd.DataFrame) -> dict[str, str]:
    """One digest per variable of the truth table: its rows (quantity, wave, group and
    the bytes of the value), in table order."""
    out = {}
    for variable, rows in truth.groupby("variable", sort=True):
        h = hashlib.sha256()
        for row in rows.itertuples(index=False):
            h.update(f"{row.quantity}|{row.wave}|{row.group}|".encode())
            h.update(np.float64(row.value).tobytes())
        out[str(variable)] = h.hexdigest()
    return out


def digests(arguments: dict) -> dict[str, dict[str, str]]:
    demo = pc.demo_survey(**arguments)
    return {"waves": {c: column_digest(demo.waves[c]) for c in demo.waves.columns},
            "truth": truth_digests(demo.truth)}


if __name__ == "__main__":
    PATH.write_text(json.dumps({name: digests(args) for name, args in CASES.items()},
                               indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {PATH}")
