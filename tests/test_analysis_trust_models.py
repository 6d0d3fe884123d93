"""The worked ordinal-model script (analyses/trust_models.py) runs end to end: multiple
imputation of "don't know", the proportional-odds model, margins and the DiD in points,
its report and its figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "trust_models.py"


def _load():
    spec = importlib.util.spec_from_file_location("trust_models", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script_and_results():
    script = _load()
    return script, script.run(seed=3, m=3, n_per_wave=1500)


def test_results_are_consistent(script_and_results):
    _, results = script_and_results
    share = results["share"]
    assert len(share) == 4 and share["estimate"].between(0, 1).all()
    assert (share["ci_low"] < share["estimate"]).all()
    # the imputed answers were missing codes 8 and 9
    assert results["imputed"]["n_missing"].iloc[0] == results["recoded"]["count"].sum()
    did = results["did"].iloc[0]
    # near the demo's true effect (one sample: within four standard errors)
    assert abs(did["estimate"] - 100 * results["true_did"]) < 4 * did["se"]
    # imputation adds between-imputation variance: the fraction of missing information
    assert (results["effects"]["fmi"] > 0).all()
    # the margins of the four answers add up to one in every cell
    sums = results["margins"].groupby(["wave", "treated"])["estimate"].sum()
    np.testing.assert_allclose(sums, 1)
    assert results["po_test"]["term"].iloc[-1] == "all"


def test_main_prints_the_report_and_writes_the_figure(script_and_results, tmp_path,
                                                      monkeypatch, capsys):
    script, results = script_and_results
    monkeypatch.setattr(script, "run", lambda **kwargs: results)
    assert script.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Share trusting the police partly or a lot" in out
    assert "truth (the demo's population)" in out
    png = tmp_path / "trust_models.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
