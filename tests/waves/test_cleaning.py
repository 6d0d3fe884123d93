"""Cleaning logs: exactly the logged cells change, a log whose old values do not match
the raw data is refused whole, the raw export is never modified, and the same log applied
to a later export with more submissions makes the same changes."""

from __future__ import annotations

import hashlib

import openpyxl
import pandas as pd
import pytest

import perception as pc
from perception.cli import main
from perception.waves.cleaning import apply_cleaning_log

Q = {
    "id": "w", "languages": ["en"],
    "code_lists": {"yn": {"yes": "Yes", "no": "No"},
                   "src": {"piped": "Piped", "well": "Well", "river": "River"}},
    "variables": [
        {"name": "age", "type": "integer", "label": "Age", "range": {"min": 18, "max": 110}},
        {"name": "hosted", "type": "categorical", "codes": "yn", "label": "Hosted"},
        {"name": "water_sources", "type": "select_multiple", "codes": "src",
         "label": "Sources"},
        {"name": "comment", "type": "text", "label": "Comment"},
    ],
}
RAW = pd.DataFrame({
    "age": [34, 330, 51, 27],
    "hosted": ["yes", "no", "no", "yes"],
    "water_sources": ["piped", "well river", "well", "piped"],
    "comment": ["ok", None, "long wait", "x"],
    "_uuid": ["u1", "u2", "u3", "u4"],
})
LOG = pd.DataFrame({
    "uuid": ["u2", "u3", "u4", "u1", "u3"],
    "question": ["age", "hosted", None, "water_sources/well", "comment"],
    "change_type": ["change_response", "change_response", "remove_survey", "change_response",
                    "blank_response"],
    "old_value": [330, "no", None, 0, "long wait"],
    "new_value": [33, "yes", None, 1, None],
    "issue": ["typo, confirmed by phone", "enumerator error", "duplicate interview",
              "forgot the well", "names a person"],
})


@pytest.fixture()
def q():
    return pc.Questionnaire.from_dict(Q)


def test_exactly_the_logged_cells_change(q):
    clean, audit = apply_cleaning_log(RAW, LOG, questionnaire=q)
    assert clean["_uuid"].tolist() == ["u1", "u2", "u3"]  # u4 removed
    assert clean.loc[1, "age"] == 33 and clean.loc[2, "hosted"] == "yes"
    assert clean.loc[0, "water_sources"] == "piped well"
    assert clean.loc[2, "comment"] is None
    kept = RAW.drop(index=3)
    changed = {(1, "age"), (2, "hosted"), (0, "water_sources"), (2, "comment")}
    for row in kept.index:
        for column in RAW.columns:
            if (row, column) not in changed:
                a, b = clean.loc[row, column], kept.loc[row, column]
                assert (pd.isna(a) and pd.isna(b)) or a == b, (row, column)
    assert audit["action"].tolist() == ["changed", "changed", "removed", "changed", "blanked"]
    assert audit["log_row"].tolist() == [2, 3, 4, 5, 6]
    assert audit.loc[0, ["uuid", "variable", "old_value", "new_value", "reason"]].tolist() == [
        "u2", "age", "330", "33", "typo, confirmed by phone"]
    assert RAW.loc[1, "age"] == 330  # the input is not modified


def test_a_log_whose_old_values_do_not_match_is_refused_whole(q):
    bad = LOG.copy()
    bad.loc[0, "old_value"] = 331
    bad.loc[1, "old_value"] = "yes"
    with pytest.raises(pc.WaveValidationError) as info:
        apply_cleaning_log(RAW, bad, questionnaire=q)
    message = str(info.value)
    assert "(2 rows): nothing was changed" in message
    assert "log row 2 (u2, age): the log's old value '331' is not the value in the data '330'" \
        in message
    assert "log row 3 (u3, hosted)" in message


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"uuid": "u9"}, "uuid 'u9' is not a submission of the data"),
        ({"issue": None}, "no reason"),
        ({"question": "agee"}, "'agee' is not a column of the data"),
        ({"new_value": "thirty"}, "is not a number, and age holds numbers"),
        ({"uuid": None}, "no uuid"),
    ],
)
def test_each_kind_of_failing_row_is_named(q, edit, fragment):
    bad = LOG.copy()
    for column, value in edit.items():
        bad.loc[0, column] = value
    with pytest.raises(pc.WaveValidationError, match=fragment):
        apply_cleaning_log(RAW, bad, questionnaire=q)


