"""``perception model``: the command line fits the library's models on the waves, with
missing-value codes left out explicitly, margins suppressed below --min-cell, and
errors as one line on stderr with exit code 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
CSV_RTOL = 1e-12
FORMULA = "trust_police ~ C(wave) * treated + C(sex)"


def _library(path: Path):
    q = pc.load_questionnaire(QUESTIONNAIRE)
    data = pc.read_wave(path, q)
    recoded, _ = pc.recode_missing(data[["trust_police"]], q)
    data = data.assign(trust_police=recoded["trust_police"])
    return pc.SurveyDesign(data, weights="w_final", strata="stratum", psu="psu_id")


def test_ordinal_model_with_margins_effects_and_a_test(tmp_path, wave_file, capsys):
    out = tmp_path / "model.csv"
    code = main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), "--formula", FORMULA,
                 "--family", "ordinal", "--margins", "wave", "--margins", "treated",
                 "--effect", "treated", "--by", "wave", "--test", "C(wave):treated",
                 "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "trust_police: " in err and "9 Ne sait pas" in err and "left out of the fit" in err
    design = _library(wave_file)
    fit = pc.olr(design, FORMULA, na_rm=True)
    table = pd.read_csv(out)
    assert list(table["term"]) == list(fit.coefficients.index)
    np.testing.assert_allclose(table["estimate"], fit.coefficients["estimate"], rtol=CSV_RTOL)
    np.testing.assert_allclose(table["se"], fit.coefficients["se"], rtol=CSV_RTOL)
    margins = pd.read_csv(tmp_path / "model_margins.csv")
    expected = pc.predictive_margins(fit, ["wave", "treated"])
    np.testing.assert_allclose(margins["estimate"], expected["estimate"], rtol=CSV_RTOL)
    assert "suppressed" in margins.columns
    effects = pd.read_csv(tmp_path / "model_effects.csv")
    expected = pc.marginal_effects(fit, "treated", by="wave")
    np.testing.assert_allclose(effects["estimate"], expected["estimate"], rtol=CSV_RTOL)
    tests = pd.read_csv(tmp_path / "model_tests.csv")
    assert tests["p"].iloc[0] == pytest.approx(
        pc.wald_test(fit, "C(wave):treated")["p"].iloc[0], rel=CSV_RTOL)


def test_where_fits_the_model_on_a_domain_of_the_design(tmp_path, wave_file, capsys):
    """--where (shared with the other analysis commands) keeps every PSU in the design:
    the fit equals the library's on ``design.subset``, not on the cut rows."""
    out = tmp_path / "domain.csv"
    code = main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), "--formula",
                 "trust_police ~ C(wave) * treated", "--where", "${sex} = 2",
                 "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "--where ${sex} = 2" in err
    design = _library(wave_file)
    fit = pc.glm(design.subset((design.data["sex"] == 2).to_numpy()),
                 "trust_police ~ C(wave) * treated", na_rm=True)
    table = pd.read_csv(out)
    np.testing.assert_allclose(table["estimate"], fit.coefficients["estimate"], rtol=CSV_RTOL)
    np.testing.assert_allclose(table["se"], fit.coefficients["se"], rtol=CSV_RTOL)


def test_prints_a_binomial_model_and_writes_xlsx(tmp_path, wave_file, capsys):
    code = main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), "--formula",
                 "I(trust_police >= 2) ~ C(wave) * treated", "--family", "binomial",
                 "--effect", "treated"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "quasibinomial family, logit link" in out and "Effects:" in out
    path = tmp_path / "model.xlsx"
    assert main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), "--formula",
                 "I(trust_police >= 2) ~ C(wave) * treated", "--family", "binomial",
                 "--margins", "wave", "--out", str(path)]) == 0
    assert pd.ExcelFile(path).sheet_names == ["coefficients", "margins"]


def test_small_groups_are_suppressed(tmp_path, wave_file, capsys):
    out = tmp_path / "m.csv"
    code = main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), "--formula",
                 "trust_police ~ treated", "--margins", "cercle", "--min-cell", "200",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    margins = pd.read_csv(tmp_path / "m_margins.csv")
    small = margins["n"] < 200
    assert small.any() and margins.loc[small, "estimate"].isna().all()
    assert margins.loc[~small, "estimate"].notna().all()


@pytest.mark.parametrize(("extra", "message"), [
    (["--formula", "trust_police ~ nope"], "unknown column 'nope'"),
    (["--formula", FORMULA, "--by", "wave"], "--by goes with --effect"),
    (["--formula", FORMULA, "--lrt"], "--lrt goes with --test"),
    (["--formula", FORMULA, "--margins", "zone"], "no column(s) 'zone'"),
    (["--formula", FORMULA, "--out", "x.txt"], "unknown file type"),
    (["--formula", FORMULA, "--family", "ordinal", "--offset", "age"], "--offset and --trials"),
])
def test_errors_are_one_line_with_exit_code_2(wave_file, capsys, extra, message):
    code = main(["model", str(wave_file), "-q", str(QUESTIONNAIRE), *extra])
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err and "Traceback" not in err
