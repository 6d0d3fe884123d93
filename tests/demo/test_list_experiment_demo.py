"""The demo's list experiment: drawn from a random stream of its own (every other
column and truth value byte-identical to before it existed), a known truth, a direct
question that under-reports it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from make_demo_digest import CASES, PATH, digests

import perception as pc
from perception.demo.simulator import LIST_COLUMNS, SENSITIVE_ITEM

Z_MAX = 4.0  # list estimate vs truth, in design-based standard errors
UNDER_REPORTING = 0.08  # the direct question's share lies at least this far below the truth


@pytest.mark.parametrize("case", sorted(CASES))
def test_existing_columns_and_truth_did_not_move(case, demo_factory, monkeypatch):
    pinned = json.loads(PATH.read_text(encoding="utf-8"))[case]
    monkeypatch.setattr(pc, "demo_survey", demo_factory)  # the run's shared demos
    now = digests(CASES[case])
    for part in ("waves", "truth"):
        moved = [k for k, v in pinned[part].items() if now[part].get(k) != v]
        assert moved == [], f"{case}: {part} changed: {moved}"
    added = sorted(set(now["waves"]) - set(pinned["waves"]))
    assert added == sorted([SENSITIVE_ITEM, *LIST_COLUMNS])
    assert sorted(set(now["truth"]) - set(pinned["truth"])) == [SENSITIVE_ITEM]


def _truth(demo, quantity, wave, group):
    t = demo.truth
    row = t[(t["quantity"] == quantity) & (t["variable"] == SENSITIVE_ITEM)
            & (t["wave"] == wave) & (t["group"] == group)]
    assert len(row) == 1
    return float(row["value"].iloc[0])


def test_the_truth_of_the_sensitive_item(demo):
    population = demo.population
    for t in (0, 1):
        share = population[f"{SENSITIVE_ITEM}_w{t}"].mean()
        assert np.isclose(_truth(demo, "share", t, "all"), share, rtol=1e-12)
    change_t = _truth(demo, "change", 1, "treated=1")
    change_c = _truth(demo, "change", 1, "treated=0")
    assert np.isclose(_truth(demo, "did", 1, "treated=1 - treated=0"), change_t - change_c)
    assert _truth(demo, "att", 1, "treated=1") < 0  # the programme lowers abuse


def test_the_list_estimate_covers_the_truth_and_the_direct_question_under_reports(demo):
    design = demo.design()
    listed = pc.list_experiment(design, count="le_count", treatment="le_list", by="wave",
                                n_control_items=4)
    direct = pc.top_box(design, SENSITIVE_ITEM, top=[1], by="wave", questionnaire=demo.questionnaire)
    for t in (0, 1):
        truth = _truth(demo, "share", t, "all")
        row = listed[listed["wave"] == t].iloc[0]
        assert abs(row["estimate"] - truth) < Z_MAX * row["se"]
        assert direct.loc[direct["wave"] == t, "estimate"].item() < truth - UNDER_REPORTING


def test_counts_stay_within_their_list(demo):
    waves = demo.waves
    assert set(waves["le_list"]) == {0, 1}
    control = waves[waves["le_list"] == 0]["le_count"]
    treatment = waves[waves["le_list"] == 1]["le_count"]
    assert control.between(0, 4).all() and treatment.between(0, 5).all()
    assert (treatment == 5).any()  # the ceiling is reached: the figure flags disclosure
    assert set(waves[SENSITIVE_ITEM]) <= {0, 1, 8, 9}