def test_a_cell_changed_twice_is_refused(q):
    twice = pd.concat([LOG.iloc[[0]], LOG.iloc[[0]]], ignore_index=True)
    with pytest.raises(pc.WaveValidationError, match="changes a cell log row 2 changes too"):
        apply_cleaning_log(RAW, twice, questionnaire=q)


def test_the_same_log_on_a_later_export_makes_the_same_changes(q):
    later = pd.concat([RAW, pd.DataFrame({"age": [45, 60], "hosted": ["no", "yes"],
                                          "water_sources": ["river", "well"],
                                          "comment": [None, "fine"],
                                          "_uuid": ["u5", "u6"]})], ignore_index=True)
    first, audit1 = apply_cleaning_log(RAW, LOG, questionnaire=q)
    second, audit2 = apply_cleaning_log(later, LOG, questionnaire=q)
    pd.testing.assert_frame_equal(second.loc[first.index], first)
    pd.testing.assert_frame_equal(second.loc[[4, 5]], later.loc[[4, 5]], check_dtype=False)
    pd.testing.assert_frame_equal(audit1, audit2)


def test_no_action_rows_are_audited_not_applied(q):
    log = pd.DataFrame({"uuid": ["u1"], "variable": ["age"], "old_value": [34],
                        "new_value": [None], "reason": ["checked, correct"],
                        "action": ["no_action"]})
    clean, audit = apply_cleaning_log(RAW, log, questionnaire=q)
    pd.testing.assert_frame_equal(clean, RAW)
    assert audit["action"].tolist() == ["no action"]


# ------------------------------------------------------------------ the command --
def _files(tmp_path):
    questionnaire = tmp_path / "q.yaml"
    import yaml

    questionnaire.write_text(yaml.safe_dump(Q, allow_unicode=True), encoding="utf-8")
    export = tmp_path / "export.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "export"
    sheet.append(["grp/age", "grp/hosted", "water_sources", "water_sources/piped",
                  "water_sources/well", "water_sources/river", "comment", "_uuid", "_index"])
    for i, row in RAW.iterrows():
        tokens = row["water_sources"].split()
        sheet.append([row["age"], row["hosted"], row["water_sources"],
                      *(int(c in tokens) for c in ("piped", "well", "river")),
                      row["comment"], row["_uuid"], i + 1])
    book.save(export)
    log = tmp_path / "log.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "readme"
    book.active.append(["how to read this log"])
    sheet = book.create_sheet("cleaning_log")
    sheet.append(list(LOG.columns))
    for row in LOG.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v for v in row])
    book.save(log)
    return questionnaire, export, log


def _hash(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_clean_data_and_audit_and_leaves_the_export(tmp_path, capsys):
    questionnaire, export, log = _files(tmp_path)
    before = _hash(export), _hash(log)
    out = tmp_path / "clean.xlsx"
    code = main(["clean", str(export), "--log", str(log), "-q", str(questionnaire),
                 "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "4 cells changed in 4 variables, 1 submissions removed" in printed.out
    assert (_hash(export), _hash(log)) == before
    data = pd.read_excel(out, sheet_name="data")
    audit = pd.read_excel(out, sheet_name="audit")
    assert data["_uuid"].tolist() == ["u1", "u2", "u3"] and data["age"].tolist()[1] == 33
    assert data["water_sources"].tolist()[0] == "piped well"
    assert len(audit) == 5
    csv_out = tmp_path / "clean.csv"
    assert main(["clean", str(export), "--log", str(log), "-q", str(questionnaire),
                 "--out", str(csv_out)]) == 0
    assert (tmp_path / "clean_audit.csv").exists()
    assert pd.read_csv(csv_out)["age"].tolist() == [34, 33, 51]


def test_cli_refuses_a_log_that_does_not_match_and_writes_nothing(tmp_path, capsys):
    questionnaire, export, log = _files(tmp_path)
    book = openpyxl.load_workbook(log)
    book["cleaning_log"]["D2"] = 331  # old value of u2's age
    book.save(log)
    out = tmp_path / "clean.xlsx"
    assert main(["clean", str(export), "--log", str(log), "-q", str(questionnaire),
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "log row 2 (u2, age)" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_outputs_are_never_the_inputs(tmp_path, capsys):
    questionnaire, export, log = _files(tmp_path)
    before = _hash(export)
    assert main(["clean", str(export), "--log", str(log), "-q", str(questionnaire),
                 "--out", str(export)]) == 2
    assert "is an input" in capsys.readouterr().err
    out = tmp_path / "clean.xlsx"
    out.write_text("x")
    assert main(["clean", str(export), "--log", str(log), "-q", str(questionnaire),
                 "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert _hash(export) == before
