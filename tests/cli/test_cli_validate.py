"""`perception validate WAVE --questionnaire Q`: report, exit codes, files untouched."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest

from perception.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
VALID = Path(__file__).resolve().parents[1] / "data" / "centre_mali_wave_small.csv"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def three_faults(tmp_path: Path) -> Path:
    df = pd.read_csv(VALID, dtype=str)
    df.loc[2, "trust_police"] = "5"  # not a code
    df.loc[3, "age"] = "150"  # out of range
    df.loc[8, "cercle"] = "21"  # cercle of Ségou in region Mopti
    path = tmp_path / "three_faults.csv"
    df.to_csv(path, index=False)
    return path


def test_valid_wave_exits_0(capsys) -> None:
    code = main(["validate", str(VALID), "--questionnaire", str(QUESTIONNAIRE)])
    out = capsys.readouterr()
    assert code == 0
    assert "OK, no errors" in out.out
    assert out.err == ""


def test_three_faults_exit_1_and_all_listed(three_faults: Path, capsys) -> None:
    before = digest(three_faults)
    code = main(["validate", str(three_faults), "-q", str(QUESTIONNAIRE)])
    out = capsys.readouterr().out
    assert code == 1
    assert digest(three_faults) == before
    assert "3 errors in 3 checks" in out
    assert "- trust_police [codes]: 1 row: 2" in out
    assert "- age [range]: 1 row: 3" in out
    assert "- cercle [consistency]: 1 row: 8" in out
    assert out.count("Fix:") == 3


def test_csv_format(three_faults: Path, capsys) -> None:
    code = main(["validate", str(three_faults), "-q", str(QUESTIONNAIRE), "--format", "csv"])
    assert code == 1
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == ["row", "column", "check", "value", "message"]
    assert sorted(zip(table["column"], table["row"], strict=True)) == [
        ("age", 3),
        ("cercle", 8),
        ("trust_police", 2),
    ]


def test_missing_wave_exits_2(tmp_path: Path, capsys) -> None:
    code = main(["validate", str(tmp_path / "absent.csv"), "-q", str(QUESTIONNAIRE)])
    err = capsys.readouterr().err
    assert code == 2
    assert "file not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_questionnaire_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: x\nlanguages: [en]\nvariables:\n  - {name: a, type: integr, label: A}\n",
        encoding="utf-8",
    )
    code = main(["validate", str(VALID), "-q", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown type 'integr'" in err and "did you mean 'integer'" in err
    assert "Traceback" not in err


def test_non_utf8_wave_exits_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(VALID.read_bytes().replace(b"Pelengana", "Pélengana".encode("latin-1")))
    before = digest(path)
    code = main(["validate", str(path), "-q", str(QUESTIONNAIRE)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not UTF-8" in err and "byte offset" in err
    assert digest(path) == before


def test_help_lists_validate(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    assert "--questionnaire" in capsys.readouterr().out
