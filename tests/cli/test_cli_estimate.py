"""``perception estimate``: estimate tables from the command line equal the library's,
with missing-value codes left out explicitly and small cells suppressed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"

#: CSV output keeps pandas' full float precision
CSV_RTOL = 1e-12


def _library(path: Path, var: str, stat: str, by: str | None):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(path, q)
    recoded, _ = pc.recode_missing(data[[var]], q)
    data = data.assign(**{var: recoded[var]})
    design = pc.SurveyDesign(data, weights="w_final", strata="stratum", psu="psu_id")
    function = {"mean": pc.mean, "proportion": pc.proportion, "total": pc.total}[stat]
    return function(design, var, by=by, na_rm=True)


@pytest.mark.parametrize("stat", ["mean", "proportion"])
def test_csv_equals_the_library(tmp_path, wave_file, capsys, stat):
    out = tmp_path / "table.csv"
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--by", "cercle", "--stat", stat, "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    # the recode is said once, with each code
    assert err.count("trust_police: ") == 1 and "code 9" in err and "left out" in err
    table = pd.read_csv(out)
    expected = _library(wave_file, "trust_police", stat, "cercle")
    assert len(table) == len(expected)
    shown = ~table["suppressed"]
    assert (table.loc[shown, "n"] >= 30).all() and (table.loc[~shown, "n"] < 30).all()
    np.testing.assert_allclose(table.loc[shown, "estimate"],
                               expected.loc[shown.to_numpy(), "estimate"], rtol=CSV_RTOL)
    np.testing.assert_allclose(table.loc[shown, "se"], expected.loc[shown.to_numpy(), "se"],
                               rtol=CSV_RTOL)
    assert table.loc[~shown, ["estimate", "se", "ci_low", "ci_high"]].isna().all().all()


def test_prints_and_writes_xlsx(tmp_path, wave_file, capsys):
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "age",
                 "--by", "wave", "--lang", "en"])
    out, _ = capsys.readouterr()
    # a table for reading: labels, means with two decimals, the interval, reliability
    assert code == 0 and "Baseline" in out and "Mean" in out and "Reliability" in out
    xlsx = tmp_path / "t.xlsx"
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "ca_aware",
                 "--stat", "proportion", "--min-cell", "5000", "--out", str(xlsx)])
    _, err = capsys.readouterr()
    assert code == 0
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx)["proportion"]
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_row=5)]
    assert all(row[1] == "masqué" and row[-1] == "masquée" for row in values)
    assert values[0][3] == "<\u00a05\u202f000"  # a suppressed cell shows no size
    assert "suppressed" in err


def test_errors(tmp_path, wave_file, capsys):
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_polise"])
    _, err = capsys.readouterr()
    assert code == 2 and "no column 'trust_polise'" in err and "trust_police" in err
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "age",
                 "--out", str(tmp_path / "t.json")])
    _, err = capsys.readouterr()
    assert code == 2 and ".csv, .xlsx or .md" in err


def test_select_multiple_gives_one_row_per_option(tmp_path, wave_file, capsys):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(wave_file, q)
    refused = data.index[data["ca_aware"] == 1][:3]
    spaced = data.astype({"ca_type": object})
    spaced.loc[refused, "ca_type"] = "98"
    tokens = spaced["ca_type"].str.split()
    kobo = spaced.drop(columns="ca_type")
    for code in [*q.variable("ca_type").codes, 98, 99]:
        kobo[f"ca_type/{code}"] = tokens.map(lambda row, c=str(code): float(c in row),
                                             na_action="ignore")
    tables = []
    for name, frame in (("spaced", spaced), ("kobo", kobo)):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        code = main(["estimate", str(path), "-q", str(QUESTIONNAIRE), "--var", "ca_type",
                     "--stat", "proportion", "--lang", "en", "--format", "csv"])
        out, err = capsys.readouterr()
        assert code == 0, err
        tables.append(pd.read_csv(io.StringIO(out)))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    table = tables[0]
    assert table["category"].tolist() == list(q.variable("ca_type").codes)
    assert table["category_label"].iloc[0] == "Water"
    design = pc.SurveyDesign(spaced, weights="w_final", strata="stratum", psu="psu_id",
                             questionnaire=q, lang="en")
    expected = pc.proportion(design, "ca_type", na_rm=True)
    np.testing.assert_allclose(table["estimate"], expected["estimate"], rtol=CSV_RTOL)
    not_asked = int((data["ca_aware"] != 1).sum())
    assert table["excluded"].iloc[0] == f"98 Refused: 3; not asked: {not_asked}"
