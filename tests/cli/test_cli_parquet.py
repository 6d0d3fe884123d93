"""A directory of Parquet files wherever the command line takes a wave: the same
report, tables, messages and exit codes as the file holding the same rows."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from perception.cli import main

dd = pytest.importorskip("dask.dataframe")

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"


@pytest.fixture(scope="module")
def waves(tmp_path_factory, wave_file: Path) -> dict[str, Path]:
    """The command-line wave as a CSV file and as a Parquet dataset of three files, both
    valid and with faults in the first and last files (a duplicate across them)."""
    root = tmp_path_factory.mktemp("parquet")
    data = pd.read_csv(wave_file)
    bad = data.copy()
    first = bad.index[bad["wave"] == bad["wave"].iloc[0]]
    bad.loc[first[-1], "resp_id"] = bad.loc[0, "resp_id"]
    bad.loc[2, "trust_police"] = 5
    bad.loc[len(bad) - 1, "age"] = 150
    paths = {}
    for name, frame in (("ok", data), ("bad", bad)):
        directory = root / name
        dd.from_pandas(frame, npartitions=3, sort=False).to_parquet(directory,
                                                                      write_index=False)
        whole = pd.concat([pd.read_parquet(f) for f in sorted(directory.glob("*.parquet"))],
                          ignore_index=True)
        whole.to_csv(root / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        paths[name], paths[f"{name}.csv"] = directory, root / f"{name}.csv"
    return paths


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_valid_dataset(waves, capsys):
    code, out, err = run(capsys, "validate", waves["ok"], "-q", QUESTIONNAIRE)
    assert code == 0 and "OK, no errors" in out and err == ""


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_validate_faulty_dataset_as_the_file(waves, capsys, fmt):
    code, out, err = run(capsys, "validate", waves["bad"], "-q", QUESTIONNAIRE,
                         "--format", fmt)
    file_code, file_out, file_err = run(capsys, "validate", waves["bad.csv"], "-q",
                                        QUESTIONNAIRE, "--format", fmt)
    assert code == file_code == 1 and err == file_err == ""
    assert out == file_out.replace(str(waves["bad.csv"]), str(waves["bad"]))
    if fmt == "csv":
        table = pd.read_csv(io.StringIO(out))
        unique = table[table["check"] == "unique"]
        assert len(unique) == 2 and 0 in set(unique["row"])


def test_directory_without_parquet_files(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    for command in (["validate"], ["estimate", "--var", "trust_police"]):
        code, out, err = run(capsys, command[0], tmp_path / "nothing", "-q", QUESTIONNAIRE,
                             *command[1:])
        assert code == 2 and out == ""
        assert "without Parquet files" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_estimate_dataset_as_the_file(waves, capsys):
    args = ["-q", QUESTIONNAIRE, "--var", "trust_police", "--by", "wave", "--format", "csv"]
    code, out, err = run(capsys, "estimate", waves["ok"], *args)
    file_code, file_out, file_err = run(capsys, "estimate", waves["ok.csv"], *args)
    assert code == file_code == 0
    assert out == file_out and err == file_err
    assert "trust_police" in out


def test_estimate_refuses_a_faulty_dataset(waves, capsys):
    code, out, err = run(capsys, "estimate", waves["bad"], "-q", QUESTIONNAIRE, "--var",
                         "trust_police")
    assert code == 2 and out == ""
    assert f"{waves['bad']} does not match questionnaire" in err
    assert "resp_id [unique]" in err and "Traceback" not in err


def test_estimate_refuses_a_dataset_too_large_for_memory(waves, capsys, monkeypatch):
    import perception.waves.files as files

    monkeypatch.setattr(files, "MAX_WAVE_BYTES", 1000)
    code, out, err = run(capsys, "estimate", waves["ok"], "-q", QUESTIONNAIRE, "--var",
                         "trust_police")
    assert code == 2 and out == ""
    assert "bytes of data, more than the 1,000" in err and "pc.SurveyDesign(wave" in err
    assert "questionnaire=q" in err and "Traceback" not in err


def test_weights_refuses_a_dataset_before_reading_it(waves, capsys, monkeypatch):
    import perception.cli.weights as weights

    def never(*args, **kwargs):
        raise AssertionError("the dataset was read")

    monkeypatch.setattr(weights, "read_wave", never)
    code, out, err = run(capsys, "weights", waves["ok"], "-q", QUESTIONNAIRE, "--margins",
                         ROOT / "questionnaires" / "margins_centre_mali_2009.yaml",
                         "--out", waves["ok"].parent / "weighted.csv")
    assert code == 2 and out == ""
    assert "is a directory (a Parquet dataset)" in err and "Fix: give a wave file" in err
