"""Readers on the files the field produces: workbooks that declare a wrong size, several
sheets, CSVs in other encodings or with a row-index column, SPSS dates before 1677, Stata
extended missing values with their labels; and every reader error a clear message (and
exit code 2 on the command line), never a traceback."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest

import perception as pc
from perception.cli import main
from perception.errors import FileReadError
from perception.waves.files import read_table


def _set_dimension(path: Path, ref: str) -> Path:
    """Rewrite the <dimension> of every sheet of an XLSX, as R's and LibreOffice's
    writers leave it."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    for name, content in parts.items():
        if name.startswith("xl/worksheets/sheet"):
            text = content.decode("utf-8")
            text, count = re.subn(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>',
                                  text)
            if not count:
                text = text.replace("<sheetViews>", f'<dimension ref="{ref}"/><sheetViews>', 1)
            parts[name] = text.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def _workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = openpyxl.Workbook()
    first = True
    for name, rows in sheets.items():
        sheet = book.active if first else book.create_sheet(name)
        sheet.title = name
        first = False
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _table(n_rows: int, n_cols: int) -> list[list]:
    header = [f"c{j}" for j in range(n_cols)]
    return [header, *[[i * n_cols + j for j in range(n_cols)] for i in range(n_rows)]]


@pytest.mark.parametrize("ref", ["A1", "A1:AMJ1048576", "B2:C3"])
def test_a_wrong_declared_dimension_loses_nothing(tmp_path, ref):
    path = _set_dimension(_workbook(tmp_path / "w.xlsx", {"data": _table(241, 37)}), ref)
    with zipfile.ZipFile(path) as archive:
        assert f'<dimension ref="{ref}"/>' in archive.read("xl/worksheets/sheet1.xml").decode()
    df, _ = read_table(path)
    assert df.shape == (241, 37)
    assert df.iloc[-1, -1] == 241 * 37 - 1


def test_every_sheet_holding_data_is_listed(tmp_path):
    path = _workbook(tmp_path / "export.xlsx", {
        "main": _table(3, 2), "roster": _table(5, 3), "notes": [], "empty": [[None]]})
    df, meta = read_table(path)
    assert df.shape == (3, 2)
    assert meta["details"]["sheets_with_data"] == ["main", "roster"]
    assert any("2 sheets holding data: 'main' (read) and 'roster'" in n for n in meta["notes"])
    roster, meta = read_table(path, sheet="roster")
    assert roster.shape == (5, 3)
    assert read_table(path, sheet=1)[0].shape == (5, 3)


def test_one_sheet_no_note(tmp_path):
    _, meta = read_table(_workbook(tmp_path / "w.xlsx", {"only": _table(2, 2)}))
    assert meta["notes"] == []


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16"])
def test_csv_in_another_encoding(tmp_path, encoding):
    path = tmp_path / "w.csv"
    path.write_bytes("commune,n\nSégou,1\nDiafarabé,2\n".encode(encoding))
    df, meta = read_table(path, encoding=encoding)
    assert df["commune"].tolist() == ["Ségou", "Diafarabé"]
    assert meta["details"]["encoding"] == encoding


def test_csv_not_utf8_says_how_to_read_it(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes("commune\nSégou\n".encode("cp1252"))
    with pytest.raises(FileReadError, match=r"byte offset 9, line 2.*encoding='cp1252'"):
        read_table(path)
    with pytest.raises(FileReadError, match="unknown encoding 'klingon'"):
        read_table(path, encoding="klingon")
    with pytest.raises(FileReadError, match="not utf-8 text: invalid byte"):
        read_table(path, encoding="utf-8")
    with pytest.raises(pc.PerceptionError, match="only applies to CSV"):
        read_table(_workbook(tmp_path / "w.xlsx", {"s": _table(1, 1)}), encoding="cp1252")


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ('"","resp_id","age"\n"1","R1",30\n"2","R2",41\n"3","R3",52\n', "1", "3"),  # R
        (",resp_id,age\n0,R1,30\n1,R2,41\n2,R3,52\n", "0", "2"),  # pandas
        (",resp_id,age\n4,R1,30\n9,R2,41\n17,R3,52\n", "4", "17"),  # rows filtered in R
    ],
)
def test_a_row_index_column_is_dropped_with_a_note(tmp_path, text, first, last):
    path = tmp_path / "w.csv"
    path.write_text(text, encoding="utf-8")
    df, meta = read_table(path)
    assert list(df.columns) == ["resp_id", "age"] and df["age"].tolist() == [30, 41, 52]
    assert any(f"({first} .. {last}): a row index written by R or pandas" in n
               for n in meta["notes"])


def test_a_row_index_column_in_a_workbook(tmp_path):
    path = _workbook(tmp_path / "w.xlsx", {"s": [[None, "x"], [0, "a"], [1, "b"]]})
    df, meta = read_table(path)
    assert list(df.columns) == ["x"] and meta["notes"]


