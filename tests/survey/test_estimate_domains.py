"""Branches of the domain coding and of the blocked pass that ordinary data do not reach.

Each is forced (by a module constant or a crafted column) and compared with the result
of the ordinary branch, or of the score-matrix path, on the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.survey import blocked, engine, estimators

RTOL = 1e-12
VALUES = ["estimate", "se", "ci_low", "ci_high", "deff"]


def _general_path_only(monkeypatch) -> None:
    """Send every estimate through the (n, k) score matrix instead of per-PSU totals."""
    for module in (engine, estimators):
        monkeypatch.setattr(module, "uses_totals_path", lambda design, ratio_deff=False: False)


def _survey() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 600
    village = rng.integers(0, 30, n)
    return pd.DataFrame({
        "stratum": village // 10,
        "village": village,
        "w": rng.uniform(1, 30, n),
        "y": 1000 + 40 * rng.normal(size=n),
        "x": rng.uniform(5, 9, n),
        "sex": rng.choice(["f", "m"], n),
        "region": rng.integers(1, 4, n),
        "age": rng.choice([18, 40, 65], n),
    })


def _design(frame: pd.DataFrame):
    return pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village")


def _assert_same(table: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(table.drop(columns=VALUES), expected.drop(columns=VALUES))
    np.testing.assert_allclose(table[VALUES].to_numpy(float),
                               expected[VALUES].to_numpy(float), rtol=RTOL, atol=0)


@pytest.mark.parametrize("subset", [False, True])
def test_many_by_combinations_are_renumbered_on_the_way(subset, monkeypatch):
    frame = _survey()
    frame.loc[frame.index[::37], "sex"] = None  # rows outside every domain (na_rm)
    design = _design(frame)
    if subset:
        design = design.subset((frame["region"] != 2).to_numpy())
    by = ["region", "sex", "age"]
    expected = {k: f(design, ["y", "x"], by=by, na_rm=True)
                for k, f in (("mean", pc.mean), ("total", pc.total))}
    expected["proportion"] = pc.proportion(design, "sex", by=["region", "age"], na_rm=True)
    monkeypatch.setattr(engine, "COMBINED_CODES_MAX", 1)
    _assert_same(pc.mean(design, ["y", "x"], by=by, na_rm=True), expected["mean"])
    _assert_same(pc.total(design, ["y", "x"], by=by, na_rm=True), expected["total"])
    _assert_same(pc.proportion(design, "sex", by=["region", "age"], na_rm=True),
                 expected["proportion"])


def test_integer_by_over_a_wide_range_is_hashed_in_the_same_order():
    frame = _survey()
    wide = frame.assign(region=frame["region"].map({1: -5, 2: 70_000, 3: 140_000}))
    assert engine._small_integers(wide["region"]) is None
    assert engine._small_integers(frame["region"]) is not None
    narrow_table = pc.mean(_design(frame), ["y", "x"], by="region")
    wide_table = pc.mean(_design(wide), ["y", "x"], by="region")
    assert wide_table["region"].tolist() == [-5, -5, 70_000, 70_000, 140_000, 140_000]
    np.testing.assert_allclose(wide_table[VALUES].to_numpy(float),
                               narrow_table[VALUES].to_numpy(float), rtol=RTOL)


def test_pilot_rows_without_weight_fall_back_to_every_row(monkeypatch):
    frame = _survey()
    monkeypatch.setattr(blocked, "PILOT_ROWS", 40)
    monkeypatch.setattr(blocked, "PILOT_RUNS", 4)
    monkeypatch.setattr(blocked, "BLOCK_ROWS", 64)
    monkeypatch.setattr(blocked, "BLOCK_PER_BIN", 0)
    pilot = blocked.pilot_rows(len(frame))
    keep = np.ones(len(frame), dtype=bool)
    keep[pilot] = False  # the subset holds no pilot row: the pilot has no weight
    design = _design(frame).subset(keep)
    calls = []
    shifts = blocked.pilot_shifts

    def spy(num, w):
        assert w[pilot].sum() == 0
        calls.append(1)
        return shifts(num, w)

    monkeypatch.setattr(blocked, "pilot_shifts", spy)
    fast = pc.mean(design, ["y", "x"], by="sex")
    assert calls  # the blocked pass ran
    _general_path_only(monkeypatch)
    _assert_same(fast, pc.mean(design, ["y", "x"], by="sex"))
