"""The worked before/after script (analyses/centre_mali_before_after.py) runs end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "centre_mali_before_after.py"
# a small demo keeps the test fast: two waves, ~1,500 respondents each
FAST_ARGS = ["--waves", "2", "--n-per-wave", "1500", "--seed", "3"]


def _load():
    spec = importlib.util.spec_from_file_location("centre_mali_before_after", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script_and_tables():
    script = _load()
    return script, script.run(seed=3, waves=2, n_per_wave=1500)


def test_main_prints_the_results_table(script_and_tables, capsys, monkeypatch):
    script, tables = script_and_tables
    calls = []

    def fake_run(**kwargs):  # main() parses the arguments; the analysis ran once above
        calls.append(kwargs)
        return tables

    monkeypatch.setattr(script, "run", fake_run)
    assert script.main(FAST_ARGS) == 0
    assert calls == [{"seed": 3, "waves": 2, "panel": False, "n_per_wave": 1500}]
    out = capsys.readouterr().out
    assert "Effects on trust (DiD, points; reference baseline)" in out
    for item in script.FSI_ITEMS:
        assert item in out
    assert "equal effects across cercle" in out
    assert "detectable DiD at 80% power" in out


def test_run_tables_are_consistent(script_and_tables):
    script, tables = script_and_tables
    head = tables["headline"]
    assert head["item"].tolist() == script.FSI_ITEMS
    assert (head["n"] >= script.MIN_CELL).all() and not head["suppressed"].any()
    # the DiD is the difference of the arms' changes in the cell means
    row = head.iloc[0]
    did = (row["treated_endline"] - row["treated_baseline"]) - (
        row["comparison_endline"] - row["comparison_baseline"])
    assert np.isclose(row["did_endline"], did, rtol=1e-10)
    assert np.isclose(row["true_did"], 0.08, atol=0.005)
    assert ((head["ci_low"] < head["did_endline"]) & (head["did_endline"] < head["ci_high"])).all()
    assert set(tables["subgroups"]["subgroup"]) == {"sex", "age group", "cercle"}
    assert (tables["power"]["mde"] > 0).all()
