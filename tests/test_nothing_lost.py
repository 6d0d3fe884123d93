"""Nothing lost: every row a command leaves out is counted and explained, and
``--strict`` turns any such exclusion into an error.

Which commands leave rows out of their results:

- ``estimate``: rows with a missing-value code (8 refused, 9 don't know...), an empty
  answer (a question not asked) or an empty ``--by`` column (``na_rm=True``);
- ``figures``: answers with a missing-value code or empty in the shares, indices,
  changes and DiD (the Likert, nonresponse and weight figures show them instead);
- ``weights`` and ``export`` write every row (or stop with an error); ``validate``
  lists every failing row and excludes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from perception.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = str(ROOT / "questionnaires" / "centre_mali_trust.yaml")
MARGINS = str(ROOT / "questionnaires" / "margins_centre_mali_2009.yaml")
WAVE = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
N_ROWS = 12  # rows of the small wave (6 per wave)


def _run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err


def test_estimate_counts_every_row_left_out(tmp_path, capsys):
    out = tmp_path / "t.csv"
    code, err = _run(capsys, "estimate", WAVE, "-q", QUESTIONNAIRE, "--var", "vict_reported",
                     "--var", "trust_police", "--stat", "proportion", "--by", "wave",
                     "--min-cell", "1", "--out", out)
    assert code == 0, err
    assert "vict_reported: 8 of 12 rows (1 with a missing-value code, 7 empty" in err
    assert "trust_police: 4 of 12 rows (4 with a missing-value code)" in err
    table = pd.read_csv(out)
    used = table.drop_duplicates(["wave", "variable"]).groupby("variable")["n"].sum()
    assert used.to_dict() == {"trust_police": N_ROWS - 4, "vict_reported": N_ROWS - 8}


def test_estimate_without_exclusions_passes_strict(capsys):
    code, err = _run(capsys, "estimate", WAVE, "-q", QUESTIONNAIRE, "--var", "sex",
                     "--by", "wave", "--min-cell", "1", "--strict")
    assert code == 0, err
    assert "left out" not in err


def test_estimate_counts_rows_with_an_empty_by_column(tmp_path, capsys):
    data = pd.read_csv(WAVE)
    data.loc[[0, 7], "commune"] = None  # optional in the questionnaire: may be empty
    path = tmp_path / "wave.csv"
    data.to_csv(path, index=False)
    code, err = _run(capsys, "estimate", path, "-q", QUESTIONNAIRE, "--var", "sex",
                     "--by", "commune", "--min-cell", "1")
    assert code == 0, err
    assert "sex: 2 of 12 rows (2 with an empty --by column (commune))" in err
    code, err = _run(capsys, "estimate", path, "-q", QUESTIONNAIRE, "--var", "sex",
                     "--by", "commune", "--strict")
    assert code == 2 and "--strict" in err and "Traceback" not in err


def test_figures_count_the_answers_left_out(tmp_path, capsys):
    code, err = _run(capsys, "figures", "--data", WAVE, "-q", QUESTIONNAIRE, "--out",
                     tmp_path, "--only", "trust_actors", "--min-cell", "1", "--no-progress")
    assert code == 0, err
    assert ("left out of the estimates: trust_police: 4 of 12 answers (code 8: 2, code 9: 2) "
            "in trust_actors") in err
    table = pd.read_csv(tmp_path / "tables" / "trust_actors.csv")
    police = table[table["variable"] == "trust_police"]
    assert police["n"].sum() == N_ROWS - 4  # what entered + what was left out = all rows


@pytest.mark.parametrize("figure", ["trust_likert"])
def test_figures_showing_missing_codes_leave_nothing_out(figure, tmp_path, capsys):
    code, err = _run(capsys, "figures", "--data", WAVE, "-q", QUESTIONNAIRE, "--out",
                     tmp_path, "--only", figure, "--min-cell", "1", "--no-progress",
                     "--strict")
    assert code == 0, err
    assert "left out" not in err


def test_weights_writes_every_row(tmp_path, capsys):
    margins = yaml.safe_load(Path(MARGINS).read_text(encoding="utf-8"))
    margins["margins"] = {"sex": {1: 1000, 2: 1100}}  # the small wave has 2 cercles only
    margins.pop("population_total", None)
    path = tmp_path / "margins.yaml"
    path.write_text(yaml.safe_dump(margins, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "weighted.csv"
    code, err = _run(capsys, "weights", WAVE, "-q", QUESTIONNAIRE, "--margins", path,
                     "--out", out, "--weights", "w_final")
    assert code == 0, err
    written = pd.read_csv(out)
    assert len(written) == N_ROWS
    assert written["w_raked"].notna().all() and (written["w_raked"] > 0).all()