def test_an_unnamed_column_of_data_is_still_refused(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text(",resp_id\nx,R1\ny,R2\n", encoding="utf-8")
    with pytest.raises(FileReadError, match="column 1 of the header row has no name"):
        read_table(path)


def test_spss_dates_before_1677_are_kept(tmp_path):
    path = tmp_path / "dates.sav"
    frame = pd.DataFrame({"born": [dt.date(1583, 1, 1), dt.date(1990, 5, 6), None],
                          "n": [1.0, 2.0, 3.0]})
    pyreadstat.write_sav(frame, path, variable_format={"born": "DATE11"})
    df, meta = read_table(path)
    assert [None if pd.isna(d) else d.date() for d in df["born"]] == [
        dt.date(1583, 1, 1), dt.date(1990, 5, 6), None]
    assert str(df["born"].dtype) != "datetime64[ns]"
    assert any("'born' holds dates outside 1677-09-22" in n and "1583-01-01" in n
               for n in meta["notes"])
    q = pc.Questionnaire.from_dict({"id": "d", "languages": ["en"], "variables": [
        {"name": "born", "type": "date", "label": "Born"},
        {"name": "n", "type": "numeric", "label": "N"}]})
    report = pc.validate(df, q)
    assert report.errors[["row", "column", "check"]].values.tolist() == [[0, "born", "dtype"]]
    assert "outside 1677-09-22 .. 2262-04-11" in report.errors["message"].iloc[0]


def test_stata_extended_missing_values_keep_their_labels(tmp_path):
    path = tmp_path / "tagged.dta"
    frame = pd.DataFrame({"x": [1.0, 2.0, "a", "z", "a"]}, dtype=object)
    pyreadstat.write_dta(frame, path, missing_user_values={"x": ["a", "z"]},
                         variable_value_labels={"x": {1: "yes", 2: "no", "a": "not asked",
                                                      "z": "refused"}})
    df, meta = read_table(path)
    assert df["x"].tolist() == ["1", "2", ".a", ".z", ".a"]
    assert meta["value_labels"]["x"] == {1: "yes", 2: "no", ".a": "not asked", ".z": "refused"}
    labelled = {v: meta["value_labels"]["x"][v] for v in df["x"] if v.startswith(".")}
    assert labelled == {".a": "not asked", ".z": "refused"}


# ------------------------------------------------------------------ every error --
def _bad_files(root: Path) -> dict[str, tuple[Path, dict, str]]:
    """name -> (file, read_table arguments, fragment of the message)."""
    files: dict[str, tuple[Path, dict, str]] = {}

    def put(name: str, content: bytes, kwargs: dict | None = None, fragment: str = ""):
        path = root / name
        path.write_bytes(content)
        files[name] = (path, kwargs or {}, fragment)

    put("empty.csv", b"", fragment="the file is empty")
    put("blank.csv", b"  \n\n", fragment="only blank space")
    put("ragged.csv", b"a,b\n1,2,3\n", fragment="the header has 2 fields")
    put("dup.csv", b"a,a\n1,2\n", fragment="appears twice")
    put("latin.csv", "a\né\n".encode("cp1252"), fragment="not UTF-8")
    put("utf16.csv", "a,b\n1,2\n".encode("utf-16"), fragment="UTF-16")
    put("badcodec.csv", b"a\n1\n", {"encoding": "nope"}, "unknown encoding")
    put("header_only.csv", b"a,b\n", fragment="no data rows")
    put("corrupt.xlsx", b"PK\x03\x04garbage", fragment="corrupt workbook")
    put("text.xlsx", b"a,b\n1,2\n", fragment="its content is text")
    put("ole.xlsx", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, fragment="old Excel .xls")
    put("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, fragment="unsupported file type '.xls'")
    put("garbage.sav", b"$FL2" + b"\x00" * 50, fragment="unreadable or corrupt .sav")
    put("garbage.dta", b"<stata_dta>broken", fragment="unreadable or corrupt .dta")
    put("notsav.sav", b"a,b\n1,2\n", fragment="not an SPSS .sav file")
    put("pdf.csv", b"%PDF-1.4\n", fragment="a PDF document")
    put("nosuffix", b"a\n1\n", fragment="unsupported file type")
    zip_path = root / "zip.xlsx"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    files["zip.xlsx"] = (zip_path, {}, "not an XLSX workbook")
    book = _workbook(root / "book.xlsx", {"data": _table(1, 2)})
    files["nosheet.xlsx"] = (book, {"sheet": "other"}, "has no sheet 'other'")
    files["sheet9.xlsx"] = (book, {"sheet": 9}, "no sheet number 9")
    files["emptysheet.xlsx"] = (_workbook(root / "e.xlsx", {"s": []}), {}, "is empty")
    files["missing.csv"] = (root / "does_not_exist.csv", {}, "file not found")
    files["directory.csv"] = (root, {}, "not a file")
    return files


def test_every_reader_error_is_a_clear_message(tmp_path):
    for name, (path, kwargs, fragment) in _bad_files(tmp_path).items():
        with pytest.raises(pc.PerceptionError) as info:
            read_table(path, **kwargs)
        message = str(info.value)
        assert fragment in message, (name, message)
        assert "Fix:" in message or "only applies" in message, (name, message)


def test_no_command_prints_a_traceback_on_a_bad_file(tmp_path, capsys):
    q = tmp_path / "q.yaml"
    q.write_text("id: x\nlanguages: [en]\nvariables:\n  - {name: a, type: integer, "
                 "label: A}\n", encoding="utf-8")
    for name, (path, kwargs, _) in _bad_files(tmp_path).items():
        if kwargs:
            continue  # arguments the command line does not pass
        assert main(["validate", str(path), "-q", str(q)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("perception validate: error: ") and "Traceback" not in err, (
            name, err)


def test_reading_leaves_the_file_unchanged(tmp_path):
    import hashlib

    path = _set_dimension(_workbook(tmp_path / "w.xlsx", {"a": _table(3, 3)}), "A1")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    read_table(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_numbers_survive_a_wrong_dimension_and_types_follow_content(tmp_path):
    path = _set_dimension(_workbook(tmp_path / "w.xlsx", {"a": [["x", "y"], [1, "a"],
                                                               [2.5, None]]}), "A1")
    df, _ = read_table(path)
    assert df["x"].tolist() == [1.0, 2.5] and df["y"].tolist()[0] == "a"
    assert np.isnan(df["x"]).sum() == 0
