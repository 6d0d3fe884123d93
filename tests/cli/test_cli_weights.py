"""``perception weights``: rake a wave file to population margins from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
MARGINS = ROOT / "questionnaires" / "margins_centre_mali_2009.yaml"
MARGIN_RTOL = 1e-7  # margins met by the written weights
CALIBRATION_RTOL = 1e-7  # calibrate() meets totals to tol * (1 + |total|), tol = 1e-7
POPULATION = 2063790  # adults 18+ in the margins file


@pytest.fixture(scope="module")
def waves(tmp_path_factory, demo) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("waves")
    paths = {"both": folder / "waves.csv", "baseline": folder / "baseline.csv"}
    demo.waves.to_csv(paths["both"], index=False)
    demo.waves[demo.waves["wave"] == 0].to_csv(paths["baseline"], index=False)
    return paths


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def margins_met(frame: pd.DataFrame, weight: str) -> float:
    m = pc.read_margins(MARGINS)
    worst = 0.0
    for _, part in frame.groupby("wave"):
        for column, margin in m.margins.items():
            got = part[weight].groupby(part[column]).sum()
            for level, count in margin.items():
                worst = max(worst, abs(got[level] - count) / count)
    return worst


def test_rakes_one_wave_and_keeps_rows_and_columns(waves, tmp_path, capsys):
    out = tmp_path / "weighted.csv"
    before = waves["baseline"].read_bytes()
    code, stdout, stderr = run(capsys, "weights", waves["baseline"], "--questionnaire",
                               QUESTIONNAIRE, "--margins", MARGINS, "--out", out,
                               "--weights", "w_base")
    assert code == 0, stderr
    assert waves["baseline"].read_bytes() == before
    source = pd.read_csv(waves["baseline"])
    result = pd.read_csv(out)
    q = pc.load_questionnaire(QUESTIONNAIRE)
    kept = [c for c in source.columns if c not in q.pii]
    assert list(result.columns) == [*kept, "w_raked"]
    assert len(result) == len(source)
    pd.testing.assert_frame_equal(result[kept], source[kept], check_dtype=False)
    assert margins_met(result, "w_raked") <= MARGIN_RTOL
    assert result["w_raked"].sum() == pytest.approx(POPULATION, rel=1e-9)
    assert "weights before (w_base)" in stdout and "weights after (w_raked, rake)" in stdout
    assert "deff_kish" in stdout and "rgph2009" in stdout
    # the source says where the margins come from and points inside the package
    assert "INSTAT" in stdout and "RGPH 2009" in stdout
    assert "perception/demo/data/centre_mali_cercles_rgph2009.csv" in stdout
    assert "shared/" not in stdout
    assert "stratum" in stdout  # diagnostics by stratum
    assert "left out" in stdout and "phone" in stdout


def test_each_wave_is_weighted_to_the_population(waves, tmp_path, capsys):
    out = tmp_path / "weighted.csv"
    code, stdout, stderr = run(capsys, "weights", waves["both"], "-q", QUESTIONNAIRE,
                               "--margins", MARGINS, "--out", out, "--weights", "w_base",
                               "--weight-name", "w_new")
    assert code == 0, stderr
    result = pd.read_csv(out)
    assert margins_met(result, "w_new") <= MARGIN_RTOL
    sums = result.groupby("wave")["w_new"].sum()
    np.testing.assert_allclose(sums.to_numpy(), POPULATION, rtol=1e-9)
    assert "each wave weighted to the margins separately" in stdout


def test_calibration_with_bounds_and_trimming(waves, tmp_path, capsys):
    out = tmp_path / "weighted.csv"
    code, stdout, stderr = run(capsys, "weights", waves["baseline"], "-q", QUESTIONNAIRE,
                               "--margins", MARGINS, "--out", out, "--weights", "w_base",
                               "--method", "logit", "--bounds", "0.3", "3",
                               "--trim-upper", "2000")
    assert code == 0, stderr
    result = pd.read_csv(out)
    g = result["w_calibrated"] / result["w_base"]
    assert result["w_calibrated"].max() <= 2000 + 1e-6
    assert g.min() > 0.3 - 1e-9
    assert result["w_calibrated"].sum() == pytest.approx(POPULATION, rel=CALIBRATION_RTOL)
    assert "trimmed" in stdout and "max_relative_gap" in stdout


@pytest.mark.parametrize("extra, message", [
    (["--method", "logit"], "needs finite bounds"),
    (["--weight-name", "w_final"], "already has a column 'w_final'"),
    (["--weights", "w_missing"], "--weights 'w_missing'"),
])
def test_errors_are_one_line_without_traceback(waves, tmp_path, capsys, extra, message):
    code, stdout, stderr = run(capsys, "weights", waves["baseline"], "-q", QUESTIONNAIRE,
                               "--margins", MARGINS, "--out", tmp_path / "o.csv", *extra)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def test_margin_level_missing_from_file_is_named(waves, tmp_path, capsys):
    text = MARGINS.read_text(encoding="utf-8")
    broken = tmp_path / "margins.yaml"
    # drop Tominian (27) from the cercle margin and from the totals of the others
    text = text.replace("    27: 104284   # Tominian\n", "")
    broken.write_text(text, encoding="utf-8")
    code, _, stderr = run(capsys, "weights", waves["baseline"], "-q", QUESTIONNAIRE,
                          "--margins", broken, "--out", tmp_path / "o.csv")
    assert code == 2
    assert "'cercle' adds up to 1,959,506 but 'sex' to 2,063,790" in stderr


def test_unknown_level_in_data_is_named(waves, tmp_path, capsys):
    text = MARGINS.read_text(encoding="utf-8")
    merged = tmp_path / "margins.yaml"
    # merge age groups 4 and 5 in the margins only: the data's level 5 is then unknown
    text = text.replace("    4: 265963    # 45-54 (0.129)\n    5: 268025    # 55+   "
                        "(0.083 + 0.047)\n", "    4: 533988\n")
    merged.write_text(text, encoding="utf-8")
    code, _, stderr = run(capsys, "weights", waves["baseline"], "-q", QUESTIONNAIRE,
                          "--margins", merged, "--out", tmp_path / "o.csv")
    assert code == 2
    assert "column 'age_grp' has level(s) '5' in rows" in stderr


def test_help_lists_weights(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "weights" in capsys.readouterr().out
