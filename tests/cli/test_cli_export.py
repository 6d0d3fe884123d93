"""``perception export``: refuses a file with records at risk, resolves on request.

Run on the demo waves as a user would: by default nothing is written when a
combination of the questionnaire's quasi-identifiers is shared by fewer than ``k``
records (exit code 1, the count, the variables and the fix on stderr); with
``--resolve`` the file is written k-anonymous, each change on stderr and in the log
beside it; sensitive answers only with ``--keep-sensitive``. Never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import perception as pc
from perception.cli import main
from perception.disclosure.anonymise import k_anonymity

ROOT = Path(__file__).resolve().parents[2]
Q_PATH = ROOT / "questionnaires" / "centre_mali_trust.yaml"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, demo_factory) -> Path:
    """One wave of the demo (seed 2, 400 adults), as `perception simulate` writes it."""
    demo = demo_factory(seed=2, n_per_wave=400)
    path = tmp_path_factory.mktemp("export") / "baseline.csv"
    demo.waves[demo.waves["wave"] == 0].to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


@pytest.fixture(scope="module")
def q() -> pc.Questionnaire:
    return pc.load_questionnaire(Q_PATH)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def test_refuses_by_default_with_the_count_the_variables_and_the_fix(baseline, q, tmp_path,
                                                                      capsys):
    out = tmp_path / "shareable.csv"
    code, printed, err = _run(capsys, "export", baseline, "-q", Q_PATH, "--out", out)
    assert code == 1 and printed == ""
    assert not out.exists() and not out.with_suffix(".log").exists()
    wave = pd.read_csv(baseline)
    qi = ["region", "cercle", "sex", "age", "age_grp", "activity"]
    at_risk = k_anonymity(wave, qi, k=10).attrs["records_at_risk"]
    assert f"refused: {at_risk:,} of {len(wave):,} records" in err
    assert "quasi-identifiers region, cercle, sex, age, age_grp, activity" in err
    assert "fewer than 10 records" in err and "Nothing was written" in err
    assert re.search(r"Fix: add --resolve", err)
    code, _, err = _run(capsys, "export", baseline, "-q", Q_PATH, "--out", out, "--k", "3")
    assert code == 1 and "fewer than 3 records" in err


def test_resolve_writes_a_k_anonymous_file_and_reports_each_change(baseline, q, tmp_path,
                                                                   capsys):
    out = tmp_path / "shareable.csv"
    code, printed, err = _run(capsys, "export", baseline, "-q", Q_PATH, "--out", out,
                              "--resolve")
    assert code == 0, err
    shared = pd.read_csv(out)
    wave = pd.read_csv(baseline)
    assert len(shared) == len(wave)
    qi = [c for c in q.quasi_identifiers if c in shared]
    assert qi == ["region", "cercle", "sex", "age", "age_grp", "activity"]
    assert k_anonymity(shared, qi, k=10).empty
    assert not {"hh_id", "commune", "ethnic", "displaced", "resp_name", "phone"} & set(shared)
    assert "record(s) were at risk on region + cercle" in err
    assert re.search(r"age: [\d,]+ record\(s\) coarsened to level 'age band", err)
    assert "every combination is shared by at least 10 records" in printed
    log = out.with_suffix(".log").read_text(encoding="utf-8")
    assert "resolve\tage\tcoarsened" in log and "k_anonymity" in log
    assert f"log: {out.with_suffix('.log')}" in printed
    # the log is an output too: not overwritten without --force
    out.unlink()
    code, _, err = _run(capsys, "export", baseline, "-q", Q_PATH, "--out", out, "--resolve")
    assert code == 2 and "shareable.log exists" in err and "--force" in err


def test_keep_sensitive_keeps_and_protects_the_sensitive_answers(baseline, q, tmp_path,
                                                                 capsys):
    out = tmp_path / "restricted.csv"
    code, printed, err = _run(capsys, "export", baseline, "-q", Q_PATH, "--out", out,
                              "--resolve", "--keep-sensitive")
    assert code == 0, err
    shared = pd.read_csv(out)
    assert {"commune", "ethnic", "displaced"} <= set(shared)
    assert "kept       ethnic" in printed and "restricted access only" in printed
    qi = [c for c in q.quasi_identifiers if c in shared]
    assert {"commune", "ethnic", "displaced"} <= set(qi)
    assert k_anonymity(shared, qi, k=10).empty
