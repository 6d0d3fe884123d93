"""``perception table``, ``change`` and ``did``: tables for reading equal to the
library's numbers; ``--where`` is a domain; ``--sheet`` and ``--encoding`` reach the
reader; each message is said once."""

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


@pytest.fixture(scope="module")
def waves(demo_factory):
    return demo_factory(seed=2, n_per_wave=400).waves


@pytest.fixture(scope="module")
def wave_file(tmp_path_factory, waves):
    path = tmp_path_factory.mktemp("waves") / "waves.csv"
    waves.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def _recoded_design(path: Path, names: list[str]):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(path, q)
    recoded, _ = pc.recode_missing(data[names], q)
    data = data.assign(**{c: recoded[c] for c in names})
    return pc.SurveyDesign(data, weights="w_final", strata="stratum", psu="psu_id")


def test_table_prints_labelled_row_percentages_and_the_rao_scott_p(wave_file, capsys):
    code = main(["table", str(wave_file), "-q", str(QUESTIONNAIRE), "--row", "trust_police",
                 "--col", "region", "--lang", "en"])
    out, err = capsys.readouterr()
    assert code == 0, err
    design = _recoded_design(wave_file, ["trust_police", "region"])
    test = pc.chisq(design, "trust_police", "region", na_rm=True)
    # labels of the lines and the columns, percentages with one decimal and intervals
    assert "Not at all" in out and "A lot" in out and "Mopti" in out and "Ségou" in out
    shares = pc.proportion(design, "region", by="trust_police", na_rm=True)
    first = shares.iloc[0]
    assert f"{first['estimate'] * 100:.1f} ({first['ci_low'] * 100:.1f}–" in out
    p_text = "< 0.001" if test.p < 0.001 else f"= {test.p:.3f}"
    plain = out.replace("\u00a0", " ")
    assert f"F = {test.statistic:.2f}" in plain and f"p {p_text}" in plain
    assert err.count("trust_police: ") == 1  # the answers left out, said once


