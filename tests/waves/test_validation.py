"""Validation of waves: a catalogue of bad waves built from a small valid hand-made wave.

Every case asserts that the failure names the column, the rows and a fix, that the input
(DataFrame or file) is left untouched, and that several faults are all reported.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.disclosure.pii import hash_value
from perception.errors import PerceptionError, WaveValidationError
from perception.questionnaire.model import Questionnaire
from perception.waves.files import read_table
from perception.waves.validation import ERROR_COLUMNS, REDACTED

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
VALID = Path(__file__).resolve().parents[1] / "data" / "centre_mali_wave_small.csv"
KEY = "a long secret key, kept elsewhere"


@pytest.fixture(scope="module")
def q() -> Questionnaire:
    return pc.load_questionnaire(QUESTIONNAIRE)


@pytest.fixture()
def wave(q: Questionnaire) -> pd.DataFrame:
    return read_table(VALID, q)[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def group_line(column: str, check: str, rows: list) -> str:
    """The summary line naming a column, a check and its rows."""
    if rows == [None]:
        return f"- {column} [{check}]: whole column"
    plural = "s" if len(rows) != 1 else ""
    return f"- {column} [{check}]: {len(rows)} row{plural}: {', '.join(map(str, rows))}"


def errors_of(report, column: str, check: str) -> list:
    e = report.errors
    return e.loc[(e["column"] == column) & (e["check"] == check), "row"].tolist()


# ------------------------------------------------------------------ the valid wave


def test_valid_wave_passes(q: Questionnaire, wave: pd.DataFrame) -> None:
    report = pc.validate(wave, q)
    assert report.ok, report.summary()
    assert list(report.errors.columns) == ERROR_COLUMNS
    assert report.errors.empty and report.warnings.empty
    assert "OK, no errors" in str(report)


def test_schema_is_pandera(q: Questionnaire, wave: pd.DataFrame) -> None:
    from pandera.errors import SchemaErrors

    schema = q.schema()
    out = schema.validate(wave.copy(), lazy=True)
    assert out["trust_police"].dtype == "float64"
    bad = wave.copy()
    bad.loc[0, "age"] = 200
    with pytest.raises(SchemaErrors) as info:
        schema.validate(bad, lazy=True)
    assert "range:age" in set(info.value.failure_cases["check"].astype(str))


def test_same_id_in_two_waves_is_allowed(q: Questionnaire, wave: pd.DataFrame) -> None:
    wave.loc[6, "resp_id"] = "R001"  # row 6 is in wave 1, R001 in wave 0
    assert pc.validate(wave, q).ok


# ------------------------------------------------------------------ catalogue of bad waves


def _set(column: str, changes: dict[int, object]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for row, value in changes.items():
            try:
                df.loc[row, column] = value
            except TypeError:  # e.g. text or 34.5 into an int64 column
                df[column] = df[column].astype(object)
                df.loc[row, column] = value
        return df

    return mutate


def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(columns=[column])


# (id, mutation, column, check, rows)
CATALOGUE = [
    ("wrong_code", _set("trust_police", {2: 5}), "trust_police", "codes", [2]),
    ("wrong_wave_code", _set("wave", {11: 3}), "wave", "codes", [11]),
    ("age_out_of_range", _set("age", {3: 150, 10: 12}), "age", "range", [3, 10]),
    ("age_not_whole", _set("age", {1: 30.5}), "age", "integer", [1]),
    ("duplicate_id", _set("resp_id", {4: "R001"}), "resp_id", "unique", [0, 4]),
    ("negative_weight", _set("w_final", {5: -3.0}), "w_final", "weight", [5]),
    ("nan_weight", _set("w_final", {6: np.nan}), "w_final", "weight", [6]),
    ("zero_weight", _set("w_final", {2: 0.0}), "w_final", "weight", [2]),
    ("psu_in_two_strata", _set("stratum", {7: "21-C"}), "psu_id", "psu_in_stratum", [6, 7]),
    ("cercle_wrong_region", _set("cercle", {8: 21}), "cercle", "consistency", [8]),
    (
        "skip_logic_answer_not_asked",
        _set("vict_reported", {1: 3}),
        "vict_reported",
        "relevant",
        [1],
    ),
    (
        "skip_logic_required_empty",
        _set("vict_reported", {2: np.nan}),
        "vict_reported",
        "required",
        [2],
    ),
    ("required_answer_empty", _set("trust_army", {3: np.nan}), "trust_army", "required", [3]),
    ("missing_required_column", _drop("sex"), "sex", "column_missing", [None]),
    ("text_in_numeric_column", _set("trust_gend", {9: "beaucoup"}), "trust_gend", "dtype", [9]),
    ("invalid_date", _set("survey_date", {1: "2024-02-30"}), "survey_date", "dtype", [1]),
    ("select_multiple_bad_code", _set("ca_type", {0: "1 42"}), "ca_type", "codes", [0]),
    ("constraint_no_consent", _set("consent", {2: 0}), "consent", "constraint", [2]),
    ("age_group_inconsistent", _set("age_grp", {0: 3}), "age_grp", "consistency", [0]),
    (
        "relevant_follow_up_not_asked",
        _set("req_help_bribe", {0: 2}),
        "req_help_bribe",
        "relevant",
        [0],
    ),
]


def test_catalogue_in_one_dataframe(q, wave) -> None:
    """All the faults of the catalogue at once: each reported exactly, nothing else."""
    bad = wave
    for _, mutate, *_rest in CATALOGUE:
        bad = mutate(bad)
    before = bad.copy(deep=True)
    report = pc.validate(bad, q)
    pd.testing.assert_frame_equal(bad, before)  # validation never modifies its input
    expected: dict[tuple[str, str], list] = {}
    for _, _, column, check, rows in CATALOGUE:  # the three weight cases share one check
        merged = expected.get((column, check), []) + rows
        expected[(column, check)] = sorted(merged, key=lambda r: -1 if r is None else r)
    found = {
        key: group["row"].tolist()
        for key, group in report.errors.groupby(["column", "check"], sort=False)
    }
    assert found == expected, report.summary()
    summary = report.summary()
    for (column, check), rows in expected.items():
        assert group_line(column, check, rows) in summary
    for message in report.errors["message"]:
        assert "Fix:" in message
    assert (
        report.errors.loc[report.errors["check"] != "column_missing", "message"]
        .str.match(r"row \d+, \w+")
        .all()
    )


@pytest.mark.parametrize(
    ("mutate", "column", "check", "rows"),
    [c[1:] for c in CATALOGUE],
    ids=[c[0] for c in CATALOGUE],
)
def test_bad_wave_file(q, wave, tmp_path, mutate, column, check, rows) -> None:
    path = tmp_path / "wave.csv"
    mutate(wave).to_csv(path, index=False)
    before = digest(path)
    with pytest.raises(WaveValidationError) as info:
        pc.read_wave(path, q)
    assert digest(path) == before  # the file is untouched
    message = str(info.value)
    assert str(path) in message and column in message and "Fix:" in message
    assert group_line(column, check, rows) in message
    assert errors_of(info.value.report, column, check) == rows
    assert isinstance(info.value, ValueError)


def test_catalogue_is_distinct() -> None:
    assert len({(c[2], c[3]) for c in CATALOGUE}) >= 15


def test_three_independent_faults_all_reported(q, wave, tmp_path) -> None:
    bad = _set("trust_police", {2: 5})(wave)
    bad = _set("age", {3: 150})(bad)
    bad = _set("cercle", {8: 21})(bad)
    report = pc.validate(bad, q)
    assert sorted(
        zip(report.errors["column"], report.errors["check"], report.errors["row"], strict=True)
    ) == [
        ("age", "range", 3),
        ("cercle", "consistency", 8),
        ("trust_police", "codes", 2),
    ]
    assert "3 errors in 3 checks" in report.summary()
    path = tmp_path / "three.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(WaveValidationError) as info:
        pc.read_wave(path, q)
    message = str(info.value)
    for fragment in ("row 2, trust_police = 5", "row 3, age = 150", "row 8, cercle = 21"):
        assert fragment in message
    assert "cercle 21 (Ségou) belongs to region 2 (Ségou), but region is 1 (Mopti)" in message


def test_many_faults_in_one_column_are_all_listed(q, wave) -> None:
    bad = wave.copy()
    bad["trust_pc"] = 7
    report = pc.validate(bad, q)
    assert errors_of(report, "trust_pc", "codes") == list(range(12))
    assert "12 rows: 0, 1, 2" in report.summary(max_rows=3)
    assert "(and 9 more)" in report.summary(max_rows=3)


def test_duplicate_column(q, wave) -> None:
    bad = pd.concat([wave, wave[["age"]]], axis=1)
    report = pc.validate(bad, q)
    assert errors_of(report, "age", "duplicate_column") == [None]


def test_rows_are_reported_by_index_label(q, wave) -> None:
    bad = _set("age", {3: 150})(wave)
    bad.index = [f"resp-{i}" for i in range(len(bad))]
    bad = bad.iloc[::-1]  # reordered: labels, not positions, are reported
    report = pc.validate(bad, q)
    assert errors_of(report, "age", "range") == ["resp-3"]
    assert "row resp-3, age = 150" in report.errors["message"].iloc[0]


def test_duplicate_index_is_a_warning(q, wave) -> None:
    bad = wave.copy()
    bad.index = [0] * len(bad)
    report = pc.validate(bad, q)
    assert report.ok
    assert "index" in set(report.warnings["check"])


def test_extra_and_optional_columns(q, wave) -> None:
    df = wave.drop(columns=["commune", "resp_name", "phone", "age_grp", "ethnic"])
    df["enumerator_note"] = "x"
    report = pc.validate(df, q)
    assert report.ok
    assert report.warnings[["column", "check"]].values.tolist() == [
        ["enumerator_note", "unknown_column"]
    ]
    # the age_grp rule is skipped (with a warning) when age_grp is absent
    assert "consistency:age_grp_matches_age" not in report.warnings["message"].str.cat()


def test_pii_values_are_redacted_in_reports(q, wave) -> None:
    bad = _set("gps_lat", {4: 45.123})(wave)
    report = pc.validate(bad, q)
    assert errors_of(report, "gps_lat", "range") == [4]
    row = report.errors.iloc[0]
    assert row["value"] == REDACTED
    assert "45.123" not in row["message"] and "45.123" not in report.summary()


def test_validate_never_raises_on_garbage(q) -> None:
    df = pd.DataFrame({"age": [object(), [1, 2], "x"], "wave": [None, None, None]})
    report = pc.validate(df, q)
    assert not report.ok
    assert "column_missing" in set(report.errors["check"])


# ------------------------------------------------------------------ bad files


def _xlsx_bytes(wave: pd.DataFrame, tmp_path: Path) -> bytes:
    path = tmp_path / "real.xlsx"
    wave.to_excel(path, index=False)
    return path.read_bytes()


FILE_CASES = [
    ("empty.csv", lambda w, t: b"", "the file is empty"),
    ("blank.csv", lambda w, t: b"  \n\n", "the file holds only blank space"),
    (
        "header_only.csv",
        lambda w, t: VALID.read_bytes().splitlines(keepends=True)[0],
        "no data rows",
    ),
    (
        "latin1.csv",
        lambda w, t: VALID.read_bytes().replace(
            b"Pelengana", "Pélengana".encode("latin-1")
        ),
        "not UTF-8 text: invalid byte",
    ),
    (
        "ragged.csv",
        lambda w, t: VALID.read_bytes() + b"R999,0,1,11,extra,fields\n" + b"1," * 80 + b"1\n",
        "but line",
    ),
    ("workbook.csv", _xlsx_bytes, "extension .csv but its content is a ZIP archive"),
    ("text.xlsx", lambda w, t: VALID.read_bytes(), "extension .xlsx but its content is text"),
    ("truncated.xlsx", lambda w, t: _xlsx_bytes(w, t)[:300], "corrupt workbook"),
    ("pdf.sav", lambda w, t: b"%PDF-1.4 not data", "extension .sav but its content is a PDF"),
    ("broken.sav", lambda w, t: b"$FL2" + b"\x00garbage" * 10, "unreadable or corrupt .sav"),
    ("text.dta", lambda w, t: VALID.read_bytes(), "extension .dta but its content is text"),
    ("data.json", lambda w, t: b'{"a": 1}', "unsupported file type '.json'"),
]


@pytest.mark.parametrize(("name", "make", "fragment"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_files(q, wave, tmp_path, name, make, fragment) -> None:
    path = tmp_path / name
    path.write_bytes(make(wave, tmp_path))
    before = digest(path)
    with pytest.raises(WaveValidationError) as info:
        pc.read_wave(path, q)
    assert digest(path) == before
    message = str(info.value)
    assert fragment in message
    assert str(path) in message and "Fix:" in message
    assert info.value.report is None


def test_non_utf8_names_byte_offset(q, tmp_path) -> None:
    data = VALID.read_bytes()
    offset = data.index(b"Pelengana") + 1
    path = tmp_path / "latin1.csv"
    path.write_bytes(data.replace(b"Pelengana", "Pélengana".encode("latin-1")))
    with pytest.raises(WaveValidationError) as info:
        pc.read_wave(path, q)
    line = data[:offset].count(b"\n") + 1
    assert f"at byte offset {offset}, line {line}" in str(info.value)
    assert "re-encode the file as UTF-8" in str(info.value)
    assert "Windows-1252" in str(info.value)


def test_zip_that_is_not_a_workbook(q, tmp_path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("wave.csv", VALID.read_text(encoding="utf-8"))
    with pytest.raises(WaveValidationError, match="not an XLSX workbook"):
        pc.read_wave(path, q)


def test_missing_and_too_large_files(q, tmp_path) -> None:
    with pytest.raises(WaveValidationError, match="file not found"):
        pc.read_wave(tmp_path / "absent.csv", q)
    with pytest.raises(WaveValidationError, match="more than the limit of 100 bytes"):
        pc.read_wave(VALID, q, max_bytes=100)


# ------------------------------------------------------------------ reading and protecting


def test_read_wave_drops_pii_and_keeps_rows(q) -> None:
    before = digest(VALID)
    df = pc.read_wave(VALID, q)
    assert digest(VALID) == before
    assert not set(q.pii) & set(df.columns)
    raw = pd.read_csv(VALID, dtype=str)
    assert df["resp_id"].tolist() == raw["resp_id"].tolist()  # same rows, same order
    assert list(df.index) == list(range(len(raw)))
    assert df["age"].dtype == "Int64" and str(df["survey_date"].dtype).startswith("datetime64")
    assert df.attrs["perception"]["pii_columns"] == q.pii
    # missing codes are kept unless recoding is asked for
    assert 999 in set(df["age"])


def test_read_wave_hashes_pii_with_a_key(q) -> None:
    df = pc.read_wave(VALID, q, keep_pii="hash", hash_key=KEY)
    raw = pd.read_csv(VALID, dtype=str)
    assert df["phone"].tolist() == [hash_value(v, KEY.encode()) for v in raw["phone"]]
    assert df["phone"].str.len().eq(64).all()
    assert not df["phone"].isin(raw["phone"]).any()
    other = pc.read_wave(VALID, q, keep_pii="hash", hash_key=KEY + "!")
    assert not (other["phone"] == df["phone"]).any()
    flat = [str(cell) for cell in df.to_numpy().ravel()] + [repr(df.attrs)]
    assert not any(KEY in cell for cell in flat)  # the key is never stored


def test_hash_arguments(q) -> None:
    with pytest.raises(PerceptionError, match="needs hash_key"):
        pc.read_wave(VALID, q, keep_pii="hash")
    with pytest.raises(PerceptionError, match="at least 16"):
        pc.read_wave(VALID, q, keep_pii="hash", hash_key="short")
    with pytest.raises(PerceptionError, match="keep_pii must be 'drop' or 'hash', got 'keep'"):
        pc.read_wave(VALID, q, keep_pii="keep")  # type: ignore[arg-type]
    with pytest.raises(PerceptionError, match="hash_key given but keep_pii='drop'"):
        pc.read_wave(VALID, q, hash_key=KEY)


def test_read_wave_recode(q) -> None:
    df = pc.read_wave(VALID, q, recode=True)
    assert df["age"].isna().sum() == 2
    recoded = pd.DataFrame(df.attrs["perception"]["missing_recoded"])
    assert recoded.set_index(["column", "code"]).loc[("age", 999), "count"] == 1


def test_semicolon_csv_with_decimal_comma(q, wave, tmp_path) -> None:
    path = tmp_path / "excel_fr.csv"
    wave.to_csv(path, index=False, sep=";", decimal=",")
    df = pc.read_wave(path, q)
    assert df["w_final"].iloc[0] == pytest.approx(812.5)


def test_xlsx_sav_dta_round_trip(q, wave, tmp_path) -> None:
    import pyreadstat

    xlsx = tmp_path / "wave.xlsx"
    wave.to_excel(xlsx, index=False)
    stat = wave.copy()
    for column in stat.columns:
        if stat[column].dtype == object or pd.api.types.is_string_dtype(stat[column].dtype):
            stat[column] = stat[column].fillna("").astype(str)
    stat["survey_date"] = pd.to_datetime(stat["survey_date"])
    sav, dta = tmp_path / "wave.sav", tmp_path / "wave.dta"
    pyreadstat.write_sav(
        stat,
        str(sav),
        variable_value_labels={"sex": {1: "Homme", 2: "Femme"}},
        missing_ranges={"age": [998, 999]},
    )
    pyreadstat.write_dta(stat, str(dta))
    expected = pc.read_wave(VALID, q)
    for path in (xlsx, sav, dta):
        before = digest(path)
        df = pc.read_wave(path, q)
        assert digest(path) == before
        assert df["resp_id"].tolist() == expected["resp_id"].tolist(), path
        pd.testing.assert_series_equal(df["trust_police"], expected["trust_police"])
        # SPSS user-missing values stay codes until recoded
        assert set(df["age"]) == set(expected["age"]), path
    assert pc.read_wave(sav, q).attrs["value_labels"]["sex"] == {1: "Homme", 2: "Femme"}


# ------------------------------------------------------------------ recoding and mutation


def test_recode_missing(q, wave) -> None:
    before = wave.copy(deep=True)
    new, counts = pc.recode_missing(wave, q, lang="en")
    pd.testing.assert_frame_equal(wave, before)  # not in place
    assert list(counts.columns) == ["column", "code", "label", "count"]
    age = counts[counts["column"] == "age"].set_index("code")
    assert age.loc[998, ["label", "count"]].tolist() == ["Refused", 1]
    assert age.loc[999, ["label", "count"]].tolist() == ["Don't know", 1]
    assert new["age"].isna().sum() == 2
    assert not new["trust_police"].isin([8, 9]).any()
    assert (new["ca_type"] == "99").sum() == 0 and (wave["ca_type"] == "99").sum() == 1
    expected_total = (wave["ca_type"] == "99").sum() + sum(
        wave[v.name].isin(v.missing_codes).sum()
        for v in q
        if v.name in wave and v.missing and v.type != "select_multiple"
    )
    assert counts["count"].sum() == expected_total
    assert list(new.index) == list(wave.index) and list(new.columns) == list(wave.columns)


def test_validation_does_not_mutate(q, wave) -> None:
    bad = _set("age", {3: 150})(_set("trust_gend", {1: "x"})(wave))
    before = bad.copy(deep=True)
    dtypes = bad.dtypes.copy()
    pc.validate(bad, q)
    q.schema()
    pd.testing.assert_frame_equal(bad, before)
    pd.testing.assert_series_equal(bad.dtypes, dtypes)


def test_text_codes_dates_and_cross_variable_constraint() -> None:
    q = Questionnaire.from_dict(
        {
            "id": "mini",
            "languages": ["en"],
            "defaults": {"required": True},
            "variables": [
                {"name": "rid", "type": "text", "label": "Id", "role": "id", "unique": True},
                {
                    "name": "day",
                    "type": "date",
                    "label": "Day",
                    "range": {"min": "2024-01-01", "max": "2024-12-31"},
                },
                {
                    "name": "lang",
                    "type": "categorical",
                    "label": "Language",
                    "codes": {"bam": "Bamanankan", "ful": "Fulfulde"},
                    "missing": {"dk": "Don't know"},
                },
                {"name": "adults", "type": "integer", "label": "Adults", "range": {"min": 1}},
                {
                    "name": "hh_size",
                    "type": "integer",
                    "label": "Household size",
                    "constraint": ". >= ${adults}",
                    "constraint_message": "the household is smaller than its adults",
                },
            ],
        }
    )
    df = pd.DataFrame(
        {
            "rid": ["a", "b", "c"],
            "day": ["2024-05-01", "2023-12-31", "2024-06-01"],
            "lang": ["bam", "dk", "eng"],
            "adults": [2, 3, 1],
            "hh_size": [5, 2, 1],
        }
    )
    report = pc.validate(df, q)
    assert errors_of(report, "day", "range") == [1]
    assert errors_of(report, "lang", "codes") == [2]
    assert errors_of(report, "hh_size", "constraint") == [1]
    assert "the household is smaller than its adults" in report.summary()
    assert len(report.errors) == 3
    new, counts = pc.recode_missing(df, q)
    assert new["lang"].isna().tolist() == [False, True, False]
    assert counts.to_dict("records") == [
        {"column": "lang", "code": "dk", "label": "Don't know", "count": 1}
    ]
