"""Reading wave files: CSV, XLSX, SPSS, Stata and KoboToolbox/ODK exports.

The same wave written in four formats must read back to the same frame, which passes
validation; Kobo/ODK exports (group prefixes, select_multiple option columns, metadata)
must read back to it too; oversized, mislabelled and corrupt files are refused with
messages that name the file and the fix.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

import perception as pc
from perception.waves.files import FileReadError, check_value_labels, read_table, sniff

ROOT = Path(__file__).resolve().parents[2]
Q_PATH = ROOT / "questionnaires" / "centre_mali_trust.yaml"
SMALL_WAVE = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
FORMATS = ("csv", "xlsx", "sav", "dta")
# groups of a Kobo export of the Central Mali form
GROUPS = {"identification": "grp_id", "trust": "grp_trust", "community_actions": "grp_ca"}
KOBO_META = ["start", "end", "today", "deviceid", "_id", "_uuid", "_submission_time",
             "_validation_status", "_index", "meta/instanceID", "_gps_latitude", "__version__"]


@pytest.fixture(scope="module")
def q() -> pc.Questionnaire:
    return pc.load_questionnaire(Q_PATH)


@pytest.fixture(scope="module")
def wave(q) -> pd.DataFrame:
    """The small wave with zero-padded ids, in canonical types."""
    df, _ = read_table(SMALL_WAVE, questionnaire=q)
    df = df.copy()
    df["resp_id"] = pd.Series([f"{i:03d}" for i in range(1, len(df) + 1)], dtype="str")
    return df


def _value_labels(q: pc.Questionnaire, lang: str = "fr") -> dict[str, dict[int, str]]:
    return {
        v.name: {int(c): label for c, label in v.code_labels(lang).items()}
        for v in q.variable_list
        if (v.is_coded and v.is_numeric) or (v.type == "integer" and v.missing)
    }


def _write(df: pd.DataFrame, path: Path, q: pc.Questionnaire, labels=None, **kwargs) -> Path:
    fmt = path.suffix[1:]
    labels = _value_labels(q) if labels is None else labels
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "xlsx":
        df.to_excel(path, index=False)
    elif fmt == "sav":
        pyreadstat.write_sav(df, path, variable_value_labels=labels,
                             column_labels={v.name: v.label("fr") for v in q.variable_list
                                            if v.name in df.columns}, **kwargs)
    else:
        pyreadstat.write_dta(df, path, variable_value_labels=labels, **kwargs)
    return path


@pytest.fixture(scope="module")
def files(q, wave, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    out = {}
    for fmt in FORMATS:
        kwargs = {"missing_ranges": {"trust_selfdef": [8, 9]}} if fmt == "sav" else {}
        out[fmt] = _write(wave, folder / f"wave.{fmt}", q, **kwargs)
    return out


# ------------------------------------------------------------------ same frame --


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_back_to_the_same_valid_frame(q, wave, files, fmt):
    df, meta = read_table(files[fmt], questionnaire=q)
    pd.testing.assert_frame_equal(df, wave)
    assert meta["format"] == fmt
    assert pc.validate(df, q).ok


def test_canonical_types(wave):
    assert wave["resp_id"].tolist()[:2] == ["001", "002"]  # leading zeros kept
    assert wave["ca_type"].iloc[0] == "1 3"  # select_multiple stays text
    assert wave["survey_date"].dtype == "datetime64[ns]"
    assert wave["wave"].dtype == "int64"  # whole and complete
    assert wave["vict_reported"].dtype == "float64"  # whole but with missing cells
    assert wave["w_final"].dtype == "float64"
    assert pd.api.types.is_string_dtype(wave["psu_id"])


def test_without_questionnaire_types_follow_the_content(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("rid,x,when\n007,1.5,2024-01-02\n008,,2024-01-03\n", encoding="utf-8")
    df, meta = read_table(path)
    assert df["rid"].tolist() == [7, 8]  # numbers, as pandas would read them
    assert df["x"].dtype == "float64" and np.isnan(df["x"].iloc[1])
    assert df["when"].tolist() == ["2024-01-02", "2024-01-03"]  # no guessing of dates
    assert meta["value_labels"] == {} and meta["kobo"] is False


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_value_and_variable_labels_are_kept(q, files, fmt):
    _, meta = read_table(files[fmt], questionnaire=q)
    assert meta["value_labels"]["trust_police"][3] == "Beaucoup"
    assert meta["value_labels"]["age"] == {998: "Refus", 999: "Ne sait pas"}
    assert meta["label_problems"].empty
    if fmt == "sav":
        assert meta["variable_labels"]["sex"] == q.label("sex", "fr")


def test_spss_user_missing_values_stay_codes(q, wave, files):
    df, meta = read_table(files["sav"], questionnaire=q)
    assert (wave["trust_selfdef"] == 8).any()
    pd.testing.assert_series_equal(df["trust_selfdef"], wave["trust_selfdef"])
    assert meta["user_missing"]["trust_selfdef"]


def test_stata_extended_missing_values_are_shown_not_lost(tmp_path):
    frame = pd.DataFrame({"x": [1.0, "a", 2.0]}, dtype=object)
    path = tmp_path / "ext.dta"
    pyreadstat.write_dta(frame, path, missing_user_values={"x": ["a"]})
    df, meta = read_table(path)
    assert df["x"].tolist() == ["1", ".a", "2"]
    assert meta["user_missing"]["x"] == [".a"]


def test_blank_rows_and_na_spellings(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("a,b\n1,x\n\nNA,n/a\n3,\n", encoding="utf-8")
    df, meta = read_table(path)
    assert df["a"].tolist()[::2] == [1.0, 3.0] and np.isnan(df["a"].iloc[1])
    assert df["b"].isna().tolist() == [False, True, True]
    assert meta["blank_rows_skipped"] == 1


def test_semicolon_csv_with_decimal_commas(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("id;w;label\n1;812,5;a,b\n2;3;c\n", encoding="utf-8")
    df, meta = read_table(path)
    assert meta["details"]["delimiter"] == ";"
    assert df["w"].tolist() == [812.5, 3.0]
    assert df["label"].tolist() == ["a,b", "c"]


def test_sheet_choice(q, wave, tmp_path):
    path = tmp_path / "two.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="about", index=False)
        wave.to_excel(writer, sheet_name="data", index=False)
    df, meta = read_table(path, questionnaire=q, sheet="data")
    pd.testing.assert_frame_equal(df, wave)
    assert meta["details"]["sheets"] == ["about", "data"]
    with pytest.raises(FileReadError, match="no sheet 'donnees'.*'about', 'data'"):
        read_table(path, sheet="donnees")


# ------------------------------------------------------------------ value labels --


def test_swapped_value_labels_are_refused(q, wave, tmp_path):
    labels = _value_labels(q)
    labels["sex"] = {1: "Femme", 2: "Homme"}
    path = _write(wave, tmp_path / "swapped.sav", q, labels=labels)
    with pytest.raises(pc.WaveValidationError) as info:
        read_table(path, questionnaire=q)
    message = str(info.value)
    assert "column 'sex', code 1" in message and "code 2" in message
    assert "swapped" in message and "Fix:" in message


def test_label_problems_reported_on_request(q, wave, tmp_path):
    labels = _value_labels(q, "en")  # English labels match too
    labels["trust_police"] = {**labels["trust_police"], 3: "Totally"}
    labels["educ"] = {**labels["educ"], 5: "Doctorate"}  # no row holds 5
    labels["activity"] = {**labels["activity"], 11: "Miner"}
    data = wave.copy()
    data.loc[0, "activity"] = 11
    path = _write(data, tmp_path / "labels.dta", q, labels=labels)
    with pytest.raises(pc.WaveValidationError, match="2 problems"):
        read_table(path, questionnaire=q)
    _, meta = read_table(path, questionnaire=q, on_label_problem="report")
    problems = meta["label_problems"].set_index("column")
    assert problems.loc["trust_police", "problem"] == "differs"
    assert problems.loc["educ", ["problem", "severity", "rows"]].tolist() == [
        "unknown_code", "warning", 0]
    assert problems.loc["activity", ["problem", "severity", "rows"]].tolist() == [
        "unknown_code", "error", 1]


def test_check_value_labels_ignores_accents_case_and_truncation(q):
    labels = {"trust_police": {9: "NE SAIT PAS / pas assez"}, "displaced": {2: "oui retourne"},
              "not_in_questionnaire": {1: "x"}}
    assert check_value_labels(labels, q).empty


# ------------------------------------------------------------------ Kobo / ODK --


def _kobo_frame(q: pc.Questionnaire, wave: pd.DataFrame, sep: str, parent: bool) -> pd.DataFrame:
    """The wave as a Kobo/ODK export: groups, metadata, one 0/1 column per option."""
    columns = {}
    n = len(wave)
    columns["start"] = ["2024-03-10T08:00:00"] * n
    columns["end"] = ["2024-03-10T08:40:00"] * n
    columns["deviceid"] = [f"collect:{i}" for i in range(n)]
    for name in wave.columns:
        group = GROUPS.get(q.variable(name).module)
        label = f"{group}{sep}{name}" if group else name
        if name == "ca_type":
            if parent:
                columns[label] = wave[name].tolist()
            var = q.variable(name)
            for code in [*var.codes, *var.missing]:
                columns[f"{label}{sep}{code}"] = [
                    None if not isinstance(v, str) else int(str(code) in v.split())
                    for v in wave[name]
                ]
        else:
            columns[label] = wave[name].tolist()
    columns["_id"] = list(range(100, 100 + n))
    columns["_uuid"] = [f"uuid-{i}" for i in range(n)]
    columns["_submission_time"] = ["2024-03-11T10:00:00"] * n
    columns["meta/instanceID"] = [f"uuid:{i}" for i in range(n)]
    columns["_gps_latitude"] = wave["gps_lat"].tolist()
    columns["_index"] = list(range(1, n + 1))
    return pd.DataFrame(columns)


def test_kobo_csv_export_reads_back_to_the_wave(q, wave, tmp_path):
    export = _kobo_frame(q, wave, "/", parent=True)
    path = tmp_path / "kobo.csv"
    export.to_csv(path, sep=";", index=False, date_format="%Y-%m-%d")
    df, meta = read_table(path, questionnaire=q)
    pd.testing.assert_frame_equal(df, wave)
    assert meta["kobo"] is True
    assert list(meta["paradata"].columns) == [
        "start", "end", "deviceid", "_id", "_uuid", "_submission_time", "meta/instanceID",
        "_gps_latitude", "_index"]
    assert meta["paradata"].index.equals(df.index)
    assert meta["renamed"]["grp_trust/trust_police"] == "trust_police"
    assert meta["select_multiple"]["ca_type"]["source"] == "both (agree)"


def test_odk_xlsx_export_with_option_columns_only(q, wave, tmp_path):
    export = _kobo_frame(q, wave, "-", parent=False)
    path = tmp_path / "odk.xlsx"
    export.to_excel(path, index=False)
    df, meta = read_table(path, questionnaire=q)
    pd.testing.assert_frame_equal(df, wave)
    assert meta["select_multiple"]["ca_type"]["source"] == "option columns"
    assert meta["select_multiple"]["ca_type"]["columns"][0] == "grp_ca-ca_type-1"


def test_option_columns_with_dots_and_empty_selection(q, tmp_path):
    path = tmp_path / "opts.csv"
    # row B was not asked the question: empty option columns, but not a blank row
    path.write_text("id,ca_type.1,ca_type.3,ca_type.99\nA,1,1,0\nB,,,\nC,0,0,1\nD,0,0,0\n",
                    encoding="utf-8")
    df, _ = read_table(path, questionnaire=q)
    assert df["ca_type"].tolist()[:1] == ["1 3"]
    assert df["ca_type"].isna().tolist() == [False, True, False, True]
    assert df["ca_type"].iloc[2] == "99"


def test_kobo_metadata_set_aside_without_questionnaire(tmp_path):
    path = tmp_path / "kobo.csv"
    path.write_text("start,grp/q1,_uuid,_index\n2024-01-01,3,u1,1\n", encoding="utf-8")
    df, meta = read_table(path)
    assert list(df.columns) == ["grp/q1"]
    assert list(meta["paradata"].columns) == ["start", "_uuid", "_index"]


def test_plain_file_keeps_columns_named_like_metadata(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("start,end,score\n1,2,3\n", encoding="utf-8")
    df, meta = read_table(path)
    assert list(df.columns) == ["start", "end", "score"] and meta["kobo"] is False


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("ca_type/1,ca_type/3\n1,2\n", "'ca_type/3' must hold 0 or 1.*rows 0 hold '2'"),
        ("ca_type/1,ca_type/42\n1,0\n", r"ca_type/42.*do(es)? not declare"),
        ("ca_type,ca_type/1,ca_type/3\n1 3,1,0\n", "disagree on rows 0"),
        ("grp_a/sex,grp_b/sex\n1,2\n", "'grp_a/sex', 'grp_b/sex' -> 'sex'"),
    ],
)
def test_inconsistent_kobo_exports_are_refused(q, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FileReadError, match=match):
        read_table(path, questionnaire=q)


# ------------------------------------------------------------------ bad files --


def test_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.sav"
    path.write_bytes(b"$FL2" + b"\x00" * 5000)  # corrupt, but refused for its size first
    with pytest.raises(FileReadError) as info:
        read_table(path, max_bytes=1000)
    message = str(info.value)
    assert "5,004 bytes" in message and "1,000 bytes" in message
    assert "max_bytes=5004" in message and "--max-bytes" in message


def test_xlsx_expanding_beyond_the_limit_is_refused(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", " " * 2_000_000)
    assert path.stat().st_size < 100_000
    with pytest.raises(FileReadError, match="expands to 2,000,011 bytes"):
        read_table(path, max_bytes=1_000_000)


def test_non_utf8_csv_names_the_byte_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    raw = "id,commune\n1,Djenne\n2,Ségou\n".encode("cp1252")
    path.write_bytes(raw)
    offset = raw.index(b"\xe9")
    with pytest.raises(FileReadError) as info:
        read_table(path)
    message = str(info.value)
    assert f"byte offset {offset}, line 3" in message
    assert "Windows-1252" in message and "UTF-8" in message and str(path) in message


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("wave.xlsx", b"id,x\n1,2\n", r"extension \.xlsx but its content is text"),
        ("wave.sav", b"id,x\n1,2\n", r"extension \.sav but its content is text"),
        ("wave.dta", b"$FL2@(#) SPSS", r"content is an SPSS \.sav file.*rename it to \.sav"),
        ("wave.csv", b"PK\x03\x04 rest of a zip", r"content is a ZIP archive.*\.xlsx"),
        ("wave.csv", b"%PDF-1.4 ...", "content is a PDF document"),
        ("wave.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", r"old Excel \.xls.*save it as \.xlsx"),
        ("wave.csv", "id,x\n1,2\n".encode("utf-16"), "UTF-16.*CSV UTF-8"),
        ("wave.json", b"{}", r"unsupported file type '\.json'"),
    ],
)
def test_file_that_is_not_what_its_extension_says(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileReadError, match=match):
        read_table(path)


@pytest.mark.parametrize("fmt", ["sav", "dta", "xlsx"])
def test_corrupt_files_raise_a_clear_error(q, wave, files, tmp_path, fmt):
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(files[fmt].read_bytes()[:300])  # truncated: right header, broken body
    with pytest.raises(FileReadError) as info:
        read_table(path)
    message = str(info.value)
    assert str(path) in message and "Fix:" in message


def test_zip_without_workbook(tmp_path):
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "a,b\n")
    with pytest.raises(FileReadError, match="not an XLSX workbook"):
        read_table(path)


def test_missing_file_and_bad_header(tmp_path):
    with pytest.raises(FileReadError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    path = tmp_path / "dup.csv"
    path.write_text("id,age,age\n1,2,3\n", encoding="utf-8")
    with pytest.raises(FileReadError, match=r"column 'age' appears twice .*columns 2 and 3"):
        read_table(path)
    path.write_text("id,,x\n1,2,3\n", encoding="utf-8")
    with pytest.raises(FileReadError, match="column 2 of the header row has no name"):
        read_table(path)


def test_ragged_csv_rows_are_refused(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2,\n3,4,5\n6\n", encoding="utf-8")  # a trailing comma is fine
    with pytest.raises(FileReadError, match="header has 2 fields but line 3 has 3, line 4 has 1"):
        read_table(path)


def test_sniff_old_stata_versions():
    assert sniff(bytes([114, 2, 1, 0])) == "dta"
    assert sniff(b"<stata_dta><header>") == "dta"
    assert sniff(b"resp_id,wave\n") is None
    assert sniff(b"ab\x00cd") == "binary"


def test_input_file_is_not_modified(q, files):
    before = {fmt: path.read_bytes() for fmt, path in files.items()}
    for path in files.values():
        read_table(path, questionnaire=q)
    assert {fmt: path.read_bytes() for fmt, path in files.items()} == before


def test_rows_of_empty_fields_are_blank_in_csv_as_in_xlsx(tmp_path):
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", None, "z"]})
    csv_path, xlsx_path = tmp_path / "w.csv", tmp_path / "w.xlsx"
    csv_path.write_text("a,b\n1,x\n,\n3,z\n", encoding="utf-8")
    frame.to_excel(xlsx_path, index=False)
    from_csv, csv_meta = read_table(csv_path)
    from_xlsx, xlsx_meta = read_table(xlsx_path)
    assert csv_meta["blank_rows_skipped"] == xlsx_meta["blank_rows_skipped"] == 1
    assert from_csv["b"].tolist() == from_xlsx["b"].tolist() == ["x", "z"]
    assert list(from_csv.index) == [0, 1]


def test_blank_records_never_drop_another_row(tmp_path):
    # a quoted empty line ("") is blank as ",," is: both are skipped and counted, and
    # the rows after them are all kept (the data row "3,4,y" was once dropped instead)
    path = tmp_path / "w.csv"
    path.write_text('a,b,c\n1,2,x\n""\n3,4,y\n,,\n   \n5,6,z\n', encoding="utf-8")
    frame, meta = read_table(path)
    assert meta["blank_rows_skipped"] == 3
    assert frame.to_dict("list") == {"a": [1, 3, 5], "b": [2, 4, 6], "c": ["x", "y", "z"]}