def test_table_csv_carries_the_test_and_the_labels(wave_file, tmp_path, capsys):
    out = tmp_path / "t.csv"
    code = main(["table", str(wave_file), "-q", str(QUESTIONNAIRE), "--row", "trust_police",
                 "--col", "cercle", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    csv = pd.read_csv(out)
    design = _recoded_design(wave_file, ["trust_police", "cercle"])
    test = pc.chisq(design, "trust_police", "cercle", na_rm=True)
    np.testing.assert_allclose(csv["rao_scott_p"], test.p, rtol=CSV_RTOL)
    assert {"trust_police_label", "category_label", "reliability"} <= set(csv.columns)
    expected = pc.proportion(design, "cercle", by="trust_police", na_rm=True)
    shown = ~csv["suppressed"]
    np.testing.assert_allclose(csv.loc[shown, "estimate"],
                               expected.loc[shown.to_numpy(), "estimate"], rtol=CSV_RTOL)


def test_change_and_did_equal_the_library(wave_file, tmp_path, capsys):
    out = tmp_path / "change.csv"
    code = main(["change", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--top", "2,3", "--by", "region", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    csv = pd.read_csv(out)
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(wave_file, q)
    top = pc.top_box_scores(data, "trust_police", top=[2, 3], questionnaire=q)
    design = pc.SurveyDesign(data.assign(trust_police=top), weights="w_final",
                             strata="stratum", psu="psu_id")
    expected = pc.change(design, "trust_police", over="wave", by="region", na_rm=True)
    np.testing.assert_allclose(csv["estimate"], expected["estimate"], rtol=CSV_RTOL)
    np.testing.assert_allclose(csv["p"], expected["p"], rtol=CSV_RTOL)
    assert set(csv["reliability"]) <= {"ok", "low"}
    code = main(["did", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--top", "2,3", "--format", "csv"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    did = pd.read_csv(__import__("io").StringIO(printed))
    result = pc.did(design, "trust_police", na_rm=True)
    np.testing.assert_allclose(did["estimate"], result.effects["estimate"], rtol=CSV_RTOL)


def test_where_is_a_domain_not_a_cut(wave_file, capsys):
    code = main(["change", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--top", "2,3", "--where", "${region} = 1 and ${sex} = 2", "--format", "csv"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    csv = pd.read_csv(__import__("io").StringIO(printed))
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(wave_file, q)
    top = pc.top_box_scores(data, "trust_police", top=[2, 3], questionnaire=q)
    design = pc.SurveyDesign(data.assign(trust_police=top), weights="w_final",
                             strata="stratum", psu="psu_id")
    mask = ((data["region"] == 1) & (data["sex"] == 2)).to_numpy()
    expected = pc.change(design.subset(mask), "trust_police", over="wave", na_rm=True)
    np.testing.assert_allclose(csv["se"], expected["se"], rtol=CSV_RTOL)
    assert f"{int(mask.sum())} of {len(data)} respondents in the domain" in err
    code = main(["change", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "trust_police",
                 "--where", "${regoin} = 1"])
    _, err = capsys.readouterr()
    assert code == 2 and "no column 'regoin'" in err and "'region'" in err


def test_sheet_and_encoding(waves, tmp_path, capsys):
    book = tmp_path / "waves.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"note": ["Read me first"]}).to_excel(writer, sheet_name="notes",
                                                           index=False)
        waves.head(300).to_excel(writer, sheet_name="data", index=False)
    argv = ["estimate", str(book), "-q", str(QUESTIONNAIRE), "--var", "age"]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and "'notes', 'data'" in err and "--sheet" in err
    code = main([*argv, "--sheet", "data"])
    out, err = capsys.readouterr()
    assert code == 0, err
    latin = tmp_path / "latin1.csv"
    small = waves.head(300).copy()
    small["resp_name"] = "Aïssata Traoré"
    latin.write_bytes(small.to_csv(index=False, date_format="%Y-%m-%d").encode("cp1252"))
    code = main(["estimate", str(latin), "-q", str(QUESTIONNAIRE), "--var", "age"])
    _, err = capsys.readouterr()
    assert code == 2 and "--encoding cp1252" in err and str(tmp_path) in err
    code = main(["estimate", str(latin), "-q", str(QUESTIONNAIRE), "--var", "age",
                 "--encoding", "cp1252"])
    _, err = capsys.readouterr()
    assert code == 0, err


def test_markdown_and_workbook(wave_file, tmp_path, capsys):
    code = main(["estimate", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "ca_aware",
                 "--stat", "proportion", "--by", "wave", "--format", "md"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.startswith("### ") and "| Vague d'enquête |" in out
    assert "Fin de projet" in out and "[" in out and " ; " in out.replace("\u00a0", " ")
    path = tmp_path / "t.xlsx"
    code = main(["change", str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "ca_aware",
                 "--out", str(path)])
    assert code == 0
    from openpyxl import load_workbook

    sheet = load_workbook(path)["change"]
    assert sheet.freeze_panes is not None and sheet["A3"].font.bold
    header = [c.value for c in sheet[3] if c.value]
    assert header[-1] == "Fiabilité" and "IC à 95 %" in header


@pytest.mark.parametrize("command", ["change", "did"])
def test_select_multiple_changes_per_option(wave_file, capsys, command):
    code = main([command, str(wave_file), "-q", str(QUESTIONNAIRE), "--var", "ca_type",
                 "--lang", "en", "--format", "csv", "--min-cell", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    q = pc.load_questionnaire(QUESTIONNAIRE)
    design = pc.SurveyDesign(pc.read_wave(wave_file, q), weights="w_final",
                             strata="stratum", psu="psu_id", questionnaire=q, lang="en")
    if command == "change":
        expected = pc.change(design, "ca_type", over="wave", na_rm=True)
    else:
        expected = pc.did(design, "ca_type", treated="treated", period="wave",
                          na_rm=True).effects
    assert table["category"].tolist() == expected["category"].tolist()
    assert table["category_label"].iloc[0] == "Water"
    np.testing.assert_allclose(table["estimate"], expected["estimate"], rtol=1e-12)
