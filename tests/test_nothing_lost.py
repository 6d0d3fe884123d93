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
    assert "vict_reported: 8 of 12 answers left out of the estimates (code 8 Refus: 1; empty: 7)" in err
    assert "trust_police: 4 of 12 answers left out of the estimates (code" in err
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
    assert "sex: 2 of 12 answers left out of the estimates (empty commune: 2)" in err
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


# ------------------------------------------------ n of changes and DiD effects --
def _small_panel() -> pd.DataFrame:
    """Two waves, each row its own PSU; one outcome missing (comparison, wave 0).
    Rows with y: comparison 2 (wave 0) and 4 (wave 1); treated 3 and 3."""
    rows = [(0, 0, 1.0), (0, 0, 2.0), (0, 0, None),
            (0, 1, 4.0), (0, 1, 5.0), (0, 1, 6.0),
            (1, 0, 2.0), (1, 0, 3.0), (1, 0, 4.0), (1, 0, 5.0),
            (1, 1, 7.0), (1, 1, 8.0), (1, 1, 9.0)]
    frame = pd.DataFrame(rows, columns=["wave", "treated", "y"])
    frame["w"] = 1.0 + 0.1 * frame.index
    return frame


def test_change_and_did_report_n_checked_by_hand():
    import perception as pc

    design = pc.SurveyDesign(_small_panel(), weights="w")
    overall = pc.change(design, "y", over="wave", na_rm=True)
    assert overall[["n", "n_from", "n_to"]].iloc[0].tolist() == [12, 5, 7]
    by_arm = pc.change(design, "y", over="wave", by="treated", na_rm=True)
    assert by_arm[["treated", "n", "n_from", "n_to"]].values.tolist() == [[0, 6, 2, 4],
                                                                           [1, 6, 3, 3]]
    effects = pc.did(design, "y", na_rm=True).effects
    assert effects[["n", "n_min"]].iloc[0].tolist() == [12, 2]


def test_small_change_and_did_cells_are_suppressed():
    """A change rests on two waves and is suppressed when either is small, although its
    n (both waves together) is not; a DiD effect when its smallest cell is small."""
    import perception as pc
    from perception.disclosure.suppression import disclosure_check, protect_table

    design = pc.SurveyDesign(_small_panel(), weights="w")
    by_arm = pc.change(design, "y", over="wave", by="treated", na_rm=True)
    shown = pc.suppress_small_cells(by_arm, min_cell=3)
    assert shown["suppressed"].tolist() == [True, False]  # comparison: 2 rows at wave 0
    shown = pc.suppress_small_cells(by_arm, min_cell=2)
    assert shown["suppressed"].tolist() == [False, False]
    assert (shown["n"] == by_arm["n"]).all()  # the counts stay, so the rule can be checked
    overall = pc.change(design, "y", over="wave", na_rm=True, relative=True)
    hidden = pc.suppress_small_cells(overall, min_cell=6)  # n = 12, but n_from = 5
    assert hidden["suppressed"].iloc[0]
    assert hidden[["estimate", "se", "p", "relative", "relative_se"]].isna().all(axis=None)
    checks = disclosure_check(by_arm, min_cell=3, max_cv=None, margins=False)
    assert checks["rule"].tolist() == ["small_cell"]
    assert "rests on 2 respondents" in checks["message"].iloc[0]
    protected = protect_table(by_arm, min_cell=3, max_cv=None, margins=False)
    assert protected["estimate"].isna().tolist() == [True, False]
    effects = pc.did(design, "y", na_rm=True).effects
    assert pc.suppress_small_cells(effects, min_cell=3)["suppressed"].iloc[0]  # n_min = 2
    assert not pc.suppress_small_cells(effects, min_cell=2)["suppressed"].iloc[0]


def test_export_writes_every_row(tmp_path, capsys):
    out = tmp_path / "shareable.csv"
    code, err = _run(capsys, "export", WAVE, "-q", QUESTIONNAIRE, "--out", out, "--resolve")
    assert code == 0, err
    assert len(pd.read_csv(out)) == N_ROWS


def test_validate_lists_every_failing_row_and_stops(tmp_path, capsys):
    """validate excludes nothing: a wave with bad rows fails (exit 1) with each row named,
    so no later command runs on the rows that remain."""
    data = pd.read_csv(WAVE)
    data["survey_date"] = data["survey_date"].astype(object)
    data.loc[[2, 5], "survey_date"] = 45366  # Excel serial numbers, not dates
    path = tmp_path / "wave.csv"
    data.to_csv(path, index=False)
    code = main(["validate", str(path), "-q", QUESTIONNAIRE])
    out = capsys.readouterr().out
    assert code == 1
    assert "survey_date [date_number]: 2 rows: 2, 5" in out
    code, err = _run(capsys, "estimate", path, "-q", QUESTIONNAIRE, "--var", "sex")
    assert code == 2 and "survey_date" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["validate", "estimate", "export"])
def test_blank_rows_of_a_file_are_counted(command, tmp_path, capsys):
    """Entirely blank rows hold no respondent, but every command that reads the file
    says how many it skipped, so the file's row count stays accountable."""
    lines = WAVE.read_text(encoding="utf-8").splitlines()
    blank = "," * (lines[0].count(","))
    path = tmp_path / "wave.csv"
    path.write_text("\n".join([lines[0], lines[1], blank, *lines[2:7], blank, "",
                               *lines[7:]]) + "\n", encoding="utf-8")
    def options(name: str) -> list:
        return {"validate": [], "estimate": ["--var", "sex", "--min-cell", "1"],
                "export": ["--out", tmp_path / name, "--resolve"]}[command]

    code, err = _run(capsys, command, path, "-q", QUESTIONNAIRE, *options("a.csv"))
    assert code == 0, err
    assert f"{path}: skipped 3 entirely blank rows (no value in any column)" in err
    code, err = _run(capsys, command, WAVE, "-q", QUESTIONNAIRE, *options("b.csv"))
    assert code == 0 and "entirely blank" not in err, err
